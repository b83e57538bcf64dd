"""Handlers of ``train`` (a new model version through runtime.trainer) and ``eval``
(metrics of each system into the result table and the run store)."""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from pathlib import Path

from runtime.errors import RunError
from runtime.handlers import active_rows, ev, handler
from runtime.metrics import row_scores, score, top_answer
from runtime.report import describe_task

TOP_SHARE_WARN = 0.9  # warn when one answer is more than this share of a system's answers ...
TOP_SHARE_MIN_ROWS = 5  # ... over at least this many answered rows

DONE_MARK = "collab_version.json"


def _base_path(spec: dict) -> str:
    """What the trainer loads for a local spec (runtime.served.weights_path: the embedded
    model's folder, a local path located by the compiler, or the hub id)."""
    from runtime.served import weights_path

    return weights_path(spec)


def _training_rows(ctx, node, rows) -> tuple[list, list | None, list]:
    """Trainer rows for the objective from the node's entries, row by row; the multitask
    tasks; and per training task (the trainer's groups: sft, dpo, kd's gold and teacher,
    each multitask task) how many examples were kept and how many dropped, and why:
    ``[{task, weight, kept, dropped: {reason: rows}}]``."""
    obj = node["options"]["objective"]
    entries = node["expr"]["entries"]
    out, tasks = [], None
    dropped: Counter = Counter()  # rows dropped for every task: reason -> rows
    no_target: Counter = Counter()  # multitask: task name -> rows whose target is none

    def val(name, r, default_col=None):
        if name in entries:
            return ev(ctx, node, entries[name], r)
        return r.get(default_col or name)

    for r in rows:
        if obj == "sft":
            rec = {"input": val("input", r), "target": val("target", r)}
        elif obj == "kd":
            rec = {"input": val("input", r), "gold": val("gold", r), "teacher": val("teacher", r)}
        elif obj == "dpo":
            rec = {"prompt": val("prompt", r, "question"), "chosen": val("chosen", r),
                   "rejected": val("rejected", r)}
        elif obj == "multitask":
            ts = val("tasks", r) or []
            tasks = tasks or [{"name": t["name"], "prefix": t["prefix"], "weight": t["weight"]} for t in ts]
            rec = {"input": val("input", r), "targets": {t["name"]: t["target"] for t in ts}}
        else:
            raise RunError(node, f"unknown objective {obj}")
        rec = {k: (v["answer"] if isinstance(v, dict) and "answer" in v else
                   v["text"] if isinstance(v, dict) and "text" in v else v) for k, v in rec.items()}
        # kd: a row whose teacher answer did not parse keeps its gold term of Eq. 3 (only the
        # teacher task loses it), as a multitask row keeps the tasks whose target it has
        missing = [k for k, v in rec.items() if k != "targets" and v is None
                   and not (obj == "kd" and k == "teacher")]
        if missing:  # a row whose fields did not parse is not a training example
            dropped[f"{' and '.join(missing)} none"] += 1
            continue
        if obj == "kd" and rec["teacher"] is None:
            no_target["teacher"] += 1
        for name, t in (rec.get("targets") or {}).items():
            if t is None:
                no_target[name] += 1
        out.append({k: (str(v) if k != "targets" else {n: str(t) for n, t in v.items() if t is not None})
                    for k, v in rec.items() if v is not None})
    if obj == "multitask":
        groups = [(t["name"], float(t["weight"]), no_target[t["name"]]) for t in tasks or []]
    elif obj == "kd":
        lam = node["options"].get("lambda")
        lam = 0.5 if lam is None else float(lam)
        groups = [("gold", 1.0 - lam, 0), ("teacher", lam, no_target["teacher"])]
    else:
        groups = [(obj, 1.0, 0)]
    report = [{"task": name, "weight": w, "kept": len(out) - none,
               "dropped": {**dropped, **({("teacher none" if obj == "kd" else "target none"): none}
                                         if none else {})}}
              for name, w, none in groups]
    return out, tasks, report


def _check_tasks(ctx, key, node, report: list) -> None:
    """A training task of positive weight with no example is an error (its loss would be left
    out without a word); one of weight 0 is not trained, with a note; one that loses some
    rows is trained on the rest, with a warning."""
    for t in report:
        if t["weight"] <= 0:
            ctx.warn(key, node, f"training task {t['task']!r} has weight {t['weight']:g}: it is not trained",
                     level="note")
        elif t["kept"] == 0:
            field = "target" if {"target none", "teacher none"} & set(t["dropped"]) else "fields"
            raise RunError(node, f"training task {t['task']!r} has no example: {describe_task(t)}; check "
                           f"the expression that makes its {field} (a marker that matches no row gives none)")
    partial = [t for t in report if t["weight"] > 0 and sum(t["dropped"].values())]
    if partial:
        ctx.warn(key, node, "training drops examples: " + "; ".join(describe_task(t) for t in partial))


