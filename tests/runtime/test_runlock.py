"""One process per run: the run lock (flock on a file beside the store), with real
processes: a second `collab run --resume` of a running run says it is busy, a killed run
leaves no stale lock."""
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

from runtime.runlock import RunBusy, RunLock, lock_path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from openai_server import OpenAIServer  # noqa: E402
from test_resume import MIX, QUESTIONS, write_program  # noqa: E402

HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from runtime.runlock import RunLock
RunLock({store!r}, "r1").acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_the_lock_is_exclusive_names_its_holder_and_dies_with_it(tmp_path):
    store = tmp_path / "runs.db"
    p = subprocess.Popen([sys.executable, "-c", HOLD.format(root=str(ROOT), store=str(store))],
                         stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(RunBusy, match=f"run r1 is busy: process {p.pid} is running it"):
            RunLock(store, "r1").acquire()
        with RunLock(store, "r2"):  # another run of the same store is not held
            pass
        p.send_signal(signal.SIGKILL)  # no clean-up at all
        p.wait()
        with RunLock(store, "r1"):
            assert lock_path(store, "r1").read_text() == str(os.getpid())
            with pytest.raises(RunBusy):  # also within one process: a second holder is refused
                RunLock(store, "r1").acquire()
        assert not lock_path(store, "r1").exists()  # removed when released
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def _rows(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=1)
        n = con.execute("select count(*) from rows").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_a_second_resume_of_a_running_run_is_refused(tmp_path):
    write_program(tmp_path, MIX)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1", "LITELLM_LOCAL_MODEL_COST_MAP": "True"}

    def collab(*args):
        return subprocess.Popen([sys.executable, "-m", "collabdsl", "run", "prog.collab", "--store", "runs.db",
                                 *args], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)

    with OpenAIServer(fixed_reply="blue", latency_ms=400) as srv, OpenAIServer(fixed_reply="green") as other:
        first = collab("--set", f"url={srv.base_url}")
        try:
            deadline = time.time() + 120
            while _rows(tmp_path / "runs.db") < 2 and first.poll() is None and time.time() < deadline:
                time.sleep(0.05)
            assert first.poll() is None, first.communicate()
            second = collab("--set", f"url={srv.base_url}", "--resume")
            out, err = second.communicate(timeout=120)
            assert second.returncode == 1, out + err
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert len(lines) == 1 and "is busy" in lines[0] and f"process {first.pid}" in lines[0], err
            assert first.poll() is None  # the first run goes on
            first.send_signal(signal.SIGKILL)
            first.wait()
            # the reported case: resumed with another model after kill -9
            ref = f"server:{other.base_url}#smollm2"
            third = collab("--set", f"url={srv.base_url}", "--resume", "--model", f"m={ref}")
            out, err = third.communicate(timeout=300)
            assert third.returncode == 0, out + err
            assert f"its inputs changed: --model m={ref!r} (was 'server:{srv.base_url}#smollm2')" in err, err
            assert "started afresh" in err
        finally:
            if first.poll() is None:
                first.kill()
                first.wait()
    con = sqlite3.connect(tmp_path / "runs.db")
    runs = con.execute("select id, status from runs").fetchall()
    rows = [json.loads(d) for (d,) in con.execute("select data from rows")]
    assert len(runs) == 1 and runs[0][1] == "finished"  # the killed run was taken over at once
    assert sorted(r["rid"] for r in rows) == [f"d:{i}" for i in range(len(QUESTIONS))]
    assert {r["v"] for r in rows} == {"green"}  # no row of the first binding is kept
    bindings = json.loads(con.execute("select bindings from runs").fetchone()[0])
    assert bindings["m"] == ref
    assert not list(tmp_path.glob("*.lock"))
