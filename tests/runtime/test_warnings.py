"""What a run notices without stopping: located warnings stored in the run store's
``warnings`` table and printed by ``collab run`` and ``collab show`` (text and JSON): a
marker that matches no row, one answer on almost every row of a result table, training
tasks that lose examples; a training task left with no example stops the run."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from runtime_testing import run_program, write_program
from typer.testing import CliRunner

from collabdsl import cli
from runtime.store import RunStore

ROWS = [
    {"question": "What color is the sky?", "answer": "blue",
     "stored": "The sky scatters blue light. So the answer is blue. -- Q: next question"},
    {"question": "What do bees make?", "answer": "honey",
     "stored": "Bees make honey from nectar. So the answer is honey. -- Q: next question"},
    {"question": "What is frozen water?", "answer": "ice",
     "stored": "Water freezes into ice. So the answer is ice. -- Q: next question"},
]


def _program(tmp_path: Path, text: str, rows=None) -> Path:
    return write_program(tmp_path, text, rows or ROWS)


_run = run_program


MARKERS = r"""
program markers "rationales cut at markers"
param t5_end: str = "\n\nQ:"
data d = load("rows.jsonl", columns: {question: "question", answer: "answer", stored: "stored"})
for x in d {
  x.r1 = before(x.stored, t5_end)
  x.r2 = after(x.stored, "llama rationale: ")
  x.r3 = before(x.stored, " -- Q:")
  x.a = extract_answer(x.stored, markers: ["The final answer:", "Answer:"])
}
eval res for x in d metrics answered { "r2" = x.r2 }
"""


def test_a_marker_that_matches_no_row_is_a_located_warning(tmp_path):
    out = _run(_program(tmp_path, MARKERS), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    got = {w["where"].rsplit("/", 1)[-1]: w for w in out.warnings}
    assert set(got) == {"prog.collab:6:10", "prog.collab:7:10", "prog.collab:9:9"}, got
    assert "'\\n\\nQ:' occurs in none of the 3 texts" in got["prog.collab:6:10"]["message"]
    assert "every value is the whole text" in got["prog.collab:6:10"]["message"]
    assert "every value is none" in got["prog.collab:7:10"]["message"]
    assert "none of the markers 'The final answer:', 'Answer:'" in got["prog.collab:9:9"]["message"]
    with RunStore(tmp_path / "runs.db") as st:
        stored = st.list_warnings(out.run_id)
    assert {w["location"].rsplit("/", 1)[-1] for w in stored} == set(got)
    assert all(w["level"] == "warning" and w["kind"] == "compute" for w in stored)


def test_run_and_show_print_the_warnings(tmp_path, monkeypatch):
    _program(tmp_path, MARKERS)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.app, ["run", "prog.collab", "--store", "runs.db"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("warning: ")]
    assert len(lines) == 3 and any("prog.collab:7:10: in compute" in ln and "after()" in ln for ln in lines)
    shown = CliRunner().invoke(cli.app, ["show", "latest", "--store", "runs.db"])
    assert shown.exit_code == 0 and [ln for ln in shown.stdout.splitlines() if ln.startswith("warning: ")] == lines
    js = json.loads(CliRunner().invoke(cli.app, ["show", "latest", "--store", "runs.db", "-f", "json"]).stdout)
    assert len(js["warnings"]) == 3 and js["trainings"] == []


def test_a_newline_given_with_set_is_a_newline(tmp_path):
    """`--set t5_end='\n\nQ:'` (a backslash and an n, as a shell passes it) means a newline,
    as in the program's own strings: the marker matches."""
    rows = [dict(r, stored=r["stored"].replace(" -- Q:", "\n\nQ:")) for r in ROWS]
    out = _run(_program(tmp_path, MARKERS, rows), tmp_path / "runs.db", sets={"t5_end": r"\n\nQ:"})
    assert out.status == "finished", out.error
    assert not [w for w in out.warnings if w["where"].endswith("prog.collab:6:10")], out.warnings
    assert [w for w in out.warnings if w["where"].endswith("prog.collab:8:10")]  # " -- Q:" is gone now


SAME = """
program same "one answer on every row"
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
eval res for x in d metrics accuracy {
  gold x.answer
  "always blue" = "Blue"
  "echo" = x.answer
}
"""


