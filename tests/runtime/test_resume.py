"""Resume and cache are exact: a resumed run never mixes rows of two bindings, fingerprints
and seeds do not depend on node positions or on scheduling, data files are known by their
bytes. Real SQLite stores and real OpenAI-compatible servers on 127.0.0.1 (replying
without a model, so the tests are fast)."""
from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from openai_server import OpenAIServer
from runtime_testing import run_program
from runtime_testing import write_program as shared_write

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

QUESTIONS = [("What color is the sky?", "blue"), ("What is 2 plus 2?", "four"),
             ("What do cows drink?", "water"), ("What is frozen water?", "ice"),
             ("What animal barks?", "dog"), ("What is the opposite of hot?", "cold"),
             ("What do bees make?", "honey"), ("What shines at night?", "moon")]


class EchoServer(OpenAIServer):
    """A real HTTP server whose reply names the server, the seed it was sent and the prompt;
    with ``fail_after`` every request after the first ``fail_after`` gets a 401 (the run
    fails after some committed batches, as an interrupted run would)."""

    def __init__(self, tag: str, fail_after: int | None = None, **kw):
        super().__init__(fixed_reply="-", **kw)
        self.tag, self.fail_after = tag, fail_after

    def _admit(self, auth):
        kind = super()._admit(auth)
        if self.fail_after is not None and self.requests > self.fail_after:
            return "401"
        return kind

    def answer(self, body, chat):
        out = super().answer(body, chat)
        msgs = body.get("messages") or []
        prompt = msgs[-1]["content"] if msgs else body.get("prompt")
        seed = body.get("seed")
        for j, c in enumerate(out["choices"]):
            text = f"{self.tag}|{None if seed is None else int(seed) + j}|{prompt}"
            if chat:
                c["message"]["content"] = text
            else:
                c["text"] = text
        return out


def write_program(folder: Path, text: str, rows=QUESTIONS) -> Path:
    return shared_write(folder, text, [{"question": q, "answer": a} for q, a in rows])


run = run_program


def stored(db: Path, run_id: str) -> dict:
    """node kind -> {rid: value} of the run's model rows, plus the run record."""
    con = sqlite3.connect(db)
    out = {}
    for kind, node, data in con.execute(
            "select n.kind, r.node_id, r.data from rows r join nodes n using (run_id, node_id) "
            "where r.run_id = ?", [run_id]):
        v = json.loads(data)
        out.setdefault(kind, {})[v["rid"]] = v["v"]
    run = con.execute("select params, bindings, status from runs where id = ?", [run_id]).fetchone()
    n_runs = con.execute("select count(*) from runs").fetchone()[0]
    con.close()
    return {"rows": out, "params": json.loads(run[0]), "bindings": json.loads(run[1]),
            "status": run[2], "runs": n_runs}


MIX = """
program mix "one generate node bound to a server"
param url: str = "http://127.0.0.1:9/v1"
param prefix: str = "Q"
model m = server(url, model: "smollm2") max_tokens 8 concurrency 1 batch_size 2 max_retries 0
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt ask(p, q) = "{p}: {q}"
for x in d { x.reply = m.generate(ask(prefix, x.question), temperature: 0.7) }
eval res for x in d metrics exact_match { gold x.answer  "m" = x.reply }
"""


def _interrupted(tmp_path, **kw):
    """A run of MIX whose server fails after 4 requests: 2 batches of 2 rows committed.
    Returns the program, the store, the outcome and the server's port."""
    path = write_program(tmp_path, MIX)
    db = tmp_path / "runs.db"
    with EchoServer("A", fail_after=4) as a:
        first = run(path, db, sets={"url": a.base_url}, **kw)
    assert first.status == "failed" and "Incorrect API key" in first.error, first.error
    rows = stored(db, first.run_id)["rows"]["generate"]
    assert len(rows) == 4 and all(v.startswith("A|") for v in rows.values())
    return path, db, first, a.port


def test_resume_with_another_model_recomputes_every_row_with_the_new_binding(tmp_path, capsys):
    path, db, first, _ = _interrupted(tmp_path)
    with EchoServer("B") as b:
        ref = f"server:{b.base_url}#smollm2"
        second = run(path, db, resume=True, models={"m": ref}, console=None)
    assert second.status == "finished", second.error
    assert second.run_id == first.run_id
    got = stored(db, second.run_id)
    replies = got["rows"]["generate"]
    assert len(replies) == 8
    assert all(v.startswith("B|") for v in replies.values()), replies  # no row of server A is kept
    assert got["bindings"]["m"] == ref  # the run records the binding that produced its rows
    assert "model m" in " ".join(second.changes)  # and the run says what changed


