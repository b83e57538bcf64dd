"""Evaluation metrics: accuracy, exact match and token F1 (SQuAD normalisation), macro-F1,
and two that read no gold answer: the share of rows answered, and a mean."""
from __future__ import annotations

import re
import string
from collections import Counter


def _value(v):
    if isinstance(v, dict):
        if "answer" in v:
            return v["answer"]
        if "text" in v:
            return v["text"]
    return v


def normalize(text) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD)."""
    s = "" if text is None else str(_value(text))
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _number(v):
    try:
        f = float(str(v).replace(",", "").strip())
    except (TypeError, ValueError):
        return None
    return f


def correct(pred, gold) -> bool:
    """Accuracy's notion of a match: equal numbers, or equal normalised texts."""
    p, g = _value(pred), _value(gold)
    if p is None:
        return False
    pn, gn = _number(p), _number(g)
    if pn is not None and gn is not None:
        return abs(pn - gn) < 1e-6
    return normalize(p) == normalize(g)


def exact_match(pred, gold) -> float:
    p = _value(pred)
    return float(p is not None and normalize(p) == normalize(gold))


def token_f1(pred, gold) -> float:
    p, g = normalize(pred).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = Counter(p) & Counter(g)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def answered(pred, gold=None) -> float:
    """1 when the system gave an answer at all: its value is neither none (a reply the
    program's parse found no answer in) nor empty. The gold answer is not read."""
    p = _value(pred)
    return float(p is not None and str(p).strip() != "")


METRICS = {
    "accuracy": lambda p, g: float(correct(p, g)),
    "answered": answered,
    "exact_match": exact_match,
    "token_f1": token_f1,
}


def macro_f1(preds: list, golds: list) -> float:
    """Macro-averaged F1 over the classes (the normalised values of gold and predicted
    answers, as scikit-learn's ``f1_score(average="macro")``); a None prediction is wrong."""
    g = [normalize(x) for x in golds]
    p = [None if _value(x) is None else normalize(x) for x in preds]
    classes = sorted(set(g) | {x for x in p if x is not None})
    f1s = []
    for c in classes:
        tp = sum(1 for a, b in zip(p, g) if a == c and b == c)
        fp = sum(1 for a, b in zip(p, g) if a == c and b != c)
        fn = sum(1 for a, b in zip(p, g) if a != c and b == c)
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return sum(f1s) / len(f1s) if f1s else float("nan")


def mean(preds: list, golds: list) -> float:
    """The mean of the values themselves (true = 1, false and None = 0): a rate such as the
    share of rows sent to a large model; the gold answers are not read."""
    vals = []
    for v in preds:
        v = _value(v)
        vals.append(0.0 if v is None else float(v) if isinstance(v, (bool, int, float)) else
                    (_number(v) or 0.0))
    return sum(vals) / len(vals)


CORPUS_METRICS = {"macro_f1": macro_f1, "mean": mean}  # computed over the whole column, not averaged per row


def score(metric: str, preds: list, golds: list) -> float:
    if not preds:
        return float("nan")
    if metric in CORPUS_METRICS:
        return CORPUS_METRICS[metric](preds, golds)
    fn = METRICS[metric]
    return sum(fn(p, g) for p, g in zip(preds, golds)) / len(preds)
