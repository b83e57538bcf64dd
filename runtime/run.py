"""``collab run``: execute a compiled program graph.

The scheduler walks the IR in dependency order and starts every node whose inputs
are ready, so independent nodes run concurrently (asyncio; backends run in threads)
and a node never waits on a model it does not use. A ``loop`` node runs its body's
nodes the same way, once per iteration. Every node gets a fingerprint (its
definition, the fingerprints of its inputs, the params it reads and the model
version it uses): a model or training node whose fingerprint finished before is not
recomputed, so rerunning a finished program makes no model calls and loads no model.

A node's definition fingerprint (``definitions``) names no node position: the hidden
columns the lowering makes up (``_b3_generate4``, ``_g15``: they carry its counter) are
replaced by the definitions of the nodes that write them, and identical definitions are
told apart by their occurrence index. Inserting a statement earlier in a program changes
no other node's fingerprint, sampling seed or cache key. Each node runs with its own loop
iteration (a copy of the context), never a shared counter.

A run holds a lock for as long as its process lives (``runtime.runlock``). Whatever goes
wrong inside a run is recorded as ``failed`` with one located line; ``--resume`` continues
the run, and a node whose fingerprint changed meanwhile (params, model bindings, the seed,
a data file) starts afresh instead of mixing its old rows with new ones.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import networkx as nx

from collabdsl import ast as A
from collabdsl.access import ReadPolicy
from collabdsl.evaluate import EvalError
from collabdsl.masking import mask
from collabdsl.options import EXECUTION_OPTIONS
from collabdsl.unparse import unparse
from runtime import handlers as H
from runtime import memory
from runtime import model_handlers  # noqa: F401 - registers the model handlers
from runtime import train_eval  # noqa: F401 - registers train, eval
from runtime.agents import AgentPool
from runtime.errors import RunError
from runtime.runlock import RunLock
from runtime.store import RunStore, new_run_id, program_hash, stable_hash

REUSABLE = ("generate", "sample", "score", "choose")
ROW_OPS = ("compute", "gate", "generate", "sample", "score", "choose", "retrieve")


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
    peak_mb: float | None = None  # process resident memory at its highest during the node's model work


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
    program_path: str = ""
    defs: dict = field(default_factory=dict)  # node id -> definition fingerprint (``definitions``)
    policy: object | None = None  # collabdsl.access.ReadPolicy: what the program may read
    datasets: dict = field(default_factory=dict)
    last_fp: dict = field(default_factory=dict)  # node id -> fingerprint of its latest execution
    fps: dict = field(default_factory=dict)  # run key -> fingerprint
    restarted: list = field(default_factory=list)  # run keys started afresh (inputs changed)
    stats: dict = field(default_factory=dict)  # run key -> NodeStat
    results: list = field(default_factory=list)  # eval results
    kb_sizes: dict = field(default_factory=dict)
    retrievals: dict = field(default_factory=dict)
    trainings: list = field(default_factory=list)
    iteration: tuple = ()  # of the node this context runs (each loop iteration has a copy)
    loop_vars: dict = field(default_factory=dict)  # `repeat ... as i`: i -> iterations completed so far
    progress: object | None = None
    tasks: dict = field(default_factory=dict)
    inflight: dict = field(default_factory=dict)  # call-cache key -> future of a call on its way
    warnings: list = field(default_factory=list)  # what the run noticed, see warn()
    marker_hits: dict = field(default_factory=dict)  # id(node attributes) -> {call span: MarkerTally}

    def warn(self, key: str, node: dict, message: str, span=None, level: str = "warning") -> None:
        """Record something node ``node`` (run key ``key``) noticed that does not stop the run,
        located at ``span`` (an expression of the node) or the node's statement; stored in the
        run store's ``warnings`` table and printed after the run (``level`` "note" for a
        remark)."""
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
        """rid -> value for rows of this node computed before with the same fingerprint: by
        an earlier finished node, or by this run before it was interrupted (``node_start``
        deleted this run's rows of the node if they were made with another fingerprint)."""
        fp = self.fps.get(key)
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


def _renamed(v, rename):
    """Copy of an AST with the hidden columns it reads (``x._b3_generate4``) renamed."""
    if isinstance(v, A.Node):
        changes = {}
        for f in dataclasses.fields(v):
            x = getattr(v, f.name)
            y = _renamed(x, rename)
            if y is not x:
                changes[f.name] = y
        if isinstance(v, A.Attr) and rename(str(v.name)) != str(v.name):
            changes["name"] = A.Ident(rename(str(v.name)))
        return dataclasses.replace(v, **changes) if changes else v
    if isinstance(v, (list, tuple)):
        items = [_renamed(x, rename) for x in v]
        if any(a is not b for a, b in zip(items, v)):
            return items if isinstance(v, list) else tuple(items)
    return v


def _canon_def(v, rename):
    if isinstance(v, A.Node):
        return unparse(_renamed(v, rename))
    if isinstance(v, str):
        return rename(v)
    if isinstance(v, dict):  # a "span" (an eval system's line) is where, not what: never part of it
        return {str(k): _canon_def(x, rename) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))
                if k != "span"}
    if isinstance(v, (list, tuple)):
        return [_canon_def(x, rename) for x in v]
    return v


