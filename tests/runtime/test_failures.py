"""Failures are reported, recorded and resumable: any exception inside a run is recorded as
`failed` with one located line (never a traceback, never `finished`), `--resume` continues
it; a missing, truncated, corrupt or read-only store, or a folder given as the store, is one
line and exit 1 in `collab run`, `collab runs` and `collab show`. Real SQLite files, the
real CLI (in-process with CliRunner, and real processes where a real OS user matters)."""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from collabdsl import cli
from runtime import handlers as H
from runtime import run as R

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()

PROGRAM = """
program fails "a column model, a loop and an eval"
param zero: int = 0
model t = column("answer")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = t.generate(x.question) }
repeat until count(d) / zero > 1 max 3 {
  for x in d { x.again = t.generate(x.question) }
}
eval res for x in d metrics exact_match { gold x.answer  "stored" = x.reply }
"""
ROWS = [{"question": "What color is the sky?", "answer": "blue"},
        {"question": "What do bees make?", "answer": "honey"}]


def _write(folder: Path, text: str = PROGRAM) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    p = folder / "prog.collab"
    p.write_text(text)
    return p


def invoke(*args):
    return runner.invoke(cli.app, [str(a) for a in args])


def _runs(db: Path) -> list[tuple]:
    con = sqlite3.connect(db)
    out = con.execute("select id, status, error from runs order by started").fetchall()
    con.close()
    return out


def _one_located_line(r, where: str) -> str:
    """The one `error:` line of a failed `collab run`; no exception escaped the CLI."""
    assert r.exit_code == 1 and (r.exception is None or isinstance(r.exception, SystemExit)), \
        f"{r.exception!r}\n{r.output}"
    assert "Traceback" not in r.output, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and where in lines[0], r.stderr
    return lines[0]


# ---------------------------------------------------------------------- failures inside a run
def test_a_repeat_until_condition_that_fails_is_a_located_failure(tmp_path):
    p = _write(tmp_path)
    db = tmp_path / "runs.db"
    r = invoke("run", p, "--store", db)
    assert r.exit_code == 1, r.output
    line = _one_located_line(r, "prog.collab:7:")
    assert "repeat until" in line and "cannot compute /" in line
    [(rid, status, error)] = _runs(db)
    assert status == "failed" and "prog.collab:7:" in error
    # fixed with --set: --resume continues the same run
    r = invoke("run", p, "--store", db, "--resume", "--set", "zero=1")
    assert r.exit_code == 0, r.output
    assert _runs(db) == [(rid, "finished", None)]


def test_an_exception_inside_a_handler_is_a_located_failure(tmp_path, monkeypatch):
    p = _write(tmp_path, PROGRAM.replace("count(d) / zero > 1", "count(d) / (zero + 1) > 1"))
    db = tmp_path / "runs.db"
    real = H.HANDLERS["eval"]

    async def broken(ctx, node, key):
        raise ZeroDivisionError("injected inside the eval handler")

    monkeypatch.setitem(H.HANDLERS, "eval", broken)
    r = invoke("run", p, "--store", db)
    assert r.exit_code == 1, r.output
    line = _one_located_line(r, "prog.collab:10:")
    assert "eval res" in line and "ZeroDivisionError: injected" in line
    [(rid, status, _)] = _runs(db)
    assert status == "failed"
    monkeypatch.setitem(H.HANDLERS, "eval", real)
    r = invoke("run", p, "--store", db, "--resume")
    assert r.exit_code == 0, r.output
    assert _runs(db) == [(rid, "finished", None)]


def test_an_exception_outside_the_handlers_fails_the_run_never_finishes_it(tmp_path, monkeypatch):
    """The mechanism: whatever raises inside a run (here the fingerprint of a node, computed
    before its handler) is recorded as failed with a located line."""
    p = _write(tmp_path, PROGRAM.replace("count(d) / zero > 1", "count(d) / (zero + 1) > 1"))
    db = tmp_path / "runs.db"
    real = R.fingerprint

    def broken(ctx, nid):
        if ctx.G.nodes[nid]["kind"] == "eval":
            raise RuntimeError("injected in the scheduler")
        return real(ctx, nid)

    monkeypatch.setattr(R, "fingerprint", broken)
    r = invoke("run", p, "--store", db)
    assert r.exit_code == 1, r.output
    line = _one_located_line(r, "prog.collab:10:")
    assert "RuntimeError: injected in the scheduler" in line
    assert _runs(db)[0][1] == "failed"


