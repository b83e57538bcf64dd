"""Tests for runtime.store: real SQLite files under tmp_path, no fakes."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlite_utils

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` (not `python -m pytest`) does not add the repo root
    sys.path.insert(0, str(ROOT))

from runtime.store import (
    REDACTED,
    RunStore,
    cache_key,
    program_hash,
    redact,
    stable_hash,
)

TABLES = {"runs", "nodes", "rows", "model_versions", "metrics", "kb", "cache", "warnings", "trainings"}


@pytest.fixture
def store(tmp_path):
    s = RunStore(tmp_path / ".collab" / "runs.db")
    yield s
    s.close()


@pytest.fixture
def run(store):
    return store.start_run("programs/demo.collab", params={"n": 3}, bindings={"small": "s"})


# ------------------------------------------------------------------ schema, WAL, runs
def test_default_path_schema_and_wal(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with RunStore() as s:
        s.start_run("p.collab", params={"x": [1, 2]})
        assert s.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    path = tmp_path / ".collab" / "runs.db"
    assert path.exists()
    db = sqlite_utils.Database(path)
    assert TABLES <= set(db.table_names())
    assert db.journal_mode == "wal"
    assert db["rows"].pks == ["run_id", "node_id", "row_index"]
    assert db["nodes"].pks == ["run_id", "node_id"]
    # JSON is TEXT JSON: SQLite's json functions (and so Datasette) read it
    assert db.execute("select json_extract(params, '$.x[1]') from runs").fetchone()[0] == 2
    db.close()
    RunStore(path).close()  # reopening an existing store is fine


def test_run_lifecycle(store):
    a = store.start_run("programs/a.collab", program_hash="h1", params={"k": 1})
    b = store.start_run("./programs/a.collab", program_name="A")
    c = store.start_run("programs/other.collab")
    assert store.get_run(a)["params"] == {"k": 1} and store.get_run(a)["program_name"] == "a"
    store.finish_run(a, "finished")
    store.finish_run(b, "interrupted")
    r = store.get_run(a)
    assert r["status"] == "finished" and r["finished"] >= r["started"]
    assert [x["id"] for x in store.list_runs()] == [c, b, a]
    assert store.latest_run("programs/a.collab")["id"] == b
    assert store.latest_run("programs/a.collab", "finished")["id"] == a
    assert store.latest_run("programs/a.collab", ["interrupted", "failed"])["id"] == b
    assert store.latest_run("programs/a.collab", "failed") is None
    with pytest.raises(ValueError):
        store.finish_run(c, "exploded")


def test_program_hash(tmp_path):
    main, lib1, lib2 = (tmp_path / n for n in ("main.collab", "l1.collab", "l2.collab"))
    main.write_text("program p")
    lib1.write_text("lib one")
    lib2.write_text("lib two")
    h = program_hash(main, [lib1, lib2])
    assert h == program_hash(main, [lib2, lib1]) and len(h) == 64
    assert h != program_hash(main) != program_hash(main, [lib1])
    lib2.write_text("lib two changed")
    assert h != program_hash(main, [lib1, lib2])


def test_foreign_keys_enforced(store):
    with pytest.raises(sqlite3.IntegrityError):
        store.write_rows("no-such-run", "n", 0, [{"a": 1}])


# ------------------------------------------------------------------ nodes, rows, resume
def test_node_lifecycle_and_reuse(store, run):
    store.plan_nodes(run, [{"node_id": "gen", "kind": "generate", "fingerprint": "fp1"},
                           {"node_id": "judge", "kind": "generate", "fingerprint": "fp2"}])
    assert [n["status"] for n in store.list_nodes(run)] == ["pending", "pending"]
    store.node_start(run, "gen")
    store.write_rows(run, "gen", 0, [{"q": 1}], stats={"calls": 2, "cost": 0.5})
    store.node_done(run, "gen", stats={"calls": 1, "prompt_tokens": 10, "cache_hits": 1})
    n = store.get_node(run, "gen")
    assert (n["status"], n["kind"], n["calls"], n["cost"]) == ("done", "generate", 3, 0.5)
    assert n["prompt_tokens"] == 10 and n["cache_hits"] == 1 and n["seconds"] >= 0
    store.node_start(run, "judge")
    store.node_done(run, "judge", "failed", error="boom")
    assert store.get_node(run, "judge")["error"] == "boom"
    assert store.find_finished_node("fp1") == (run, "gen")
    assert store.find_finished_node("fp2") is None  # failed nodes are not reusable
    run2 = store.start_run("programs/demo.collab")
    store.node_start(run2, "gen2", kind="generate", fingerprint="fp1")
    store.node_done(run2, "gen2")
    assert store.find_finished_node("fp1") == (run2, "gen2")  # newest wins
    with pytest.raises(ValueError):
        store.add_node_stats(run, "gen", tokens=3)
    with pytest.raises(ValueError):
        store.node_done(run, "gen", "weird")


def test_resume_semantics(store, run):
    store.node_start(run, "gen")
    assert store.completed_row_count(run, "gen") == 0
    store.write_rows(run, "gen", 0, [{"i": i} for i in range(10)])
    store.write_rows(run, "gen", 10, [{"i": i} for i in range(10, 20)])
    assert store.completed_row_count(run, "gen") == 20
    # resuming re-writes the same batch: replaced, never duplicated
    assert store.write_rows(run, "gen", 10, [{"i": i, "v": 2} for i in range(10, 20)]) == 10
    rows = store.read_rows(run, "gen")
    assert len(rows) == 20 and rows[:2] == [{"i": 0}, {"i": 1}] and rows[-1] == {"i": 19, "v": 2}
    assert store.completed_row_count(run, "gen") == 20
    assert store.completed_row_count(run, "other") == 0
    store.write_rows(run, "strs", 0, ["a", None, 3, ["x"]])  # any JSON value is a row
    assert store.read_rows(run, "strs") == ["a", None, 3, ["x"]]


def test_write_rows_atomic_on_failure_mid_batch(store, run):
    store.write_rows(run, "gen", 0, [{"i": i} for i in range(5)])

    def batch():  # 250 rows: sqlite-utils has already inserted its first chunks when it fails
        for i in range(5, 255):
            yield {"i": i}
        raise RuntimeError("model crashed mid-batch")

    with pytest.raises(RuntimeError):
        store.write_rows(run, "gen", 5, batch(), stats={"calls": 250})
    assert store.completed_row_count(run, "gen") == 5
    assert len(store.read_rows(run, "gen")) == 5
    # an outer transaction groups several writes
    with pytest.raises(KeyError), store.transaction():
        store.write_rows(run, "gen", 5, [{"i": 5}])
        store.add_metrics(run, "gen", [{"system": "s", "metric": "m", "value": 1}])
        raise KeyError("x")
    assert store.completed_row_count(run, "gen") == 5 and store.results_table(run) == []
    assert not store.db.conn.in_transaction


KILL_WRITER = """
import sys
from runtime.store import RunStore
s = RunStore(sys.argv[1])
B = int(sys.argv[2])
if s.get_run("r1") is None:
    s.start_run("p.collab", run_id="r1")
