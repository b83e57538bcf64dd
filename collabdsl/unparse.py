"""Expressions back to source text: for graph labels, JSON output and fingerprints
(the text has no spans, so moving a statement does not change its fingerprint)."""
from __future__ import annotations

import json

from collabdsl import ast as A

_PREC = {"or": 1, "and": 2, "not": 3, "cmp": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6, "neg": 7}


def unparse(e) -> str:
    if e is None:
        return "none"
    if isinstance(e, A.Num):
        return repr(e.value)
    if isinstance(e, A.Str):
        return json.dumps(e.value)
    if isinstance(e, A.Bool):
        return "true" if e.value else "false"
    if isinstance(e, A.NoneLit):
        return "none"
    if isinstance(e, A.Name):
        return str(e.id)
    if isinstance(e, A.Attr):
        return f"{unparse(e.obj)}.{e.name}"
    if isinstance(e, A.Index):
        return f"{unparse(e.obj)}[{unparse(e.index)}]"
    if isinstance(e, A.Call):
        args = [unparse(a) for a in e.args] + [f"{k.name}: {unparse(k.value)}" for k in e.kwargs]
        return f"{unparse(e.func)}({', '.join(args)})"
    if isinstance(e, A.BinOp):
        return f"({unparse(e.left)} {e.op} {unparse(e.right)})"
    if isinstance(e, A.Compare):
        return f"({unparse(e.left)} {e.op} {unparse(e.right)})"
    if isinstance(e, A.And):
        return f"({unparse(e.left)} and {unparse(e.right)})"
    if isinstance(e, A.Or):
        return f"({unparse(e.left)} or {unparse(e.right)})"
    if isinstance(e, A.Not):
        return f"(not {unparse(e.operand)})"
    if isinstance(e, A.Neg):
        return f"(-{unparse(e.operand)})"
    if isinstance(e, A.ListLit):
        return "[" + ", ".join(unparse(i) for i in e.items) + "]"
    if isinstance(e, A.DictLit):
        return "{" + ", ".join(f"{k}: {unparse(v)}" for k, v in zip(e.keys, e.values)) + "}"
    if isinstance(e, A.Range):
        return f"{unparse(e.lo)}..{unparse(e.hi)}"
    if isinstance(e, dict):
        return "{" + ", ".join(f"{k}: {unparse(v)}" for k, v in sorted(e.items())) + "}"
    if isinstance(e, (list, tuple)):
        return "[" + ", ".join(unparse(v) for v in e) + "]"
    return json.dumps(e, default=str)
