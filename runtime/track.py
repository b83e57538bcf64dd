"""Export recorded runs to an experiment tracker: ``collab export RUN|SWEEP --to mlflow``.

Off by default and offline: nothing here runs unless asked, and MLflow (the ``track`` extra,
imported only inside :func:`export_mlflow`) writes to a local SQLite backend,
``DIR/mlflow.db``, with artifacts under ``DIR/artifacts`` (no server; MLflow 3 keeps its
file-system backend in maintenance mode and refuses it by default). View it with
``mlflow ui --backend-store-uri sqlite:///DIR/mlflow.db``.

MLflow's usage telemetry is switched off (``MLFLOW_DISABLE_TELEMETRY=true``) before it is
imported.

One collab run becomes one MLflow run (tag ``collab.run_id``; a second export of the same
run replaces the first, which MLflow marks deleted) holding, all masked as ``collab show``
prints them (:mod:`runtime.tables`):

- params: the run's params by name, its settings as ``setting.seed``, ``setting.limit``,
  ``precision.ROLE``, and its model bindings as ``model.ROLE``; a value is its text (strings)
  or its JSON (numbers, lists, ``null``); one longer than MLflow's limit is cut, marked, and
  whole in ``collab/run.json``;
- metrics: every eval metric as ``TABLE/SYSTEM/METRIC`` at step = the iteration (0 outside
  loops), each node's counters as ``node/NODE/COUNTER`` (calls, tokens, cost, cache hits,
  retries, parse failures, seconds, peak_mb) with their sums as ``total/COUNTER``, each
  training's ``train/NODE/train_loss`` (mean), ``steps`` and ``examples``, and, where the
  store keeps the trainer's log (``trainings.info.log_history``), its losses per step as
  ``train/NODE/loss`` (and ``loss_TASK``, ``learning_rate``, ``grad_norm``) at their steps;
  a training recorded before the store kept that log has its mean loss only (the export says so); characters MLflow does not take in
  a name become ``_`` (the names as they were are in ``collab/metrics.csv``);
- artifacts: the program file (``program/NAME.collab``, masked; tag
  ``collab.program_file`` says whether its hash is still the run's), ``collab/run.json``
  (what ``collab show --format json`` prints) and ``collab/TABLE.csv`` for nodes, metrics,
  trainings and warnings;
- tags: ``collab.run_id``, ``collab.program_name``, ``collab.program_hash``,
  ``collab.status``, and for a sweep's runs ``collab.sweep_id``, ``collab.setting`` and
  ``mlflow.parentRunId`` (the sweep's own MLflow run, so the UI nests them).
"""
from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from runtime.store import COUNTERS, RunStore, program_hash, redact
from runtime.tables import list_metrics, read_table, to_csv

DEFAULT_DIR = Path("mlruns")
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
_BAD_CHAR = re.compile(r"[^\w.\- :]")  # what MLflow takes in a name, less the "/" that joins parts
NODE_FIGURES = (*COUNTERS, "seconds", "peak_mb")
STEP_KEYS = ("loss", "learning_rate", "grad_norm")  # logged per step from a training's log_history


class ExportError(Exception):
    """The export cannot be done (no such run or sweep, MLflow missing): one line."""


def tracking_uri(folder: str | Path) -> str:
    return "sqlite:///" + str(Path(folder).resolve() / "mlflow.db")


def metric_name(*parts: Any) -> str:
    """``TABLE/SYSTEM/METRIC`` with characters MLflow refuses replaced by ``_``."""
    clean = (_BAD_CHAR.sub("_", str(p)) for p in parts)
    return "/".join("_" if not c or set(c) == {"."} else c for c in clean)[:250]


def param_value(v: Any) -> str:
    """A param's text as logged: a string as it is, anything else as JSON."""
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def _ms(iso: str | None) -> int | None:
    return None if not iso else int(datetime.fromisoformat(iso).timestamp() * 1000)


def run_params(run: dict) -> dict[str, str]:
    """What is logged as params for a (masked) run record."""
    out = {str(k): param_value(v) for k, v in (run.get("params") or {}).items()}
    settings = dict(run.get("settings") or {})
    for role, p in (settings.pop("precision", None) or {}).items():
        out[f"precision.{role}"] = param_value(p)
    out.update({f"setting.{k}": param_value(v) for k, v in settings.items()})
    out.update({f"model.{role}": param_value(b) for role, b in (run.get("bindings") or {}).items()})
    return out