def _written(a: dict, hidden: set) -> list[str]:
    """The hidden columns a node writes."""
    cols = [a["out"]] if a["kind"] in ROW_OPS and isinstance(a["out"], str) and a["out"] in hidden else []
    if a["kind"] == "expand" and a["options"].get("item") in hidden:
        cols.append(a["options"]["item"])
    return cols


def definitions(G: nx.DiGraph) -> dict[str, str]:
    """node id -> the fingerprint of its definition, free of node positions.

    What a node computes: kind, options, expressions (as text), the columns, data set and
    model role it names, its gates. A hidden column (made up by the lowering, named with
    its counter; ``G.graph["hidden"]``) is named by the definitions of the earlier nodes
    that write it, or ``@self`` when it is the node's own output. Nodes with the same
    definition (an unrolled ``[m.generate(p, temperature: 1.0) for i in 0..4]``) are told
    apart by their occurrence index in run order, so they still draw different samples."""
    hidden = set(G.graph.get("hidden") or ())
    listed = list(G.graph.get("order") or [])
    order = listed + sorted(set(G) - set(listed))
    pos = {n: i for i, n in enumerate(order)}
    writers: dict[str, list[str]] = {}
    for n in order:
        for c in _written(G.nodes[n], hidden):
            writers.setdefault(c, []).append(n)
    defs: dict[str, str] = {}
    seen: dict[str, int] = {}
    for n in order:
        a = G.nodes[n]
        own = set(_written(a, hidden))

        def rename(c, n=n, own=own):
            if c not in hidden:
                return c
            earlier = [w for w in writers.get(c, ()) if pos[w] < pos[n]]
            if earlier:
                return "@" + stable_hash(sorted(defs[w] for w in earlier))[:16]
            return "@self" if c in own else c

        out = "@self" if isinstance(a["out"], str) and a["out"] in own else a["out"]
        opts = {k: v for k, v in (a.get("options") or {}).items() if k not in ("body", "carried")}
        raw = stable_hash({
            "kind": a["kind"], "options": _canon_def(opts, rename), "expr": _canon_def(a.get("expr"), rename),
            "out": out, "when": [("!" if g.startswith("!") else "") + rename(g.lstrip("!"))
                                 for g in a.get("when") or ()],
            "reads": sorted(rename(c) for c in a.get("reads") or ()),
            "data": a.get("data"), "model": a.get("model"),
        })
        occurrence = seen.get(raw, 0)
        seen[raw] = occurrence + 1
        defs[n] = stable_hash({"definition": raw, "occurrence": occurrence})
    return defs


