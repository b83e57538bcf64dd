"""The summary of a sweep (``collab sweep``, ``collab sweep --show SWEEP``): per setting
and eval row, each metric's mean over the setting's finished seeds with a 95% interval, the
number of rows, and which settings differ from their reference beyond the interval.

The interval of a cell (runtime.stats):

* **t**: with two or more seeds whose values differ, the Student-t interval over the seeds'
  values (``mean +- t(0.975, k - 1) * s / sqrt(k)``);
* **bootstrap**: with one seed, or seeds that all gave the same value (a deterministic
  setting: the spread over seeds says nothing), the percentile bootstrap interval over rows
  of the per-row scores (averaged over the seeds), 1000 resamples drawn with seed 0. A metric
  no row holds a part of (``macro_f1``) and a derived row have no row scores: no interval.

A setting's reference is the full method at the same grid point (for an ablation), else the
first grid point (with the same ablation). A cell is marked ``*`` when it differs from its
reference's cell beyond the interval:

* both cells with t intervals: the two intervals do not overlap;
* otherwise, both with row scores on the same rows (the same row ids): the 95% paired
  bootstrap interval of the mean per-row difference (rows resampled together, 1000
  resamples, seed 0) excludes 0;
* otherwise both with intervals: they do not overlap. Else no test, no mark.

A row is compared with the reference's row of the same label; an ablated run's rows that its
reference lacks (the program labels an ablation's row by the ablation: ``w/o k^m``) are
compared with the reference's rows that the ablated run lacks (``NesyCD``), in order of
appearance, when there are as many of each; the summary names the row compared with.
"""
from __future__ import annotations

from runtime import stats
from runtime.sweep import same_setting

SKIP_METRICS = ("top_share", "kb_entries")  # what an eval adds to describe a system, not to compare
RULE = ("* differs from its reference setting beyond the 95% interval: non-overlapping t intervals over "
        "seeds, else a paired bootstrap over the same rows (1000 resamples, seed 0) whose interval of the "
        "mean difference excludes 0, else non-overlapping intervals")
METHODS = {"t": "t over {k} seeds", "bootstrap": "bootstrap over {n} rows", "none": "no interval"}


def _group(setting: dict | None) -> str:
    s = {k: v for k, v in (setting or {}).items() if k != "seed"}
    return repr(sorted(s.items(), key=lambda kv: kv[0]))


def _metric_rows(store, run_id: str) -> list[dict]:
    with store._lock:
        cur = store.db.execute("select node_id, table_name, iteration, system, metric, value, n from metrics "
                               "where run_id = ? order by id", [run_id])
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def _eval_rows(store, run_id: str, node_id: str) -> tuple[list[str], dict]:
    """(row ids, {system: {metric: [score per row]}}) of an eval node (the store's
    ``eval_scores``); a run recorded before keeps none: ([], {})."""
    rec = store.eval_scores(run_id, node_id) or {}
    return [str(x) for x in rec.get("rids") or []], rec.get("scores") or {}


def _cell_interval(cell: dict) -> stats.Interval | None:
    vals = cell["values"]
    if not vals:
        return None
    if len(vals) >= 2 and len(set(vals)) > 1:
        return stats.t_interval(vals)
    rows = cell["rows"]
    if rows:
        return stats.bootstrap_interval(list(rows.values()))
    return stats.t_interval(vals) if len(vals) >= 2 else stats.Interval(vals[0], None, None, 1, "none")


def _averaged_rows(per_seed: list[dict]) -> dict:
    """rid -> the mean score over the seeds (only rows every seed scored), in the first seed's
    row order: the bootstrap draws rows by position, so the order must not depend on anything
    but the data (a set's order changes from one process to the next)."""
    if not per_seed:
        return {}
    return {rid: sum(p[rid] for p in per_seed) / len(per_seed) for rid in per_seed[0]
            if all(rid in p for p in per_seed[1:])}


