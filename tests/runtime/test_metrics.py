"""Metrics: per-row ones averaged, corpus-level macro-F1."""
from __future__ import annotations

import math

import pytest

from runtime.metrics import correct, exact_match, macro_f1, normalize, score, token_f1


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


# ------------------------------------------------------------------ what counts as a match
PER_ROW = ("accuracy", "exact_match", "token_f1")


@pytest.mark.parametrize("pred", [None, "", "   ", "The", "the", "an", "!", {"answer": None}, {"text": ""}])
@pytest.mark.parametrize("gold", ["A", "a", "(A)"])
def test_a_gold_option_letter_is_not_normalised_away(pred, gold):
    """Gold "A" is a letter, not an article: an empty, none or article-only prediction
    never matches it (it normalised to "" as the empty prediction did)."""
    for m in PER_ROW:
        assert score(m, [pred], [gold]) == 0.0, (m, pred, gold)


@pytest.mark.parametrize("pred", [None, "", "  "])
@pytest.mark.parametrize("gold", ["", None, "the", "blue"])
def test_none_and_empty_predictions_are_always_wrong(pred, gold):
    for m in PER_ROW:
        assert score(m, [pred], [gold]) == 0.0, (m, pred, gold)


@pytest.mark.parametrize("pred, gold", [("A", "A"), ("(a)", "A"), ("a.", "A"), ("A)", "(A)"), (" b ", "B"),
                                        ("The", "the"), ("an", "An")])
def test_option_letters_and_article_words_match_by_their_own_characters(pred, gold):
    for m in PER_ROW:
        assert score(m, [pred], [gold]) == 1.0, (m, pred, gold)
    assert not correct("A", "B") and not correct("(a)", "(b)") and not correct("a", "the")
    assert not correct("The", "A") and exact_match("an", "a") == 0.0
    assert normalize("A") == "a" and normalize("The") == "the" and normalize("the dog") == "dog"


def test_option_texts_compare_normalised():
    assert correct("The dry palms.", "dry palms") and correct({"answer": "Dry Palms"}, "dry palms")
    assert not correct("wet palms", "dry palms")
    assert token_f1("dry palms", "palms") == pytest.approx(2 / 3)
    assert exact_match("a dog", "dog") == 1.0  # articles inside a longer text still go


@pytest.mark.parametrize("pred, gold, same", [
    ("3", "3.0", True), ("1,000", "1000", True), ("-2", "-2.00", True), ("3", "4", False),
    ("1_000", "1000", True),  # not a number (Python's float() reads it), but SQuAD drops the "_"
    ("1,00", "100", True),  # the same: not a number, equal texts once punctuation goes
    ("nan", "nan", True),  # not a number: compared as texts
    ("inf", "1e999", False), ("0.1", ".1", True)])
def test_numbers_compare_by_value(pred, gold, same):
    assert correct(pred, gold) is same, (pred, gold)


def test_free_text():
    assert correct("Paris", "paris") and not correct("Paris, France", "Paris")
    assert token_f1("Paris, France", "Paris") == pytest.approx(2 / 3)
    assert token_f1("", "Paris") == 0.0 and token_f1("Paris", "") == 0.0


def test_macro_f1_treats_an_empty_prediction_as_no_answer_and_keeps_letter_classes():
    assert macro_f1(["A", "B"], ["A", "B"]) == 1.0  # two classes, not one empty class
    assert macro_f1(["", "B"], ["A", "B"]) == 0.5  # class a: no true positive; class b: 1
    assert macro_f1(["", ""], ["A", "A"]) == 0.0