def fingerprint(ctx: RunContext, nid: str) -> str:
    """The node's definition, the fingerprints of its inputs, the params it reads, its loop
    iteration, the run's seed and limit, the version of its model, the bytes of its data."""
    a = ctx.G.nodes[nid]
    parts = {
        "definition": ctx.defs[nid],
        "inputs": sorted(ctx.last_fp.get(p) or ctx.defs.get(p, p) for p in ctx.G.predecessors(nid)),
        "params": _params_read(a, ctx.params), "iteration": list(ctx.iteration),
        "seed": ctx.seed, "limit": ctx.limit,
    }
    if a["model"]:
        role = ctx.pool.roles[a["model"]]
        options = role.spec.get("options")
        if options:  # as before for a role without them (fingerprints of earlier runs stay valid)
            options = {k: v for k, v in options.items() if k not in EXECUTION_OPTIONS}
        parts["model"] = [role.call_version, options]
        if a["kind"] == "train":  # the declared LoRA settings (None: full) shape the new version
            parts["model"].append(role.spec.get("lora"))
    if a["kind"] == "load":
        o = a["options"]
        parts["source"] = _source_stamp(o.get("source"), o.get("split"), ctx.base_dir, ctx.store, ctx.policy)
        if o.get("attach"):
            parts["attach"] = {k: _attach_stamp(v, o.get("split"), ctx.base_dir, ctx.store, ctx.policy)
                               for k, v in sorted(o["attach"].items())}
    return stable_hash(parts)


# A digest is kept (in memory and in the store's cache table) under the file's path, device,
# inode, size, mtime and ctime. Rewriting a file changes its ctime, which no program can set
# back (``cp -p`` and ``rsync -a`` restore the mtime only; rsync also makes a new inode). A
# file changed within RACY_SECONDS of being hashed could keep the same ctime on a coarse
# clock, so such a digest is not kept (git's "racily clean" rule).
RACY_SECONDS = 1.0
_DIGESTS: dict[tuple, str] = {}


