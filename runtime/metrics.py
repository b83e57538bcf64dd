"""Evaluation metrics: accuracy, exact match and token F1 (SQuAD normalisation), macro-F1,
and two that read no gold answer: the share of rows answered, and a mean.

What a match is, for every metric that reads a gold answer:

* a prediction that is ``none`` or empty (only whitespace) is always wrong, whatever the
  gold answer is (also against an empty or ``none`` gold);
* two numbers match when their values are equal (``3`` = ``3.0``, ``1,000`` = ``1000``;
  a number is an optionally signed decimal with optional thousands commas, nothing else);
* otherwise the SQuAD normalisation compares texts: lower case, punctuation removed, the
  articles a/an/the removed, single spaces. A text that this leaves empty although it had
  characters (an option letter ``"A"``, ``"(a)"``, ``"a."``, a lone article ``"The"``) is
  compared by its own characters instead: lower case, punctuation and spaces removed
  (``"(A)"`` = ``"a"``, ``"The"`` ≠ ``"A"``), so it never equals an empty prediction.
"""
from __future__ import annotations

import re
import string
from collections import Counter

_PUNCT = set(string.punctuation)
_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?")


def _value(v):
    if isinstance(v, dict):
        if "answer" in v:
            return v["answer"]
        if "text" in v:
            return v["text"]
    return v


def _missing(v) -> bool:
    """No answer at all: none, or a text of only whitespace."""
    v = _value(v)
    return v is None or (isinstance(v, str) and not v.strip())


def normalize(text) -> str:
    """Lower case, no punctuation, no articles, single spaces (SQuAD); a non-empty text that
    this would leave empty (an option letter "A", an article alone) keeps its own characters,
    lower case, without punctuation and spaces ("(A)" -> "a")."""
    v = _value(text)
    if v is None:
        return ""
    low = str(v).lower()
    s = "".join(ch for ch in low if ch not in _PUNCT)
    squad = " ".join(re.sub(r"\b(a|an|the)\b", " ", s).split())
    if squad:
        return squad
    own = "".join(s.split())
    return own or "".join(low.split())  # only punctuation: the punctuation itself


def _number(v):
    """The value of a number written as one (see the module docstring), else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    s = str(v).strip()
    if not s or not _NUMBER.fullmatch(s) or not any(ch.isdigit() for ch in s):
        return None
    return float(s.replace(",", ""))


def correct(pred, gold) -> bool:
    """Accuracy's notion of a match: equal numbers, or equal normalised texts."""
    p, g = _value(pred), _value(gold)
    if _missing(p) or g is None:
        return False
    pn, gn = _number(p), _number(g)
    if pn is not None and gn is not None:
        return abs(pn - gn) < 1e-6
    return normalize(p) == normalize(g)


def exact_match(pred, gold) -> float:
    p, g = _value(pred), _value(gold)
    return float(not _missing(p) and g is not None and normalize(p) == normalize(g))


def token_f1(pred, gold) -> float:
    if _missing(pred) or _value(gold) is None:
        return 0.0
    p, g = normalize(pred).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g and bool(p))
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
    answers, as scikit-learn's ``f1_score(average="macro")``); a none or empty prediction is
    wrong (it counts against its gold class and adds no class of its own)."""
    g = [normalize(x) for x in golds]
    p = [None if _missing(x) else normalize(x) for x in preds]
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


def top_answer(preds: list) -> tuple[object, int, int]:
    """(the most common answer, how many rows gave it, how many rows gave an answer at all);
    answers are counted by value (numbers) or normalised text, as accuracy compares them."""
    counts: Counter = Counter()
    first = {}
    for v in preds:
        if _missing(v):
            continue
        n = _number(_value(v))
        k = ("n", n) if n is not None else ("t", normalize(v))
        counts[k] += 1
        first.setdefault(k, _value(v))
    if not counts:
        return None, 0, 0
    k, c = counts.most_common(1)[0]
    return first[k], c, sum(counts.values())


def top_share(preds: list) -> float:
    """The share of the most common answer among the rows answered (nan when none is):
    near 1, the system gives the same answer whatever the question."""
    _, c, n = top_answer(preds)
    return c / n if n else float("nan")


CORPUS_METRICS = {"macro_f1": macro_f1, "mean": mean}  # computed over the whole column, not averaged per row


def score(metric: str, preds: list, golds: list) -> float:
    if not preds:
        return float("nan")
    if metric in CORPUS_METRICS:
        return CORPUS_METRICS[metric](preds, golds)
    fn = METRICS[metric]
    return sum(fn(p, g) for p, g in zip(preds, golds)) / len(preds)


def row_scores(metric: str, preds: list, golds: list) -> list[float] | None:
    """Each row's share of ``score(metric, ...)`` (their mean is the score), for intervals over
    rows (``collab sweep``); None for a metric of the whole column that no row holds a part of
    (``macro_f1``)."""
    if metric == "mean":
        return [mean([p], [None]) for p in preds]
    fn = METRICS.get(metric)
    return None if fn is None else [float(fn(p, g)) for p, g in zip(preds, golds)]
