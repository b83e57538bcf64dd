"""Evaluation metrics: accuracy, exact match and token F1 (SQuAD normalisation)."""
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


METRICS = {
    "accuracy": lambda p, g: float(correct(p, g)),
    "exact_match": exact_match,
    "token_f1": token_f1,
}


def score(metric: str, preds: list, golds: list) -> float:
    fn = METRICS[metric]
    if not preds:
        return float("nan")
    return sum(fn(p, g) for p, g in zip(preds, golds)) / len(preds)
