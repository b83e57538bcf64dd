"""Thread settings chosen before torch is imported (runtime/threads.py, `collab run --threads`).

Each case runs in a fresh interpreter: libgomp reads OMP_* once, when torch loads it, and
this test process may already have torch loaded."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.threads import ThreadSettings, configure

ROOT = Path(__file__).resolve().parents[2]
CLEAN = {k: v for k, v in os.environ.items()
         if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "GOMP_SPINCOUNT")}


def _probe(code_before_torch: str, env: dict | None = None) -> dict:
    code = (f"import json, os, sys\nsys.path.insert(0, {str(ROOT)!r})\n{code_before_torch}\nimport torch\n"
            "print(json.dumps({'threads': torch.get_num_threads(), 'env': {k: os.environ.get(k) for k in "
            "('OMP_WAIT_POLICY', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')}, 'settings': getattr(s, '__dict__', None)}))")
    out = subprocess.run([sys.executable, "-c", code], env=env or CLEAN, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_idle_threads_sleep_unless_the_user_chose_otherwise():
    got = _probe("from runtime.threads import configure\ns = configure()")
    assert got["env"]["OMP_WAIT_POLICY"] == "PASSIVE"
    assert got["settings"] == {"threads": None, "wait_policy": "PASSIVE", "wait_policy_from": "collab"}
    assert got["env"]["OMP_NUM_THREADS"] is None  # the team size is left to the library


def test_threads_reach_torch_and_every_thread_library():
    got = _probe("from runtime.threads import configure\ns = configure(1)")
    assert got["threads"] == 1
    assert got["env"]["OMP_NUM_THREADS"] == got["env"]["MKL_NUM_THREADS"] == "1"


def test_what_the_user_set_is_kept():
    env = {**CLEAN, "OMP_WAIT_POLICY": "ACTIVE", "OMP_NUM_THREADS": "1"}
    got = _probe("from runtime.threads import configure\ns = configure()", env)
    assert got["env"]["OMP_WAIT_POLICY"] == "ACTIVE" and got["threads"] == 1
    assert got["settings"] == {"threads": 1, "wait_policy": "ACTIVE", "wait_policy_from": "user"}


def test_a_users_spin_count_is_kept():
    got = _probe("from runtime.threads import configure\ns = configure()", {**CLEAN, "GOMP_SPINCOUNT": "10000"})
    assert got["env"]["OMP_WAIT_POLICY"] is None
    assert got["settings"]["wait_policy_from"] == "user" and "GOMP_SPINCOUNT=10000" in got["settings"]["wait_policy"]


def test_after_torch_the_team_size_is_still_set_and_the_policy_is_reported_not_applied():
    code = ("import torch\nfrom runtime.threads import configure\ns = configure(1)\n"
            "assert os.environ.get('OMP_WAIT_POLICY') is None")
    got = _probe(code)
    assert got["threads"] == 1
    assert got["settings"] == {"threads": 1, "wait_policy": "default", "wait_policy_from": "too late"}
    assert "torch was imported before collab could set it" in ThreadSettings(**got["settings"]).describe()


def test_threads_below_one_are_refused():
    with pytest.raises(ValueError, match="at least 1"):
        configure(0, environ={})


PROGRAM = """
program tiny "no model"
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
eval res for x in d metrics accuracy { gold x.answer
  "echo" = x.answer }
"""


def _cli(tmp_path, *args, env=None):
    (tmp_path / "prog.collab").write_text(PROGRAM)
    (tmp_path / "rows.jsonl").write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    return subprocess.run([sys.executable, "-m", "collabdsl", "run", "prog.collab", "--store", "runs.db", *args],
                          cwd=tmp_path, env={**(env or CLEAN), "PYTHONPATH": str(ROOT)}, capture_output=True,
                          text=True, timeout=300)


def test_collab_run_threads_is_applied_and_printed(tmp_path):
    out = _cli(tmp_path, "--threads", "1")
    assert out.returncode == 0, out.stderr
    assert "threads 1, OMP_WAIT_POLICY=PASSIVE (collab's default)" in out.stdout


def test_collab_run_keeps_the_users_wait_policy(tmp_path):
    out = _cli(tmp_path, env={**CLEAN, "OMP_WAIT_POLICY": "ACTIVE"})
    assert out.returncode == 0, out.stderr
    assert "OMP_WAIT_POLICY=ACTIVE (as set by the user)" in out.stdout


def test_collab_run_refuses_zero_threads(tmp_path):
    out = _cli(tmp_path, "--threads", "0")
    assert out.returncode == 2 and "--threads" in out.stderr and "Traceback" not in out.stderr
