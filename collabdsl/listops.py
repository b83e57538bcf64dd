"""Row builtins over lists (issue 12): reductions, votes, pairing and ordering of the values
of one row (``k`` samples, a judge's scores, the answers of an ensemble), registered in
``collabdsl.builtins.ROW_BUILTINS``.

One rule for missing values everywhere: an item that is ``none`` (an unparsed answer or
score) is no value. Reductions skip it (``mean([1, none, 3])`` is 2), it never counts as
equal to anything (``count(L, none)`` is 0 and two unparsed answers are no vote for the same
answer), and a reduction with no value left is ``none``. Texts are equal when they are
equal without case and extra spaces (as ``index_of`` compares), so ``"Paris"`` and
``"paris "`` are one vote. A list argument that is a text or a dict stops the run naming the
row, as for every builtin that takes a list.
"""
from __future__ import annotations

from collabdsl.builtins import _list, _text


def _key(v):
    """What two values are compared by: numbers as numbers, texts normalised, others as is."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return " ".join(v.lower().split())
    if isinstance(v, dict):
        return _key(_text(v))
    return repr(v)


def _numbers(values, what: str) -> list[float]:
    out = []
    for v in _list(values, what):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{what} must hold numbers, got a {type(v).__name__} ({str(v)[:40]!r})")  # noqa: TRY004 - the run names the row
        out.append(v)
    return out


def sum_(values):
    """The sum of the numbers of a list (none skipped); 0 for none."""
    return sum(_numbers(values, "sum()'s list"))


def mean(values):
    """The mean of the numbers of a list (none skipped); none when none is left."""
    xs = _numbers(values, "mean()'s list")
    return sum(xs) / len(xs) if xs else None


def _arg(values, what: str, better) -> int | None:
    best_i = best = None
    for i, v in enumerate(_list(values, what)):
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{what} must hold numbers, got a {type(v).__name__} ({str(v)[:40]!r})")  # noqa: TRY004 - the run names the row
        if best is None or better(v, best):
            best_i, best = i, v
    return best_i


def argmax(values):
    """The position of the largest number (the first on ties; none skipped); none if none."""
    return _arg(values, "argmax()'s list", lambda a, b: a > b)


def argmin(values):
    """The position of the smallest number (the first on ties; none skipped); none if none."""
    return _arg(values, "argmin()'s list", lambda a, b: a < b)


def count(values, value):
    """How many items equal ``value`` (texts without case and extra spaces); none counts as
    no value, so ``count(L, none)`` is 0."""
    if value is None:
        return 0
    k = _key(value)
    return sum(1 for v in _list(values, "count()'s list") if v is not None and _key(v) == k)


def mode(values):
    """The value most items hold (a plurality vote; none skipped); on a tie the one that
    comes first in the list; none when no item has a value. The winner is returned as it is
    first written."""
    tally: dict = {}
    first: dict = {}
    for v in _list(values, "mode()'s list"):
        if v is None:
            continue
        k = _key(v)
        tally[k] = tally.get(k, 0) + 1
        first.setdefault(k, v)
    if not tally:
        return None
    top = max(tally.values())
    return next(first[k] for k in first if tally[k] == top)  # insertion order: first seen wins


def majority(values):
    """The value more than half of the items hold (a none item counts as an item that votes
    for nothing); none when no value has more than half."""
    items = _list(values, "majority()'s list")
    winner = mode(items)
    return winner if winner is not None and 2 * count(items, winner) > len(items) else None


def _extreme(args, what: str, pick):
    items = _list(args[0], f"{what}()'s list") if len(args) == 1 else list(args)
    present = [v for v in items if v is not None]
    if not present:
        return None
    try:
        return pick(present)
    except TypeError:
        raise ValueError(f"{what}(): cannot compare {', '.join(sorted({type(v).__name__ for v in present}))} values") from None


def min_(*args):
    """The smallest of a list (one argument) or of the arguments; none skipped; none if none."""
    return _extreme(args, "min", min)


def max_(*args):
    """The largest of a list (one argument) or of the arguments; none skipped; none if none."""
    return _extreme(args, "max", max)


def zip_(*lists):
    """``[[a0, b0], [a1, b1], ...]``: the items of the lists side by side, as long as the
    shortest."""
    return [list(t) for t in zip(*(_list(v, "zip()'s lists") for v in lists))]


def enumerate_(values):
    """``[[0, a], [1, b], ...]``: each item with its position."""
    return [[i, v] for i, v in enumerate(_list(values, "enumerate()'s list"))]


def sorted_(values, key=None, reverse=False):
    """The items in ascending order (``reverse: true``: descending); ``key:`` a list as long as
    the items that they are ordered by (``sorted(x.drafts, key: x.scores, reverse: true)``).
    Ties keep their order; an item whose key (or itself) is none goes last."""
    items = _list(values, "sorted()'s list")
    keys = items if key is None else _list(key, "sorted()'s key")
    if len(keys) != len(items):
        raise ValueError(f"sorted(): key has {len(keys)} values for {len(items)} items")
    present = [i for i in range(len(items)) if keys[i] is not None]
    missing = [i for i in range(len(items)) if keys[i] is None]
    try:
        present.sort(key=lambda i: _key(keys[i]), reverse=bool(reverse))
    except TypeError:
        raise ValueError("sorted(): the keys mix numbers and texts") from None
    return [items[i] for i in present + missing]