def test_one_answer_on_almost_every_row_is_reported_beside_accuracy(tmp_path):
    rows = [{"question": f"q{i}", "answer": a, "stored": ""} for i, a in
            enumerate(["blue"] * 4 + ["red", "green", "honey", "ice", "sky", "sea"])]
    out = _run(_program(tmp_path, SAME, rows), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    got = {r["system"]: r for r in out.results}
    assert got["always blue"]["accuracy"] == pytest.approx(0.4) and got["always blue"]["top_share"] == 1.0
    assert got["echo"]["top_share"] == pytest.approx(0.4)
    (w,) = out.warnings
    assert w["where"].endswith("prog.collab:6:3") and "'always blue'" in w["message"] and "10 of" in w["message"]
    with RunStore(tmp_path / "runs.db") as st:
        table = {r["system"]: r for r in st.results_table(out.run_id)}
    assert table["always blue"]["top_share"] == 1.0  # `collab show` prints it as a column


MULTITASK = r"""
program mt "a multitask student whose teacher rationales are cut at markers"
model student = embedded("smollm2-135m-instruct") trainable
data d = load("rows.jsonl", columns: {question: "question", answer: "answer", stored: "stored"})
for x in d {
  x.r1 = before(x.stored, " -- Q:")
  x.r2 = after(x.stored, "llama rationale: ")
}
model s2 = train student multitask for x in d {
  input: x.question,
  tasks: [task("predict: ", x.answer), task("explain: ", x.r1), task("rationale: ", x.r2)],
  max_steps: 1
}
"""


def test_a_training_task_with_no_example_stops_the_run_at_the_train_statement(tmp_path):
    """The teacher whose marker matches nothing has no rationale on any row: the run fails
    naming the task and the statement, instead of training the two other tasks only."""
    out = _run(_program(tmp_path, MULTITASK), tmp_path / "runs.db")
    assert out.status == "failed"
    assert "prog.collab:9:1:" in out.error and "training task 'rationale' has no example" in out.error
    assert "0 of 3 rows (3 target none)" in out.error
    assert any("after()" in w["message"] for w in out.warnings)
    assert sum(a["loads"] for a in out.agents.values()) == 0  # stopped before any model load


def test_the_trainer_refuses_a_task_without_examples():
    from runtime.trainer import _sft_groups

    rows = [{"input": "q", "targets": {"predict": "a"}}]
    tasks = [{"name": "predict", "prefix": "p: ", "weight": 1.0}, {"name": "rationale", "prefix": "r: ",
                                                                     "weight": 1.0}]
    with pytest.raises(ValueError, match="no examples for 'rationale'"):
        _sft_groups("multitask", rows, 0.5, tasks)
    tasks[1]["weight"] = 0.0
    assert [g[0] for g in _sft_groups("multitask", rows, 0.5, tasks)] == ["predict"]


@pytest.mark.slow
def test_training_reports_examples_kept_and_dropped_per_task(tmp_path, monkeypatch):
    """A real (one-step LoRA) multitask training where one teacher lacks a rationale on one
    row and a task has weight 0: the counts are stored with the training, printed after the
    run and by `collab show`, the loss drops are a warning and the weight-0 task a note."""
    rows = [dict(r) for r in ROWS]
    rows[1]["stored"] = "no marker in this one"
    text = MULTITASK.replace('after(x.stored, "llama rationale: ")', 'after(x.stored, "So the answer is")') \
        .replace('task("rationale: ", x.r2)', 'task("rationale: ", x.r2, weight: 0)') \
        .replace('task("explain: ", x.r1)', 'task("explain: ", x.r2)')
    _program(tmp_path, text, rows)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli.app, ["run", "prog.collab", "--store", "runs.db"])
    assert r.exit_code == 0, r.output
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("s2 multitask"))
    assert line.startswith("s2 multitask: 5 examples, 1 steps")  # 3 predict + 2 explain pairs
    assert "explain: 2 of 3 rows (1 target none)" in line and "predict: 3 of 3 rows" in line
    assert "rationale: 2 of 3 rows (1 target none), weight 0: not trained" in line
    assert any(ln.startswith("note: ") and "'rationale' has weight 0" in ln for ln in r.stdout.splitlines())
    assert any(ln.startswith("warning: ") and "explain: 2 of 3 rows" in ln for ln in r.stdout.splitlines())
    with RunStore(tmp_path / "runs.db") as st:
        (t,) = st.list_trainings(st.list_runs()[0]["id"])
    assert {x["task"]: (x["kept"], x["dropped"]) for x in t["tasks"]} == {
        "predict": (3, {}), "explain": (2, {"target none": 1}), "rationale": (2, {"target none": 1})}
    assert t["info"]["steps"] == 1
    shown = CliRunner().invoke(cli.app, ["show", "latest", "--store", "runs.db"])
    assert line.split(",")[0] in shown.stdout and "explain: 2 of 3 rows (1 target none)" in shown.stdout
