"""Secrets inside URLs (``http://user:pass@host``, ``?api_key=...``) are masked everywhere a
run writes or prints: stdout and stderr, every byte of the run store, ``collab runs --format
json`` and ``collab show`` (text and json)."""
from __future__ import annotations

import json

from security_testing import collab

PASSWORD = "hunter2-url-password-7777"
SECRET = "sk-url-query-secret-8888"

PROGRAM = """program urls "a server URL with credentials"
param note: str = "none"
model big = server("http://127.0.0.1:9/v1", model: "m") max_retries 0 timeout 10
data d = load("builtin:science-mc", split: "test", limit: 2)
for x in d { x.reply = big.generate(x.question + note) }
eval res for x in d metrics answered { "big" = x.reply }
"""


def _outputs(*results) -> str:
    return "\n".join(r.stdout + r.stderr for r in results)


def test_url_credentials_never_printed_or_stored(tmp_path, server):
    (tmp_path / "prog.collab").write_text(PROGRAM)
    host = server.base_url.removeprefix("http://")
    ref = f"big=server:http://collab-user:{PASSWORD}@{host}?api_key={SECRET}#m"  # the call fails (404)
    run = collab(["run", "prog.collab", "--store", "runs.db", "--model", ref,
                  "--set", f"note=see https://u:{PASSWORD}@example.org/x?token={SECRET}"], tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    runs = collab(["runs", "--store", "runs.db", "--format", "json"], tmp_path)
    show = collab(["show", "latest", "--store", "runs.db"], tmp_path)
    show_json = collab(["show", "latest", "--store", "runs.db", "--format", "json"], tmp_path)
    plan = collab(["plan", "prog.collab", "--model", ref], tmp_path)
    bad = collab(["run", "prog.collab", "--model", f"big=nosuch:http://u:{PASSWORD}@h/?key={SECRET}"], tmp_path)
    assert bad.returncode == 2
    text = _outputs(run, runs, show, show_json, plan, bad)
    assert PASSWORD not in text and SECRET not in text and "collab-user" not in text
    assert "error: prog.collab:5:" in run.stderr and f"{host}?api_key=***" in run.stderr
    (stored,) = json.loads(runs.stdout)
    assert stored["status"] == "failed" and stored["bindings"]["big"] == f"server:http://{host}?api_key=***#m"
    assert "api_key=***" in stored["error"]
    assert json.loads(show_json.stdout)["run"]["params"]["note"] == "see https://example.org/x?token=***"
    files = [f for f in tmp_path.rglob("runs.db*") if f.is_file()]
    assert files
    for f in files:
        data = f.read_bytes()
        assert PASSWORD.encode() not in data and SECRET.encode() not in data, f
    assert server.log, "the failing call never reached the server (it answered 404)"
