"""Built-in functions of the language: signatures for the checker and pure-Python
implementations for the runtime. No builtin touches files, the environment or code.

Row builtins work on values of one row; data builtins (load, split, concat, take,
shuffle, count) work on whole data sets and are executed by the runtime.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from collabdsl.options import LOAD_OPTIONS

ANSWER_MARKERS = ("So the answer is", "Therefore, the answer is", "Thus, the answer is",
                  "The answer is", "the answer is")


@dataclass(frozen=True)
class Builtin:
    name: str
    kind: str  # "row" | "data"
    min_args: int
    max_args: int
    kwargs: tuple[str, ...]
    returns: str  # type tag used by the checker: text, number, bool, list, data, any, ...
    doc: str
    impl: Callable[..., Any] | None = None
    marker: int | str | None = None  # the argument (position or keyword) that is a marker to
    #   find in the text (the first argument); a run warns when it occurs in no row's text
    on_miss: str = ""  # what the builtin returns when the marker is absent (for that warning)


# ------------------------------------------------------------------ text helpers
def _text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, dict) and "text" in v:
        return str(v["text"])
    if isinstance(v, dict) and "answer" in v:
        return str(v["answer"])
    return str(v)


def _list(v, what: str) -> list:
    """``v`` as a list for a builtin that takes one: none is empty; a text is not a list of its
    characters nor a dict a list of its keys (ValueError: the run names the row)."""
    if v is None:
        return []
    if isinstance(v, (list, tuple)):
        return list(v)
    raise ValueError(f"{what} must be a list, got a {type(v).__name__} ({str(v)[:40]!r})")


def _letters(n: int) -> str:
    return "abcdefghijklmnopqrstuvwxyz"[:n]


OPTION_STYLES = ("(a)", "(A)", "A.", "(A):")


def format_options(options, style: str = "(a)") -> str:
    """``(a) first\\n(b) second``; style "(A)" gives ``(A) first`` lines, "A." ``A. first``
    lines, and "(A):" one line ``(A): first (B): second`` (CoWeSt's Figure 6). Another style
    is an error, not the default."""
    if style not in OPTION_STYLES:
        raise ValueError(f"format_options: style must be one of {', '.join(map(repr, OPTION_STYLES))}, "
                         f"got {style!r}")
    out = []
    for i, opt in enumerate(_list(options, "options")):
        letter = _letters(26)[i]
        if style in ("(A)", "(A):"):
            out.append(f"({letter.upper()}){':' if style == '(A):' else ''} {opt}")
        elif style == "A.":
            out.append(f"{letter.upper()}. {opt}")
        else:
            out.append(f"({letter}) {opt}")
    return (" " if style == "(A):" else "\n").join(out)


_OPTION_LINE = re.compile(r"^\s*\(([A-Za-z]|[1-9])\)\s*(.*)$")


def mc_options(text) -> list:
    """The options of a multiple-choice text written as ``(A) first`` lines (the
    ``Question: ...\nOptions:\n(A) ...`` inputs of ARC test sets)."""
    return [m.group(2).strip() for m in map(_OPTION_LINE.match, _text(text).splitlines()) if m]


def mc_question(text) -> str:
    """The question of such a text: before the first option line (and ``Options:``), without
    a leading ``Question:``."""
    lines = []
    for line in _text(text).splitlines():
        if _OPTION_LINE.match(line) or line.strip().lower() in ("options:", "answer choices:"):
            break
        lines.append(line)
    q = "\n".join(lines).strip()
    return q[len("Question:"):].strip() if q.lower().startswith("question:") else q


def letter_index(label):
    """The index of an option label: ``"(A)"``, ``"b"``, ``"C."`` -> 0, 1, 2; numbered labels
    count from 1 (``"(2)"`` -> 1, as some ARC questions number their options); None if it
    is no label."""
    m = re.fullmatch(r"\s*\(?([A-Za-z]|[1-9])[).:]?\s*", _text(label))
    if m is None:
        return None
    c = m.group(1)
    return int(c) - 1 if c.isdigit() else ord(c.lower()) - ord("a")


# A negation right before an option's mention: "not significant" does not name "significant".
_NEGATED = re.compile(r"(?:\b(?:not|no|never|nor|neither|cannot)|n't)[\s\"'(\[\u201c\u2018]*$", re.IGNORECASE)


def _mention(option: str) -> re.Pattern:
    """An option's text as a whole: not inside a longer word or number ("no" is not in
    "know", "3" not in "3.5" or "13"), whatever characters its edges are ("(b) x", "yes.").
    Case is ignored, except for an option of one character ("A" is not the article "a")."""
    return re.compile(r"(?<!\w)(?<!\d[.,])" + re.escape(option) + r"(?!\w)(?![.,]\d)",
                      0 if len(option) == 1 else re.IGNORECASE)


def named_option(text, options):
    """The index of the one option a text names by its text, else None.

    An option is named where its text occurs as a whole (see ``_mention``). A mention inside
    the mention of a longer option does not count ("water" in "salt water", "significant" in
    "not significant"), nor does a negated one ("not yes", "isn't yes"). When the mentions
    left name two or more different options ("yes or no") the text names none of them."""
    t = _text(text)
    spans = []
    for i, o in enumerate(_list(options, "options")):
        o = _text(o).strip()
        if o:
            spans += [(m.start(), m.end(), i) for m in _mention(o).finditer(t)]
    named = {i for a, b, i in spans
             if not any(c <= a and b <= d and d - c > b - a for c, d, _ in spans)
             and not _NEGATED.search(t[:a])}
    return named.pop() if len(named) == 1 else None


def extract_answer(text, options=None, markers=None):
    """The final answer of a chain-of-thought reply, as the original authors parse it:
    the text after the last answer marker up to the first '.' or blank line. With
    options, the first match of: an option letter ``(x)``; the tail equal to an option's
    text; the one option the tail names in whole words (``named_option``); a bare letter
    ``x.``/``x)``/``x`` at the start. Returns None when nothing can be parsed (a parse
    failure), also when the tail names several options."""
    t = _text(text)
    markers = [markers] if isinstance(markers, str) else _list(markers, "markers") or list(ANSWER_MARKERS)
    tail = None
    for m in markers:
        i = t.rfind(m)
        if i >= 0:
            tail = t[i + len(m):]
            break
    if tail is None:
        tail = t
    tail = tail.strip().lstrip(":").strip()
    tail = re.split(r"\n\s*\n", tail, maxsplit=1)[0]
    if options:
        opts = [_text(o) for o in _list(options, "options")]
        m = re.match(r"\(?([a-zA-Z])\)(?:\s|$|\.)", tail) or re.search(r"\(([a-zA-Z])\)", tail[:40])
        if m:
            idx = ord(m.group(1).lower()) - ord("a")
            if 0 <= idx < len(opts):
                return opts[idx]
        whole = tail.splitlines()[0].strip().rstrip(".!").strip().lower() if tail else ""
        same = [o for o in opts if o.strip().lower() in (whole, whole + ".")]
        if len(set(same)) == 1:
            return same[0]
        idx = named_option(tail, opts)
        if idx is not None:
            return opts[idx]
        m = re.match(r"^([a-zA-Z])(?:[.):]|\s|$)", tail)
        word = m is not None and m.group(1) in "aAI" and re.match(r"^[aAI]\s+\w", tail)
        if m and not word and len(opts) <= 26:
            idx = ord(m.group(1).lower()) - ord("a")
            if 0 <= idx < len(opts):
                return opts[idx]
        return None
    ans = re.split(r"(?<!\d)\.|\.(?!\d)|\n", tail, maxsplit=1)[0].strip()  # "3.5" stays whole
    return ans or None


def last_number(text):
    """The last number in a text (GSM8K style); None when there is none."""
    nums = re.findall(r"-?\d[\d,]*\.?\d*", _text(text))
    for raw in reversed(nums):
        s = raw.replace(",", "").rstrip(".")
        try:
            v = float(s)
        except ValueError:
            continue
        return int(v) if v.is_integer() else v
    return None


def items(text, max=None):  # noqa: A002 - the language's keyword name
    """Split a numbered or bulleted list into its items (DKT reflection)."""
    lines = [ln.strip() for ln in _text(text).splitlines()]
    out = []
    for ln in lines:
        m = re.match(r"^(?:\d+[.)]|[-*\u2022]|Q\d*[:.]|Question\s*\d*[:.])\s*(.+)$", ln)
        if m and m.group(1).strip():
            out.append(m.group(1).strip())
    if not out:
        out = [ln for ln in lines if ln]
    return out[: int(max)] if max is not None else out


def after(text, marker):
    t = _text(text)
    i = t.rfind(str(marker))
    return t[i + len(str(marker)):].strip() if i >= 0 else None


def before(text, marker):
    t = _text(text)
    i = t.find(str(marker))
    return t[:i].strip() if i >= 0 else t.strip()


def pairs(candidates, scores, margin=0, match="all"):
    """Preference pairs ``{chosen, rejected, margin}`` from scored candidates (None scores
    are skipped).

    ``match: "all"``: every (chosen, rejected) whose scores differ by more than ``margin``,
    best-scored first. ``match: "zip"``: the candidates with the top score (Y+, for
    true/false scores the true ones) and those scored more than ``margin`` below it (Y-),
    each in candidate order, paired one to one: the first N = min(|Y+|, |Y-|) of each, as
    CoWeSt's Algorithm 1 builds its DPO pairs."""
    cands = _list(candidates, "candidates")
    sc = _list(scores, "scores")
    scored = [(c, s) for c, s in zip(cands, sc) if s is not None]
    if match == "zip":
        if not scored:
            return []
        top = max(s for _, s in scored)
        good = [c for c, s in scored if s == top]
        bad = [(c, s) for c, s in scored if top - s > margin]
        return [{"chosen": _text(g), "rejected": _text(b), "margin": top - s}
                for g, (b, s) in zip(good, bad)]
    if match != "all":
        raise ValueError(f'pairs: match must be "all" or "zip", got {match!r}')
    out = []
    for i, (ci, si) in enumerate(scored):
        for j, (cj, sj) in enumerate(scored):
            if i != j and si - sj > margin:
                out.append({"chosen": _text(ci), "rejected": _text(cj), "margin": si - sj})
    out.sort(key=lambda p: -p["margin"])
    return out