def run_metrics(store: RunStore, run_id: str) -> tuple[list[tuple[str, float, int]], list[str]]:
    """[(name, value, step)] for a run, and notes (what could not be logged)."""
    out: list[tuple[str, float, int]] = []
    notes: list[str] = []
    seen: dict[tuple, str] = {}  # (name, step) -> the metric it came from: a collision is an error

    def add(name: str, value: Any, step: int, origin: str) -> None:
        if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
            notes.append(f"{origin}: no number ({value!r}), not logged")
            return
        if (name, step) in seen and seen[(name, step)] != origin:
            raise ExportError(f"metrics {seen[(name, step)]!r} and {origin!r} would both be logged as "
                              f"{name!r} (step {step}): rename a system or a table")
        seen[(name, step)] = origin
        out.append((name, float(value), step))

    for m in read_metrics(store, run_id):
        step = m["iteration"] or 0
        add(metric_name(m["table_name"] or "results", m["system"], m["metric"]), m["value"], step,
            f"{m['table_name']}/{m['system']}/{m['metric']}")
    totals: dict[str, float] = {}
    for n in read_table(store, run_id, "nodes"):
        for c in NODE_FIGURES:
            if n.get(c) is not None:
                add(metric_name("node", n["node_id"], c), n[c], 0, f"node {n['node_id']} {c}")
                if c != "peak_mb":
                    totals[c] = totals.get(c, 0) + n[c]
    for c, v in totals.items():
        add(metric_name("total", c), v, 0, f"total {c}")
    for t in read_table(store, run_id, "trainings"):
        info, node = t.get("info") or {}, t["node_id"]
        for k in ("train_loss", "steps"):
            if info.get(k) is not None:
                add(metric_name("train", node, k), info[k], 0, f"training {node} {k}")
        if t.get("examples") is not None:
            add(metric_name("train", node, "examples"), t["examples"], 0, f"training {node} examples")
        history = info.get("log_history")
        if history is None:
            if info.get("steps"):
                notes.append(f"training {node}: the store keeps no per-step losses for it (recorded "
                             f"before they were kept); its mean loss is logged as train/{node}/train_loss")
            continue
        for i, h in enumerate(history):
            step = int(h.get("step") or i + 1)
            for k, v in h.items():
                if k in STEP_KEYS or k.startswith("loss_"):
                    add(metric_name("train", node, k), v, step, f"training {node} {k} at step {step}")
    return out, notes


def read_metrics(store: RunStore, run_id: str) -> list[dict]:
    from collabdsl.masking import mask_all

    return mask_all(list_metrics(store, run_id))


def _program_artifact(run: dict) -> tuple[str | None, str, str | None]:
    """(masked program text or None, tag collab.program_file, a note)."""
    path = Path(run.get("program_path") or "")
    if not path.is_file():
        return None, "missing", f"program file {path} not found from here: not logged"
    text = redact(path.read_text(encoding="utf-8", errors="replace"))
    if program_hash(path) == run.get("program_hash"):
        return text, "same as the run's", None
    note = (f"program file {path}: its hash differs from the run's (edited since the run, or it imports "
            f"other files, which are not logged); logged as it is now")
    return text, "differs from the run's (edited since, or the run's hash covers its imports)", note


def _mlflow():
    import os

    # offline means offline: MLflow 3 sends usage telemetry to its makers unless this is set
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    try:
        import mlflow  # noqa: F401
        from mlflow import MlflowClient
    except ImportError as exc:
        raise ExportError(f"MLflow is not installed ({exc}): pip install 'collab[track]'") from None
    import logging

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its database set-up lines
    return MlflowClient


def _experiment(client, name: str, folder: Path) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=(folder / "artifacts" / name).resolve().as_uri())


def _existing(client, experiment_id: str, tag: str, value: str) -> list:
    return client.search_runs([experiment_id], filter_string=f"tags.`{tag}` = '{value}'")


