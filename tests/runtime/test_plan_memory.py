"""Issue 11: `collab plan`'s memory estimate per node against what the run measures for the
same node (nodes.peak_mb), on the real embedded model."""
from __future__ import annotations

import sqlite3
import sys

import pytest
from runtime_testing import write_program

from collabdsl import plan as P
from collabdsl.compiler import compile_path

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="peaks are measured on Linux")]

PROGRAM = """
program planmem "a generation, a LoRA training and a full one"
model m = embedded("smollm2-135m-instruct") trainable max_tokens 24
model f = embedded("smollm2-135m-instruct") trainable max_tokens 24
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = m.generate("Answer in one word: " + x.question) }
train m sft for x in d { input: x.question, target: x.answer + " " + x.reply, max_steps: 1, batch_size: 8 }
train f sft for x in d { input: x.question, target: x.answer + " " + x.reply, max_steps: 1, batch_size: 8, full: true }
"""


def test_the_plan_estimate_is_within_a_factor_of_the_measured_peak(tmp_path):
    rows = [{"question": f"What is {i} plus {i}? Say it in words, please.", "answer": str(2 * i)} for i in range(16)]
    path = write_program(tmp_path, PROGRAM, rows)
    planned = {n.id: n.memory for n in P.plan(compile_path(str(path)).graph).nodes if n.memory is not None}
    # a fresh `collab run` process, as the plan estimates it (this test process holds whatever
    # the tests before it left, which a run's process does not)
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-m", "collabdsl", "run", str(path), "--store", str(tmp_path / "runs.db")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    con = sqlite3.connect(tmp_path / "runs.db")
    measured = {nid.split("@")[0].split("#")[0]: mb for nid, mb in con.execute(
        "select node_id, peak_mb from nodes where peak_mb is not null")}
    con.close()
    pairs = {nid: (planned[nid] / 2**20, measured[nid]) for nid in planned if nid in measured}
    print("plan vs measured MB:", {k: (round(e), round(g)) for k, (e, g) in pairs.items()})
    assert len(pairs) == 3, (planned, measured)
    for (est, got) in pairs.values():
        # the estimate leaves out other models kept loaded (the generation's model during
        # the trainings, ~0.5 GB here) and the allocator's slack; a training's sequences are
        # estimated at 128 characters per column value (these are ~40), so it is high there
        assert 0.5 < got / est < 1.6, pairs