s.node_start("r1", "gen")
b = s.completed_row_count("r1", "gen") // B
while True:
    s.write_rows("r1", "gen", b * B, ({"batch": b, "i": j, "pad": "x" * 300} for j in range(B)),
                 stats={"calls": B})
    print(b, flush=True)
    b += 1
"""


def test_kill_9_mid_write_leaves_only_complete_batches(tmp_path):
    db_path, B = tmp_path / "runs.db", 300
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = 0
    for delay in [0.0, 0.003, 0.011]:  # resume after each kill
        proc = subprocess.Popen([sys.executable, "-c", KILL_WRITER, str(db_path), str(B)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                cwd=tmp_path, text=True)
        for _ in range(4):  # wait until 4 more batches committed
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
        time.sleep(delay)  # land at a different point of the next write
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL

        db = sqlite_utils.Database(db_path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("select row_index, data from rows order by row_index").fetchall()
        n = len(rows)
        assert n % B == 0 and n >= before + 4 * B
        for idx, data in rows:  # contiguous, each row where its batch puts it
            d = json.loads(data)
            assert idx == d["batch"] * B + d["i"]
        assert [r[0] for r in rows] == list(range(n))  # no gap, no duplicate
        calls = db.execute("select calls from nodes").fetchone()[0]
        assert calls == n  # counters committed with their batch
        db.close()
        before = n
    with RunStore(db_path) as s:
        assert s.completed_row_count("r1", "gen") == before
        assert s.get_run("r1")["status"] == "running"  # crashed run: caller marks interrupted


# ------------------------------------------------------------------ cache
def test_cache_roundtrip_and_key_sensitivity(store):
    opts = {"temperature": 0.7, "max_tokens": 64}
    k = cache_key("small-v1", "What is 2+2?", opts, 0)
    assert k == cache_key("small-v1", "What is 2+2?", dict(reversed(opts.items())), 0)
    others = [cache_key("small-v1", "What is 2+2?", opts, 1),
              cache_key("small-v1", "What is 2+2?", {**opts, "temperature": 0.8}, 0),
              cache_key("small-v2", "What is 2+2?", opts, 0),
              cache_key("small-v1", "What is 2+3?", opts, 0)]
    assert len({k, *others}) == 5
    store.cache_put_many({k: {"text": "4", "logprobs": [-0.1]}, others[0]: "four"})
    assert store.cache_get_many([k, others[0], others[1]]) == {
        k: {"text": "4", "logprobs": [-0.1]}, others[0]: "four"}
    store.cache_put_many([(k, {"text": "5"})])  # replace
    assert store.cache_get_many([k]) == {k: {"text": "5"}}
    many = {stable_hash(i): i for i in range(1200)}  # beyond one IN (...) chunk
    store.cache_put_many(many)
    assert store.cache_get_many(list(many)) == many
    assert store.cache_get_many([]) == {}


# ------------------------------------------------------------------ knowledge base
def test_kb_search_bm25_ordering_and_isolation(store, run):
    keys = store.kb_write("facts", [
        "The capital of France is Paris.",
        "Paris is known for the Eiffel Tower. Paris Paris.",
        {"key": "k-rome", "text": "Rome is the capital of Italy."},
        "Bananas are yellow fruit.",
    ], run_id=run, source_node="extract")
    assert len(keys) == 4 and "k-rome" in keys
    store.kb_write("other", "Paris Paris Paris Paris")
    hits = store.kb_search("facts", "Paris", top_m=5)
    assert [t for t, _ in hits] == ["Paris is known for the Eiffel Tower. Paris Paris.",
                                    "The capital of France is Paris."]
    assert hits[0][1] > hits[1][1] > 0
    hits = store.kb_search("facts", "What is the capital of Italy?", top_m=2)
    assert hits[0][0] == "Rome is the capital of Italy." and len(hits) == 2
    assert store.kb_search("facts", "capitals", top_m=5)  # porter stemming
    assert len(store.kb_search("facts", "Paris", top_m=1)) == 1
    # re-writing a key replaces it in table and index (no duplicates)
    store.kb_write("facts", {"key": "k-rome", "text": "Rome is in Lazio."})
    assert [t for t, _ in store.kb_search("facts", "Rome", 5)] == ["Rome is in Lazio."]
    assert store.kb_search("facts", "Italy", 5) == []
    assert store.db["kb"].count == 5


def test_kb_search_ranks_the_field_asked_for_and_returns_the_text(store, run):
    """by="key" ranks the keys (NesyCD's Eq. 5: the stored questions) and returns the texts
    stored under them; by="text" ranks the texts."""
    store.kb_write("kb", [{"key": "What color is the sky?", "text": "bees make honey"},
                          {"key": "What do bees make?", "text": "the sky is blue in color"}], run_id=run)
    assert [t for t, _ in store.kb_search("kb", "sky color", 1, by="key")] == ["bees make honey"]
    assert [t for t, _ in store.kb_search("kb", "sky color", 1, by="text")] == ["the sky is blue in color"]
    with pytest.raises(ValueError, match="key, text"):
        store.kb_search("kb", "sky", 1, by="question")


def test_kb_search_scores_with_the_statistics_of_its_own_kb(store, run):
    """BM25's document frequencies are those of the KB searched: what other KBs (of this
    run or of earlier runs kept in the store) hold changes neither scores nor order."""
    entries = ["alpha beta", "alpha gamma gamma", "delta"]
    store.kb_write("mine", entries, run_id=run)
    before = store.kb_search("mine", "alpha gamma", 3)
    store.kb_write("theirs", ["gamma"] * 50 + ["alpha beta gamma delta"] * 5)
    assert store.kb_search("mine", "alpha gamma", 3) == before


@pytest.mark.parametrize("query", [
    "What's the capital of France?", '"unbalanced quote', 'say "hi" and \'bye\'',
    "AND OR NOT", "NEAR(paris, 2)", "paris*", "^paris", "text:paris", "capital - France",
    "(((", "}{[]\\", "paris AND", "émigré naïve café", "🙂 paris 🙂", "a\x00b",
])
def test_kb_search_survives_arbitrary_text(store, query):
    store.kb_write("facts", ["The capital of France is Paris.", "Un café naïve."])
    assert isinstance(store.kb_search("facts", query, 3), list)


@pytest.mark.parametrize("query", ["", "   ", "???", '"', "''", "-- ;", "*"])
def test_kb_search_without_tokens_returns_empty(store, query):
    store.kb_write("facts", ["anything at all"])
    assert store.kb_search("facts", query, 3) == []


# ------------------------------------------------------------------ redaction
def test_redact_keys_and_env_values(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abcdef123456")
    monkeypatch.setenv("HF_TOKEN", "hf_zzzzzzzzzzzz")
    monkeypatch.setenv("SHORT_SECRET", "xy")
    monkeypatch.setenv("SECRET_KEY_DIR", "sk-abcdef12")  # name does not end with _KEY
    obj = {
        "api_key": "a", "API-KEY": "b", "apiKey": "c", "token": "d", "hf_token": "e",
        "accessToken": "f", "client_secret": "g", "Password": "h", "Authorization": "i",
        "headers": {"x-api-key": "j", "Accept": "json"},
        "max_tokens": 64, "prompt_tokens": 3, "tokenizer": "bpe", "temperature": 0.1,
        "list": ["sk-abcdef123456", "ok", ("hf_zzzzzzzzzzzz", 1)],
        "note": "key was sk-abcdef123456 here", "tiny": "xy", "almost": "sk-abcdef12",
    }
    out = redact(obj)
    for k in ["api_key", "API-KEY", "apiKey", "token", "hf_token", "accessToken",
              "client_secret", "Password", "Authorization"]:
        assert out[k] == REDACTED, k
    assert out["headers"] == {"x-api-key": REDACTED, "Accept": "json"}
    assert (out["max_tokens"], out["prompt_tokens"], out["tokenizer"]) == (64, 3, "bpe")
    assert out["list"] == [REDACTED, "ok", (REDACTED, 1)]
    assert out["note"] == f"key was {REDACTED} here"
    assert out["tiny"] == REDACTED  # equal to a short secret: redacted; inside text: kept
    assert out["almost"] == "sk-abcdef12"
    assert obj["api_key"] == "a"  # input untouched
    assert redact("plain") == "plain" and redact(None) is None and redact(3) == 3


def test_store_never_writes_secrets(store, monkeypatch, tmp_path):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secretvalue")
    r = store.start_run("p.collab", params={"api_key": "literal", "n": 1},
                        bindings={"big": "claude", "big_key": "sk-ant-secretvalue"})
    store.write_rows(r, "gen", 0, [{"text": "leaked sk-ant-secretvalue", "token": "t0k"}])
    store.node_start(r, "gen")
    store.node_done(r, "gen", "failed", error="401 for key sk-ant-secretvalue")
    store.kb_write("kb", "remember sk-ant-secretvalue")
    store.finish_run(r, "failed", error="auth failed: sk-ant-secretvalue")
    assert store.get_run(r)["params"] == {"api_key": REDACTED, "n": 1}
    store.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / ".collab").iterdir())
    assert b"sk-ant-secretvalue" not in raw and b"literal" not in raw and b"t0k" not in raw


# ------------------------------------------------------------------ models, metrics
def test_model_versions(store, run):
    base = store.add_model_version("small", "hf:Qwen/Qwen2.5-0.5B", id="small-base")
    v1 = store.add_model_version("small", "hf:Qwen/Qwen2.5-0.5B", adapter_path=Path("a/v1"),
                                 parent_id=base, run_id=run, node_id="train")
    got = store.get_model_version(v1)
    assert (got["parent_id"], got["adapter_path"], got["node_id"]) == (base, "a/v1", "train")
    with pytest.raises(sqlite3.IntegrityError):
        store.add_model_version("small", "x", parent_id="missing")


def test_results_table_pivot(store, run):
    store.add_metrics(run, "eval", [
        {"system": "small", "metric": "acc", "value": 0.5, "n": 100},
        {"system": "small", "metric": "cost", "value": 0.0},
        {"system": "big", "metric": "acc", "value": 0.9, "n": 100},
    ], table_name="main", iteration=0)
    store.add_metrics(run, "eval", [
        {"system": "small", "metric": "acc", "value": 0.7, "iteration": 1, "n": 100},
    ], table_name="main")
    assert store.results_table(run) == [
        {"table_name": "main", "iteration": 0, "system": "small", "acc": 0.5, "cost": 0.0},
        {"table_name": "main", "iteration": 0, "system": "big", "acc": 0.9},
        {"table_name": "main", "iteration": 1, "system": "small", "acc": 0.7},
    ]
    assert store.results_table(run, "nope") == []


# ------------------------------------------------------------------ concurrency
def test_concurrent_reader_while_writer_in_wal(store, run):
    path = store.path
    store.write_rows(run, "gen", 0, [{"i": 0}])
    reader = RunStore(path, timeout=0.5)
    try:
        with store.transaction():  # writer holds an open write transaction
            store.write_rows(run, "gen", 1, [{"i": 1}])
            t0 = time.monotonic()
            assert reader.read_rows(run, "gen") == [{"i": 0}]  # not blocked, no dirty read
            assert time.monotonic() - t0 < 0.4
        assert reader.completed_row_count(run, "gen") == 2
        # a reader in the middle of a read transaction does not block the writer
        reader.db.conn.execute("BEGIN")
        assert reader.db.execute("select count(*) from rows").fetchone()[0] == 2
        store.write_rows(run, "gen", 2, [{"i": 2}])
        assert reader.db.execute("select count(*) from rows").fetchone()[0] == 2  # snapshot
        reader.db.conn.execute("COMMIT")
        assert reader.completed_row_count(run, "gen") == 3
    finally:
        reader.close()


def test_threads_share_one_store(store, run):
    def work(t):
        for b in range(10):
            store.write_rows(run, f"n{t}", b * 5, [{"t": t, "i": i} for i in range(5)])
            store.cache_put_many({f"{t}-{b}": b})

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert all(store.completed_row_count(run, f"n{t}") == 50 for t in range(4))
    assert len(store.cache_get_many(f"{t}-{b}" for t in range(4) for b in range(10))) == 40


def test_store_masks_url_credentials_and_secret_query_values(store, tmp_path):
    url = "http://collab-user:pw-in-url-123@127.0.0.1:8000/v1?api_key=sk-query-456"
    r = store.start_run("p.collab", params={"endpoint": url}, bindings={"big": f"server:{url}"})
    store.write_rows(r, "gen", 0, [{"text": f"called {url}"}])
    store.node_start(r, "gen")
    store.node_done(r, "gen", "failed", error=f"404 from {url}")
    store.finish_run(r, "failed", error=f"model 'big' ({url}) failed")
    run = store.get_run(r)
    assert run["bindings"] == {"big": "server:http://127.0.0.1:8000/v1?api_key=***"}
    assert run["error"] == "model 'big' (http://127.0.0.1:8000/v1?api_key=***) failed"
    store.close()
    raw = b"".join(p.read_bytes() for p in (tmp_path / ".collab").iterdir())
    assert b"pw-in-url-123" not in raw and b"sk-query-456" not in raw and b"collab-user" not in raw


# ------------------------------------------------------------------ text the store must always take
def test_a_lone_surrogate_never_makes_a_write_fail(store, run):
    """A string with a lone surrogate (JSON "\\ud800" read by json.loads) cannot be encoded as
    UTF-8: rows, cache values, params and KB texts still write, and rows read back the same."""
    bad = "half a pair: \ud800 here"
    store.node_start(run, "n1", kind="compute")
    store.write_rows(run, "n1", 0, [{"rid": "d:0", "v": bad}])
    assert store.read_rows(run, "n1") == [{"rid": "d:0", "v": bad}]
    store.cache_put_many({"k": {"text": bad}})
    assert store.cache_get_many(["k"]) == {"k": {"text": bad}}
    store.start_run("p.collab", params={"s": bad})
    store.kb_write("kb", [bad], run_id=run)
    store.add_warning(run, "n1", f"marker {bad!s} matched nothing", location=bad)
    store.node_done(run, "n1", status="failed", error=bad)
    store.finish_run(run, "failed", error=f"in compute: {bad}")
    assert "\\ud800" in store.get_run(run)["error"]


def test_warnings_and_trainings_are_stored_once(store, run):
    store.add_warning(run, "n3", "marker matched no row", location="p.collab:4:5", kind="compute", label="x")
    store.add_warning(run, "n3", "marker matched no row", location="p.collab:4:5", kind="compute", label="x")
    store.add_warning(run, "n4", "task weight 0: dropped", level="note")
    got = store.list_warnings(run)
    assert [(w["node_id"], w["level"], w["location"]) for w in got] == [
        ("n3", "warning", "p.collab:4:5"), ("n4", "note", "")]
    with pytest.raises(ValueError):
        store.add_warning(run, "n4", "x", level="info")
    tasks = [{"task": "predict", "weight": 1.0, "kept": 3, "dropped": {}}]
    store.add_training(run, "n9", {"model": "m2", "objective": "multitask", "examples": 3, "tasks": tasks,
                                   "steps": 2})
    store.add_training(run, "n9", {"model": "m2", "objective": "multitask", "examples": 3, "tasks": tasks,
                                   "steps": 4})
    (t,) = store.list_trainings(run)
    assert t["tasks"] == tasks and t["info"] == {"steps": 4} and t["examples"] == 3


def test_a_store_made_before_peak_mb_gains_the_column_and_keeps_the_highest_peak(tmp_path):
    """Issue 11: nodes.peak_mb is added to an existing store on open; a node's peak is the
    highest over its resumes, and a finish without a measurement keeps it."""
    path = tmp_path / "runs.db"
    s = RunStore(path)
    run_id = s.start_run("programs/demo.collab")
    s.close()
    con = sqlite3.connect(path)
    con.execute("alter table nodes drop column peak_mb")  # the schema before issue 11
    con.commit()
    con.close()
    s = RunStore(path)
    try:
        s.node_start(run_id, "gen", kind="generate")
        s.node_done(run_id, "gen", peak_mb=900.0)
        s.node_start(run_id, "gen", kind="generate")
        s.node_done(run_id, "gen", peak_mb=700.0)
        assert s.get_node(run_id, "gen")["peak_mb"] == 900.0
        s.node_done(run_id, "gen")
        assert s.get_node(run_id, "gen")["peak_mb"] == 900.0
    finally:
        s.close()