def file_digest(path: Path, store: RunStore | None = None) -> str:
    """sha256 of a file's bytes (of a folder: of its files' relative paths and digests)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        return stable_hash([[p.relative_to(path).as_posix(), file_digest(p, store)] for p in files])
    st = path.stat()
    key = (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key in _DIGESTS:
        return _DIGESTS[key]
    store_key = "file-sha256:" + stable_hash(list(key))
    if store is not None and not store.readonly:
        hit = store.cache_get_many([store_key]).get(store_key)
        if hit:
            _DIGESTS[key] = hit
            return hit
    started = time.time_ns()
    with open(path, "rb") as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()
    st2 = path.stat()
    unchanged = (st2.st_ino, st2.st_size, st2.st_mtime_ns, st2.st_ctime_ns) == key[2:]
    if unchanged and started - st.st_ctime_ns > RACY_SECONDS * 1e9:
        _DIGESTS[key] = digest
        if store is not None and not store.readonly:
            store.cache_put_many({store_key: digest})
    return digest


def _source_stamp(source, split, base_dir: Path, store: RunStore | None = None, policy=None):
    """A local file by the sha256 of its bytes (an edited file is read again, wherever the
    program runs from); a remote source by its name."""
    from runtime.data import DataError, resolve_path

    if not isinstance(source, str) or ":" in source.split("/")[0]:
        return source
    try:
        return ["sha256", file_digest(resolve_path(source, split, base_dir, policy), store)]
    except (OSError, DataError, ValueError):  # ValueError: AccessDenied, reported by the load
        return source


def _attach_stamp(pattern, split, base_dir: Path, store: RunStore | None = None, policy=None):
    from runtime.data import DataError, attached_files

    try:
        return [[os.path.relpath(p, base_dir), file_digest(p, store)]
                for p in attached_files(pattern, split, base_dir, policy)]
    except (OSError, DataError, ValueError):
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
            first = ctx.G.nodes[pending[0]]
            raise RunError(first, "cannot be scheduled: it waits on "
                           + ", ".join(f"'{ctx.G.nodes[d]['label']}'" for d in sorted(deps[pending[0]] - done)))
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
    """Run one node (a loop: all its iterations). Whatever it raises becomes a RunError
    naming the node and its line; the node is recorded as failed."""
    a = ctx.G.nodes[nid]
    key = None
    try:
        if a["kind"] == "loop":
            await run_loop(ctx, nid)
            return
        key = run_key(ctx, nid)
        memory.NODE.set(key)  # this task's model work is charged to the node (runtime.memory)
        fp = fingerprint(ctx, nid)
        ctx.last_fp[nid] = ctx.fps[key] = fp
        ctx.stats[key] = NodeStat(a["kind"], a["label"])
        if ctx.store.node_start(ctx.run_id, key, kind=a["kind"], fingerprint=fp):
            ctx.restarted.append(key)
        t = time.perf_counter()
        await H.HANDLERS[a["kind"]](ctx, a, key)
        H.warn_unmatched_markers(ctx, a, key)
        st = ctx.stats[key]
        st.seconds = time.perf_counter() - t
        extra = {"parse_failures": st.parse_failures}
        if a["kind"] in ("retrieve",):
            extra["calls"] = st.calls
        st.peak_mb = memory.take_peak(key)
        ctx.store.node_done(ctx.run_id, key, stats=extra, peak_mb=st.peak_mb)
    except RunError:
        if key is not None:
            _node_failed(ctx, key, None)
        raise
    except EvalError as exc:
        if key is not None:
            _node_failed(ctx, key, exc.reason)
        raise RunError(a, exc.reason, exc.span) from None
    except Exception as exc:  # noqa: BLE001 - any failure is reported with the node and its line
        if key is not None:
            _node_failed(ctx, key, str(exc))
        raise RunError(a, f"{type(exc).__name__}: {exc}") from exc


def _node_failed(ctx: RunContext, key: str, error: str | None) -> None:
    with contextlib.suppress(Exception):  # the store itself may be what failed
        if ctx.store.get_node(ctx.run_id, key) is not None:
            ctx.store.node_done(ctx.run_id, key, status="failed", error=error, peak_mb=memory.take_peak(key))


async def run_loop(ctx: RunContext, nid: str) -> None:
    """The body once per iteration, each with its own copy of the context (its iteration):
    a node beside the loop never sees the loop's counter."""
    from collabdsl.evaluate import Env, evaluate

    a = ctx.G.nodes[nid]
    o = a["options"]
    body = a["body"]
    i, left = 0, []
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
                names.update(ctx.loop_vars)  # an enclosing loop's variable
                if o.get("var"):
                    names[o["var"]] = i
                try:
                    done = evaluate(o["until"], Env(params=ctx.params, prompts=ctx.prompts, names=names))
                except EvalError as exc:
                    raise RunError(a, f"the condition of repeat until cannot be evaluated: {exc.reason}",
                                   exc.span) from None
                if done:
                    break
        loop_vars = {**ctx.loop_vars, **({o["var"]: i} if o.get("var") else {})}  # the body reads i too
        await run_level(dataclasses.replace(ctx, iteration=ctx.iteration + (i + 1,), loop_vars=loop_vars), body)
        i += 1
        if o.get("rows_left"):
            left.append(len(ctx.datasets.get(o["rows_left"]) or []))
    if o.get("rows_left") and left:  # repeat for x in D until ...: how the rows left, round by round
        ctx.warn(run_key(ctx, nid), a, "rows still active after each round: " + ", ".join(map(str, left))
                 + (f" (the last {left[-1]} stopped at max {int(o['max'])} rounds)" if left[-1] else ""),
                 level="note")


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
    changes: list = field(default_factory=list)  # what a resumed run's inputs changed (lines)
    restarted: list = field(default_factory=list)  # run keys started afresh on resume
    warnings: list = field(default_factory=list)  # what the run noticed (RunContext.warn)