def test_a_failing_close_of_a_backend_fails_the_run(tmp_path, monkeypatch):
    p = _write(tmp_path, PROGRAM.replace("count(d) / zero > 1", "count(d) / (zero + 1) > 1"))
    db = tmp_path / "runs.db"

    async def close(self):
        raise OSError("the backend did not shut down")

    monkeypatch.setattr("runtime.agents.AgentPool.close", close)
    r = invoke("run", p, "--store", db)
    assert r.exit_code == 1, r.output
    line = _one_located_line(r, "prog.collab")
    assert "OSError: the backend did not shut down" in line
    assert _runs(db)[0][1] == "failed"


# ---------------------------------------------------------------------- broken stores
PLAIN = """
program plain "a column model and an eval"
model t = column("answer")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = t.generate(x.question) }
eval res for x in d metrics exact_match { gold x.answer  "stored" = x.reply }
"""


def _real_store(tmp_path: Path) -> Path:
    p = _write(tmp_path / "prog", PLAIN)
    db = tmp_path / "prog" / "runs.db"
    r = invoke("run", p, "--store", db)
    assert r.exit_code == 0, r.output
    return db


def _check_all_commands(store: Path, program: Path, expect: str):
    for args in (["run", program, "--store", store], ["runs", "--store", store],
                 ["show", "latest", "--store", store]):
        r = invoke(*args)
        assert r.exit_code == 1, (args, r.output)
        assert "Traceback" not in r.output, r.output
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and expect in lines[0] and str(store) in lines[0], (args, r.stderr)


def test_a_truncated_store_is_one_line_and_exit_1(tmp_path):
    db = _real_store(tmp_path)
    with sqlite3.connect(db) as con:  # everything in the main file, then cut it
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = db.read_bytes()
    bad = tmp_path / "truncated.db"
    bad.write_bytes(data[:len(data) // 3])
    _check_all_commands(bad, tmp_path / "prog" / "prog.collab", "damaged")


def test_a_corrupt_store_is_one_line_and_exit_1(tmp_path):
    bad = tmp_path / "garbage.db"
    bad.write_bytes(os.urandom(3000))
    _check_all_commands(bad, _write(tmp_path / "p", PLAIN), "not a run store")


def test_a_folder_as_the_store_is_one_line_and_exit_1(tmp_path):
    folder = tmp_path / "stores"
    folder.mkdir()
    _check_all_commands(folder, _write(tmp_path / "p", PLAIN), "is a folder")


def test_a_missing_store(tmp_path):
    missing = tmp_path / "nope" / "runs.db"
    r = invoke("runs", "--store", missing)
    assert r.exit_code == 0 and f"no runs yet in {missing}" in r.stdout
    r = invoke("show", "latest", "--store", missing)
    assert r.exit_code == 1 and "no run store" in r.stderr and str(missing) in r.stderr
    assert not missing.exists()  # looking does not create it


def _without_root_powers() -> list[str]:
    """A command prefix under which chmod binds this process: root ignores file modes
    unless it drops CAP_DAC_OVERRIDE (setpriv, from util-linux)."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: chmod cannot make a store read-only for root")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner,-linux_immutable"]


def test_a_read_only_store_is_one_line_and_exit_1_for_run_and_readable_for_runs(tmp_path):
    db = _real_store(tmp_path)
    folder = db.parent
    for f in folder.iterdir():
        f.chmod(0o444)
    folder.chmod(0o555)
    prefix = _without_root_powers()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}

    def collab(*args):
        return subprocess.run([*prefix, sys.executable, "-m", "collabdsl", *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)

    try:
        probe = subprocess.run([*prefix, sys.executable, "-c", f"open({str(db)!r}, 'ab')"], capture_output=True)
        assert probe.returncode != 0, "the store is writable for this process: the test would prove nothing"
        r = collab("run", folder / "prog.collab", "--store", db)
        assert r.returncode == 1, r.stdout + r.stderr
        assert "Traceback" not in r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and "read-only" in lines[0] and str(db) in lines[0], r.stderr
        # reading a read-only store is fine: collab runs and collab show work
        r = collab("runs", "--store", db)
        assert r.returncode == 0 and "finished" in r.stdout, r.stdout + r.stderr
        r = collab("show", "latest", "--store", db)
        assert r.returncode == 0 and "res" in r.stdout, r.stdout + r.stderr
    finally:
        folder.chmod(0o755)
        for f in folder.iterdir():
            f.chmod(0o644)
