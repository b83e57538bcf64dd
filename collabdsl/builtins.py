"""Built-in functions of the language: signatures for the checker and pure-Python
implementations for the runtime. No builtin touches files, the environment or code.

Row builtins work on values of one row; data builtins (load, split, concat, take,
shuffle, count) work on whole data sets and are executed by the runtime.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Any, Callable

from collabdsl.options import LOAD_OPTIONS

FEWSHOT_COLUMN = "shots"  # the column fewshot() adds: k other rows of the data set

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


_QUESTION_HEAD = re.compile(r"^\s*(?:\*\*)?(?:(?:New\s+)?Question\s*\d*\s*[:.)]|Q\d*\s*[:.)]|\d+\s*[.)])\s*(?:\*\*)?\s*(.*)$",
                            re.IGNORECASE)
_CHOICE_LINE = re.compile(r"^\s*(?:\(([A-Za-z])\)|([A-Za-z])[.)])\s+(\S.*)$")


def mc_questions(text, max=None):  # noqa: A002 - the language's keyword name
    """The multiple-choice questions of a generated text, each written as a question line
    (``Question: ...``, ``Question 2: ...``, ``Q1: ...`` or ``1. ...``) followed by its option
    lines (``(A) ...``, ``A) ...`` or ``A. ...``, lettered from A in order): records
    ``{question, options}``, at most ``max``. A question with fewer than two options, or whose
    option letters do not run A, B, C, ..., is left out; None when no question parses (a
    parse failure, ``on_parse_error``). DKT's reflection questions (footnote 4's category ii
    is on another topic, so a question cannot keep its parent's options)."""
    out, cur = [], None

    def close():
        if cur is not None and cur["ok"] and cur["question"].strip() and len(cur["options"]) >= 2:
            out.append({"question": " ".join(cur["question"].split()), "options": cur["options"]})

    for line in _text(text).splitlines():
        if not line.strip():
            continue
        c = _CHOICE_LINE.match(line)
        if c and cur is not None:
            letter = (c.group(1) or c.group(2)).lower()
            if letter == "a" and cur["options"]:  # options again without a question line
                close()
                cur = {"question": "", "options": [], "ok": True}
            if ord(letter) - ord("a") != len(cur["options"]):
                cur["ok"] = False
            cur["options"].append(c.group(3).strip())
            continue
        h = _QUESTION_HEAD.match(line)
        if h:
            close()
            cur = {"question": h.group(1), "options": [], "ok": True}
        elif cur is not None and not cur["options"]:
            cur["question"] += " " + line.strip()  # a question over several lines
    close()
    out = out[: int(max)] if max is not None else out
    return out or None


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


def stated_option(text, options):
    """The option a reply states in the format it was asked for: the letter of an option in
    parentheses starting a line (``(b)``, ``(B) text``, also after ``Answer:``), as a reply
    asked to start with its answer writes it. None (a parse failure) when no line starts so,
    or lines start with different letters (the reply lists the options): a reply that only
    discusses the options, or rejects one ("My classmate believes honey, but ..."), states
    none."""
    opts = _list(options, "options")
    letters = set()
    for line in _text(text).splitlines():
        m = re.match(r"[\s*]*(?:answer\s*:[\s*]*)?\(([A-Za-z])\)", line, re.IGNORECASE)
        if m:
            letters.add(m.group(1).lower())
    if len(letters) != 1:
        return None
    idx = ord(letters.pop()) - ord("a")
    return _text(opts[idx]) if 0 <= idx < len(opts) else None


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


# ------------------------------------------------------------------ rationale cleaning
# A sentence that declares an answer: "the answer is", "Answer:", "X is the correct answer",
# "the best option", "Of the above choices, only X", "#### 72", "A: 18".
_DECLARES = re.compile(
    r"\banswers?\s*(?:is|are|was|would be|will be|=|:)"
    r"|\banswer to (?:the|this) question\b"
    r"|\b(?:is|are|was)\s+(?:the|our|my)\s+(?:\w+\s+)?answer\b"
    r"|\b(?:correct|right|best|final|true)\s+(?:answer|option|choice|response)s?\b"
    r"|\b(?:is|are)\s+(?:the\s+)?(?:correct|right|true)\s*[.!]?$"
    r"|\bof the (?:above |given |following |provided |listed |other )?(?:choices|options|answers|answer choices)\b"
    r"|^\W*(?:####|(?:answer|a)\s*:)",
    re.IGNORECASE)
# Words that make a sentence naming an option a choice of it ("Copper is the best conductor",
# "Only nebulae ...", "X would be most likely"), and concluding connectives ("So, X ...").
_SELECTS = re.compile(r"\b(?:best|most|least|only|correct(?:ly)?|right|better|worse|greatest|likely|answers?|"
                      r"choices?|options?|should)\b", re.IGNORECASE)
_CONCLUDES = re.compile(r"^\W*(?:so|thus|therefore|hence|consequently|in conclusion|in summary|overall|"
                        r"this means that|that is why)\b", re.IGNORECASE)
_LEAD = re.compile(r"^\W*(?:(?:so|thus|therefore|hence|answer|a)\b\s*[,:]?\s*|####\s*|\(?[a-z]\)\s*)*",
                   re.IGNORECASE)