def binding(spec: dict) -> str:
    """A model role's binding as recorded: ``server:URL#model``, ``api:openai/gpt-4o``..."""
    kw = spec.get("kwargs") or {}
    return f"{spec['backend']}:{spec.get('ref')}" + (f"#{kw['model']}" if kw.get("model") else "")


def _show(v) -> str:
    return repr(v) if isinstance(v, str) else str(v)


def input_changes(prev: dict, params: dict, bindings: dict, settings: dict) -> list[str]:
    """What differs between a recorded run's inputs and the ones given now, one line each
    (``--set n=3 (was 2)``). Values are compared as the store records them (redacted)."""
    new_params, new_bindings = RunStore.recorded(params, bindings)
    out = []
    for flag, old, new in (("--set", prev.get("params") or {}, new_params),
                           ("--model", prev.get("bindings") or {}, new_bindings)):
        for k in sorted(set(old) | set(new)):
            if old.get(k) != new.get(k):
                out.append(f"{flag} {k}={_show(new.get(k))} (was {_show(old.get(k))})")
    old_settings = prev.get("settings") or {}
    for k in sorted(settings):
        if k == "precision":
            old, new = old_settings.get(k) or {}, settings[k] or {}
            out += [f"precision of {r}: {new.get(r)} (was {old.get(r)})" for r in sorted(set(old) | set(new))
                    if k in old_settings and old.get(r) != new.get(r)]
        elif k in old_settings and old_settings[k] != settings[k]:
            out.append(f"--{k} {settings[k]} (was {old_settings[k]})")
    return out


def precisions(models: dict) -> dict:
    """role -> the dtype it computes in (runtime.precision), for the local model roles."""
    from runtime.precision import role_precision

    out = {}
    for role, spec in sorted(models.items()):
        if not spec.get("derived_from"):
            p = role_precision(spec)
            if p is not None:
                out[role] = p
    return out


def _one_line(text: str) -> str:
    return " ".join(line.strip() for line in str(text).splitlines() if line.strip())