def _write_mark(mark, info: dict) -> None:
    """The version's record; its paths relative to the version folder, so the store and its
    ``versions/`` can be used from any folder (``--store ../x/runs.db``) or moved."""
    rel = dict(info)
    for k in ("path", "adapter"):
        if rel.get(k):
            rel[k] = os.path.relpath(Path(rel[k]).resolve(), mark.parent.resolve())
    mark.write_text(json.dumps(rel))


def _read_mark(mark) -> dict | None:
    """The record of a finished training with absolute paths, or None when there is none
    or what it names is gone (then the version is trained again)."""
    if not mark.is_file():
        return None
    try:
        info = json.loads(mark.read_text())
    except (OSError, ValueError):
        return None
    for k in ("path", "adapter"):
        if info.get(k):
            p = Path(info[k])
            info[k] = str(p if p.is_absolute() else (mark.parent / p).resolve())
    if not Path(info.get("adapter") or info.get("path") or mark.parent).exists():
        return None
    return info


def _trainer_kwargs(node, spec: dict, run_seed) -> tuple[dict | None, dict]:
    """(lora settings, keywords of runtime.trainer.train) of a train node: every training
    option given, passed as its ``kwarg`` in collabdsl.options.TRAIN_OPTIONS; the role's
    ``chat`` model option, so training and inference use the same template; the role's
    precision (``runtime.precision.role_precision``)."""
    from collabdsl.options import TRAIN_OPTIONS

    o = node["options"]
    lora = None if spec.get("lora") is None else dict(spec["lora"])
    if o.get("full") is not None:  # this training's choice over the role's declaration
        lora = None if o["full"] else (lora if lora is not None else {})
    kwargs = {}
    for name, opt in TRAIN_OPTIONS.items():
        if o.get(name) is None or opt.kwarg in ("lora", "restart", *LAUNCH_OPTIONS):  # the handler's choices
            continue
        if opt.kwarg.startswith("lora."):
            if lora is None:  # the lowering rejects this (E112); never dropped silently
                raise RunError(node, f"'{name}' sets a LoRA adapter, but this training updates all weights")
            lora[opt.kwarg.removeprefix("lora.")] = o[name]
        else:
            kwargs[opt.kwarg] = o[name]
    kwargs["seed"] = int(kwargs.get("seed", run_seed) or 0)
    chat = (spec.get("options") or {}).get("chat")
    if chat is not None:
        kwargs["chat"] = bool(chat)
    from runtime.precision import role_precision

    # the role's dtype: a bf16 role trains under bf16 autocast (it is in the node's
    # fingerprint through the role's call version, and recorded with the training)
    precision = role_precision(spec)
    if precision is not None:
        kwargs["precision"] = precision
    return lora, kwargs


LAUNCH_OPTIONS = ("launcher", "processes", "accelerate_config")  # how the training runs (_launch)


def _launch(ctx, node) -> dict | None:
    """The keywords of runtime.launch.launch_train for a training with ``launcher: "accelerate"``
    (``processes``, ``accelerate_config``: the real path located and checked when compiling,
    checked again here), or None for an in-process training. A setting that cannot be honoured
    is a RunError at the node."""
    o = node["options"]
    launcher, processes = o.get("launcher") or "none", o.get("processes")
    if launcher != "accelerate":
        if (processes or 1) > 1 or o.get("accelerate_config"):
            name = "processes" if (processes or 1) > 1 else "accelerate_config"
            raise RunError(node, f"'{name}' needs launcher: \"accelerate\" (or collab run --launcher accelerate); "
                           f"launcher \"{launcher}\" trains in the run's own process")
        return None
    processes = int(processes or 1)
    batch = int(o.get("batch_size") or 4)
    if batch % processes:
        raise RunError(node, f"batch_size {batch} does not divide among {processes} processes: batch_size counts "
                       f"the inputs of an optimizer step over all processes, so it must be a multiple of {processes}")
    config = None
    if o.get("accelerate_config"):
        from collabdsl.access import AccessDenied, train_config_path

        try:
            named = node.get("accelerate_config_from") == "--accelerate-config"  # the user's own file
            config = str(train_config_path(node.get("accelerate_config") or o["accelerate_config"],
                                           None if named else ctx.policy, ctx.base_dir))
        except (AccessDenied, FileNotFoundError) as exc:
            raise RunError(node, str(exc)) from None
    return {"processes": processes, "accelerate_config": config}


# fewer training examples than this is warned about: a handful, the least a scheme means to train on
FEW_EXAMPLES = 5


