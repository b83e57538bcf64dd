"""One handler per IR node kind, named after it. A handler gets the node's attributes,
its run key (node id plus loop iteration) and the run context, and changes the
context's data sets, roles (model versions), knowledge bases and results."""
from __future__ import annotations

import asyncio
import re

from collabdsl import ast as A
from collabdsl.builtins import split_rows
from collabdsl.evaluate import Env, EvalError, evaluate
from runtime.errors import RunError

HANDLERS = {}


def handler(kind):
    def deco(fn):
        HANDLERS[kind] = fn
        return fn
    return deco


# ---------------------------------------------------------------------- helpers
def active_rows(ctx, node) -> list[dict]:
    rows = ctx.datasets.get(node["data"])
    if rows is None:
        raise RunError(node, f"data set '{node['data']}' has not been computed")
    out = []
    for r in rows:
        ok = True
        for g in node["when"]:
            neg = g.startswith("!")
            if bool(r.get(g.lstrip("!"))) == neg:
                ok = False
                break
        if ok:
            out.append(r)
    return out


def env_for(ctx, node, row) -> Env:
    var = (node["expr"] or {}).get("var")
    markers = ctx.marker_hits.setdefault(id(node), {})  # one node runs one execution at a time
    return Env(params=ctx.params, prompts=ctx.prompts, var=var, row=row, markers=markers,
               names=dict(getattr(ctx, "loop_vars", None) or {}))  # `repeat ... as i` in the body


def warn_unmatched_markers(ctx, node, key) -> None:
    """A marker builtin (``before``, ``after``, ``extract_answer(markers:)``) whose marker
    occurs in none of the texts the node gave it: warn at the call (a marker typed for other
    data, or a ``\\n`` that is not a newline, silently changes every row)."""
    from collabdsl.builtins import ROW_BUILTINS

    for t in ctx.marker_hits.pop(id(node), {}).values():
        if t.rows and not t.found:
            b = ROW_BUILTINS[t.call.fname]
            what = (f"the marker {t.markers[0]!r} occurs in none" if len(t.markers) == 1 else
                    f"none of the markers {', '.join(repr(m) for m in t.markers)} occurs in any")
            ctx.warn(key, node, f"{b.name}(): {what} of the {t.rows} texts it was given, so {b.on_miss}",
                     span=t.call.span)


def ev(ctx, node, e, row):
    try:
        return evaluate(e, env_for(ctx, node, row))
    except EvalError as exc:
        raise RunError(node, f"row {row.get('_rid')}: {exc.reason}", exc.span) from None


def apply_policy(ctx, node, key, policy, rows_failed, out, total=None):
    """What happens to rows whose value did not parse: keep None, a default, drop, or fail.
    The failures are counted (the run summary's parse failures) and, unless the run stops,
    reported as a warning at the node saying how many of its ``total`` rows failed and what
    became of them (a judge whose every reply fails to parse must not pass unnoticed)."""
    if not rows_failed:
        return
    ctx.count(key, parse_failures=len(rows_failed))
    kind = policy if isinstance(policy, str) else "value"
    if kind == "fail":
        raise RunError(node, f"{len(rows_failed)} replies did not parse (first row "
                       f"{rows_failed[0].get('_rid')}); on_parse_error: fail")
    n = len(rows_failed)
    of = f" of {total}" if total is not None else ""
    effect = {"value": f"each counts as {policy['value'] if isinstance(policy, dict) else None!r} "
                       f"(on_parse_error)",
              "drop": "their rows are dropped (on_parse_error: drop)"}.get(kind, "each is none")
    ctx.warn(key, node, f"{n}{of} value{'s' if n != 1 else ''} did not parse (first row "
             f"{rows_failed[0].get('_rid')}): {effect}")
    if kind == "value":
        for r in rows_failed:
            r[out] = policy["value"] if isinstance(policy, dict) else None
    elif kind == "drop":
        dropped = {id(r) for r in rows_failed}
        ctx.datasets[node["data"]] = [r for r in ctx.datasets[node["data"]] if id(r) not in dropped]


_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_score(text: str, lo: float, hi: float):
    """The first number in the reply that lies in the declared range; None if none does."""
    for m in _NUMBER.finditer(text or ""):
        v = float(m.group())
        if lo <= v <= hi:
            return int(v) if v.is_integer() else v
    return None


# ---------------------------------------------------------------------- data sets
@handler("load")
async def load(ctx, node, key):
    from runtime.data import load_rows

    from collabdsl.options import LOAD_OPTIONS

    o = dict(node["options"])
    kwargs = {opt.kwarg: o[name] for name, opt in LOAD_OPTIONS.items() if o.get(name) is not None}
    if ctx.limit is not None:  # `collab run --limit N` caps every load
        kwargs["limit"] = ctx.limit if o.get("limit") is None else min(int(o["limit"]), ctx.limit)
    kwargs["seed"] = int(o.get("seed") or 0)
    kwargs["shuffle"] = bool(o.get("shuffle", False))
    try:
        rows = await asyncio.to_thread(load_rows, o["source"], base_dir=ctx.base_dir, policy=ctx.policy,
                                       **kwargs)
    except (OSError, ValueError, KeyError) as exc:
        raise RunError(node, f"cannot load {o['source']!r}: {exc}") from None
    name = node["out"]
    for i, r in enumerate(rows):
        r["_rid"] = f"{name}:{i}"
    ctx.datasets[name] = rows


@handler("split")
async def split(ctx, node, key):
    o = node["options"]
    first, second = split_rows(ctx.datasets[node["data"]], float(o["ratio"]), int(o.get("seed") or 0))
    a, b = node["out"]
    ctx.datasets[a] = [dict(r) for r in first]
    ctx.datasets[b] = [dict(r) for r in second]


