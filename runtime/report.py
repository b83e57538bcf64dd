"""Summaries of a run: the result table (metrics per evaluated system), calls, tokens,
cost, cache hits and time per node; the same for a stored run (``collab show``)."""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1 else f"{v:.2f}"
    return str(v)


def results_table(results: list[dict], title: str = "Results") -> Table:
    metrics = []
    for r in results:
        for k in r:
            if k not in ("table", "table_name", "iteration", "system", "n") and k not in metrics:
                metrics.append(k)
    t = Table(title=title)
    for col in ["table", "iteration", "system", "n"] + metrics:
        t.add_column(col, justify="right" if col not in ("table", "system") else "left")
    for r in results:
        t.add_row(str(r.get("table") or r.get("table_name") or ""), _fmt(r.get("iteration")),
                  str(r["system"]), _fmt(r.get("n")), *[_fmt(r.get(m)) for m in metrics])
    return t


def nodes_table(stats: dict) -> Table:
    t = Table(title="Nodes")
    for col in ("node", "kind", "label", "seconds", "calls", "cache hits", "tokens in/out", "cost",
                "retries", "parse fails"):
        t.add_column(col)
    for key, s in stats.items():
        t.add_row(key, s.kind, s.label[:40], f"{s.seconds:.2f}", str(s.calls),
                  str(s.cache_hits) + (" (reused)" if s.reused else ""),
                  f"{s.prompt_tokens}/{s.completion_tokens}", f"{s.cost:.4f}", str(s.retries),
                  str(s.parse_failures))
    return t


def print_outcome(outcome, console: Console | None = None) -> None:
    console = console or Console()
    if outcome.results:
        console.print(results_table(outcome.results))
    console.print(nodes_table(outcome.stats))
    calls = sum(s.calls for s in outcome.stats.values())
    hits = sum(s.cache_hits for s in outcome.stats.values())
    tin = sum(s.prompt_tokens for s in outcome.stats.values())
    tout = sum(s.completion_tokens for s in outcome.stats.values())
    cost = sum(s.cost for s in outcome.stats.values())
    loads = sum(a.get("loads", 0) for a in outcome.agents.values())
    for kb, n in outcome.kb_sizes.items():
        console.print(f"knowledge base {kb}: {n} entries written")
    for col, (n, total) in outcome.retrievals.items():
        console.print(f"retrieval {col}: {n} of {total} rows retrieved ({n / max(total, 1):.1%})")
    console.print(f"run {outcome.run_id}: {outcome.status} in {outcome.seconds:.1f} s; model calls {calls}, "
                  f"cache hits {hits}, tokens {tin} in / {tout} out, cost ${cost:.4f}, models loaded {loads}")
    if outcome.error:
        console.print(f"[red]error:[/red] {outcome.error}")


def print_stored_run(store, run_id: str, console: Console | None = None) -> bool:
    console = console or Console()
    run = store.get_run(run_id)
    if run is None:
        return False
    console.print(f"run {run['id']} of {run['program_path']} ({run['program_name']}): {run['status']}, "
                  f"started {run['started']}, finished {run['finished']}")
    if run.get("error"):
        console.print(f"error: {run['error']}")
    console.print(f"params: {run['params']}")
    console.print(f"models: {run['bindings']}")
    res = store.results_table(run_id)
    if res:
        console.print(results_table(res))
    t = Table(title="Nodes")
    for col in ("node", "kind", "status", "seconds", "calls", "cache hits", "tokens in/out", "cost",
                "retries", "parse fails"):
        t.add_column(col)
    for n in store.list_nodes(run_id):
        t.add_row(n["node_id"], str(n["kind"]), n["status"], _fmt(n["seconds"]), str(n["calls"]),
                  str(n["cache_hits"]), f"{n['prompt_tokens']}/{n['completion_tokens']}", _fmt(n["cost"]),
                  str(n["retries"]), str(n["parse_failures"]))
    console.print(t)
    return True
