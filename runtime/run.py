"""``collab run``: execute a compiled program graph.

The scheduler walks the IR in dependency order and starts every node whose inputs
are ready, so independent nodes run concurrently (asyncio; backends run in threads)
and a node never waits on a model it does not use. A ``loop`` node runs its body's
nodes the same way, once per iteration. Every node gets a fingerprint (its
definition, the fingerprints of its inputs, the params it reads and the model
version it uses): a model or training node whose fingerprint finished before is not
recomputed, so rerunning a finished program makes no model calls and loads no model.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from collabdsl import ast as A
from collabdsl.unparse import unparse
from runtime import handlers as H
from runtime import model_handlers  # noqa: F401 - registers the model handlers
from runtime import train_eval  # noqa: F401 - registers train, eval
from runtime.agents import AgentPool
from runtime.errors import RunError
from runtime.store import RunStore, program_hash, stable_hash

REUSABLE = ("generate", "sample", "score", "choose")


@dataclass
class NodeStat:
    kind: str
    label: str
    seconds: float = 0.0
    calls: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    retries: int = 0
    parse_failures: int = 0
    reused: bool = False


@dataclass
class RunContext:
    G: nx.DiGraph
    store: RunStore
    run_id: str
    pool: AgentPool
    params: dict
    prompts: dict
    base_dir: Path
    work_dir: Path
    limit: int | None = None
    seed: int = 0
    datasets: dict = field(default_factory=dict)
    last_fp: dict = field(default_factory=dict)  # node id -> fingerprint of its latest execution
    stats: dict = field(default_factory=dict)  # run key -> NodeStat
    results: list = field(default_factory=list)  # eval results
    kb_sizes: dict = field(default_factory=dict)
    retrievals: dict = field(default_factory=dict)
    trainings: list = field(default_factory=list)
    iteration: tuple = ()
    progress: object | None = None
    tasks: dict = field(default_factory=dict)
    inflight: dict = field(default_factory=dict)  # call-cache key -> future of a call on its way
    warnings: list = field(default_factory=list)  # what the run noticed, see warn()
    keys: dict = field(default_factory=dict)  # id(node attributes) -> run key of its execution
    marker_hits: dict = field(default_factory=dict)  # run key -> {call span: MarkerTally}

    def warn(self, node: dict, message: str, span=None, level: str = "warning") -> None:
        """Record something the run noticed that does not stop it, located at ``span`` (an
        expression of the node) or the node's statement; stored in the run store's
        ``warnings`` table and printed after the run (``level`` "note" for a remark)."""
        key = self.keys.get(id(node), "?")
        w = {"node": key, "kind": node.get("kind"), "label": node.get("label"), "level": level,
             "where": str(span) if span is not None else node.get("span", "?"), "message": message}
        if w not in self.warnings:
            self.warnings.append(w)
        self.store.add_warning(self.run_id, key, message, location=w["where"], kind=w["kind"],
                               label=w["label"], level=level)

    def kb_name(self, kb: str) -> str:
        return f"{self.run_id}/{kb}"

    def count(self, key: str, **deltas) -> None:
        st = self.stats.get(key)
        if st is not None:
            for k, v in deltas.items():
                setattr(st, k, getattr(st, k) + v)

    def reusable_rows(self, key: str) -> dict:
        """rid -> value for rows of this node computed before: by an earlier finished node
        with the same fingerprint, or by this run before it was interrupted."""
        nid = key.split("@")[0]
        fp = self.last_fp.get(nid)
        found = self.store.find_finished_node(fp) if fp else None
        rows = []
        if found:
            rows = self.store.read_rows(*found)
            self.stats[key].reused = True
        rows += self.store.read_rows(self.run_id, key)
        return {r["rid"]: r["v"] for r in rows}

    def progress_total(self, key, total, done=0):
        if self.progress is not None:
            self.tasks[key] = self.progress.add_task(self.stats[key].label[:48], total=total, completed=done)

    def progress_advance(self, key, n):
        if self.progress is not None and key in self.tasks:
            self.progress.advance(self.tasks[key], n)


# ---------------------------------------------------------------------- fingerprints
def _canon(v):
    if isinstance(v, A.Node):
        return unparse(v)
    if isinstance(v, dict):
        return {str(k): _canon(x) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        return [_canon(x) for x in v]
    return v


def _params_read(a: dict, params: dict) -> dict:
    names = set()
    for e in (a.get("expr") or {}).values():
        if isinstance(e, A.Node):
            names |= {str(n.id) for n in e.walk() if isinstance(n, A.Name)}
        elif isinstance(e, dict):
            for x in e.values():
                if isinstance(x, A.Node):
                    names |= {str(n.id) for n in x.walk() if isinstance(n, A.Name)}
    return {n: params[n] for n in sorted(names) if n in params}


def fingerprint(ctx: RunContext, nid: str) -> str:
    a = ctx.G.nodes[nid]
    parts = {
        "kind": a["kind"], "options": _canon(a["options"]), "expr": _canon(a.get("expr")),
        "out": a["out"], "when": a["when"], "data": a["data"],
        "inputs": sorted(ctx.last_fp.get(p, p) for p in ctx.G.predecessors(nid)),
        "params": _params_read(a, ctx.params), "iteration": list(ctx.iteration),
        "seed": ctx.seed, "limit": ctx.limit,
    }
    if a["model"]:
        role = ctx.pool.roles[a["model"]]
        parts["model"] = [role.version_id, role.spec.get("options")]
    if a["kind"] == "load":
        o = a["options"]
        parts["source"] = _source_stamp(o.get("source"), o.get("split"), ctx.base_dir)
        if o.get("attach"):
            parts["attach"] = {k: _attach_stamp(v, o.get("split"), ctx.base_dir)
                               for k, v in sorted(o["attach"].items())}
    return stable_hash(parts)


def _stamp(p: Path):
    st = p.stat()
    return [str(p), st.st_size, int(st.st_mtime)]


def _source_stamp(source, split, base_dir: Path):
    """A local file by its path, size and time (so an edited file is read again)."""
    from runtime.data import DataError, resolve_path

    if not isinstance(source, str) or ":" in source.split("/")[0]:
        return source
    try:
        return _stamp(resolve_path(source, split, base_dir))
    except (OSError, DataError):
        return source


def _attach_stamp(pattern, split, base_dir: Path):
    from runtime.data import DataError, attached_files

    try:
        return [_stamp(p) for p in attached_files(pattern, split, base_dir)]
    except (OSError, DataError):
        return pattern


# ---------------------------------------------------------------------- scheduling
def _level_deps(G: nx.DiGraph, nodes: list[str]) -> dict[str, set]:
    """Dependencies among ``nodes`` (one level: same parent); an edge from inside a
    nested loop counts as an edge from that loop node."""
    level = set(nodes)
    deps = {n: set() for n in nodes}

    def at_level(u):
        while u is not None and u not in level:
            u = G.nodes[u].get("parent")
        return u

    for v in nodes:
        for u in G.predecessors(v):
            lu = at_level(u)
            if lu is not None and lu != v:
                deps[v].add(lu)
    return deps


async def run_level(ctx: RunContext, nodes: list[str]) -> None:
    deps = _level_deps(ctx.G, nodes)
    pending, done, running = list(nodes), set(), {}
    while pending or running:
        for n in [n for n in pending if deps[n] <= done]:
            pending.remove(n)
            running[asyncio.create_task(run_node(ctx, n))] = n
        if not running:
            raise RuntimeError(f"scheduler stuck: {pending} wait on each other")
        finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        for t in finished:
            n = running.pop(t)
            if t.exception() is not None:
                for other in running:
                    other.cancel()
                await asyncio.gather(*running, return_exceptions=True)
                raise t.exception()
            done.add(n)


def run_key(ctx: RunContext, nid: str) -> str:
    return nid + ("@" + ".".join(str(i) for i in ctx.iteration) if ctx.iteration else "")


async def run_node(ctx: RunContext, nid: str) -> None:
    a = ctx.G.nodes[nid]
    if a["kind"] == "loop":
        await run_loop(ctx, nid)
        return
    key = run_key(ctx, nid)
    fp = fingerprint(ctx, nid)
    ctx.last_fp[nid] = fp
    ctx.stats[key] = NodeStat(a["kind"], a["label"])
    ctx.store.node_start(ctx.run_id, key, kind=a["kind"], fingerprint=fp)
    ctx.keys[id(a)] = key
    t = time.perf_counter()
    try:
        await H.HANDLERS[a["kind"]](ctx, a, key)
        H.warn_unmatched_markers(ctx, a, key)
    except RunError:
        ctx.store.node_done(ctx.run_id, key, status="failed")
        raise
    except Exception as exc:
        ctx.store.node_done(ctx.run_id, key, status="failed", error=str(exc))
        raise RunError(a, f"{type(exc).__name__}: {exc}") from exc
    st = ctx.stats[key]
    st.seconds = time.perf_counter() - t
    extra = {"parse_failures": st.parse_failures}
    if a["kind"] in ("retrieve",):
        extra["calls"] = st.calls
    ctx.store.node_done(ctx.run_id, key, stats=extra)


async def run_loop(ctx: RunContext, nid: str) -> None:
    from collabdsl.evaluate import Env, evaluate

    a = ctx.G.nodes[nid]
    o = a["options"]
    body = a["body"]
    outer = ctx.iteration
    i = 0
    while True:
        if "count" in o:
            if i >= int(o["count"]):
                break
        else:
            if i >= int(o["max"]):
                break
            if i > 0:
                names = {"count": lambda d: len(d) if isinstance(d, list) else 0}
                names.update(ctx.datasets)
                if o.get("var"):
                    names[o["var"]] = i
                if evaluate(o["until"], Env(params=ctx.params, prompts=ctx.prompts, names=names)):
                    break
        ctx.iteration = outer + (i + 1,)
        await run_level(ctx, body)
        i += 1
    ctx.iteration = outer


# ---------------------------------------------------------------------- entry point
@dataclass
class RunOutcome:
    run_id: str
    status: str
    results: list
    stats: dict
    agents: dict
    seconds: float
    error: str | None = None
    kb_sizes: dict = field(default_factory=dict)
    retrievals: dict = field(default_factory=dict)
    trainings: list = field(default_factory=list)
    warnings: list = field(default_factory=list)


def run_graph(G: nx.DiGraph, *, program_path: str, sources: dict, store_path: str | Path | None = None,
              resume: bool = False, limit: int | None = None, seed: int = 0, console=None,
              progress: bool = True) -> RunOutcome:
    store = RunStore(store_path or Path(".collab") / "runs.db")
    phash = program_hash(program_path, [p for p in sources if Path(p).resolve() != Path(program_path).resolve()])
    bindings = {r: f"{m['backend']}:{m.get('ref')}" for r, m in G.graph["models"].items()}
    run_id = None
    if resume:
        prev = store.latest_run(program_path, ("running", "interrupted", "failed"))
        if prev is not None and prev.get("program_hash") == phash:
            run_id = prev["id"]
            store.finish_run(run_id, "running")
    if run_id is None:
        run_id = store.start_run(program_path, G.graph.get("name"), phash, G.graph["params"], bindings)
    work_dir = Path(store.path).parent
    ctx = RunContext(G, store, run_id, AgentPool(G.graph["models"]), G.graph["params"], G.graph["prompts"],
                     Path(program_path).resolve().parent, work_dir, limit=limit, seed=seed)
    top = [n for n in G.graph["order"] if G.nodes[n]["parent"] is None]
    t = time.perf_counter()
    status, error = "finished", None
    try:
        if progress and console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as prog:
                ctx.progress = prog
                agent_tasks = {}

                def on_batch(agent, n):  # one line per agent: requests it has served
                    if agent.key not in agent_tasks:
                        agent_tasks[agent.key] = prog.add_task(f"agent {agent.key}"[:48], total=None)
                    prog.advance(agent_tasks[agent.key], n)

                ctx.pool.on_batch = on_batch
                asyncio.run(_main(ctx, top))
        else:
            asyncio.run(_main(ctx, top))
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"
    except RunError as exc:
        status, error = "failed", str(exc)
    finally:
        store.finish_run(run_id, status, error)
    agents = {k: vars(a.stats) for k, a in ctx.pool.agents.items()}
    return RunOutcome(run_id, status, ctx.results, ctx.stats, agents, time.perf_counter() - t, error,
                      ctx.kb_sizes, ctx.retrievals, ctx.trainings, ctx.warnings)


async def _main(ctx: RunContext, top: list[str]) -> None:
    try:
        await run_level(ctx, top)
    finally:
        await ctx.pool.close()