_BECAUSE = re.compile(r"\b(?:because|since)\s+(.+)$", re.IGNORECASE | re.DOTALL)
_SPLIT = re.compile(r"((?<=[.!?])[ \t]+|[ \t]*\n\s*)")  # sentence ends and line breaks (kept)
_NUMBER_TEXT = re.compile(r"^\s*[-(]*\s*-?\d[\d,]*\.?\d*\s*\)*\s*$")


def _bare(text: str) -> str:
    """A sentence as a bare value: no leading connective, answer label or option label, no
    article, no closing punctuation, lower case, single spaces."""
    t = _LEAD.sub("", text.strip())
    t = re.sub(r"^(?:the|a|an)\s+", "", t.strip(), flags=re.IGNORECASE)
    return " ".join(t.rstrip(" .!?;:\"'").lower().split())


_STOP = frozenset("a an the of to in on at by for with from and or but not no is are was were be been being "
                  "it its this that these those which what who whom whose when where why how as than "
                  "then so if do does did has have had can could will would should may might must "
                  "into about after before during over under most best only".split())


def _content(text: str) -> set[str]:
    """The content words of a text, lower case, a plural's "s" dropped."""
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w
            for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


def _restates(rest: str, question: set[str]) -> bool:
    """A sentence (less the option it names) made of the question's words: the question
    with the answer filled in ("They were observing weathering.")."""
    words = _content(rest)
    shared = words & question
    return len(shared) >= 2 and len(shared) >= 0.5 * len(words)


def _declares_answer(s: str, options: list, answer, gold_label: str | None,
                     question: set[str] = frozenset()) -> bool:
    """Whether one sentence states an answer (see ``rationale_only``)."""
    low = s.lower()
    if _DECLARES.search(s) or (gold_label and gold_label in low):
        return True
    bare = _bare(s)
    if bare and bare in {_bare(_text(v)) for v in [*options, answer] if v is not None}:
        return True  # nothing but an option's text or the answer
    named = []  # the gold answer where the sentence mentions it, and the one option it names
    a = _text(answer).strip()
    if a and (options or not _NUMBER_TEXT.match(a)) and _mention(a).search(s) and \
            not _NEGATED.search(s[:_mention(a).search(s).start()]):
        named.append(a)  # (an arithmetic rationale's computation of its result is its explanation)
    i = named_option(s, options) if options else None
    if i is not None:
        named.append(_text(options[i]).strip())
    for o in named:  # a choice of the option: the sentence selects it or concludes with it
        rest = _mention(o).sub(" ", s)
        if _SELECTS.search(rest) or _CONCLUDES.search(s) or not _bare(re.sub(r"[^\w\s]", " ", rest)) \
                or (question and _restates(rest, question)):
            return True
    words = _content(s)
    for o in options:  # an option named in other words ("deep underground" for "a site deep
        ow = _content(_text(o))  # underground") that the sentence selects
        if len(ow) >= 2 and len(ow & words) >= max(2, math.ceil(2 * len(ow) / 3)) and \
                _SELECTS.search(" ".join(w for w in re.findall(r"\w+", s) if _content(w) - ow or not _content(w))):
            return True
    # an option label with a verdict: "(c) is right", "option B is true"
    return bool(re.search(r"\((?:[a-z]|[1-9])\)|\b(?:option|choice)\s+\(?[a-e]\b", low)
                and re.search(r"\b(?:correct|right|true|answer)\b", low))


def _without_options(s: str, options: list, answer) -> str:
    for o in sorted({_text(v).strip() for v in [*options, answer] if v is not None} - {""}, key=len, reverse=True):
        s = _mention(o).sub(" ", s)
    return s


def rationale_only(text, options=None, answer=None, question=None):
    """The explanation of a teacher rationale: every sentence that states an answer removed,
    the rest kept in order (Sci-CoT §III.A: rationales that "solely encompass explanations").

    A sentence states an answer when it declares one ("the answer is ...", "The correct
    answer is ...", "Answer: ...", "Of the above choices, ...", "#### 72"); names the gold
    option by its label "(b)"; is nothing but an option's text or the answer (after a
    connective or label: "So, (d) ice."); names one option (``named_option``) and selects
    it ("best", "most", "only", "likely", "correct" ... outside the option's own words),
    concludes with it ("So", "Thus", "Therefore" ...) or, given the ``question``, is the
    question with the option filled in (at least half of its other content words, and two or
    more, are the question's: "They were observing weathering."); or gives an option label
    a verdict ("(c) is right"). Without ``options`` the same holds for an ``answer`` that is not a
    number (an arithmetic rationale keeps its computations). An answer sentence that gives
    its reason ("The answer is X because Y.") keeps the reason ("Y."). The sentences after
    an answer statement are kept. None when no explanation is left."""
    t = _text(text)
    opts = [_text(o) for o in _list(options, "options")]
    gold = index_of(answer, opts) if answer is not None and opts else None
    gold_label = f"({_letters(26)[gold]})" if gold is not None and gold < 26 else None
    q = _content(_text(question)) if question is not None else frozenset()
    parts = _SPLIT.split(t)
    out: list[str] = []
    for i in range(0, len(parts), 2):
        s = parts[i].strip()
        if not s:
            continue
        if _declares_answer(s, opts, answer, gold_label, q):
            m = _BECAUSE.search(_without_options(s, opts, answer))  # not a "because" of an option
            reason = m.group(1).strip() if m else ""
            if not reason or _declares_answer(reason, opts, answer, gold_label, q):
                continue
            s = reason[0].upper() + reason[1:]
            s = s if s[-1] in ".!?" else s + "."
        if out:
            out.append("\n" if "\n" in parts[i - 1] else " ")
        out.append(s)
    return "".join(out).strip() or None


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


