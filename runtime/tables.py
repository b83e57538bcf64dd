"""One recorded run as named tables: what ``collab show RUN --table NAME`` prints (JSON, CSV
or text) and what ``collab export`` sends to a tracker.

The names (``TABLES``; docs/runtime.md, "The run store"):

``run``        the run itself, one row (params, bindings and settings as JSON objects)
``nodes``      every operation with its counters (calls, tokens, cost, cache hits, ...)
``metrics``    every metric value of the run, one per line (table_name, iteration, system,
               metric, value, n, node_id): all result tables in long form
``trainings``  what each training did (examples kept and dropped per task, steps, loss)
``warnings``   what the run noticed without stopping
``rows:NODE``  the output rows of node NODE (its id as in ``nodes``): ``row_index``, then the
               row's fields (one named row_index itself as ``data.row_index``)
NAME           a result table by its eval's name (``eval results for ...`` -> ``results``):
               one row per (iteration, system), a column per metric:
               ``RunStore.results_table(run, NAME)`` with ``n`` (the rows evaluated) last;
               also ``results:NAME``, which is the only way to reach an eval table named
               like one of the tables above.

Every value passes :func:`collabdsl.masking.mask_all` (what the store holds is redacted
already; this masks again whatever an older or foreign store may hold).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

from collabdsl.masking import mask_all

STORE_TABLES = ("run", "nodes", "metrics", "trainings", "warnings")
ROWS_PREFIX, RESULTS_PREFIX = "rows:", "results:"


class UnknownTable(LookupError):
    """A table name the run does not have; the message is one line listing those it has."""


def _locked_rows(store, sql: str, args: list) -> list[dict]:
    with store._lock:
        cur = store.db.execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, r)) for r in cur.fetchall()]


def result_table_names(store, run_id: str) -> list[str]:
    """The run's result tables (eval names), in order of first appearance."""
    rows = _locked_rows(store, "select table_name, min(id) as first from metrics where run_id = ? "
                               "group by table_name order by first", [run_id])
    return [r["table_name"] for r in rows if r["table_name"] is not None]


def row_nodes(store, run_id: str) -> list[str]:
    """The nodes of the run that have output rows, in the order they were planned."""
    with_rows = {r["node_id"] for r in _locked_rows(
        store, "select distinct node_id from rows where run_id = ?", [run_id])}
    order = [n["node_id"] for n in store.list_nodes(run_id)]
    return [n for n in order if n in with_rows] + sorted(with_rows - set(order))


def list_metrics(store, run_id: str) -> list[dict]:
    """Every metric value of the run, in the order it was written."""
    return _locked_rows(store, "select table_name, iteration, system, metric, value, n, node_id "
                               "from metrics where run_id = ? order by id", [run_id])


def with_n(results: list[dict], metrics: list[dict]) -> list[dict]:
    """``results_table`` rows with ``n`` (the rows evaluated) last, where every metric of the
    row was computed on the same number of rows (an eval's are) and no metric is named n."""
    ns: dict[tuple, set] = {}
    for m in metrics:
        ns.setdefault((m["table_name"], m["iteration"], m["system"]), set()).add(m["n"])
    out = []
    for r in results:
        found = ns.get((r["table_name"], r["iteration"], r["system"]), set())
        out.append({**r, "n": next(iter(found))} if "n" not in r and len(found) == 1 else r)
    return out


def table_names(store, run_id: str) -> list[str]:
    """Every name ``read_table`` accepts for this run (result tables by their bare name unless
    that is a store table's name, then as ``results:NAME``)."""
    results = [n if n not in STORE_TABLES else RESULTS_PREFIX + n for n in result_table_names(store, run_id)]
    return [*STORE_TABLES, *results, *(ROWS_PREFIX + n for n in row_nodes(store, run_id))]


def read_table(store, run_id: str, name: str) -> list[dict]:
    """Table ``name`` of run ``run_id`` as a list of dicts (masked); ``UnknownTable`` when the
    run has no such table."""
    rows: list[dict] | None = None
    if name == "run":
        r = store.get_run(run_id)
        rows = [] if r is None else [r]
    elif name == "nodes":
        rows = store.list_nodes(run_id)
    elif name == "metrics":
        rows = list_metrics(store, run_id)
    elif name == "trainings":
        rows = store.list_trainings(run_id)
    elif name == "warnings":
        rows = store.list_warnings(run_id)
    elif name.startswith(ROWS_PREFIX):
        node = name[len(ROWS_PREFIX):]
        if node in row_nodes(store, run_id):
            rows = [{"row_index": i, **{(f"data.{k}" if k == "row_index" else k): v
                                        for k, v in (d if isinstance(d, dict) else {"value": d}).items()}}
                    for i, d in enumerate(store.read_rows(run_id, node))]
    else:
        table = name.removeprefix(RESULTS_PREFIX)
        if table in result_table_names(store, run_id):
            rows = with_n(store.results_table(run_id, table), list_metrics(store, run_id))
    if rows is None:
        raise UnknownTable(f"no table {name!r} in run {run_id}; its tables: "
                           + ", ".join(table_names(store, run_id)))
    return mask_all(rows)


def columns(rows: list[dict]) -> list[str]:
    """The union of the rows' keys, in order of first appearance."""
    cols: dict[str, None] = {}
    for r in rows:
        cols.update(dict.fromkeys(r))
    return list(cols)


def cell(v: Any) -> Any:
    """A value for CSV or a text table: lists and dicts as JSON text, None as empty."""
    if v is None:
        return ""
    if isinstance(v, (dict, list, tuple)):
        return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)
    return v


def to_csv(rows: list[dict]) -> str:
    """RFC 4180 CSV with a header line (the union of the keys); floats at full precision
    (``repr``), lists and dicts as JSON text, None as an empty field."""
    buf = io.StringIO()
    cols = columns(rows)
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(cols)
    for r in rows:
        w.writerow([cell(r.get(c)) for c in cols])
    return buf.getvalue()
