"""``collab report RUN|SWEEP``: one self-contained HTML file (CSS inline, every figure an
inline base64 PNG or SVG, no external URL) and its figures as PNG files in ``NAME_files/``
next to it. Sections: result tables, a metric per loop iteration, a metric against each swept
param (a sweep: mean and 95% interval over seeds), accuracy against large-model calls (a
cascade's Pareto curve), training loss curves, calls/tokens/time/cost per operation, and the
program's graph. A section the run has nothing for is one line saying so, never an empty plot.

Everything shown is read from the run store; the graph and the model role of each operation
come from the program compiled again, only when its source is unchanged since the run
(runtime.reportgraph). matplotlib is imported only when a figure is drawn (runtime.reportplots).
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

from collabdsl.masking import mask_all
from runtime.reportgraph import Program, graph_svg, load_program

FIXED = ("table_name", "table", "iteration", "system", "n")
AUX = ("top_share", "kb_entries")  # shown in the tables, not plotted
LARGE_ROLES = ("large", "strong", "teacher")
E = html.escape


class ReportError(Exception):
    """The report cannot be made (no such run or sweep, ...): one line."""


def _num(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.4g}"
    return str(v)


def _ok(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _table(cols: list[str], rows: list[list], caption: str | None = None) -> str:
    head = "".join(f"<th>{E(str(c))}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{E(_num(v) if not isinstance(v, str) else v)}</td>" for v in r) + "</tr>"
                   for r in rows)
    cap = f"<caption>{E(caption)}</caption>" if caption else ""
    return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _note(text: str) -> str:
    return f'<p class="note">{E(text)}</p>'


class Page:
    """The report being built: its sections and the PNG files written beside it."""

    def __init__(self, out: Path, title: str):
        self.out, self.title = out, title
        self.files_dir = out.with_name(out.stem + "_files")
        self.sections: list[tuple[str, str]] = []
        self.pngs: dict[str, bytes] = {}

    def add(self, title: str, body: str) -> None:
        self.sections.append((title, body))

    def figure(self, name: str, png: bytes, alt: str) -> str:
        self.pngs[name] = png
        data = base64.b64encode(png).decode("ascii")
        return (f'<figure><img class="plot" alt="{E(alt)}" src="data:image/png;base64,{data}">'
                f'<figcaption>{E(alt)} ({E(self.files_dir.name)}/{E(name)}.png)</figcaption></figure>')

    def write(self, header: str) -> Path:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        if self.pngs:
            self.files_dir.mkdir(parents=True, exist_ok=True)
            for name, png in self.pngs.items():
                (self.files_dir / f"{name}.png").write_bytes(png)
        toc = "".join(f'<li><a href="#s{i}">{E(t)}</a></li>' for i, (t, _) in enumerate(self.sections))
        body = "".join(f'<section id="s{i}"><h2>{E(t)}</h2>{b}</section>' for i, (t, b) in enumerate(self.sections))
        self.out.write_text(f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{E(self.title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<style>{CSS}</style></head><body><h1>{E(self.title)}</h1>{header}<ul class="toc">{toc}</ul>{body}
<footer>made by collab report from the run store; every value is what the store records</footer></body></html>
""", encoding="utf-8")
        return self.out


CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}caption{text-align:left;font-weight:bold;padding:.3em 0}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left}th{background:#f4f6f8}
td{font-variant-numeric:tabular-nums}.note{color:#555;font-style:italic}.failed{background:#ffebee;
border:1px solid #e53935;padding:.6em;font-weight:bold}.meta{font-size:.9em;color:#333}
img.plot{max-width:100%}figure{margin:1em 0}figcaption{font-size:.8em;color:#666}
.graph{overflow:auto;border:1px solid #eee}pre{font-size:.8em;overflow:auto;background:#f8f8f8;padding:.5em}"""


# ------------------------------------------------------------------ shared pieces
def _metrics_of(rows: list[dict]) -> list[str]:
    out: list[str] = []
    for r in rows:
        out += [k for k in r if k not in FIXED and k not in out]
    return out


def results_with_n(store, run_id: str) -> list[dict]:
    """``RunStore.results_table`` with each row's ``n`` (the rows evaluated), as
    ``collab show --table`` gives it (runtime.tables.with_n)."""
    from runtime.tables import list_metrics, with_n

    return with_n(store.results_table(run_id), list_metrics(store, run_id))


def results_html(results: list[dict]) -> str:
    """The result tables as ``collab show`` prints them: one per (table, iteration)."""
    tables: dict = {}
    for r in results:
        tables.setdefault((r.get("table_name"), r.get("iteration")), []).append(r)
    out = []
    for (name, it), rows in tables.items():
        metrics = _metrics_of(rows)
        has_n = any(r.get("n") is not None for r in rows)
        out.append(_table(["system"] + metrics + (["n"] if has_n else []),
                          [[r.get("system")] + [r.get(m) for m in metrics] + ([r.get("n")] if has_n else [])
                           for r in rows],
                          caption=f"{name or 'results'}" + (f" (iteration {it})" if it is not None else "")))
    return "".join(out)


def pick_large(roles, large: str | None) -> tuple[str | None, str | None]:
    """(the role whose calls count as large-model calls, a note when there is none); a role
    named with --large that the program lacks is a ReportError (nothing is written)."""
    roles = sorted(set(roles))
    if large is not None:
        if large in roles:
            return large, None
        raise ReportError(f"--large {large}: the program has no role {large!r} (roles: {', '.join(roles) or 'none'})")
    found = next((r for r in LARGE_ROLES if r in roles), None)
    if found is None:
        return None, (f"no role named {', '.join(LARGE_ROLES)} (roles: {', '.join(roles) or 'none'}): "
                      f"name the large model's role with --large ROLE")
    return found, None


def requests(node: dict) -> int:
    """A model operation's requests: the calls it made plus those answered from the cache."""
    return int(node.get("calls") or 0) + int(node.get("cache_hits") or 0)


def system_costs(prog: Program, nodes: dict, eval_key: str, large: str) -> dict[str, dict]:
    """{system: {large, requests, cost}} of one eval: the model operations its column is
    computed from (reportgraph.Program.system_nodes)."""
    out = {}
    for system, keys in prog.system_nodes(eval_key).items():
        ns = [nodes[k] for k in keys if k in nodes]
        out[system] = {"large": sum(requests(n) for n in ns if prog.role(n["node_id"]) == large),
                       "requests": sum(requests(n) for n in ns),
                       "cost": sum(float(n.get("cost") or 0) for n in ns)}
    return out


def last_evals(prog: Program, nodes: list[dict]) -> dict[str, str]:
    """{eval node id: its store key of the last iteration}: where a loop evaluates every
    iteration, the Pareto points are those of the last one."""
    out: dict = {}
    for n in nodes:
        if n.get("kind") != "eval" or n.get("status") != "done":
            continue
        base, it = prog.split_key(n["node_id"])
        if base not in out or tuple(int(i) for i in it) >= tuple(int(i) for i in prog.split_key(out[base])[1]):
            out[base] = n["node_id"]
    return out


def eval_metric(prog: Program, eval_key: str) -> tuple[str | None, str | None, int | None]:
    """(table name, its first declared metric, the iteration) of an eval operation."""
    a = prog.attrs(eval_key)
    o = a.get("options") or {}
    _, it = prog.split_key(eval_key)
    return o.get("name"), (o.get("metrics") or [None])[0], (int(it[-1]) if it else None)


LARGE_AXIS = "{large} requests per evaluated row"
PARETO_NOTE = ("x: the requests (calls made plus cache hits) to role '{large}' of the model operations "
               "each system's column is computed from (its ancestors in the program's graph; the "
               "trainings that made a model version do not count), divided by the rows evaluated. "
               "A cascade's point lies between the small model's (0) and the large model's (1 per row).")


def graph_section(page: Page, prog: Program) -> None:
    if prog.G is None:
        page.add("Program graph", _note(f"not drawn: {prog.note}"))
        return
    from collabdsl import render

    svg, how = graph_svg(prog)
    page.add("Program graph", f'<p class="meta">{E(how)}</p><div class="graph">{svg}</div>'
             f"<details><summary>mermaid source (collab graph --format mermaid)</summary>"
             f"<pre>{E(render.to_mermaid(prog.G))}</pre></details>")


# ------------------------------------------------------------------ one run
def run_report(store, run: dict, out: Path, large: str | None = None) -> Page:
    rid = run["id"]
    run = mask_all(run)
    nodes = mask_all(store.list_nodes(rid))
    results = mask_all(results_with_n(store, rid))
    trainings = mask_all(store.list_trainings(rid))
    warnings = mask_all(store.list_warnings(rid))
    prog = load_program(run)
    page = Page(out, f"collab report: run {rid} ({run.get('program_name')})")
    header = _run_header(run, prog)

    page.add("Results", results_html(results) or _note("the run recorded no results"))
    _iterations(page, results)
    page.add("Metric against a swept param", _note("a single run: sweeps (collab sweep) have this plot"))
    _pareto_run(page, prog, nodes, results, large)
    _losses(page, trainings)
    _nodes(page, prog, nodes)
    graph_section(page, prog)
    if warnings:
        from runtime.report import warning_line

        page.add("Warnings", "<ul>" + "".join(f"<li>{E(warning_line(w))}</li>" for w in warnings) + "</ul>")
    page.write(header)
    return page


def _run_header(run: dict, prog: Program) -> str:
    parts = []
    status = run.get("status")
    if status != "finished":
        what = {"failed": "This run FAILED", "interrupted": "This run was INTERRUPTED",
                "running": "This run has not finished (status running)"}.get(status, f"status {status}")
        parts.append(f'<p class="failed">{E(what)}' + (f": {E(str(run['error']))}" if run.get("error") else "")
                     + ". What follows is what it recorded before it stopped.</p>")
    meta = [f"program {run.get('program_name')} ({run.get('program_path')})",
            f"status {status}, started {run.get('started')}, finished {run.get('finished') or '-'}"]
    if run.get("params"):
        meta.append("params: " + ", ".join(f"{k}={v}" for k, v in sorted(run["params"].items())))
    if run.get("bindings"):
        meta.append("models: " + ", ".join(f"{k}={v}" for k, v in sorted(run["bindings"].items())))
    if run.get("settings"):
        meta.append("settings: " + ", ".join(f"--{k} {v}" for k, v in sorted(run["settings"].items())
                                             if v is not None and k != "precision"))
    if run.get("sweep_id"):
        meta.append(f"sweep {run['sweep_id']}, setting {json.dumps(run.get('setting'), sort_keys=True)}")
    if prog.G is None:
        meta.append(f"graph and roles: {prog.note}")
    return "".join(parts) + '<p class="meta">' + "<br>".join(E(m) for m in meta) + "</p>"


def _iterations(page: Page, results: list[dict]) -> None:
    looped = [r for r in results if r.get("iteration") is not None]
    if not looped:
        page.add("Metric per loop iteration", _note("no evaluation inside a loop in this run"))
        return
    panels = []
    for name in dict.fromkeys(r.get("table_name") for r in looped):
        rows = [r for r in looped if r.get("table_name") == name]
        for m in [m for m in _metrics_of(rows) if m not in AUX]:
            series: dict = {}
            for r in rows:
                if _ok(r.get(m)):
                    series.setdefault(r["system"], []).append((r["iteration"], r[m], None))
            if series:
                panels.append({"title": f"{name}: {m}", "ylabel": m, "series": series})
    if not panels:
        page.add("Metric per loop iteration", _note("the evaluations inside a loop recorded no values"))
        return
    from runtime import reportplots

    page.add("Metric per loop iteration", page.figure(
        "iterations", reportplots.lines(panels, "loop iteration", integer_x=True),
        "each metric of each evaluation inside a loop, per iteration"))


def _pareto_run(page: Page, prog: Program, nodes: list[dict], results: list[dict], large: str | None) -> None:
    title = "Accuracy against large-model calls"
    if prog.G is None:
        page.add(title, _note(f"not drawn: {prog.note}"))
        return
    role, why = pick_large(prog.G.graph.get("models") or {}, large)
    if role is None:
        page.add(title, _note(f"not drawn: {why}"))
        return
    by_key = {n["node_id"]: n for n in nodes}
    panels, cost_panels = [], []
    for key in last_evals(prog, nodes).values():
        table, metric, it = eval_metric(prog, key)
        costs = system_costs(prog, by_key, key, role)
        rows = {r["system"]: r for r in results if r.get("table_name") == table and r.get("iteration") == it}
        pts = [(c["large"] / rows[s]["n"], rows[s].get(metric), None, s) for s, c in costs.items()
               if s in rows and rows[s].get("n")]
        if not any(p[0] for p in pts) or metric is None:
            continue  # no system of this table calls the large model
        where = f"{table}" + (f" (iteration {it}, the last)" if it is not None else "")
        panels.append({"title": where, "xlabel": LARGE_AXIS.format(large=role), "ylabel": metric,
                       "series": {"systems": pts}, "join": False})
        if any(c["cost"] for c in costs.values()):
            cost_panels.append({"title": where, "xlabel": "cost of its model calls (USD)", "ylabel": metric,
                                "series": {"systems": [(costs[s]["cost"], rows[s].get(metric), None, s)
                                                       for s in costs if s in rows]}, "join": False})
    if not panels:
        page.add(title, _note(f"no evaluated system calls role '{role}'"))
        return
    from runtime import reportplots

    body = f'<p class="meta">{E(PARETO_NOTE.format(large=role))}</p>' + page.figure(
        "pareto", reportplots.scatter(panels), f"metric against {role} requests per row, one point per system")
    if cost_panels:
        body += page.figure("pareto_cost", reportplots.scatter(cost_panels), "metric against API cost")
    page.add(title, body)


def _losses(page: Page, trainings: list[dict]) -> None:
    title = "Training loss"
    if not trainings:
        page.add(title, _note("no training in this run"))
        return
    rows, curves = [], []
    for t in trainings:
        info = t.get("info") or {}
        state = info.get("skipped") or ("failed: " + str(info["failed"]) if info.get("failed") else "trained")
        rows.append([t.get("node_id"), t.get("model"), t.get("objective"), t.get("examples"), info.get("steps"),
                     info.get("train_loss"), info.get("seconds"), state])
        series: dict = {}
        for h in info.get("log_history") or []:
            for k, v in h.items():
                if k.startswith("loss"):
                    series.setdefault(k, []).append((h.get("step"), v))
        if series:
            curves.append({"title": f"{t.get('model')} {t.get('objective')} ({t.get('node_id')})", "series": series})
    body = _table(["node", "model", "objective", "examples", "steps", "mean loss", "seconds", ""], rows)
    if curves:
        from runtime import reportplots

        body += page.figure("losses", reportplots.losses(curves), "training loss per optimizer step, per training")
        missing = len([t for t in trainings if not (t.get("info") or {}).get("log_history")])
        if missing:
            body += _note(f"{missing} training(s) have no loss log (not trained, or trained before collab "
                          "recorded the logs)")
    else:
        body += _note("no loss logs recorded (no training ran, or they were trained before collab recorded "
                      "the trainer's logs)")
    page.add(title, body)


def node_table(prog: Program, nodes: list[dict]) -> str:
    cols = ["node", "operation", "kind", "role", "status", "seconds", "calls", "cache hits", "tokens in",
            "tokens out", "cost", "peak MB"]
    rows = [[n["node_id"], prog.label(n["node_id"]), n.get("kind"), prog.role(n["node_id"]) or "", n.get("status"),
             n.get("seconds"), n.get("calls"), n.get("cache_hits"), n.get("prompt_tokens"),
             n.get("completion_tokens"), n.get("cost"), n.get("peak_mb")] for n in nodes]
    tot = ["total", "", "", "", "", sum(float(n.get("seconds") or 0) for n in nodes)] + \
        [sum((n.get(c) or 0) for n in nodes) for c in ("calls", "cache_hits", "prompt_tokens",
                                                      "completion_tokens", "cost")] + [""]
    out = _table(cols, rows + [tot])
    if prog.G is not None:
        per: dict = {}
        for n in nodes:
            role = prog.role(n["node_id"])
            if role:
                p = per.setdefault(role, [0, 0, 0, 0, 0.0, 0.0])
                for i, c in enumerate(("calls", "cache_hits", "prompt_tokens", "completion_tokens", "cost",
                                       "seconds")):
                    p[i] += n.get(c) or 0
        if per:
            total = sum(p[0] + p[1] for p in per.values()) or 1
            out += _table(["role", "calls", "cache hits", "tokens in", "tokens out", "cost", "seconds",
                           "share of requests"],
                          [[r] + p + [f"{(p[0] + p[1]) / total:.1%}"] for r, p in sorted(per.items())],
                          caption="per model role (requests: calls made plus cache hits)")
    return out


def _nodes(page: Page, prog: Program, nodes: list[dict]) -> None:
    title = "Calls, tokens, time and cost per operation"
    if not nodes:
        page.add(title, _note("the run recorded no operations"))
        return
    body = node_table(prog, nodes)
    busy = [n for n in nodes if (n.get("seconds") or 0) >= 0.01 or requests(n)]
    if busy:
        from runtime import reportplots

        series = {"seconds": [float(n.get("seconds") or 0) for n in busy],
                  "model requests": [requests(n) for n in busy],
                  "tokens (in + out)": [(n.get("prompt_tokens") or 0) + (n.get("completion_tokens") or 0) for n in busy]}
        if any(n.get("cost") for n in busy):
            series["cost (USD)"] = [float(n.get("cost") or 0) for n in busy]
        names = [f"{n['node_id']} {prog.label(n['node_id'])}".strip() for n in busy]
        body += page.figure("operations", reportplots.bars(names, series, "per operation"),
                            "time, model requests, tokens (and cost) per operation")
    page.add(title, body)


# ------------------------------------------------------------------ entry point
def make_report(store_path: str | Path, target: str, out: str | Path | None = None,
                large: str | None = None) -> Page:
    """Write the report of run or sweep ``target`` (or ``latest``) to ``out`` (default
    ``report-TARGET.html``); ReportError with one line when it cannot."""
    from runtime.store import RunStore, StoreError

    store_path = Path(store_path)
    if not store_path.is_file():
        raise ReportError(f"no run store at {store_path} (see `collab runs --store FILE`)")
    try:
        store = RunStore(store_path, readonly=True)
    except StoreError as exc:
        raise ReportError(str(exc)) from None
    try:
        if target == "latest":
            latest = store.list_runs(limit=1)
            run = latest[0] if latest else None
        else:
            run = store.get_run(target)
        if run is not None:
            return run_report(store, run, Path(out or f"report-{run['id']}.html"), large)
        sweep = store.get_sweep(target) if hasattr(store, "get_sweep") else None
        if sweep is not None:
            from runtime.sweepreport import sweep_report

            return sweep_report(store, sweep, Path(out or f"report-{sweep['id']}.html"), large)
        raise ReportError(f"no run or sweep {target!r} in {store_path} (see `collab runs`)")
    finally:
        store.close()
