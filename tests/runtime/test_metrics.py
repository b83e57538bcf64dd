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