def test_resume_with_another_param_recomputes_the_nodes_that_read_it(tmp_path):
    path, db, _, _ = _interrupted(tmp_path)
    with EchoServer("A") as a:
        second = run(path, db, resume=True, sets={"url": a.base_url, "prefix": "NEW"})
    assert second.status == "finished", second.error
    got = stored(db, second.run_id)
    replies = got["rows"]["generate"]
    assert len(replies) == 8 and all(v.endswith(f"NEW: {q}") for v, (q, _) in zip(
        (replies[f"d:{i}"] for i in range(8)), QUESTIONS)), replies
    assert got["params"]["prefix"] == "NEW" and got["runs"] == 1
    assert "prefix" in " ".join(second.changes)


def test_resume_with_another_seed_draws_what_a_fresh_run_with_that_seed_draws(tmp_path):
    path, db, _, _ = _interrupted(tmp_path, seed=7)
    with EchoServer("A") as a:
        second = run(path, db, resume=True, sets={"url": a.base_url}, seed=8)
        fresh = run(path, tmp_path / "fresh.db", sets={"url": a.base_url}, seed=8)
    assert second.status == fresh.status == "finished", second.error
    got, want = stored(db, second.run_id), stored(tmp_path / "fresh.db", fresh.run_id)
    assert got["rows"]["generate"] == want["rows"]["generate"]
    assert "seed" in " ".join(second.changes)
    con = sqlite3.connect(db)
    settings = json.loads(con.execute("select settings from runs where id = ?", [second.run_id]).fetchone()[0])
    assert settings["seed"] == 8


def test_resume_with_unchanged_inputs_keeps_the_committed_rows(tmp_path):
    path = write_program(tmp_path, MIX)
    db = tmp_path / "runs.db"
    with EchoServer("A", fail_after=4) as a:
        first = run(path, db, sets={"url": a.base_url})
        assert first.status == "failed"
        a.fail_after, a.tag = None, "C"  # the server recovers (and says so in its replies)
        before = a.requests
        second = run(path, db, resume=True, sets={"url": a.base_url})
        calls = a.requests - before
    assert second.status == "finished", second.error
    assert second.run_id == first.run_id and not second.changes
    replies = stored(db, second.run_id)["rows"]["generate"]
    assert sorted(v[0] for v in replies.values()) == ["A"] * 4 + ["C"] * 4 and calls == 4


# ---------------------------------------------------------------------- position independence
SAMPLING = """
program pos "sampled generations"
param url: str = "http://127.0.0.1:9/v1"
model m = server(url, model: "smollm2") max_tokens 8
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt ask(q) = "Answer: {q}"
INSERT
for x in d {
  y = m.generate(ask(x.question), temperature: 1.0)
  x.votes = [m.generate(ask(x.question), temperature: 1.0) for i in 0..2]
  x.reply = y
}
eval res for x in d metrics exact_match { gold x.answer  "m" = x.reply }
"""

EXTRA = """
data e = load("rows.jsonl", columns: {question: "question"})
for x in e { x.other = m.generate("Other: " + x.question, temperature: 1.0) }
"""


def _fingerprints(db: Path, run_id: str) -> dict:
    con = sqlite3.connect(db)
    fps = dict(con.execute("select node_id, fingerprint from nodes where run_id = ?", [run_id]))
    con.close()
    return fps


def test_inserting_an_earlier_statement_changes_no_seed_fingerprint_or_cache_key(tmp_path):
    with EchoServer("A", latency_ms=0) as a:
        p1 = write_program(tmp_path / "one", SAMPLING.replace("INSERT", ""))
        p2 = write_program(tmp_path / "two", SAMPLING.replace("INSERT", EXTRA))
        one = run(p1, tmp_path / "one.db", sets={"url": a.base_url})
        two = run(p2, tmp_path / "two.db", sets={"url": a.base_url})
        assert one.status == two.status == "finished", (one.error, two.error)
        r1, r2 = stored(tmp_path / "one.db", one.run_id), stored(tmp_path / "two.db", two.run_id)
        # the same samples (seeds) for the statements that did not change
        assert set(r1["rows"]["generate"].values()) <= set(r2["rows"]["generate"].values())
        fp1, fp2 = set(_fingerprints(tmp_path / "one.db", one.run_id).values()), \
            set(_fingerprints(tmp_path / "two.db", two.run_id).values())
        assert fp1 <= fp2, "a node's fingerprint depends on its position"
        # rerunning the longer program on the first store: only the inserted node calls the model
        before = a.requests
        three = run(p2, tmp_path / "one.db", sets={"url": a.base_url})
        assert three.status == "finished"
        assert a.requests - before == len(QUESTIONS)