from collabdsl import listops  # noqa: E402 - it uses _list and _text above

ROW_BUILTINS: dict[str, Builtin] = {b.name: b for b in [
    Builtin("extract_answer", "row", 1, 1, ("options", "markers", "on_parse_error"), "text",
            "final answer after the last 'So/Therefore/Thus, the answer is'", extract_answer,
            marker="markers", on_miss="each whole text was read as the answer"),
    Builtin("last_number", "row", 1, 1, ("on_parse_error",), "number", "last number in a text", last_number),
    Builtin("stated_option", "row", 2, 2, ("on_parse_error",), "text",
            "the option whose letter (x) starts a line of a reply (one letter only)", stated_option),
    Builtin("items", "row", 1, 1, ("max", "on_parse_error"), "list", "items of a numbered list", items),
    Builtin("after", "row", 2, 2, (), "text", "text after the last marker", after,
            marker=1, on_miss="every value is none"),
    Builtin("before", "row", 2, 2, (), "text", "text before the first marker", before,
            marker=1, on_miss="every value is the whole text"),
    Builtin("rationale_only", "row", 1, 1, ("options", "answer", "question"), "text",
            "the explanation of a rationale: its sentences that state an answer removed (none if "
            "nothing is left)", rationale_only),
    Builtin("format_options", "row", 1, 1, ("style",), "text", "options as (a) ... lines", format_options),
    Builtin("mc_options", "row", 1, 1, (), "list", "the options of a text with (A) ... lines", mc_options),
    Builtin("mc_question", "row", 1, 1, (), "text", "the question of such a text", mc_question),
    Builtin("mc_questions", "row", 1, 1, ("max", "on_parse_error"), "list",
            "the multiple-choice questions of a text: {question, options} records", mc_questions),
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
    Builtin("min", "row", 1, 9, (), "number", "the smallest of a list or of the arguments (none skipped)",
            listops.min_),
    Builtin("max", "row", 1, 9, (), "number", "the largest of a list or of the arguments (none skipped)",
            listops.max_),
    Builtin("sum", "row", 1, 1, (), "number", "the sum of a list's numbers (none skipped)", listops.sum_),
    Builtin("mean", "row", 1, 1, (), "number", "the mean of a list's numbers (none skipped; none if none)",
            listops.mean),
    Builtin("argmin", "row", 1, 1, (), "number", "the position of the smallest number (first on ties)",
            listops.argmin),
    Builtin("argmax", "row", 1, 1, (), "number", "the position of the largest number (first on ties)",
            listops.argmax),
    Builtin("count", "row", 2, 2, (), "number", "how many items of a list equal a value (none never does)",
            listops.count),
    Builtin("mode", "row", 1, 1, (), "any", "the value most items hold (the first on ties; none skipped)",
            listops.mode),
    Builtin("majority", "row", 1, 1, (), "any", "the value more than half the items hold, else none",
            listops.majority),
    Builtin("zip", "row", 2, 9, (), "list", "the items of lists side by side: [[a0, b0], [a1, b1], ...]",
            listops.zip_),
    Builtin("enumerate", "row", 1, 1, (), "list", "each item with its position: [[0, a], [1, b], ...]",
            listops.enumerate_),
    Builtin("sorted", "row", 1, 1, ("key", "reverse"), "list",
            "the items in order; key: a list of the keys they are ordered by", listops.sorted_),
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
    Builtin("fewshot", "data", 2, 2, ("seed",), "data", "each row with a column 'shots': k other rows of "
            "the data set drawn at random with a seed (in-context examples)"),
    Builtin("count", "data", 1, 1, (), "number", "number of rows"),
]}

# Names that stand for a choice inside keyword arguments rather than a value.
ENUMS: dict[str, tuple[str, ...]] = {
    "confidence": ("option_prob", "mean_token_prob", "top2_margin"),
    "on_parse_error": ("drop", "keep", "fail"),
    "by": ("key", "text"),  # the field kb.retrieve ranks
}


def split_rows(rows: list, ratio: float, seed: int = 0) -> tuple[list, list]:
    """Deterministic split: shuffle indices with ``seed``, first ``ratio`` share first."""
    idx = list(range(len(rows)))
    random.Random(seed).shuffle(idx)
    cut = int(round(len(rows) * float(ratio)))
    first = sorted(idx[:cut])
    second = sorted(idx[cut:])
    return [rows[i] for i in first], [rows[i] for i in second]