@handler("train")
async def train(ctx, node, key):
    role = ctx.pool.roles[node["model"]]
    new = ctx.pool.roles[node["out"]]
    fp = ctx.fps[key]
    active = active_rows(ctx, node)
    rows, tasks, report = _training_rows(ctx, node, active)
    o = node["options"]
    record = {"node": key, "model": node["out"], "objective": o["objective"], "examples": len(rows),
              "tasks": report}
    if not active:
        record["skipped"] = "no training examples"
        ctx.warn(key, node, f"data set '{node['data']}' has no row to train on: '{node['out']}' stays the "
                 f"version it was")
        new.adapter, new.version_id = role.adapter, role.version_id
        ctx.trainings.append(record)
        ctx.store.add_training(ctx.run_id, key, record)
        return
    _check_tasks(ctx, key, node, report)
    if len(rows) < FEW_EXAMPLES:
        ctx.warn(key, node, f"'{node['out']}' trains on {len(rows)} example{'s' if len(rows) != 1 else ''} "
                 f"({o['objective']}): too few to learn from; the version will hardly differ from "
                 f"'{node['model']}' (a filter upstream may keep fewer rows than meant)")
    out_dir = ctx.work_dir / "versions" / fp[:24]  # work_dir: the store's folder, absolute
    mark = out_dir / DONE_MARK
    info = _read_mark(mark)
    if info is not None:
        ctx.stats[key].reused = True
        ctx.count(key, cache_hits=1)
    else:
        from runtime.served import training_spec
        from runtime.trainer import train as run_trainer

        spec = role.spec
        parent_adapter = role.adapter
        if o.get("restart"):  # the declared weights, not the version the role has now
            declared = ctx.G.graph["models"].get(node["model"]) or spec
            spec = {**spec, **{k: declared[k] for k in ("backend", "ref", "kwargs", "resolved", "weights")
                               if k in declared}}
            parent_adapter = None
        spec = training_spec(spec)  # a served role: the weights its server serves (runtime.served)
        lora, kwargs = _trainer_kwargs(node, spec, ctx.seed)
        launch = _launch(ctx, node)
        try:
            from runtime.agents import in_compute_thread, weights_bytes

            # the training's weights, and when all are trained their gradients and optimizer
            # state (Adam: 2 values per weight), must fit beside the loaded models: idle ones
            # are unloaded first (AgentPool.make_room)
            await ctx.pool.make_room(None, need=weights_bytes(spec) * (4 if lora is None else 1))

            def job():  # on the compute thread: the base path of an embedded model may mean a
                # first GGUF conversion, which imports transformers (not safe beside a model load)
                if launch is not None:  # an accelerate launch subprocess; the version lands atomically
                    from runtime.launch import launch_train

                    return launch_train(o["objective"], _base_path(spec), rows, out_dir, adapter=parent_adapter,
                                        lora=lora, tasks=tasks, **launch, **kwargs)
                return run_trainer(o["objective"], _base_path(spec), rows, out_dir, adapter=parent_adapter,
                                   lora=lora, tasks=tasks, **kwargs)

            result = await in_compute_thread(job)
        except Exception as exc:  # noqa: BLE001
            if type(exc).__name__ == "LaunchError":  # one line; the processes' output stays in the record
                record.update(failed=str(exc), launcher="accelerate", world_size=launch["processes"],
                              log=str(exc.log) if exc.log else None, stderr_tail=exc.tail)
                ctx.trainings.append(record)
                ctx.store.add_training(ctx.run_id, key, record)
                raise RunError(node, f"training failed: {exc}") from None
            raise RunError(node, f"training failed: {type(exc).__name__}: {exc}") from exc
        info = {"path": str(result.path), "adapter": str(result.adapter_path) if result.adapter_path else None,
                "steps": result.steps, "examples": result.examples, "seconds": result.seconds,
                "train_loss": result.train_loss, "tokens": result.tokens, "optimizer": result.optimizer,
                "batch_size": result.batch_size, "micro_batch": result.micro_batch,
                "passes": result.passes, "batches": result.batches, "padded_tokens": result.padded_tokens,
                "precision": result.precision, "launcher": result.launcher, "world_size": result.world_size,
                "distributed": result.distributed,
                # the trainer's per-step logs (loss, learning rate ...; collab report draws them)
                "log_history": [{k: v for k, v in h.items() if isinstance(v, (int, float))}
                                for h in (result.log_history or []) if any(k.startswith("loss") for k in h)]}
        _write_mark(mark, info)
        info = _read_mark(mark)
    if info["adapter"]:
        new.adapter = info["adapter"]
        if o.get("restart") and ctx.G.graph["models"].get(node["model"]) and role.spec.get("ref") != \
                ctx.G.graph["models"][node["model"]].get("ref"):  # an adapter on the declared weights
            fresh = ctx.pool.role_for(node["out"], ctx.G.graph["models"][node["model"]])
            new.spec, new.agent = fresh.spec, fresh.agent
    else:  # full fine-tuning: the version is a new model folder, served by its own agent
        spec = {**role.spec, "backend": "hf", "ref": info["path"], "kwargs": {}, "resolved": None}
        fresh = ctx.pool.role_for(node["out"], spec)
        new.spec, new.agent, new.adapter = fresh.spec, fresh.agent, None
    new.version_id = fp
    ctx.store.add_model_version(node["out"], f"{role.spec['backend']}:{role.spec.get('ref')}",
                                info["adapter"], run_id=ctx.run_id, node_id=key)
    record.update(info)
    ctx.trainings.append(record)
    ctx.store.add_training(ctx.run_id, key, record)


