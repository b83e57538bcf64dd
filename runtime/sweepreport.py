"""``collab report SWEEP``: the report of a sweep (runtime.htmlreport for the page and the
pieces it shares with a run's report). Each setting of the sweep (its grid params and its
ablation) runs once per seed. Means and 95% intervals are those ``collab sweep`` prints
(runtime.sweepsummary: a t interval over seeds, or a bootstrap over rows where there is one
seed or the seeds agree). A run that did not finish is listed and left out (the page says so).
"""
from __future__ import annotations

import json
from pathlib import Path

from collabdsl.masking import mask_all
from runtime.htmlreport import (
    AUX,
    LARGE_AXIS,
    PARETO_NOTE,
    E,
    Page,
    _note,
    _ok,
    _table,
    eval_metric,
    graph_section,
    last_evals,
    node_table,
    pick_large,
    results_with_n,
    system_costs,
)
from runtime.reportgraph import Program, load_program
from runtime.sweepsummary import label


def sweep_report(store, sweep: dict, out: Path, large: str | None = None) -> Page:
    sweep = mask_all(sweep)
    runs = mask_all(store.sweep_runs(sweep["id"]))
    done = [r for r in runs if r.get("status") == "finished"]
    page = Page(out, f"collab report: sweep {sweep['id']} ({sweep.get('program_name')})")
    grid = sweep.get("grid") or {}
    meta = [f"program {sweep.get('program_name')} ({sweep.get('program_path')})",
            f"status {sweep.get('status')}, created {sweep.get('created')}, finished {sweep.get('finished') or '-'}",
            "grid: " + (", ".join(f"{k} in {v}" for k, v in grid.items()) or "none"),
            f"seeds: {sweep.get('seeds')}" + (f", ablations: {sweep['ablations']}" if sweep.get("ablations") else ""),
            f"runs: {len(runs)}, finished {len(done)}"]
    header = ""
    if len(done) < len(runs):
        header = (f'<p class="failed">{len(runs) - len(done)} of {len(runs)} runs did not finish: they are left '
                  f"out of every mean and interval below (see the runs table)</p>")
    header += '<p class="meta">' + "<br>".join(E(m) for m in meta) + "</p>"
    page.add("Runs", _table(["run", "setting", "seed", "status", "error"],
                            [[r["id"], label(r.get("setting")), (r.get("setting") or {}).get("seed"),
                              r.get("status"), r.get("error") or ""] for r in runs]) if runs
             else _note("the sweep has no runs yet"))
    from runtime.sweepsummary import RULE, summarize

    summary = summarize(store, sweep["id"])
    _results(page, summary, RULE)
    _swept(page, grid, summary)
    progs = _programs(done)
    _pareto(page, store, done, summary, progs, large)
    page.add("Metric per loop iteration", _note("per run: `collab report RUN` of each run listed above"))
    page.add("Training loss", _note("per run: `collab report RUN` of each run listed above"))
    # one graph for all settings when their programs have the same operations, else none
    graphs = list({id(p): p for p in progs.values()}.values())
    same = graphs and all(p.G is not None for p in graphs) and all(
        {n: p.label(n) for n in p.G} == {n: graphs[0].label(n) for n in graphs[0].G} for p in graphs)
    prog = graphs[0] if same else Program(note="no run of the sweep finished" if not graphs else
                                          graphs[0].note or "its settings compile to different graphs "
                                          "(a swept param changes the program's operations)")
    _costs(page, store, runs, prog)
    graph_section(page, prog)
    page.write(header)
    return page


def _last_tables(summary: dict) -> list[dict]:
    """The summary's tables, of a table evaluated in a loop only its last iteration."""
    last: dict = {}
    for t in summary["tables"]:
        it = t["iteration"]
        if t["table"] not in last or (it is not None and (last[t["table"]]["iteration"] or 0) < it):
            last[t["table"]] = t
    return list(last.values())


def _results(page: Page, summary: dict, rule: str) -> None:
    title = "Results (mean [95% interval])"
    if not summary["tables"]:
        page.add(title, _note("no finished run recorded results"))
        return
    from runtime.sweepsummary import cell_text, method_text

    body = "".join(_table(["setting", "system"] + t["metrics"] + ["rows", "seeds", "interval"],
                          [[r["label"] + (" (reference)" if r["reference"] else ""), r["system"]]
                           + [cell_text(r["cells"][m]) if m in r["cells"] else "" for m in t["metrics"]]
                           + [", ".join(map(str, r["n"])), r["seeds"], method_text(r)] for r in t["rows"]],
                          caption=(t["table"] or "results")
                          + (f" (iteration {t['iteration']})" if t["iteration"] is not None else ""))
                   for t in summary["tables"])
    body += f'<p class="meta">{E(rule)}; the intervals as `collab sweep` prints them (runtime.sweepsummary: ' \
            "t over seeds, or a bootstrap over rows with one seed or seeds that agree)</p>"
    body += "".join(_note(n) for n in summary["notes"])
    page.add(title, body)


def _num(v):
    return float(v) if isinstance(v, bool) else v