def index_of(value, items):
    """The position of ``value`` in ``items``: exact first, then case- and space-insensitive
    for texts; None when it is not there (or ``value`` is None)."""
    if value is None or items is None:
        return None
    items = _list(items, "items")
    if value in items:
        return items.index(value)
    key = " ".join(_text(value).lower().split())
    for i, it in enumerate(items):
        if " ".join(_text(it).lower().split()) == key:
            return i
    return None


def best(candidates, scores):
    """The candidate with the highest score (first on ties); None if there are none."""
    best_i, best_s = None, None
    for i, s in enumerate(_list(scores, "scores")):
        if s is not None and (best_s is None or s > best_s):
            best_i, best_s = i, s
    return None if best_i is None else _list(candidates, "candidates")[best_i]


def task(prefix, target, weight=1.0, name=None):
    """One task of a multitask objective: ``prefix + input -> target`` weighted by ``weight``."""
    return {"prefix": str(prefix), "target": target, "weight": float(weight),
            "name": name or str(prefix).strip().rstrip(":") or "task"}


def _join(values, sep="\n"):
    return str(sep).join(_text(v) for v in _list(values, "join()'s values"))


ROW_BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("extract_answer", "row", 1, 1, ("options", "markers", "on_parse_error"), "text",
            "final answer after the last 'So/Therefore/Thus, the answer is'", extract_answer,
            marker="markers", on_miss="each whole text was read as the answer"),
    Builtin("last_number", "row", 1, 1, ("on_parse_error",), "number", "last number in a text", last_number),
    Builtin("items", "row", 1, 1, ("max", "on_parse_error"), "list", "items of a numbered list", items),
    Builtin("after", "row", 2, 2, (), "text", "text after the last marker", after,
            marker=1, on_miss="every value is none"),
    Builtin("before", "row", 2, 2, (), "text", "text before the first marker", before,
            marker=1, on_miss="every value is the whole text"),
    Builtin("format_options", "row", 1, 1, ("style",), "text", "options as (a) ... lines", format_options),
    Builtin("mc_options", "row", 1, 1, (), "list", "the options of a text with (A) ... lines", mc_options),
    Builtin("mc_question", "row", 1, 1, (), "text", "the question of such a text", mc_question),
    Builtin("letter_index", "row", 1, 1, (), "number", 'index of an option label: "(A)" -> 0', letter_index),
    Builtin("pairs", "row", 2, 2, ("margin", "match"), "list",
            'preference pairs from scores; match: "all" (every pair) or "zip" (Y+ and Y- one to one)', pairs),
    Builtin("best", "row", 2, 2, (), "any", "highest-scored candidate", best),
    Builtin("task", "row", 2, 2, ("weight", "name"), "task", "one task of a multitask objective", task),
    Builtin("join", "row", 1, 2, (), "text", "join a list of texts", _join),
    Builtin("strip", "row", 1, 1, (), "text", "trim whitespace", lambda s: _text(s).strip()),
    Builtin("lower", "row", 1, 1, (), "text", "lower case", lambda s: _text(s).lower()),
    Builtin("upper", "row", 1, 1, (), "text", "upper case", lambda s: _text(s).upper()),
    Builtin("contains", "row", 2, 2, (), "bool", "substring test", lambda s, t: str(t) in _text(s)),
    Builtin("len", "row", 1, 1, (), "number", "length", lambda v: len(v or [])),
    Builtin("str", "row", 1, 1, (), "text", "as text", _text),
    Builtin("int", "row", 1, 1, (), "number", "as integer", lambda v: int(float(v))),
    Builtin("float", "row", 1, 1, (), "number", "as number", lambda v: float(v)),
    Builtin("round", "row", 1, 2, (), "number", "round", lambda v, n=0: round(float(v), int(n))),
    Builtin("min", "row", 1, 9, (), "number", "minimum", lambda *a: min(a[0]) if len(a) == 1 else min(a)),
    Builtin("max", "row", 1, 9, (), "number", "maximum", lambda *a: max(a[0]) if len(a) == 1 else max(a)),
    Builtin("letter", "row", 1, 1, (), "text", "option letter of an index: 0 -> a (none -> none)",
            lambda i: None if i is None else _letters(26)[int(i)]),
    Builtin("index_of", "row", 2, 2, (), "number", "position of a value in a list (texts compared "
            "normalised); none when absent", lambda v, items: index_of(v, items)),
]}