@handler("eval")
async def eval_(ctx, node, key):
    o = node["options"]
    rows = active_rows(ctx, node)
    golds = [r.get(o["gold"]) if o["gold"] else None for r in rows]
    metrics = []
    iteration = ctx.iteration[-1] if ctx.iteration else None
    per_row: dict = {}  # system -> metric -> each row's score, for intervals over rows (collab sweep)
    for s in o["systems"]:
        preds = [r.get(s["column"]) for r in rows]
        for m in o["metrics"]:
            scores = row_scores(m, preds, golds)
            if scores is not None:
                per_row.setdefault(s["label"], {})[m] = scores
        row = {"table": o["name"], "iteration": iteration, "system": s["label"], "n": len(rows)}
        for m in o["metrics"]:
            v = score(m, preds, golds)
            row[m] = None if math.isnan(v) else v
            metrics.append({"system": s["label"], "metric": m, "value": row[m], "n": len(rows)})
        if any(m != "mean" for m in o["metrics"]):
            # a system that gives one answer on (almost) every row: its accuracy is the share
            # of that answer among the gold answers, which a table does not show by itself
            top, c, answered = top_answer(preds)
            row["top_share"] = c / answered if answered else None
            metrics.append({"system": s["label"], "metric": "top_share", "value": row["top_share"],
                            "n": len(rows)})
            if answered >= TOP_SHARE_MIN_ROWS and c / answered > TOP_SHARE_WARN:
                ctx.warn(key, node, f"system '{s['label']}' gives the same answer {str(top)[:60]!r} on {c} of "
                         f"its {answered} answered rows ({c / answered:.0%}): its scores may only say "
                         f"how often that answer is right", span=s.get("span"))
        retrievals = s.get("retrievals") or []
        if retrievals and rows:
            # a gated retrieval feeds this system: the share of rows that retrieved, and the
            # size of the knowledge base they searched
            row["retrieval_rate"] = sum(any(r.get(c) is not None for c, _ in retrievals)
                                        for r in rows) / len(rows)
            row["kb_entries"] = sum(ctx.store.kb_size(ctx.kb_name(kb)) for kb in {kb for _, kb in retrievals})
            metrics += [{"system": s["label"], "metric": m, "value": row[m], "n": len(rows)}
                        for m in ("retrieval_rate", "kb_entries")]
        ctx.results.append(row)
    values = {r["system"]: r for r in ctx.results if r["table"] == o["name"] and r["iteration"] == iteration}
    for d in o.get("derived") or []:
        row = {"table": o["name"], "iteration": iteration, "system": d["label"], "n": len(rows)}
        for m in o["metrics"]:
            row[m] = derived_value(ctx, key, node, d, m, values)
            metrics.append({"system": d["label"], "metric": m, "value": row[m], "n": len(rows)})
        values[d["label"]] = row
        ctx.results.append(row)
    ctx.store.add_metrics(ctx.run_id, key, metrics, table_name=o["name"], iteration=iteration)
    ctx.store.add_eval_scores(ctx.run_id, key, [r.get("_rid") for r in rows], per_row)


def derived_value(ctx, key, node, d: dict, metric: str, values: dict):
    """A derived row's value of ``metric``: its expression with ``system("label")`` that
    row's value. None, with a located warning, when a denominator is not positive (a gap
    that does not exist: PGR with the strong model no better than the weak one), and None
    when a row it reads has no value."""
    from collabdsl import ast as A
    from collabdsl.evaluate import Env, EvalError, evaluate
    from collabdsl.unparse import unparse

    env = Env(params=ctx.params, names={"system": lambda label: (values.get(label) or {}).get(metric)})
    try:
        for n in d["expr"].walk():
            if isinstance(n, A.BinOp) and n.op == "/":
                den = evaluate(n.right, env)
                if den is not None and den <= 0:
                    ctx.warn(key, node, f"derived '{d['label']}' ({metric}): the denominator "
                             f"{unparse(n.right)} is {den:g}, not positive: no value", span=d["span"])
                    return None
        v = evaluate(d["expr"], env)
    except (EvalError, TypeError):  # a row it reads has no value (none in arithmetic)
        return None
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else v


