"""Handlers of the model operations: generate, sample, score, choose.

Each runs its rows in chunks. For a chunk it looks up the call cache (keyed by model
version, prompt, sampling options and sample index), waits for identical calls already on
their way (another node, or another row of the chunk, asked first), sends the rest to the
model's agent, and writes the chunk's outputs to the run store in one transaction, so a
resumed run continues after the last completed chunk.
"""
from __future__ import annotations

import asyncio
import copy
import zlib

from runtime.agents import choice_request, gen_request
from runtime.errors import RunError
from runtime.executors.base import confidence as estimate
from runtime.handlers import active_rows, apply_policy, ev, handler, parse_score
from runtime.store import cache_key

CHUNK = 64  # rows per committed batch for backends without a batch size (column models)
COMMIT = 16  # most rows of one committed chunk of a model node (a resume loses at most these)


def _seed(ctx, key: str, rid: str) -> int:
    """A sampling seed per (run seed, node definition, loop iteration, row): reproducible,
    new in every iteration so a loop does not draw the same samples again, and free of the
    node's position (``runtime.run.definitions``), so inserting a statement earlier in a
    program changes no sample. The k samples of one request take seed, seed+1, ..."""
    nid, _, iteration = key.partition("@")
    return zlib.crc32(f"{ctx.seed}:{ctx.defs[nid]}:{iteration}:{rid}".encode()) & 0x7FFFFFFF


def _options(node, role) -> dict:
    o = dict(role.spec.get("options") or {})
    o.update({k: v for k, v in node["options"].items() if k not in ("on_parse_error",)})
    return o