def run_graph(G: nx.DiGraph, *, program_path: str, sources: dict, store_path: str | Path | None = None,
              resume: bool = False, limit: int | None = None, seed: int = 0, console=None,
              progress: bool = True, sweep_id: str | None = None, setting: dict | None = None,
              resume_run: str | None = None) -> RunOutcome:
    """Run a compiled program and record it. Raises ``StoreError`` (the store cannot be
    used) and ``RunBusy`` (another process runs the run to resume) before anything runs;
    once the run is recorded, any failure ends as status ``failed`` with one located line.
    ``sweep_id`` and ``setting`` record the run as one point of a sweep (runtime.sweep);
    ``resume_run`` continues that unfinished run (``resume``: the program's latest one)."""
    store = RunStore(store_path or Path(".collab") / "runs.db")
    lock = None
    try:
        phash = program_hash(program_path, [p for p in sources
                                            if Path(p).resolve() != Path(program_path).resolve()])
        bindings = {r: binding(m) for r, m in G.graph["models"].items()}
        settings = {"seed": seed, "limit": limit, "precision": precisions(G.graph["models"])}
        run_id, changes = None, []
        if resume or resume_run:
            prev = store.get_run(resume_run) if resume_run else \
                store.latest_run(program_path, ("running", "interrupted", "failed"))
            if prev is not None and prev.get("program_hash") == phash:
                lock = RunLock(store.path, prev["id"]).acquire()
                prev = store.get_run(prev["id"])  # as it is now that no other process runs it
                if prev["status"] != "finished":
                    run_id = prev["id"]
                    changes = input_changes(prev, G.graph["params"], bindings, settings)
                    store.update_run_inputs(run_id, G.graph["params"], bindings, settings)
                    if changes and console is not None:
                        console.print(f"resuming run {run_id}: its inputs changed: " + "; ".join(changes)
                                      + "; the operations they reach start afresh", highlight=False,
                                      soft_wrap=True)
                    store.finish_run(run_id, "running")
                else:
                    lock.release()
                    lock = None
            elif prev is not None and console is not None:
                console.print(f"the program changed since run {prev['id']}: starting a new run "
                              "(finished operations are still reused)", highlight=False, soft_wrap=True)
        if run_id is None:
            run_id = new_run_id()
            lock = RunLock(store.path, run_id).acquire()
            store.start_run(program_path, G.graph.get("name"), phash, G.graph["params"], bindings,
                            run_id=run_id, settings=settings, sweep_id=sweep_id, setting=setting)
    except BaseException:
        if lock is not None:
            lock.release()
        store.close()
        raise
    t = time.perf_counter()
    status, error, ctx = "failed", None, None
    from runtime import allocator

    allocator.configure()  # before the compute thread allocates (collab run has done it already)
    try:
        work_dir = Path(store.path).resolve().parent
        policy = ReadPolicy.for_program(program_path, (G.graph.get("access") or {}).get("allow_read", ()))
        ctx = RunContext(G, store, run_id, AgentPool(G.graph["models"]), G.graph["params"], G.graph["prompts"],
                         Path(program_path).resolve().parent, work_dir, limit=limit, seed=seed,
                         program_path=str(program_path), defs=definitions(G), policy=policy)
        top = [n for n in G.graph["order"] if G.nodes[n]["parent"] is None]
        if progress and console is not None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=console, transient=True) as prog:
                ctx.progress = prog
                agent_tasks = {}

                def on_batch(agent, n):  # one line per agent: requests it has served
                    if agent.key not in agent_tasks:
                        agent_tasks[agent.key] = prog.add_task(f"agent {mask(agent.key)}"[:48], total=None)
                    prog.advance(agent_tasks[agent.key], n)

                ctx.pool.on_batch = on_batch
                asyncio.run(_main(ctx, top))
        else:
            asyncio.run(_main(ctx, top))
        status = "finished"
    except KeyboardInterrupt:
        status, error = "interrupted", "interrupted by the user"
    except RunError as exc:
        error = _one_line(exc)
    except Exception as exc:  # noqa: BLE001 - a run never ends with a traceback, nor as finished
        what = str(exc) if isinstance(exc, _RunFailure) else f"{type(exc).__name__}: {exc}"
        error = _one_line(f"{program_path}: {what}")
    except BaseException as exc:  # SystemExit, a cancelled task: stopped, resumable
        status, error = "interrupted", f"stopped ({type(exc).__name__})"
        raise
    finally:
        try:
            store.finish_run(run_id, status, error)
        finally:
            lock.release()
            store.close()
            allocator.give_back(force=True)  # what the run kept for reuse goes back to the machine
    if ctx is None:
        return RunOutcome(run_id, status, [], {}, {}, time.perf_counter() - t, error, changes=changes)
    agents = {k: vars(a.stats) for k, a in ctx.pool.agents.items()}
    return RunOutcome(run_id, status, ctx.results, ctx.stats, agents, time.perf_counter() - t, error,
                      ctx.kb_sizes, ctx.retrievals, ctx.trainings, changes, ctx.restarted, ctx.warnings)


async def _main(ctx: RunContext, top: list[str]) -> None:
    try:
        await run_level(ctx, top)
    except BaseException:
        with contextlib.suppress(Exception):  # the first error is the one to report
            await ctx.pool.close()
        raise
    try:
        await ctx.pool.close()
    except Exception as exc:  # noqa: BLE001
        raise _RunFailure(f"closing the model backends failed: {type(exc).__name__}: {exc}") from exc


class _RunFailure(Exception):
    """A failure of the run that belongs to no node (its message is the whole story)."""
