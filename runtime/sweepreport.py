"""``collab report SWEEP``: the report of a sweep (runtime.htmlreport for the page and the
pieces it shares with a run's report). Each setting of the sweep (its grid params and its
ablation) is run once per seed; every plotted value is the mean over the setting's finished
runs with its 95% interval over seeds as error bars. A run that did not finish is listed and
left out of the means (the page says how many)."""
from __future__ import annotations

import json
from pathlib import Path

from collabdsl.masking import mask_all
from runtime.htmlreport import (AUX, E, LARGE_AXIS, PARETO_NOTE, Page, _metrics_of, _note, _ok, _table,
                                eval_metric, graph_section, results_with_n, last_evals, node_table, pick_large, system_costs)
from runtime.reportgraph import Program, load_program


def interval(values: list[float]) -> tuple[float, tuple[float, float] | None]:
    """(mean, its 95% Student-t interval over seeds; None for a single value): runtime.stats,
    the statistics ``collab sweep`` prints."""
    from runtime.stats import mean_interval

    m, lo, hi = mean_interval(values)
    return m, None if lo is None or hi is None else (lo, hi)


def _setting_key(setting: dict) -> str:
    """The setting without its seed, as text: ``lr=0.1, ablation=w/o X``."""
    s = {k: v for k, v in (setting or {}).items() if k != "seed"}
    abl = s.pop("ablation", None)
    return ", ".join(f"{k}={v}" for k, v in sorted(s.items())) + (f", ablation={abl}" if abl else "") or "(no params)"


def _fmt(m: float, ci) -> str:
    return f"{m:.4g}" + (f" [{ci[0]:.4g}, {ci[1]:.4g}]" if ci else "")


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
                            [[r["id"], _setting_key(r.get("setting")), (r.get("setting") or {}).get("seed"),
                              r.get("status"), r.get("error") or ""] for r in runs]) if runs
             else _note("the sweep has no runs yet"))
    # values[(setting, table, system, metric)] = [value per finished run]: each run's last iteration
    values: dict = {}
    settings: dict = {}
    for r in done:
        key = _setting_key(r.get("setting"))
        settings.setdefault(key, r.get("setting") or {})
        res = store.results_table(r["id"])
        last = {}
        for row in res:
            it = row.get("iteration")
            t = row.get("table_name")
            last[t] = max(last.get(t, it), it) if it is not None else None
        for row in res:
            if row.get("iteration") != last.get(row.get("table_name")):
                continue
            for m in _metrics_of([row]):
                if _ok(row.get(m)):
                    values.setdefault((key, row.get("table_name"), row["system"], m), []).append(row[m])
    _results(page, values)
    _swept(page, grid, settings, values)
    _pareto(page, store, done, large)
    page.add("Metric per loop iteration", _note("per run: `collab report RUN` of each run listed above; the "
                                                "tables here use each run's last iteration"))
    page.add("Training loss", _note("per run: `collab report RUN` of each run listed above"))
    _costs(page, store, runs)
    prog = load_program(done[0]) if done else Program(note="no run of the sweep finished")
    graph_section(page, prog)
    page.write(header)
    return page


def _results(page: Page, values: dict) -> None:
    if not values:
        page.add("Results (mean [95% interval] over seeds)", _note("no finished run recorded results"))
        return
    tables: dict = {}
    for (setting, table, system, metric), vs in values.items():
        tables.setdefault(table, {}).setdefault((setting, system), {})[metric] = vs
    body = ""
    for table, rows in tables.items():
        metrics = list(dict.fromkeys(m for cells in rows.values() for m in cells))
        body += _table(["setting", "system"] + metrics + ["seeds"],
                       [[s, sy] + [_fmt(*interval(cells[m])) if m in cells else "" for m in metrics]
                        + [max(len(v) for v in cells.values())] for (s, sy), cells in rows.items()],
                       caption=table or "results")
    page.add("Results (mean [95% interval] over seeds)", body)


def _num(v):
    return float(v) if isinstance(v, bool) else v


def _swept(page: Page, grid: dict, settings: dict, values: dict) -> None:
    title = "Metric against a swept param (mean, 95% interval over seeds)"
    swept = [p for p, vs in grid.items() if len(vs) > 1]
    if not swept:
        page.add(title, _note("no param of the sweep takes more than one value"))
        return
    panels, skipped = [], []
    for p in swept:
        if not all(isinstance(_num(s.get(p)), (int, float)) for s in settings.values()):
            skipped.append(p)
            continue
        for table, metric in dict.fromkeys((t, m) for (_, t, _, m) in values if m not in AUX):
            series: dict = {}
            for (setting, t, system, m), vs in values.items():
                if (t, m) != (table, metric):
                    continue
                s = settings[setting]
                rest = ", ".join(f"{k}={v}" for k, v in sorted(s.items()) if k not in (p, "seed") and v is not None)
                mean, ci = interval(vs)
                series.setdefault(system + (f" ({rest})" if rest else ""), []).append((_num(s.get(p)), mean, ci))
            panels.append({"title": f"{table}: {metric} against {p}", "ylabel": metric, "series": series,
                           "x": p})
    body = _note(f"not plotted (values are not numbers): {', '.join(skipped)}") if skipped else ""
    if panels:
        from runtime import reportplots

        for p in dict.fromkeys(x["x"] for x in panels):
            body += page.figure(f"swept_{p}", reportplots.lines([x for x in panels if x["x"] == p], p),
                                f"each metric against {p}: mean over seeds, 95% interval as error bars")
    page.add(title, body)


def _pareto(page: Page, store, done: list[dict], large: str | None) -> None:
    title = "Accuracy against large-model calls (one point per setting)"
    progs: dict = {}
    points: dict = {}  # (table, metric, system) -> setting -> [(x, y)]
    role, note = None, "no run of the sweep finished"
    for r in done:
        pk = json.dumps(r.get("params"), sort_keys=True, default=str)
        if pk not in progs:
            progs[pk] = load_program(r)
        prog = progs[pk]
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
                    points.setdefault((table, metric, s), {}).setdefault(
                        _setting_key(r.get("setting")), []).append((c["large"] / rows[s]["n"], rows[s][metric]))
    panels: dict = {}
    for (table, metric, system), per in points.items():
        pts = []
        for setting, xy in per.items():
            mx = sum(x for x, _ in xy) / len(xy)
            my, ci = interval([y for _, y in xy])
            pts.append((mx, my, ci, setting))
        if any(p[0] for p in pts):
            panels.setdefault((table, metric), {"title": table, "xlabel": LARGE_AXIS.format(large=role),
                                                "ylabel": metric, "series": {}})["series"][system] = pts
    if not panels:
        page.add(title, _note(f"not drawn: {note}" if note else f"no evaluated system calls role '{role}'"))
        return
    from runtime import reportplots

    page.add(title, f'<p class="meta">{E(PARETO_NOTE.format(large=role))} One point per setting and system: '
             f"x the mean over seeds, y the mean with its 95% interval.</p>"
             + page.figure("pareto", reportplots.scatter(list(panels.values())),
                           f"metric against {role} requests per row, one point per setting"))


def _costs(page: Page, store, runs: list[dict]) -> None:
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
    page.add(title, node_table(Program(), list(total.values())))