def test_identical_definitions_still_draw_different_samples(tmp_path):
    with EchoServer("A") as a:
        p = write_program(tmp_path, SAMPLING.replace("INSERT", ""))
        out = run(p, tmp_path / "runs.db", sets={"url": a.base_url})
    assert out.status == "finished", out.error
    con = sqlite3.connect(tmp_path / "runs.db")
    by_node = {}
    for node, data in con.execute("select node_id, data from rows"):
        v = json.loads(data)
        by_node.setdefault(node, {})[v["rid"]] = v["v"]
    assert len(by_node) == 4  # y and the three unrolled votes
    for rid in by_node[next(iter(by_node))]:
        seeds = {vals[rid].split("|")[1] for vals in by_node.values()}
        assert len(seeds) == 4, seeds  # four identical definitions, four different seeds


# ---------------------------------------------------------------------- loop iteration
BESIDE = """
program beside "a top-level eval that runs beside a loop"
model t = column("answer")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
LOOP
for x in d { x.top = t.generate(x.question) }
eval top for x in d metrics exact_match { gold x.answer  "top" = x.top }
"""

LOOP = """
data c = load("rows.jsonl", columns: {question: "question", answer: "answer"})
repeat 2 as i {
  for x in c { x.inner = t.generate(x.question) }
  eval inner for x in c metrics exact_match { gold x.answer  "inner" = x.inner }
}
"""


def test_a_node_beside_a_loop_has_no_iteration_of_its_own(tmp_path):
    p = write_program(tmp_path / "loop", BESIDE.replace("LOOP", LOOP))
    out = run(p, tmp_path / "loop.db")
    assert out.status == "finished", out.error
    top = [r for r in out.results if r["table"] == "top"]
    inner = [r for r in out.results if r["table"] == "inner"]
    assert [r["iteration"] for r in top] == [None], top
    assert sorted(r["iteration"] for r in inner) == [1, 2]
    # the top-level nodes have the fingerprints they have without the loop beside them
    q = write_program(tmp_path / "plain", BESIDE.replace("LOOP", ""))
    plain = run(q, tmp_path / "plain.db")
    con = sqlite3.connect(tmp_path / "plain.db")
    want = {kind: fp for kind, fp in con.execute("select kind, fingerprint from nodes where kind != 'load'")}
    con = sqlite3.connect(tmp_path / "loop.db")
    got = {(k, n): fp for n, k, fp in con.execute("select node_id, kind, fingerprint from nodes")}
    assert plain.status == "finished"
    assert {fp for (k, n), fp in got.items() if "@" not in n and k in want} >= set(want.values())


# ---------------------------------------------------------------------- data files by content
COLUMN = """
program cols "a column model over a data file"
model t = column("answer")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = t.generate(x.question) }
eval res for x in d metrics exact_match { gold x.answer  "stored" = x.reply }
"""


def _same_size_rewrite(path: Path, old: str, new: str) -> None:
    """Rewrite ``path`` replacing ``old`` by ``new`` (same length) and put the mtime back,
    as ``cp -p`` or ``rsync -a`` of an edited file do."""
    st = path.stat()
    text = path.read_text()
    assert len(old) == len(new) and old in text
    path.write_text(text.replace(old, new))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_a_same_size_rewrite_with_a_kept_mtime_is_read_again(tmp_path):
    p = write_program(tmp_path, COLUMN)
    db = tmp_path / "runs.db"
    first = run(p, db)
    assert first.results[0]["exact_match"] == 1.0
    _same_size_rewrite(tmp_path / "rows.jsonl", '"answer": "blue"', '"answer": "bleu"')
    second = run(p, db)
    assert second.status == "finished", second.error
    # the stored replies of the old file would score 7/8 against the new answers
    assert second.results[0]["exact_match"] == 1.0, second.results


def test_file_hash_cache_is_exact_and_path_free(tmp_path, monkeypatch):
    from runtime import run as R

    a = tmp_path / "a" / "rows.jsonl"
    a.parent.mkdir()
    a.write_text('{"q": "x", "a": "blue"}\n')
    monkeypatch.setattr(R, "RACY_SECONDS", 0.0)  # let the cache take a file written just now
    first = R.file_digest(a)
    assert R.file_digest(a) == first
    time.sleep(0.05)  # past the file system's clock granularity
    _same_size_rewrite(a, "blue", "BLUE")
    assert R.file_digest(a) != first
    b = tmp_path / "b" / "rows.jsonl"  # the same bytes elsewhere: the same stamp
    b.parent.mkdir()
    b.write_bytes(a.read_bytes())
    assert R.file_digest(b) == R.file_digest(a)