def _swept(page: Page, grid: dict, summary: dict) -> None:
    title = "Metric against a swept param (mean, 95% interval)"
    swept = [p for p, vs in grid.items() if len(vs) > 1]
    if not swept:
        page.add(title, _note("no param of the sweep takes more than one value"))
        return
    panels, skipped = [], []
    for p in swept:
        rows = [(t, r) for t in _last_tables(summary) for r in t["rows"]]
        if not all(isinstance(_num(r["setting"].get(p)), (int, float)) for _, r in rows):
            skipped.append(p)
            continue
        for t in _last_tables(summary):
            for metric in [m for m in t["metrics"] if m not in AUX]:
                series: dict = {}
                for r in t["rows"]:
                    c = r["cells"].get(metric)
                    if c is None or c["mean"] is None:
                        continue
                    rest = ", ".join(f"{k}={v}" for k, v in sorted(r["setting"].items()) if k != p and v is not None)
                    ci = None if c["low"] is None else (c["low"], c["high"])
                    series.setdefault(r["system"] + (f" ({rest})" if rest else ""), []).append(
                        (_num(r["setting"].get(p)), c["mean"], ci))
                if series:
                    where = t["table"] + (f" (iteration {t['iteration']}, the last)" if t["iteration"] is not None else "")
                    panels.append({"title": f"{where}: {metric} against {p}", "ylabel": metric, "series": series,
                                   "x": p})
    body = _note(f"not plotted (values are not numbers): {', '.join(skipped)}") if skipped else ""
    if panels:
        from runtime import reportplots

        for p in dict.fromkeys(x["x"] for x in panels):
            body += page.figure(f"swept_{p}", reportplots.lines([x for x in panels if x["x"] == p], p),
                                f"each metric against {p}: the mean, the 95% interval as error bars")
    page.add(title, body)


def _programs(done: list[dict]) -> dict:
    """{run id: its program compiled again}, compiled once per distinct params."""
    by_params: dict = {}
    for r in done:
        pk = json.dumps(r.get("params"), sort_keys=True, default=str)
        if pk not in by_params:
            by_params[pk] = load_program(r)
    return {r["id"]: by_params[json.dumps(r.get("params"), sort_keys=True, default=str)] for r in done}


def _pareto(page: Page, store, done: list[dict], summary: dict, progs: dict, large: str | None) -> None:
    title = "Accuracy against large-model calls (one point per setting)"
    points: dict = {}  # (table, metric, system, iteration) -> setting -> [(x, y)]
    role, note = None, "no run of the sweep finished"
    for r in done:
        prog = progs[r["id"]]
        if prog.G is None:
            note = prog.note
            continue
        role, note = pick_large(prog.G.graph.get("models") or {}, large)
        if role is None:
            break
        nodes = {n["node_id"]: n for n in store.list_nodes(r["id"])}
        res = results_with_n(store, r["id"])
        for key in last_evals(prog, list(nodes.values())).values():
            table, metric, it = eval_metric(prog, key)
            rows = {x["system"]: x for x in res if x.get("table_name") == table and x.get("iteration") == it}
            for s, c in system_costs(prog, nodes, key, role).items():
                if s in rows and rows[s].get("n") and _ok(rows[s].get(metric)):
                    points.setdefault((table, metric, s, it), {}).setdefault(
                        label(r.get("setting")), []).append((c["large"] / rows[s]["n"], rows[s][metric]))
    cells = {(t["table"], t["iteration"], r["label"], r["system"]): r["cells"] for t in summary["tables"]
             for r in t["rows"]}
    panels: dict = {}
    for (table, metric, system, it), per in points.items():
        pts = []
        for setting, xy in per.items():
            c = cells.get((table, it, setting, system), {}).get(metric)
            if c is None or c["mean"] is None:
                continue
            pts.append((sum(x for x, _ in xy) / len(xy), c["mean"],
                        None if c["low"] is None else (c["low"], c["high"]), setting))
        if pts:
            panels.setdefault((table, metric), {"title": table, "xlabel": LARGE_AXIS.format(large=role),
                                                "ylabel": metric, "series": {}})["series"][system] = pts
    # a table none of whose systems calls the large role has no curve to show
    panels = {k: p for k, p in panels.items() if any(pt[0] for pts in p["series"].values() for pt in pts)}
    if not panels:
        page.add(title, _note(f"not drawn: {note}" if note else f"no evaluated system calls role '{role}'"))
        return
    from runtime import reportplots

    page.add(title, f'<p class="meta">{E(PARETO_NOTE.format(large=role))} One point per setting and system: '
             f"x the mean over seeds, y the mean with its 95% interval.</p>"
             + page.figure("pareto", reportplots.scatter(list(panels.values())),
                           f"metric against {role} requests per row, one point per setting"))


def _costs(page: Page, store, runs: list[dict], prog: Program) -> None:
    title = "Calls, tokens, time and cost per operation (summed over the sweep's runs)"
    total: dict = {}
    for r in runs:
        for n in store.list_nodes(r["id"]):
            t = total.setdefault(n["node_id"], {"node_id": n["node_id"], "kind": n.get("kind"), "status": "",
                                                "runs": 0})
            t["runs"] += 1
            for c in ("seconds", "calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost"):
                t[c] = (t.get(c) or 0) + (n.get(c) or 0)
    if not total:
        page.add(title, _note("the sweep's runs recorded no operations"))
        return
    page.add(title, node_table(prog, list(total.values())))
