"""Metrics: per-row ones averaged, corpus-level macro-F1."""
from __future__ import annotations

import math

from runtime.metrics import macro_f1, score


def test_macro_f1_matches_the_textbook_definition():
    golds = ["a", "a", "b", "c"]
    preds = ["a", "b", "b", None]
    # a: tp1 fp0 fn1 -> 2/3; b: tp1 fp1 fn0 -> 2/3; c: tp0 -> 0
    assert math.isclose(macro_f1(preds, golds), (2 / 3 + 2 / 3 + 0) / 3)
    assert score("macro_f1", preds, golds) == macro_f1(preds, golds)
    assert score("accuracy", preds, golds) == 0.5
    assert macro_f1(["a", "b"], ["a", "b"]) == 1.0
    assert math.isnan(score("macro_f1", [], []))


def test_macro_f1_counts_a_predicted_class_never_gold():
    assert math.isclose(macro_f1(["a", "z"], ["a", "a"]), (2 / 3 + 0) / 2)


def test_answered_is_the_share_of_rows_with_an_answer_whatever_the_gold():
    preds = ["b", None, "", {"answer": None}, {"answer": "a"}, 0]
    assert math.isclose(score("answered", preds, ["a"] * 6), 3 / 6)  # "b", {"answer": "a"}, 0
    assert score("answered", preds, [None] * 6) == score("answered", preds, ["a"] * 6)


def test_answered_and_accuracy_together_separate_wrong_from_silent(tmp_path):
    """In an eval, `answered` needs no gold and sits next to accuracy in the table."""
    from collabdsl.compiler import compile_path
    from runtime.run import run_graph

    (tmp_path / "rows.jsonl").write_text('{"q": "1+1", "a": "2"}\n{"q": "2+2", "a": "4"}\n{"q": "x", "a": "5"}\n')
    (tmp_path / "p.collab").write_text('''
program answered "last_number gives none when a text holds no number"
data d = load("rows.jsonl", columns: {q: "q", a: "a"})
for x in d { x.reply = x.q + " = " + x.a }
eval e for x in d metrics accuracy, answered {
  gold x.a
  "parsed" = last_number(x.reply)
}
eval silent for x in d metrics answered { "first" = last_number(x.q) }
''')
    res = compile_path(str(tmp_path / "p.collab"))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    out = run_graph(res.graph, program_path=str(tmp_path / "p.collab"), sources=res.sources,
                    store_path=str(tmp_path / "runs.db"), progress=False)
    assert out.status == "finished", out.error
    got = {(r["table"], r["system"]): r for r in out.results}
    # the third reply "x = 5" names the gold 5 although its question holds no number
    assert got[("e", "parsed")]["accuracy"] == 1.0 and got[("e", "parsed")]["answered"] == 1.0
    assert math.isclose(got[("silent", "first")]["answered"], 2 / 3)  # "x" holds no number