def _differs(a: dict, ref: dict) -> tuple[bool | None, str | None]:
    ia, ir = a["interval"], ref["interval"]
    if ia is None or ir is None:
        return None, None
    if ia.method == "t" and ir.method == "t":
        return not stats.overlap(ia, ir), "t intervals"
    ra, rr = a["rows"], ref["rows"]
    if ra and rr and set(ra) == set(rr):
        keys = sorted(ra, key=str)
        d = stats.paired_bootstrap([ra[k] for k in keys], [rr[k] for k in keys])
        return stats.excludes_zero(d), "paired bootstrap"
    o = stats.overlap(ia, ir)
    return (None, None) if o is None else (not o, "intervals")


def summarize(store, sweep_id: str) -> dict:
    """The summary of a sweep as plain data: {sweep, settings: [{label, setting, runs,
    finished}], tables: [{table, iteration, metrics, rows: [{setting, system, n, seeds,
    cells: {metric: {mean, low, high, method, differs, test}}}]}], rule, notes}."""
    sweep = store.get_sweep(sweep_id)
    runs = store.sweep_runs(sweep_id)
    groups: dict[str, dict] = {}
    for r in runs:
        g = groups.setdefault(_group(r.get("setting")), {"setting": {k: v for k, v in (r.get("setting") or {}).items()
                                                                  if k != "seed"}, "runs": [], "finished": []})
        g["runs"].append(r)
        if r["status"] == "finished":
            same = [x for x in g["finished"] if (x.get("setting") or {}).get("seed") == (r.get("setting") or {}).get("seed")]
            for x in same:  # one run per seed: a later one replaces it (never counted as two seeds)
                g["finished"].remove(x)
                g.setdefault("replaced", []).append(x["id"])
            g["finished"].append(r)
    cells: dict = {}  # (table, iteration) -> (group, system) -> metric -> {values, ns, per_seed_rows}
    for gk, g in groups.items():
        for r in g["finished"]:
            row_cache: dict = {}
            for m in _metric_rows(store, r["id"]):
                if m["metric"] in SKIP_METRICS:
                    continue
                c = cells.setdefault((m["table_name"], m["iteration"]), {}).setdefault(
                    (gk, m["system"]), {}).setdefault(m["metric"], {"values": [], "ns": [], "per_seed": []})
                if m["value"] is not None:
                    c["values"].append(float(m["value"]))
                c["ns"].append(m["n"])
                if m["node_id"] not in row_cache:
                    row_cache[m["node_id"]] = _eval_rows(store, r["id"], m["node_id"])
                rids, by_system = row_cache[m["node_id"]]
                per = (by_system.get(m["system"]) or {}).get(m["metric"])
                scores = dict(zip(rids, per)) if per is not None and len(per) == len(rids) else {}
                if scores:
                    c["per_seed"].append(scores)
    ref_of = _references(groups)
    tables = []
    for (table, iteration), by in cells.items():
        metrics: list[str] = []
        for mm in by.values():
            metrics += [m for m in mm if m not in metrics]
        for mm in by.values():
            for c in mm.values():
                c["rows"] = _averaged_rows(c["per_seed"]) if len(c["per_seed"]) == len(c["ns"]) else {}
                c["interval"] = _cell_interval(c)
        rows = []
        paired = _pairs(by, ref_of)
        for (gk, system), mm in by.items():
            out_cells = {}
            vs = paired.get((gk, system), system)
            for m, c in mm.items():
                iv = c["interval"]
                ref = by.get((ref_of.get(gk), vs), {}).get(m)
                differs, test = (None, None) if ref is None or ref_of.get(gk) == gk else _differs(c, ref)
                out_cells[m] = {"mean": None if iv is None else iv.mean,
                                "low": None if iv is None else iv.low, "high": None if iv is None else iv.high,
                                "method": None if iv is None else iv.method, "seeds": len(c["values"]),
                                "rows": len(c["rows"]), "differs": differs, "test": test}
            ns = sorted({n for c in mm.values() for n in c["ns"] if n is not None})
            g = groups[gk]
            rows.append({"setting": g["setting"], "label": label(g["setting"]), "system": system,
                         "compared_with": vs if vs != system else None,
                         "reference": gk == ref_of.get(gk), "n": ns,
                         "seeds": f"{len(g['finished'])}/{len(g['runs'])}", "cells": out_cells})
        tables.append({"table": table, "iteration": iteration, "metrics": metrics, "rows": rows})
    notes = [f"{label(g['setting'])}: {len(g['runs']) - len(g['finished'])} of its runs did not finish "
             f"({', '.join(r['id'] + ' ' + r['status'] for r in g['runs'] if r['status'] != 'finished')}): "
             "left out" for g in groups.values() if len(g["finished"]) < len(g["runs"])]
    notes += [f"{label(g['setting'])}: runs {', '.join(g['replaced'])} repeat a seed of a later finished run: "
              "left out" for g in groups.values() if g.get("replaced")]
    expected = len(sweep.get("seeds") or []) if sweep else 0
    notes += [f"{label(g['setting'])}: {len(g['runs'])} of {expected} seeds recorded"
              for g in groups.values() if expected and len(g["runs"]) < expected]
    return {"sweep": sweep, "settings": [{"label": label(g["setting"]), "setting": g["setting"],
                                          "runs": [r["id"] for r in g["runs"]], "finished": len(g["finished"])}
                                         for g in groups.values()],
            "tables": tables, "rule": RULE, "notes": notes}


