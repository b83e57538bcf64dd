"""Expressions back to source text, with only the brackets precedence needs: for graph
labels, JSON output and fingerprints (the text has no spans, so moving a statement does
not change its fingerprint)."""
from __future__ import annotations

import json
from typing import Any

from collabdsl import ast as A

_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "add": 5, "mul": 6, "neg": 7, "post": 8}


def _str_lit(s: str) -> str:
    if "\n" in s:
        return '"""' + s.replace('"""', '\\"\\"\\"') + '"""'
    return json.dumps(s, ensure_ascii=False)


def unparse(e: Any) -> str:
    """Source-like text of an AST expression (or row statement)."""
    return _expr(e, 0)


expr_text = unparse


def _wrap(text: str, prec: int, ctx: int) -> str:
    return f"({text})" if prec < ctx else text


def _expr(e: Any, ctx: int) -> str:
    if isinstance(e, A.Num):
        v = e.value
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(e, A.Str):
        return _str_lit(e.value)
    if isinstance(e, A.Bool):
        return "true" if e.value else "false"
    if isinstance(e, A.NoneLit):
        return "none"
    if isinstance(e, A.Name):
        return str(e.id)
    if isinstance(e, A.Attr):
        return f"{_expr(e.obj, _PREC['post'])}.{e.name}"
    if isinstance(e, A.Index):
        return f"{_expr(e.obj, _PREC['post'])}[{_expr(e.index, 0)}]"
    if isinstance(e, A.Call):
        args = [_expr(a, 0) for a in e.args] + [f"{k.name}: {_expr(k.value, 0)}" for k in e.kwargs]
        return f"{_expr(e.func, _PREC['post'])}({', '.join(args)})"
    if isinstance(e, A.KwArg):
        return f"{e.name}: {_expr(e.value, 0)}"
    if isinstance(e, A.BinOp):
        p = _PREC["add"] if e.op in "+-" else _PREC["mul"]
        return _wrap(f"{_expr(e.left, p)} {e.op} {_expr(e.right, p + 1)}", p, ctx)
    if isinstance(e, A.Compare):
        p = _PREC["cmp"]
        return _wrap(f"{_expr(e.left, p + 1)} {e.op} {_expr(e.right, p + 1)}", p, ctx)
    if isinstance(e, A.And):
        p = _PREC["and"]
        return _wrap(f"{_expr(e.left, p)} and {_expr(e.right, p + 1)}", p, ctx)
    if isinstance(e, A.Or):
        p = _PREC["or"]
        return _wrap(f"{_expr(e.left, p)} or {_expr(e.right, p + 1)}", p, ctx)
    if isinstance(e, A.Not):
        p = _PREC["not"]
        return _wrap(f"not {_expr(e.operand, p)}", p, ctx)
    if isinstance(e, A.Neg):
        p = _PREC["neg"]
        return _wrap(f"-{_expr(e.operand, p)}", p, ctx)
    if isinstance(e, A.ListLit):
        return "[" + ", ".join(_expr(i, 0) for i in e.items) + "]"
    if isinstance(e, A.ListComp):
        cond = f" if {_expr(e.cond, 0)}" if e.cond is not None else ""
        return f"[{_expr(e.elem, 0)} for {e.var} in {_expr(e.iterable, 0)}{cond}]"
    if isinstance(e, A.DictLit):
        return "{" + ", ".join(f"{k}: {_expr(v, 0)}" for k, v in zip(e.keys, e.values)) + "}"
    if isinstance(e, A.Range):
        return _wrap(f"{_expr(e.lo, 1)}..{_expr(e.hi, 1)}", 0, ctx)
    # row statements (a node's ``expr`` may hold a small body)
    if isinstance(e, A.Assign):
        target = f"{e.var}.{e.name}" if e.var else str(e.name)
        return f"{target} = {_expr(e.value, 0)}"
    if isinstance(e, A.Return):
        return f"return {_expr(e.value, 0)}"
    if isinstance(e, A.CallStmt):
        return _expr(e.call, 0)
    if isinstance(e, A.Gate):
        text = f"if {_expr(e.cond, 0)} {{ " + " ".join(_expr(s, 0) for s in e.then) + " }"
        if e.orelse:
            text += " else { " + " ".join(_expr(s, 0) for s in e.orelse) + " }"
        return text
    if isinstance(e, A.System):
        text = f"{_str_lit(e.label)} = {_expr(e.expr, 0)}"
        return text + (f" if {_expr(e.when, 0)}" if e.when is not None else "")
    if isinstance(e, (list, tuple)):
        return "; ".join(_expr(i, 0) for i in e)
    if isinstance(e, dict):
        return "{" + ", ".join(f"{k}: {_expr(v, 0)}" for k, v in sorted(e.items())) + "}"
    if isinstance(e, A.Node):
        return type(e).__name__
    return str(e)
