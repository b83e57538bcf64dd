"""``collab sweep --plan`` (and ``collab plan --grid``): per setting of a sweep, what is
already in the run store and what is new, before anything runs.

Each setting's fingerprints are computed as ``runtime.run`` computes them when it runs (the
node's definition, its inputs' fingerprints, the params it reads, the loop iteration, the
seed and ``--limit``, its model's version: a training's new version is its fingerprint),
without loading a model or reading a row. A model operation whose fingerprint finished
before (in the store, or in an earlier setting of this sweep) is reused whole; a training
whose version folder is marked done (or that an earlier setting makes) is not trained again.

What cannot be known before running is said so: the calls of a new operation are *at most*
``collab plan``'s estimate (a gate may send fewer rows; the call cache may answer prompts
asked before, e.g. by another seed of a deterministic call), and the iterations of a
``repeat until`` are at most its ``max``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from collabdsl.access import ReadPolicy


@dataclass
class SettingPlan:
    label: str
    finished: bool = False  # the sweep ran it to the end before: nothing runs
    ops_reused: int = 0  # model operations (per loop iteration) whose rows are in the store
    ops_new: int = 0
    calls_reused: float = 0.0  # their estimated calls (collab plan)
    calls_new: float = 0.0  # at most
    trainings_reused: int = 0
    trainings_new: int = 0
    within: int = 0  # of the reused: made by an earlier setting of this sweep
    exact: bool = True  # False: an estimate entered (unknown data size, repeat until)
    notes: list = field(default_factory=list)

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "calls_reused": round(self.calls_reused),
                "calls_new_at_most": round(self.calls_new)}


def _walk(ctx, nodes: list, visit) -> None:
    """The nodes in run order, loops unrolled (``repeat until``: to its max), each visited with
    a context whose ``iteration`` is the one it would run with."""
    G = ctx.G
    for n in nodes:
        a = G.nodes[n]
        if a["kind"] != "loop":
            visit(ctx, n)
            continue
        o = a["options"]
        count = int(o["count"]) if "count" in o else int(o["max"])  # as runtime.run.run_loop reads them
        for i in range(count):
            inner = dataclasses.replace(ctx, iteration=ctx.iteration + (i + 1,))
            inner.last_fp = ctx.last_fp  # shared, as in a run (one mapping for all iterations)
            _walk(inner, a["body"], visit)


def plan_settings(items: list, store_path: str | Path, program_path: str, limit: int | None,
                  finished: set | None = None) -> list[SettingPlan]:
    """A SettingPlan per item (Setting, graph, sources), in run order; ``finished``: indices of
    the settings the sweep finished before."""
    from collabdsl.plan import plan as make_plan
    from runtime.agents import AgentPool
    from runtime.run import REUSABLE, RunContext, definitions, fingerprint, run_key
    from runtime.store import RunStore
    from runtime.train_eval import DONE_MARK

    store_path = Path(store_path)
    store = RunStore(store_path, readonly=True) if store_path.is_file() else None
    work_dir = store_path.resolve().parent
    made: set = set()  # fingerprints an earlier setting of this sweep makes
    out = []
    try:
        for idx, (st, G, _sources) in enumerate(items):
            sp = SettingPlan(st.label())
            out.append(sp)
            if finished and idx in finished:
                sp.finished = True
                continue
            estimate = {pn.id: pn for pn in make_plan(G).nodes}
            policy = ReadPolicy.for_program(program_path, (G.graph.get("access") or {}).get("allow_read", ()))
            ctx = RunContext(G, store, "plan", AgentPool(G.graph["models"]), G.graph["params"],
                             G.graph["prompts"], Path(program_path).resolve().parent, work_dir, limit=limit,
                             seed=st.seed, program_path=program_path, defs=definitions(G), policy=policy)
            if any(G.nodes[n]["kind"] == "loop" and "count" not in G.nodes[n]["options"] for n in G):
                sp.exact = False
                sp.notes.append("repeat until: counted to its max iterations")

            def visit(c, n, sp=sp, estimate=estimate):
                a = c.G.nodes[n]
                fp = fingerprint(c, n)
                c.last_fp[n] = c.fps[run_key(c, n)] = fp
                kind = a["kind"]
                if kind == "train":
                    c.pool.roles[a["out"]].version_id = fp  # as runtime.train_eval.train does
                    done = fp in made or (work_dir / "versions" / fp[:24] / DONE_MARK).is_file()
                    sp.within += fp in made
                    if done:
                        sp.trainings_reused += 1
                    else:
                        sp.trainings_new += 1
                elif kind in REUSABLE:
                    pn = estimate.get(str(n))
                    calls = 0.0
                    if pn is not None and pn.calls is not None:
                        calls = pn.calls.value / max(pn.iterations.value, 1)
                        sp.exact = sp.exact and pn.calls.exact
                    found = fp in made or (store is not None and store.find_finished_node(fp) is not None)
                    sp.within += fp in made
                    if found:
                        sp.ops_reused, sp.calls_reused = sp.ops_reused + 1, sp.calls_reused + calls
                    else:
                        sp.ops_new, sp.calls_new = sp.ops_new + 1, sp.calls_new + calls
                made.add(fp)

            top = [n for n in G.graph["order"] if G.nodes[n]["parent"] is None]
            _walk(ctx, top, visit)
    finally:
        if store is not None:
            store.close()
    return out