@handler("concat")
async def concat(ctx, node, key):
    outs = node["out"] if isinstance(node["out"], list) else [node["out"]]
    rows = [dict(r) for src in node["options"].get("inputs", [node["data"]]) for r in ctx.datasets[src]]
    for o in outs:
        ctx.datasets[o] = [dict(r) for r in rows]


@handler("take")
async def take(ctx, node, key):
    n = int(node["options"]["n"])
    for o in node["out"]:
        ctx.datasets[o] = [dict(r) for r in ctx.datasets[node["data"]][:n]]


@handler("shuffle")
async def shuffle(ctx, node, key):
    import random

    rows = [dict(r) for r in ctx.datasets[node["data"]]]
    random.Random(int(node["options"].get("seed") or 0)).shuffle(rows)
    for o in node["out"]:
        ctx.datasets[o] = rows


@handler("fewshot")
async def fewshot(ctx, node, key):
    """Each row with ``shots``: k other rows of the data set (their columns so far, without
    their own shots), drawn at random with the seed, different for each row; fewer when the
    data set has fewer other rows."""
    import random

    from collabdsl.builtins import FEWSHOT_COLUMN

    src = ctx.datasets[node["data"]]
    k = int(node["options"]["k"])
    rng = random.Random(int(node["options"].get("seed") or 0))
    plain = [{c: v for c, v in r.items() if c != FEWSHOT_COLUMN and not c.startswith("_")} for r in src]
    rows = []
    for i, r in enumerate(src):
        others = [j for j in range(len(src)) if j != i]
        rows.append({**r, FEWSHOT_COLUMN: [dict(plain[j]) for j in rng.sample(others, min(k, len(others)))]})
    for o in node["out"]:
        ctx.datasets[o] = [dict(r) for r in rows]


@handler("filter")
async def filter(ctx, node, key):  # noqa: A001 - the IR kind
    cond = node["expr"]["cond"]
    rows = active_rows(ctx, node)
    ctx.datasets[node["out"]] = kept = [dict(r) for r in rows if ev(ctx, node, cond, r)]
    if rows and not kept and not _counted_by_until(ctx, node):
        ctx.warn(key, node, f"the filter keeps none of the {len(rows)} rows of '{node['data']}': "
                 f"'{node['out']}' is empty, and what reads it runs on no row")


def _counted_by_until(ctx, node) -> bool:
    """Whether ``node``'s output is a data set an enclosing `repeat until` counts (emptying it
    is how such a loop ends, not a mistake)."""
    parent = node.get("parent")
    while parent is not None:
        loop = ctx.G.nodes[parent]
        until = (loop.get("options") or {}).get("until")
        if until is not None and any(isinstance(n, A.Name) and str(n.id) == node["out"] for n in until.walk()):
            return True
        parent = loop.get("parent")
    return False


@handler("expand")
async def expand(ctx, node, key):
    item_col = node["options"]["item"]
    out = []
    for r in active_rows(ctx, node):
        items = ev(ctx, node, node["expr"]["items"], r) or []
        if not isinstance(items, list):
            items = [items]
        for j, it in enumerate(items):
            out.append({**r, item_col: it, "_rid": f"{r['_rid']}.{j}"})
    ctx.datasets[node["out"]] = out


# ---------------------------------------------------------------------- pure row ops
@handler("compute")
async def compute(ctx, node, key):
    value = node["expr"]["value"]
    out = node["out"]
    policy = None
    if isinstance(value, A.Call) and value.kwarg("on_parse_error") is not None:
        from collabdsl.evaluate import parse_error_policy

        kind, v = parse_error_policy(value)
        policy = kind if kind != "value" else {"value": evaluate(v, Env(params=ctx.params))}
    failed = []
    rows = active_rows(ctx, node)
    for r in rows:
        r[out] = ev(ctx, node, value, r)
        if policy is not None and r[out] is None:
            failed.append(r)
    apply_policy(ctx, node, key, policy, failed, out, total=len(rows))


@handler("gate")
async def gate(ctx, node, key):
    for r in active_rows(ctx, node):
        r[node["out"]] = bool(ev(ctx, node, node["expr"]["cond"], r))


# ---------------------------------------------------------------------- knowledge bases
@handler("kb_write")
async def kb_write(ctx, node, key):
    e = node["expr"]
    entries = []
    for r in active_rows(ctx, node):
        text = ev(ctx, node, e["text"], r)
        if text is None or str(text).strip() == "":
            continue
        k = ev(ctx, node, e["key"], r) if e.get("key") is not None else None
        entries.append({"text": str(text), "key": f"{k}" if k is not None else f"{key}:{r['_rid']}"})
    if entries:
        await asyncio.to_thread(ctx.store.kb_write, ctx.kb_name(node["out"]), entries, ctx.run_id, key)
    ctx.kb_sizes[node["out"]] = ctx.kb_sizes.get(node["out"], 0) + len(entries)


@handler("retrieve")
async def retrieve(ctx, node, key):
    o = node["options"]
    kb = ctx.kb_name(o["kb"])
    rows = active_rows(ctx, node)
    queries = [str(ev(ctx, node, node["expr"]["query"], r) or "") for r in rows]
    top = int(o.get("top") or 1)

    def search():  # one BM25 index of the KB as it is now, over the field the program names
        index = ctx.store.kb_index(kb, o.get("by") or "text")
        try:
            return [index.search(q, top) for q in queries]
        finally:
            index.close()

    for r, hits in zip(rows, await asyncio.to_thread(search)):
        r[node["out"]] = "\n".join(t for t, _ in hits)
    ctx.count(key, calls=len(rows))
    ctx.retrievals[node["out"]] = (len(rows), len(ctx.datasets[node["data"]]))
