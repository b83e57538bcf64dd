"""Issue 11: each node's peak resident memory is measured around its model work (the
kernel's high-water mark, reset before each compute-thread job) and stored with the node."""
from __future__ import annotations

import mmap
import sqlite3
import sys

import pytest
from runtime_testing import run_program, write_program

from runtime import memory

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="VmHWM is Linux's")

MB = 2**20


def _rss_mb() -> float:
    return memory.status_mb("VmRSS")


def _touch(n_mb: int) -> int:
    """Make ``n_mb`` of fresh pages resident. An anonymous mapping, not a bytearray: after
    many tests the allocator may hand a bytearray pages that are already resident (freed
    but kept), and then the resident set does not grow at all."""
    buf = mmap.mmap(-1, n_mb * MB)
    try:
        for i in range(0, len(buf), mmap.PAGESIZE):  # make every page resident
            buf[i] = 1
        return len(buf)
    finally:
        buf.close()


def test_a_jobs_peak_is_charged_to_its_nodes_and_forgotten_once_taken():
    _touch(300)  # a high-water mark from before the job must not count
    base = _rss_mb()
    memory.measured(lambda: _touch(120), ["a", "b"])
    memory.measured(lambda: None, ["b"])
    a, b = memory.take_peak("a"), memory.take_peak("b")
    assert base + 100 <= a < base + 250  # the job's 120 MB, not the 300 MB before it
    assert b == a  # b's second job needed less: the highest stays
    assert memory.take_peak("a") is None
    assert memory.measured(lambda: 7, []) == 7  # no node: runs unmeasured


PROGRAM = """
program mem "two generate nodes, one of them needs memory"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.small = m.generate(x.question) }
for x in d { x.big = m.generate("big " + x.small) }
"""


def test_each_node_stores_the_peak_of_its_own_model_work(monkeypatch, tmp_path):
    """Logic test (fake executor on the compute thread): the node whose batches allocate
    300 MB stores a peak 300 MB above the other's; `collab show` prints both."""
    from runtime.executors.base import Generation

    class Exec:
        batch_size = 64

        def generate(self, reqs):
            held = _touch(300) if reqs[0].prompt.startswith("big") else 0
            return [[Generation(text=r.prompt.upper(), prompt_tokens=1, completion_tokens=1 + 0 * held)]
                    for r in reqs]

        def close(self):
            pass

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Exec())
    db = tmp_path / "runs.db"
    out = run_program(write_program(tmp_path, PROGRAM, [{"question": f"q{i}", "answer": "a"} for i in range(8)]), db)
    assert out.status == "finished", out.error
    con = sqlite3.connect(db)
    peaks = con.execute("select node_id, peak_mb from nodes where run_id = ? and kind = 'generate' order by rowid",
                        [out.run_id]).fetchall()
    con.close()
    small, big = peaks  # in program order
    assert small[1] is not None and big[1] is not None
    assert big[1] - small[1] > 250, peaks

    from typer.testing import CliRunner

    from collabdsl.cli import app

    shown = CliRunner().invoke(app, ["show", out.run_id, "--store", str(db)])
    assert shown.exit_code == 0, shown.output
    from collabdsl.cli import _fmt_num

    assert "peak_mb" in shown.output and _fmt_num(big[1]) in shown.output