DATA_BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("load", "data", 1, 1, tuple(LOAD_OPTIONS),
            "data", "load a jsonl/json/csv/parquet path, 'hf:ID' or 'builtin:NAME'; attach: {col: files} "
            "adds columns from JSON lists aligned with the rows"),
    Builtin("split", "data", 2, 2, ("seed",), "data2", "split by ratio with a seed"),
    Builtin("concat", "data", 2, 9, (), "data", "rows of several data sets"),
    Builtin("take", "data", 2, 2, (), "data", "the first n rows"),
    Builtin("shuffle", "data", 1, 1, ("seed",), "data", "rows in a seeded random order"),
    Builtin("count", "data", 1, 1, (), "number", "number of rows"),
]}

# Names that stand for a choice inside keyword arguments rather than a value.
ENUMS: dict[str, tuple[str, ...]] = {
    "confidence": ("option_prob", "mean_token_prob", "top2_margin"),
    "on_parse_error": ("drop", "keep", "fail"),
}


def split_rows(rows: list, ratio: float, seed: int = 0) -> tuple[list, list]:
    """Deterministic split: shuffle indices with ``seed``, first ``ratio`` share first."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    cut = int(round(len(rows) * float(ratio)))
    first = sorted(idx[:cut])
    second = sorted(idx[cut:])
    return [rows[i] for i in first], [rows[i] for i in second]
