"""Issue 12: an eval row derived from other rows, metric by metric (weak-to-strong's
performance gap recovered), with a located warning when a denominator is not positive."""
from __future__ import annotations

from runtime_testing import run_program, write_program

from collabdsl.compiler import check_path

ROWS = [{"question": "What color is the sky?", "answer": "blue"},
        {"question": "What do bees make?", "answer": "honey"},
        {"question": "What is frozen water?", "answer": "ice"},
        {"question": "How many legs has a spider?", "answer": "eight"}]

PGR = """
program pgr "performance gap recovered"
param floor: float = 0.0
model gold = column("answer")
model echo = column("question")
data d = load("rows.jsonl", columns: {question: "question", answer: "answer", half: "half"})
eval results for x in d metrics exact_match {
  gold x.answer
  "weak" = echo.generate(x.question)
  "strong" = gold.generate(x.question)
  "weak-to-strong" = x.half
  derived "PGR" = (system("weak-to-strong") - system("weak")) / (system("strong") - system("weak"))
  derived "no gap" = (system("weak-to-strong") - floor) / (system("weak") - system("weak"))
}
"""


def test_a_derived_row_is_computed_from_the_other_rows(tmp_path):
    rows = [{**r, "half": r["answer"] if i % 2 else "no"} for i, r in enumerate(ROWS)]
    path = write_program(tmp_path, PGR, rows)
    assert [d.code for d in check_path(str(path)).diagnostics] == []
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    got = {r["system"]: r["exact_match"] for r in out.results}
    assert got == {"weak": 0.0, "strong": 1.0, "weak-to-strong": 0.5, "PGR": 0.5, "no gap": None}
    [w] = out.warnings
    assert w["where"].endswith(":13:3") and "denominator system(\"weak\") - system(\"weak\") is 0" in w["message"]


def test_a_derived_row_reads_only_rows_above_it_and_params(tmp_path):
    bad = PGR.replace('system("strong") - system("weak"))\n', 'system("strongest") - x.answer)\n')
    path = write_program(tmp_path, bad, ROWS)
    got = sorted((d.code, d.span.line) for d in check_path(str(path)).diagnostics)
    assert got == [("E101", 12), ("E113", 12)], got
    later = PGR.replace('derived "PGR" = (system("weak-to-strong")', 'derived "PGR" = (system("no gap")')
    got = [(d.code, d.message) for d in check_path(str(write_program(tmp_path / "l", later, ROWS))).diagnostics]
    assert got == [("E101", "no system 'no gap' above this line in eval 'results'")]
