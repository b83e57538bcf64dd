"""``collab sweep``: the runs of one sweep (a grid of param values x seeds, and ablations).

The command line (collabdsl.cli) parses ``--grid``/``--seeds``, checks every value like
``--set`` and compiles every setting before anything runs; this module runs them, one after
the other in this process, each as an ordinary run of the run store tagged with the sweep's
id and its setting (``runs.sweep_id``, ``runs.setting``). Nothing is shared by hand: a
model call or a training whose fingerprint finished before (in an earlier setting, or any
earlier run) is reused through the store, exactly as a rerun of ``collab run`` reuses it, and
a call whose prompt was answered before comes from the call cache.

A sweep is found again by its key (the program's bytes and every input of the command), so
rerunning the same command continues it: finished settings are skipped, an interrupted or
failed one is resumed (``run_graph(resume_run=...)``), the rest run. A sweep stops at the
first setting that fails (its runs so far are kept; the summary lists what is missing).
"""
from __future__ import annotations

import copy
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from runtime.store import RunStore, program_hash, stable_hash

MODEL_KINDS = ("generate", "sample", "score", "choose")  # a retrieve counts its searches as calls too


@dataclass
class Setting:
    """One point of a sweep: grid values, a seed, and an ablation (None: the full method)."""

    grid: dict  # param -> value (typed)
    seed: int
    ablation: str | None = None  # the ablation's label, as the program names it
    flip: dict = field(default_factory=dict)  # the ablation's param -> its flipped value
    raw: dict = field(default_factory=dict)  # param -> the --set text that gives this setting
    of_ablations: bool = False  # a setting of a sweep with --ablations (its full method is labelled so)

    def record(self) -> dict:
        """The ``runs.setting`` JSON: the grid point's params, the seed and the ablation."""
        return {**self.grid, "seed": self.seed, "ablation": self.ablation}

    def label(self, with_seed: bool = True) -> str:
        parts = [f"{k}={_show(v)}" for k, v in self.grid.items()]
        if self.ablation is not None:
            parts.append(self.ablation)
        elif self.of_ablations:
            parts.append("full")
        if with_seed:
            parts.append(f"seed={self.seed}")
        return ", ".join(parts) or "(defaults)"


def _show(v) -> str:
    return f'"{v}"' if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v)


def same_setting(a: dict | None, b: dict | None) -> bool:
    """Two recorded settings are the same point (compared as the store holds them: JSON)."""
    canon = lambda s: json.dumps(s or {}, sort_keys=True, default=str)  # noqa: E731
    return canon(json.loads(canon(a))) == canon(json.loads(canon(b)))


def expand(grid: dict[str, list[tuple[str, object]]], seeds: list[int],
           ablations: dict[str, tuple[str, bool]] | None = None) -> list[Setting]:
    """The settings of a sweep, in the order they run: grid points (the product, the first
    ``--grid`` varying slowest), for each the full method and then each ablation in program
    order (``ablations``: param -> (label, its value in the full method)), each once per seed.
    ``grid`` maps a param to its (text, value) pairs."""
    names = list(grid)
    out = []
    for point in itertools.product(*(grid[n] for n in names)):
        values = {n: v for n, (_, v) in zip(names, point)}
        raw = {n: t for n, (t, _) in zip(names, point)}
        variants = [(None, {})] + [(label, {p: not on}) for p, (label, on) in (ablations or {}).items()]
        for label, flip in variants:
            for seed in seeds:
                out.append(Setting(values, seed, label, flip,
                                   {**raw, **{p: "true" if v else "false" for p, v in flip.items()}},
                                   ablations is not None))
    return out


def sweep_key(program_path: str, items: list, spec: dict) -> str:
    """The key that finds a sweep again: the program's bytes (and its imports'), the bytes of
    every local data file its settings load, and the command's inputs (grid, seeds, ablations,
    --set, --model, --profile, --limit). An edited program or data file makes another sweep
    (whose operations on unchanged inputs are still reused): a finished setting is never
    skipped on inputs other than those it ran on."""
    from collabdsl.access import ReadPolicy
    from runtime.run import _attach_stamp, _source_stamp

    sources = items[0][2] if items else {}
    imports = [p for p in sources if Path(p).resolve() != Path(program_path).resolve()]
    base, stamps = Path(program_path).resolve().parent, set()
    for _, G, _ in items:
        policy = ReadPolicy.for_program(program_path, (G.graph.get("access") or {}).get("allow_read", ()))
        for _, a in G.nodes(data=True):
            if a.get("kind") == "load":
                o = a.get("options") or {}
                stamps.add(json.dumps([_source_stamp(o.get("source"), o.get("split"), base, None, policy),
                                       {k: _attach_stamp(v, o.get("split"), base, None, policy)
                                        for k, v in sorted((o.get("attach") or {}).items())}], default=str))
    return stable_hash({"program": Path(program_path).resolve().as_posix(),
                        "hash": program_hash(program_path, imports), "data": sorted(stamps), "spec": spec})