def _export_run(client, experiment_id: str, store: RunStore, run_id: str, parent: str | None,
                lines: list[str]) -> str:
    run = read_table(store, run_id, "run")[0]
    for old in _existing(client, experiment_id, "collab.run_id", run_id):
        client.delete_run(old.info.run_id)
        lines.append(f"{run_id}: replaces MLflow run {old.info.run_id} of an earlier export (marked deleted)")
    params = run_params(run)
    metrics, notes = run_metrics(store, run_id)
    text, program_tag, note = _program_artifact(run)
    notes += [note] if note else []
    tags = {"collab.run_id": run_id, "collab.program_name": str(run.get("program_name")),
            "collab.program_hash": str(run.get("program_hash")), "collab.status": str(run.get("status")),
            "collab.program_file": program_tag, "mlflow.runName": run_id}
    if run.get("sweep_id"):
        tags["collab.sweep_id"] = str(run["sweep_id"])
        tags["collab.setting"] = param_value(run.get("setting"))
    if parent:
        tags["mlflow.parentRunId"] = parent
    if run.get("error"):
        tags["collab.error"] = str(run["error"])[:5000]
    mr = client.create_run(experiment_id, start_time=_ms(run.get("started")), tags=tags, run_name=run_id)
    mid = mr.info.run_id
    from mlflow.entities import Metric, Param
    from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

    plist = []
    for k, v in params.items():
        if len(v) > MAX_PARAM_VAL_LENGTH:
            cut = " ... (cut; the whole value is in collab/run.json)"
            v = v[:MAX_PARAM_VAL_LENGTH - len(cut)] + cut
            notes.append(f"param {k}: longer than MLflow takes; cut (whole in collab/run.json)")
        plist.append(Param(k, v))
    now = _ms(run.get("finished")) or _ms(run.get("started")) or 0
    mlist = [Metric(k, v, now, step) for k, v, step in metrics]
    for i in range(0, max(len(plist), len(mlist)), 100):
        client.log_batch(mid, metrics=mlist[i:i + 100], params=plist[i:i + 100])
    if text is not None:
        client.log_text(mid, text, f"program/{Path(run['program_path']).name}")
    whole = {"run": run, **{t: read_table(store, run_id, t) for t in ("nodes", "trainings", "warnings")}}
    whole["results"] = read_table(store, run_id, "metrics")
    client.log_text(mid, json.dumps(whole, indent=2, sort_keys=True, default=str), "collab/run.json")
    for t in ("nodes", "metrics", "trainings", "warnings"):
        client.log_text(mid, to_csv(read_table(store, run_id, t)), f"collab/{t}.csv")
    status = STATUS.get(run.get("status"))
    if status:
        client.set_terminated(mid, status=status, end_time=_ms(run.get("finished")))
    lines.append(f"{run_id}: MLflow run {mid} ({len(params)} params, {len(metrics)} metric values)")
    lines.extend(f"{run_id}: note: {n}" for n in notes)
    return mid


def export_mlflow(store: RunStore, ref: str, folder: str | Path = DEFAULT_DIR,
                  experiment: str | None = None) -> list[str]:
    """Export run or sweep ``ref`` (``latest`` for the newest run) to MLflow in ``folder``;
    returns the lines to print. ``ExportError`` with one line when it cannot."""
    folder = Path(folder)
    if ref == "latest":
        latest = store.list_runs(limit=1)
        ref = latest[0]["id"] if latest else ref
    run, sweep = store.get_run(ref), None
    if run is None:
        sweep = store.get_sweep(ref) if hasattr(store, "get_sweep") else None
        if sweep is None:
            raise ExportError(f"no run or sweep {ref!r} in {store.path} (see `collab runs`)")
    MlflowClient = _mlflow()
    folder.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=tracking_uri(folder))
    name = experiment or f"collab/{(run or sweep).get('program_name')}"
    exp = _experiment(client, name, folder)
    lines = [(f"MLflow: experiment {name!r} in {tracking_uri(folder)} "
              f"(mlflow ui --backend-store-uri {tracking_uri(folder)})")]
    if run is not None:
        _export_run(client, exp, store, run["id"], None, lines)
        return lines
    from collabdsl.masking import mask_all

    sweep = mask_all(sweep)
    for old in _existing(client, exp, "collab.sweep", sweep["id"]):
        client.delete_run(old.info.run_id)
        lines.append(f"{sweep['id']}: replaces MLflow run {old.info.run_id} of an earlier export (marked deleted)")
    parent = client.create_run(exp, start_time=_ms(sweep.get("created")), run_name=sweep["id"],
                               tags={"collab.sweep": sweep["id"], "collab.program_name": str(sweep.get("program_name")),
                                     "collab.status": str(sweep.get("status"))})
    pid = parent.info.run_id
    from mlflow.entities import Param

    client.log_batch(pid, params=[Param("grid", param_value(sweep.get("grid"))),
                                  Param("seeds", param_value(sweep.get("seeds"))),
                                  Param("ablations", param_value(sweep.get("ablations")))])
    client.log_text(pid, json.dumps(sweep, indent=2, sort_keys=True, default=str), "collab/sweep.json")
    runs = store.sweep_runs(sweep["id"])
    lines.append(f"{sweep['id']}: MLflow run {pid}, the parent of its {len(runs)} runs")
    for r in runs:
        _export_run(client, exp, store, r["id"], pid, lines)
    if STATUS.get(sweep.get("status")):
        client.set_terminated(pid, status=STATUS[sweep["status"]], end_time=_ms(sweep.get("finished")))
    return lines