def _pairs(by: dict, ref_of: dict) -> dict:
    """(group, system) -> the reference's system it is compared with, for the rows an ablation
    renames: an ablated run's rows its reference lacks stand for the reference's rows it lacks
    (``w/o k^m`` for ``NesyCD``), paired in order of appearance when there are as many of each."""
    systems: dict = {}
    for gk, system in by:
        systems.setdefault(gk, []).append(system)
    out = {}
    for gk, mine in systems.items():
        rk = ref_of.get(gk)
        if rk is None or rk == gk or rk not in systems:
            continue
        new = [x for x in mine if x not in systems[rk]]
        missing = [x for x in systems[rk] if x not in mine]
        if new and len(new) == len(missing):
            out.update({(gk, a): b for a, b in zip(new, missing)})
    return out


def _references(groups: dict) -> dict:
    """group key -> the key of its reference group."""
    out, first_by_ablation = {}, {}
    for gk, g in groups.items():
        first_by_ablation.setdefault(g["setting"].get("ablation"), gk)
    for gk, g in groups.items():
        s = g["setting"]
        if s.get("ablation") is not None:
            full = {**s, "ablation": None}
            out[gk] = next((k for k, h in groups.items() if same_setting(h["setting"], full)), None)
        else:
            out[gk] = first_by_ablation.get(None)
    return out


def label(setting: dict) -> str:
    s = {k: v for k, v in (setting or {}).items() if k not in ("seed", "ablation")}
    parts = [f"{k}={v}" for k, v in s.items()]
    if (setting or {}).get("ablation") is not None:
        parts.append(str(setting["ablation"]))
    return ", ".join(parts) or "(full)"


def cell_text(c: dict) -> str:
    if c["mean"] is None:
        return ""
    text = f"{c['mean']:.3f}"
    if c["low"] is not None:
        text += f" [{c['low']:.3f}, {c['high']:.3f}]"
    return text + (" *" if c.get("differs") else "")


def method_text(row: dict) -> str:
    parts = []
    for c in row["cells"].values():
        if c["method"] is None:
            continue
        t = METHODS[c["method"]].format(k=c["seeds"], n=c["rows"])
        if c["method"] == "bootstrap" and c["seeds"] > 1:
            t += f" (its {c['seeds']} seeds agree)"
        if t not in parts:
            parts.append(t)
    return "; ".join(parts)