@dataclass
class SettingResult:
    setting: Setting
    run_id: str | None
    status: str  # finished | failed | interrupted | skipped (finished before) | not run
    calls: int = 0  # model calls (of generate, sample, score, choose)
    cache_hits: int = 0
    reused: int = 0  # operations and trainings reused from the store
    seconds: float = 0.0
    error: str | None = None


@dataclass
class SweepOutcome:
    sweep_id: str
    status: str
    results: list = field(default_factory=list)  # SettingResult, in run order
    seconds: float = 0.0
    continued: bool = False  # an earlier invocation had recorded this sweep


def open_sweep(store: RunStore, program_path: str, program_name: str | None, key: str, grid: dict,
               seeds: list[int], ablations: list[str] | None, spec: dict) -> tuple[dict, bool]:
    """The sweep with this key (continued), or a new one. Returns (sweep, continued)."""
    found = store.find_sweep(key)
    if found is not None:
        return found, True
    sid = store.add_sweep(program_path, program_name, grid, seeds, ablations, key=key, spec=spec)
    return store.get_sweep(sid), False


def run_sweep(store_path: str | Path, sweep: dict, items: list, *, program_path: str, limit: int | None,
              console=None, progress: bool = True, run=None, on_setting=None) -> SweepOutcome:
    """Run ``items`` [(Setting, compiled graph, sources)] as the settings of ``sweep``.

    ``run`` is ``runtime.run.run_graph`` (a test may give another executor with its keyword
    arguments); ``on_setting(i, n, SettingResult)`` is told each setting's end."""
    if run is None:
        from runtime.run import run_graph as run
    from runtime.runlock import RunBusy, RunLock

    t0 = time.perf_counter()
    try:  # one process per sweep (a second one would start the same settings again)
        lock = RunLock(store_path, sweep["id"]).acquire()
    except RunBusy as exc:
        raise RunBusy(str(exc).replace(f"run {sweep['id']}", f"sweep {sweep['id']}", 1)) from None
    try:
        return _run_settings(store_path, sweep, items, program_path, limit, console, progress, run, on_setting, t0)
    finally:
        lock.release()


def _run_settings(store_path, sweep, items, program_path, limit, console, progress, run, on_setting, t0):
    with RunStore(store_path) as store:
        existing = store.sweep_runs(sweep["id"])
        store.finish_sweep(sweep["id"], "running")
    out = SweepOutcome(sweep["id"], "running", continued=bool(existing))
    status = "finished"
    for i, (st, G, sources) in enumerate(items):
        prev = [r for r in existing if same_setting(r.get("setting"), st.record())]
        prev = prev[-1] if prev else None
        if prev is not None and prev["status"] == "finished":
            res = SettingResult(st, prev["id"], "skipped")
        else:
            try:
                # each run gets its own copy of the setting's graph (its seeds share one compile;
                # a run may note things on the graph's node attributes)
                o = run(copy.deepcopy(G), program_path=program_path, sources=sources, store_path=str(store_path),
                        limit=limit, seed=st.seed, console=console, progress=progress,
                        sweep_id=sweep["id"], setting=st.record(),
                        resume_run=prev["id"] if prev is not None else None)
            except KeyboardInterrupt:
                status = "interrupted"
                out.results.append(SettingResult(st, None, "interrupted"))
                break
            except Exception as exc:  # noqa: BLE001 - the store cannot be used, the run is busy
                res = SettingResult(st, None, "failed", error=" ".join(str(exc).split()))
            else:
                stats = getattr(o, "stats", {}) or {}
                res = SettingResult(st, o.run_id, o.status, seconds=o.seconds, error=o.error,
                                    calls=sum(s.calls for s in stats.values() if s.kind in MODEL_KINDS),
                                    cache_hits=sum(s.cache_hits for s in stats.values() if s.kind in MODEL_KINDS),
                                    reused=sum(1 for s in stats.values() if s.reused))
        out.results.append(res)
        if on_setting is not None:
            on_setting(i, len(items), res)
        if res.status in ("failed", "interrupted"):
            status = res.status
            break
    for st, _, _ in items[len(out.results):]:
        out.results.append(SettingResult(st, None, "not run"))
    with RunStore(store_path) as store:
        store.finish_sweep(sweep["id"], status)
    out.status, out.seconds = status, time.perf_counter() - t0
    return out