async def _run_model(ctx, node, key, make_value, kind: str):
    """Shared driver: rows -> requests -> cached or computed values -> row[out]."""
    role = ctx.pool.roles[node["model"]]
    out = node["out"]
    rows = active_rows(ctx, node)
    done = ctx.reusable_rows(key)  # rid -> value, from an identical earlier node or this run
    todo = []
    for r in rows:
        if r["_rid"] in done:
            r[out] = done[r["_rid"]]
        else:
            todo.append(r)
    if len(rows) > len(todo):
        ctx.count(key, cache_hits=len(rows) - len(todo))
        ctx.store.add_node_stats(ctx.run_id, key, cache_hits=len(rows) - len(todo))
    start = len(rows) - len(todo)
    ctx.progress_total(key, len(rows), start)
    # Rows go out in chunks of at most COMMIT, each written to the store when its values are
    # in (one transaction), with enough chunks in flight to fill the agent's next batch
    # while one runs: the agent batches across the chunks of every waiting node.
    if role.agent is None:
        size, window = CHUNK, 1
    else:
        size = min(role.agent.batch_size, COMMIT)
        window = -(-role.agent.batch_size // size) + 1
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    index = start  # next row index of the store: chunks are written as they finish
    gate = asyncio.Semaphore(window)

    async def one(chunk):
        nonlocal index
        async with gate:
            values, stats = await make_value(ctx, node, key, role, chunk)
        ctx.count(key, **stats)
        for r, v in zip(chunk, values):
            r[out] = v
        at, index = index, index + len(chunk)
        ctx.store.write_rows(ctx.run_id, key, at, [{"rid": r["_rid"], "v": v}
                                                   for r, v in zip(chunk, values)], stats=stats)
        ctx.progress_advance(key, len(chunk))

    if len(chunks) <= 1 or window <= 1:
        for chunk in chunks:
            await one(chunk)
        return rows
    tasks = [asyncio.ensure_future(one(c)) for c in chunks]
    try:
        for t in asyncio.as_completed(tasks):
            await t  # the first failure is the node's
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return rows


async def _submit(node, role, kind, requests):
    """The agent's results for ``requests``; a backend error is reported with the node."""
    if role.agent is None:
        raise RunError(node, f"model '{node['model']}' has no backend")
    try:
        return await role.agent.submit(kind, requests)
    except RunError:
        raise
    except Exception as exc:  # noqa: BLE001 - reported with the node and its line
        raise RunError(node, f"model '{node['model']}' ({role.spec['backend']}:{role.spec.get('ref')}) "
                       f"failed: {type(exc).__name__}: {exc}") from exc


def _settle(ctx, keys, values=None, exc=None):
    """Hand the outcome of calls this node made to the nodes waiting for them."""
    for i, k in enumerate(keys):
        fut = ctx.inflight.pop(k, None)
        if fut is None or fut.done():
            continue
        if values is not None:
            fut.set_result(values[i])
        elif isinstance(exc, Exception):
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "never retrieved" warning when nobody waits
        else:  # cancelled or interrupted: so are the waiting nodes
            fut.cancel()


async def _cached_calls(ctx, node, key, role, kind, requests, keys):
    """Results for ``requests``: from the cache where present, from an identical call on
    its way (another node's, or an earlier row's of this chunk), else from the agent. Only
    the calls sent to the agent count as calls."""
    hits = ctx.store.cache_get_many(keys)
    results = [hits.get(k) for k in keys]
    loop = asyncio.get_running_loop()
    mine, waits = [], []
    for i, k in enumerate(keys):
        if k in hits:
            continue
        if k in ctx.inflight:
            waits.append((i, ctx.inflight[k]))
        else:
            ctx.inflight[k] = loop.create_future()
            mine.append(i)
    if mine:
        own = [keys[i] for i in mine]
        try:
            got = await _submit(node, role, kind, [requests[i] for i in mine])
        except BaseException as exc:
            _settle(ctx, own, exc=exc)
            raise
        values = [_to_json(kind, res) for res in got]
        for i, v in zip(mine, values):
            results[i] = v
        # a reply without text is not cached: the row fails, and a rerun asks again
        ctx.store.cache_put_many({k: v for k, v in zip(own, values)
                                  if not (kind == "generate" and any(g["text"] is None for g in v))})
        _settle(ctx, own, values=values)
    for i, fut in waits:
        try:
            results[i] = copy.deepcopy(await fut)
        except RunError as exc:
            raise RunError(node, f"an identical call of another node failed: {exc.reason}") from exc
    stats = {"calls": len(mine), "cache_hits": len(keys) - len(mine)}
    if mine:
        gens = [g for i in mine for g in (results[i] if kind == "generate" else [])]
        stats.update(prompt_tokens=sum(g["prompt_tokens"] for g in gens),
                     completion_tokens=sum(g["completion_tokens"] for g in gens),
                     cost=sum(g["cost"] for g in gens), retries=sum(g["retries"] for g in gens))
    return results, stats


def _to_json(kind, res):
    if kind == "generate":
        return [{"text": g.text, "token_logprobs": g.token_logprobs, "top2_margins": g.top2_margins,
                 "prompt_tokens": g.prompt_tokens, "completion_tokens": g.completion_tokens,
                 "cost": g.cost, "retries": g.retries} for g in res]
    return {"probs": list(res.probs), "logliks": list(res.logliks)}


def _gen_obj(d):
    from runtime.executors.base import Generation

    return Generation(text=d["text"], token_logprobs=d.get("token_logprobs"),
                      top2_margins=d.get("top2_margins"))


def _column(ctx, node, role, r):
    col = role.spec.get("ref")
    if col not in r:
        raise RunError(node, f"row {r.get('_rid')} has no column '{col}' for column() model "
                       f"'{node['model']}'")
    return r[col]


async def _generations(ctx, node, key, role, chunk, n=1, logprobs=False):
    opts = _options(node, role)
    prompts = [str(ev(ctx, node, node["expr"]["prompt"], r)) for r in chunk]
    temp = float(opts.get("temperature", 0.0) or 0.0)
    reqs, keys = [], []
    for r, p in zip(chunk, prompts):
        seed = opts.get("seed", _seed(ctx, key, r["_rid"])) if temp > 0 else None
        req = gen_request(p, {**opts, "temperature": temp}, role, n=n, seed=seed, logprobs=logprobs,
                          history=call_history(ctx, node, r))
        reqs.append(req)
        params = {"t": req.temperature, "p": req.top_p, "m": req.max_tokens, "n": n, "seed": seed, "lp": logprobs,
                  "chat": req.chat}
        if req.turns:  # keyed only when there are turns: the keys of earlier runs stay valid
            params["turns"] = [list(t) for t in req.turns]
        keys.append(cache_key(role.call_version, p, params, 0))
    results, stats = await _cached_calls(ctx, node, key, role, "generate", reqs, keys)
    for r, res in zip(chunk, results):
        if any(g["text"] is None for g in res):
            raise RunError(node, f"row {r['_rid']}: model '{node['model']}' ({role.spec['backend']}:"
                           f"{role.spec.get('ref')}) replied without text (content: null: a filtered or "
                           f"refused request?)")
    return results, stats


async def _generate_values(ctx, node, key, role, chunk):
    est = node["options"].get("confidence")
    if role.agent is None:
        vals = [_column(ctx, node, role, r) for r in chunk]
        return [({"text": v, "confidence": 1.0} if est else v) for v in vals], {}
    results, stats = await _generations(ctx, node, key, role, chunk, logprobs=bool(est))
    values = []
    for res in results:
        g = res[0]
        if est:
            values.append({"text": g["text"], "confidence": estimate(est, gen=_gen_obj(g))})
        else:
            values.append(g["text"])
    return values, stats


async def _sample_values(ctx, node, key, role, chunk):
    k = int(node["options"]["k"])
    if role.agent is None:
        # a stored list is the samples; one stored value is one sample (copies would be
        # duplicate training rows, not samples)
        return [list(v) if isinstance(v, list) else [v] for v in
                (_column(ctx, node, role, r) for r in chunk)], {}
    results, stats = await _generations(ctx, node, key, role, chunk, n=k)
    return [[g["text"] for g in res] for res in results], stats


@handler("generate")
async def generate(ctx, node, key):
    await _run_model(ctx, node, key, _generate_values, "generate")


@handler("sample")
async def sample(ctx, node, key):
    await _run_model(ctx, node, key, _sample_values, "generate")


@handler("score")
async def score(ctx, node, key):
    lo, hi = node["options"]["range"]
    raw = f"_{node['out']}_reply"

    async def values(ctx, node, key, role, chunk):
        if role.agent is None:
            texts = [str(_column(ctx, node, role, r)) for r in chunk]
            stats = {}
        else:
            results, stats = await _generations(ctx, node, key, role, chunk)
            texts = [res[0]["text"] for res in results]
        for r, t in zip(chunk, texts):
            r[raw] = t
        return [parse_score(t, float(lo), float(hi)) for t in texts], stats

    rows = await _run_model(ctx, node, key, values, "generate")
    failed = [r for r in rows if r.get(node["out"]) is None]
    apply_policy(ctx, node, key, node["options"].get("on_parse_error", "keep"), failed, node["out"],
                 total=len(rows))


def call_history(ctx, node, r) -> list[str] | None:
    """The ``history:`` of a model call for row ``r``: the texts of the turns before the
    prompt (none: no turns). Anything but a list fails the row, as for every list."""
    e = (node.get("expr") or {}).get("history")
    if e is None:
        return None
    v = ev(ctx, node, e, r)
    if v is None:
        return None
    if isinstance(v, tuple):
        v = list(v)
    if not isinstance(v, list):
        raise RunError(node, f"row {r.get('_rid')}: history: must be a list of texts (the turns before the "
                       f"prompt), got a {type(v).__name__} ({str(v)[:40]!r})")
    return ["" if t is None else (t.get("text") if isinstance(t, dict) and "text" in t else str(t)) for t in v]


def choice_options(ctx, node, r) -> list[str]:
    """The options of a choose() call for row ``r``: a list of at least two texts. Anything
    else fails the row (a text is not its characters, a dict not its keys)."""
    v = ev(ctx, node, node["expr"]["options"], r)
    if isinstance(v, tuple):
        v = list(v)
    if not isinstance(v, list) or len(v) < 2 or not all(isinstance(o, str) for o in v):
        if v is None:
            got = "none"
        elif not isinstance(v, list):
            got = f"a {type(v).__name__} ({str(v)[:40]!r})"
        elif len(v) < 2:
            got = f"{len(v)} option{'s' if len(v) != 1 else ''}"
        else:
            i = next(i for i, o in enumerate(v) if not isinstance(o, str))
            got = f"option {i + 1} ({v[i]!r}) is not a text but a {type(v[i]).__name__}"
        raise RunError(node, f"row {r.get('_rid')}: choose() options must be a list of at least two "
                       f"texts; got {got}")
    return v


NO_CHOICE = {"answer": None, "index": None, "confidence": None, "probs": None}


@handler("choose")
async def choose(ctx, node, key):
    async def values(ctx, node, key, role, chunk):
        options = [choice_options(ctx, node, r) for r in chunk]
        if role.agent is None:
            # a stored answer is the option it names (case and spaces ignored); one that
            # names no option is no answer (a parse failure), not option 0
            out = []
            for r, o in zip(chunk, options):
                v = " ".join(str(_column(ctx, node, role, r)).lower().split())
                idx = next((i for i, x in enumerate(o) if " ".join(x.lower().split()) == v), None)
                if idx is None:
                    out.append(dict(NO_CHOICE))
                    continue
                probs = [1.0 if i == idx else 0.0 for i in range(len(o))]
                out.append({"answer": o[idx], "index": idx, "confidence": 1.0, "probs": probs})
            return out, {}
        prompts = [str(ev(ctx, node, node["expr"]["prompt"], r)) for r in chunk]
        opts = _options(node, role)
        reqs = [choice_request(p, o, role, opts, call_history(ctx, node, r)) for p, o, r in zip(prompts, options, chunk)]
        keys = [cache_key(role.call_version, p, {"choose": [str(x) for x in o], "chat": q.chat,
                                                 **({"turns": [list(t) for t in q.turns]} if q.turns else {})}, 0)
                for p, o, q in zip(prompts, options, reqs)]
        results, stats = await _cached_calls(ctx, node, key, role, "choose", reqs, keys)
        out = []
        for o, res in zip(options, results):
            probs = res["probs"]
            if not res["logliks"] and len(set(probs)) == 1:  # a reply that names no option
                out.append(dict(NO_CHOICE))
                continue
            idx = max(range(len(probs)), key=probs.__getitem__)
            out.append({"answer": o[idx], "index": idx, "confidence": probs[idx], "probs": probs})
        return out, stats

    rows = await _run_model(ctx, node, key, values, "choose")
    unanswered = sum(1 for r in rows if isinstance(r.get(node["out"]), dict) and r[node["out"]]["answer"] is None)
    ctx.count(key, parse_failures=unanswered)
