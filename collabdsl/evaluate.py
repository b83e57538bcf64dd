"""Evaluation of pure row expressions: the meaning of the language's expressions.

Used by the compiler to decide static ifs and constant options from params, and by
the runtime to compute prompts, gates, filters and training fields row by row.
Nothing here can run code, read files or the environment: only the builtins.
"""
from __future__ import annotations

import dataclasses

import operator
import re
from dataclasses import dataclass, field
from typing import Any

from collabdsl import ast as A
from collabdsl.builtins import ROW_BUILTINS

SLOT_OPEN = "\x00{"
SLOT_CLOSE = "}\x00"


ROW_COMPREHENSION_CALL = ("in a comprehension over row values: a model call, retrieval or step needs an "
                          "iterable computable from the params (e.g. `for i in 0..K - 1`)")  # E125


MAX_OPERATIONS = 10_000  # graph nodes a program may expand to (E129): steps inline, comprehensions unroll


def too_many_operations(what: str, n: int | None = None) -> str:
    """The E129 message, shared by the checker (an estimate) and the lowering (the count)."""
    size = f"{n:,}" if n is not None else f"more than {MAX_OPERATIONS:,}"
    return (f"{what} expands to {size} operations (a step is inlined at each call and a "
            f"comprehension over a range is unrolled, so steps calling steps multiply); a program "
            f"may expand to at most {MAX_OPERATIONS:,}")


class EvalError(Exception):
    def __init__(self, message: str, span: A.Span, code: str = "E121"):
        super().__init__(f"{span}: {message}")
        self.span = span
        self.reason = message
        self.code = code  # the diagnostic it becomes


@dataclass
class Env:
    params: dict[str, Any] = field(default_factory=dict)
    prompts: dict[str, dict] = field(default_factory=dict)  # name -> {slots, template}
    var: str | None = None  # the row variable
    row: dict | None = None
    names: dict[str, Any] = field(default_factory=dict)  # other bound names (e.g. loop variable)
    markers: dict | None = None  # when given: str(call span) -> MarkerTally of the marker calls


def render_prompt(template: str, slots: list[str], values: list[Any]) -> str:
    """Substitute ``{slot}`` by value; ``{{`` and ``}}`` are literal braces."""
    mapping = {s: _as_text(v) for s, v in zip(slots, values)}
    out, i = [], 0
    while i < len(template):
        ch = template[i]
        if template.startswith("{{", i):
            out.append("{")
            i += 2
        elif template.startswith("}}", i):
            out.append("}")
            i += 2
        elif ch == "{":
            j = template.find("}", i)
            name = template[i + 1:j] if j > 0 else ""
            if j > 0 and name in mapping:
                out.append(mapping[name])
                i = j + 1
            else:
                out.append(ch)
                i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def template_slots(template: str) -> list[str]:
    """The ``{name}`` slots a template uses, read as ``render_prompt`` reads it (so ``{{q}}``
    is literal text and ``{{{q}}}`` a slot between braces), in order, without repeats."""
    out, i = [], 0
    while i < len(template):
        if template.startswith("{{", i) or template.startswith("}}", i):
            i += 2
        elif template[i] == "{":
            j = template.find("}", i)
            name = template[i + 1:j] if j > 0 else ""
            if _IDENT.fullmatch(name):
                if name not in out:
                    out.append(name)
                i = j + 1
            else:
                i += 1
        else:
            i += 1
    return out


def _as_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict):
        for key in ("answer", "text"):
            if key in v:
                return _as_text(v[key])
    if isinstance(v, list):
        return "\n".join(_as_text(x) for x in v)
    return str(v)


_CMP = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}
_ARITH = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "%": operator.mod}


def _unwrap(v):
    """A record compared or computed with stands for its main value."""
    if isinstance(v, dict):
        if "answer" in v and "probs" in v:
            return v["answer"]
        if "text" in v and "confidence" in v:
            return v["text"]
    return v


