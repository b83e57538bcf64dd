"""Reliability of `collab run` with real models, real servers and a real run store:
kill -9 and --resume, a flaky API server, a judge that replies garbage, no secrets."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow

PROGRAM = """
program resume_check "generate, train, generate again"
model m = embedded("smollm2-135m-instruct") trainable lora(r: 4, alpha: 8) max_tokens 6 batch_size 2
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt ask(q) = \"\"\"Answer in one word. {q}\"\"\"
for x in d { x.first = m.generate(ask(x.question)) }
train m sft for x in d { input: x.question, target: x.answer, max_steps: 1, batch_size: 4 }
for x in d { x.second = m.generate(ask(x.question), temperature: 0.8) }
eval res for x in d metrics token_f1 {
  gold x.answer
  "after" = x.second
}
"""


def _collab(*args, cwd, env=None, **kw):
    e = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-m", "collabdsl", *args], cwd=cwd, env=e,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def _rows(db: Path) -> dict:
    """node id -> {rid: value} of every model node, and the count of stored row records."""
    con = sqlite3.connect(db)
    out, count = {}, 0
    run = con.execute("select id from runs order by started desc limit 1").fetchone()[0]
    for node, data in con.execute("select node_id, data from rows where run_id = ?", [run]):
        v = json.loads(data)
        out.setdefault(node, {})
        assert v["rid"] not in out[node], f"row {v['rid']} of {node} stored twice"
        out[node][v["rid"]] = v["v"]
        count += 1
    status = con.execute("select status from runs where id = ?", [run]).fetchone()[0]
    con.close()
    return {"rows": out, "count": count, "status": status}


def _write(dir: Path):
    dir.mkdir(parents=True, exist_ok=True)
    (dir / "prog.collab").write_text(PROGRAM)
    qs = [("What color is the sky?", "blue"), ("What is 2 plus 2?", "four"), ("What do cows drink?", "water"),
          ("What is frozen water?", "ice"), ("What animal barks?", "dog"), ("What is the opposite of hot?", "cold"),
          ("What do bees make?", "honey"), ("What shines at night?", "moon")]
    (dir / "rows.jsonl").write_text("".join(json.dumps({"question": q, "answer": a}) + "\n" for q, a in qs))


def _stored_count(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=1)
        n = con.execute("select count(*) from rows").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


def test_kill_and_resume_equals_uninterrupted(tmp_path):
    cache = {"COLLAB_CACHE": os.environ.get("COLLAB_CACHE", str(Path.home() / ".cache" / "collab"))}
    ref, crash = tmp_path / "ref", tmp_path / "crash"
    _write(ref)
    _write(crash)
    p = _collab("run", "prog.collab", "--store", "runs.db", "--seed", "7", cwd=ref, env=cache)
    out = p.communicate(timeout=900)[0]
    assert p.returncode == 0, out
    expected = _rows(ref / "runs.db")
    assert expected["status"] == "finished" and expected["count"] == 16

    kills = 0
    for target in (2, 6, 11):  # stored rows at which to kill: in the first generate, in the second
        args = ["run", "prog.collab", "--store", "runs.db", "--seed", "7"] + (["--resume"] if kills else [])
        p = _collab(*args, cwd=crash, env=cache)
        deadline = time.time() + 600
        while p.poll() is None and _stored_count(crash / "runs.db") < target and time.time() < deadline:
            time.sleep(0.05)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            kills += 1
    p = _collab("run", "prog.collab", "--store", "runs.db", "--seed", "7", "--resume", cwd=crash, env=cache)
    out = p.communicate(timeout=900)[0]
    assert p.returncode == 0, out
    assert kills >= 2, "the run finished before it could be killed"
    got = _rows(crash / "runs.db")
    assert got["status"] == "finished"
    assert got["count"] == expected["count"]  # nothing lost, nothing duplicated
    assert got["rows"] == expected["rows"]  # the same outputs, sampled ones included
    runs = sqlite3.connect(crash / "runs.db").execute("select count(*) from runs").fetchone()[0]
    assert runs == 1  # every --resume continued the same run


# ---------------------------------------------------------------------- API servers
sys.path.insert(0, str(Path(__file__).resolve().parent))
from openai_server import OpenAIServer  # noqa: E402


def _run_cli(args, cwd, env=None, timeout=900):
    e = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "collabdsl", *args], cwd=cwd, env=e, capture_output=True,
                          text=True, timeout=timeout)


def _node_totals(db: Path, kind: str) -> dict:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    rows = [dict(r) for r in con.execute("select * from nodes where kind = ?", [kind])]
    con.close()
    return {k: sum(r[k] or 0 for r in rows) for k in ("calls", "retries", "parse_failures", "cache_hits")}


SERVER_PROGRAM = """
program flaky "every row answered by a server that fails often"
param url: str = "http://127.0.0.1:9/v1"
model large = server(url, model: "smollm2") max_tokens 8 concurrency 4 timeout 30 max_retries 8
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = large.generate(x.question) }
eval res for x in d metrics token_f1 { gold x.answer  "server" = x.reply }
"""


def test_flaky_server_every_row_completes_and_retries_are_counted(tmp_path):
    _write(tmp_path)
    (tmp_path / "prog.collab").write_text(SERVER_PROGRAM)
    with OpenAIServer(failure_rate=0.3, failure_kinds=("429", "500", "hang"), hang_s=3) as srv:
        r = _run_cli(["run", "prog.collab", "--store", "runs.db", "--set", f"url={srv.base_url}"], tmp_path)
        failures = sum(srv.failures.values())
    assert r.returncode == 0, r.stdout + r.stderr
    got = _rows(tmp_path / "runs.db")
    replies = next(v for k, v in got["rows"].items())
    assert len(replies) == 8 and all(isinstance(v, str) for v in replies.values())
    totals = _node_totals(tmp_path / "runs.db", "generate")
    assert totals["calls"] == 8
    assert failures > 0 and totals["retries"] == failures


class GarbageJudge(OpenAIServer):
    """A real HTTP judge that answers a score for even requests and garbage for odd ones."""

    def answer(self, body, chat):
        out = super().answer(body, chat)
        i = self.requests
        text = "7" if i % 2 == 0 else "I cannot say, it depends!"
        out["choices"][0]["message"]["content"] = text
        return out


JUDGE_PROGRAM = """
program judged "a judge whose replies do not always parse"
param url: str = "http://127.0.0.1:9/v1"
model judge = server(url, model: "smollm2") max_tokens 8 concurrency 1
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt rate(q, a) = \"\"\"Rate the answer {a} to {q} from 1 to 10.\"\"\"
for x in d { x.score = judge.score(rate(x.question, x.answer), range: 1..10, on_parse_error: drop) }
data good = for x in d where x.score >= 5
eval res for x in good metrics accuracy { gold x.answer  "kept" = x.answer }
"""


def test_garbage_judge_counts_parse_failures_and_follows_the_gate(tmp_path):
    _write(tmp_path)
    (tmp_path / "prog.collab").write_text(JUDGE_PROGRAM)
    with GarbageJudge(fixed_reply="placeholder") as srv:
        r = _run_cli(["run", "prog.collab", "--store", "runs.db", "--set", f"url={srv.base_url}"], tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    totals = _node_totals(tmp_path / "runs.db", "score")
    assert totals["calls"] == 8 and totals["parse_failures"] == 4
    con = sqlite3.connect(tmp_path / "runs.db")
    n = con.execute("select n from metrics where system = 'kept'").fetchone()[0]
    assert n == 4  # the unparsed rows were dropped, as the program says


SECRET = "sk-collab-test-0123456789abcdef"


def test_no_secret_in_store_or_logs(tmp_path):
    _write(tmp_path)
    (tmp_path / "prog.collab").write_text(SERVER_PROGRAM.replace("server(url, model: \"smollm2\")",
                                                                 "api(\"openai/smollm2\")"))
    with OpenAIServer(fixed_reply="blue", failure_rate=0.5, failure_kinds=("401",)) as srv:
        env = {"OPENAI_API_KEY": SECRET, "OPENAI_API_BASE": srv.base_url, "OPENAI_BASE_URL": srv.base_url}
        r = _run_cli(["run", "prog.collab", "--store", "runs.db"], tmp_path, env=env)
        seen = list(srv.auth_headers)
        show = _run_cli(["show", "latest", "--store", "runs.db"], tmp_path)
    assert any(SECRET in h for h in seen), "the key was not sent, so the test proves nothing"
    assert r.returncode == 1  # the server refused a request (401 echoing the key): the run fails
    for text in (r.stdout, r.stderr, show.stdout, show.stderr):
        assert SECRET not in text
    for f in tmp_path.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