def evaluate(e: A.Expr, env: Env) -> Any:
    if isinstance(e, A.Num):
        return e.value
    if isinstance(e, A.Str):
        return e.value
    if isinstance(e, A.Bool):
        return e.value
    if isinstance(e, A.NoneLit):
        return None
    if isinstance(e, A.Name):
        n = str(e.id)
        if env.var is not None and n == env.var:
            return env.row
        if n in env.names:
            return env.names[n]
        if n in env.params:
            return env.params[n]
        raise EvalError(f"'{n}' has no value here", e.span)
    if isinstance(e, A.Attr):
        obj = evaluate(e.obj, env)
        name = str(e.name)
        if isinstance(obj, dict):
            if name not in obj:
                if obj is env.row:
                    raise EvalError(f"the row has no field '{name}' (fields: {', '.join(sorted(obj))})", e.span)
                return None
            return obj[name]
        if obj is None:
            return None
        if name == "text":
            return obj
        raise EvalError(f"a {type(obj).__name__} value has no field '{name}'", e.span)
    if isinstance(e, A.Index):
        obj, idx = evaluate(e.obj, env), evaluate(e.index, env)
        try:
            return obj[int(idx) if isinstance(idx, float) else idx]
        except (IndexError, KeyError, TypeError) as exc:
            raise EvalError(f"cannot index: {exc}", e.span) from None
    if isinstance(e, A.BinOp):
        left, right = _unwrap(evaluate(e.left, env)), _unwrap(evaluate(e.right, env))
        if e.op == "+" and (isinstance(left, str) or isinstance(right, str)):
            text = _as_text(left)
            other = _as_text(right)
            _bound(len(text) + len(other), e, "+")
            return text + other
        if e.op == "%" and not (_is_number(left) and _is_number(right)):
            raise EvalError(f"cannot compute %: it is the remainder of two numbers, not "
                            f"{type(left).__name__} % {type(right).__name__} (to put values in a "
                            "text, use a prompt with slots)", e.span)
        if e.op == "*":
            _bound(_repeated_size(left, right), e, "*")
        if e.op == "+" and isinstance(left, list) and isinstance(right, list):
            _bound(len(left) + len(right), e, "+")
        try:
            return _ARITH[e.op](left, right)
        except (TypeError, ZeroDivisionError, OverflowError) as exc:
            raise EvalError(f"cannot compute {e.op}: {exc}", e.span) from None
    if isinstance(e, A.Compare):
        left, right = _unwrap(evaluate(e.left, env)), _unwrap(evaluate(e.right, env))
        if e.op in ("==", "!="):
            if left is None and right is None and not isinstance(e.left, A.NoneLit) \
                    and not isinstance(e.right, A.NoneLit):
                # two values that are both missing (unparsed answers) do not agree: `none`
                # equals only the literal none (`x.a == none` tests for a missing value)
                return e.op == "!="
            return _CMP[e.op](left, right)
        if left is None or right is None:
            return False  # an unparsed value never passes a threshold
        try:
            return _CMP[e.op](left, right)
        except TypeError as exc:
            raise EvalError(f"cannot compare: {exc}", e.span) from None
    if isinstance(e, A.And):
        return bool(evaluate(e.left, env)) and bool(evaluate(e.right, env))
    if isinstance(e, A.Or):
        return bool(evaluate(e.left, env)) or bool(evaluate(e.right, env))
    if isinstance(e, A.Not):
        return not evaluate(e.operand, env)
    if isinstance(e, A.Neg):
        v = _unwrap(evaluate(e.operand, env))
        try:
            return -v
        except TypeError:
            raise EvalError(f"cannot negate a {type(v).__name__} value", e.span) from None
    if isinstance(e, A.ListLit):
        return [evaluate(i, env) for i in e.items]
    if isinstance(e, A.ListComp):
        items = comprehension_items(evaluate(e.iterable, env), e.iterable)
        envs = [dataclasses.replace(env, names={**env.names, str(e.var): v}) for v in items]
        if e.cond is not None:
            envs = [en for en in envs if evaluate(e.cond, en)]
        return [evaluate(e.elem, en) for en in envs]
    if isinstance(e, A.DictLit):
        return {str(k): evaluate(v, env) for k, v in zip(e.keys, e.values)}
    if isinstance(e, A.Range):
        return (evaluate(e.lo, env), evaluate(e.hi, env))
    if isinstance(e, A.Call):
        return _call(e, env)
    raise EvalError(f"cannot evaluate {type(e).__name__} here", e.span)


def comprehension_items(value, where) -> list:
    """The items a comprehension iterates: a list, or an inclusive integer range ``lo..hi``."""
    if isinstance(value, tuple) and len(value) == 2 and isinstance(where, A.Range):
        lo, hi = value
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (lo, hi)):
            raise EvalError(f"a range to iterate needs whole numbers, got {lo!r}..{hi!r}", where.span)
        if hi - lo > MAX_REPEAT:
            raise EvalError(f"the range {lo}..{hi} is too long", where.span)
        return list(range(lo, hi + 1))
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    raise EvalError(f"cannot iterate over a {type(value).__name__} value", where.span)


MAX_REPEAT = 1_000_000  # characters of a text, or items of a list, that one expression may build


def _is_number(v) -> bool:
    return isinstance(v, (int, float))


def _bound(size: int, e: A.Expr, op: str) -> None:
    """Texts and lists built by an expression stay under MAX_REPEAT characters or items, so
    no row can make the run hold gigabytes (a prompt that long fits no model anyway)."""
    if size > MAX_REPEAT:
        raise EvalError(f"cannot compute {op}: the result would hold more than {MAX_REPEAT:,} "
                        "characters or items", e.span)


def _repeated_size(left, right) -> int:
    """Length of ``left * right`` when it repeats a text or a list, else 0."""
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, (str, list)) and isinstance(n, int):
            return len(seq) * max(n, 0)
    return 0


def _call(e: A.Call, env: Env):
    name = e.fname
    if name is None:
        raise EvalError("only prompts and builtins can be called here", e.span)
    if name in env.prompts:
        p = env.prompts[name]
        return render_prompt(p["template"], p["slots"], [evaluate(a, env) for a in e.args])
    if callable(env.names.get(name)):  # bound by the runtime (count() of a repeat until)
        return env.names[name](*[evaluate(a, env) for a in e.args])
    b = ROW_BUILTINS.get(name)
    if b is None or b.impl is None:
        raise EvalError(f"'{name}' cannot be computed here", e.span)
    args = [evaluate(a, env) for a in e.args]
    kwargs = {str(k.name): evaluate(k.value, env) for k in e.kwargs
              if k.name != "on_parse_error"}
    if env.markers is not None and b.marker is not None:
        _tally_marker(b, e, args, kwargs, env)
    try:
        return b.impl(*args, **kwargs)
    except (TypeError, ValueError, IndexError) as exc:
        raise EvalError(f"{name}(): {exc}", e.span) from None


@dataclass
class MarkerTally:
    """How often a builtin's marker (``before``, ``after``, ``extract_answer(markers:)``) was
    looked for in a non-empty text, and found."""
    call: A.Call
    markers: list
    rows: int = 0
    found: int = 0


def _tally_marker(b, e: A.Call, args: list, kwargs: dict, env: Env) -> None:
    m = args[b.marker] if isinstance(b.marker, int) and b.marker < len(args) else kwargs.get(b.marker)
    text = _as_text(args[0]) if args else ""
    if m is None or not text.strip():
        return
    ms = [str(x) for x in (m if isinstance(m, (list, tuple)) else [m])]
    t = env.markers.setdefault(str(e.span), MarkerTally(e, ms))
    t.markers = ms
    t.rows += 1
    t.found += any(x and x in text for x in ms)


def parse_error_policy(e: A.Call):
    """``on_parse_error`` of a call: ("drop"|"keep"|"fail", None) or ("value", literal)."""
    v = e.kwarg("on_parse_error")
    if v is None:
        return ("keep", None)
    if isinstance(v, A.Name) and str(v.id) in ("drop", "keep", "fail"):
        return (str(v.id), None)
    return ("value", v)


def constant(e: A.Expr | None, params: dict, default=None):
    """Evaluate an expression that may only use params and literals."""
    if e is None:
        return default
    return evaluate(e, Env(params=params))
