"""Fine-tune a model version: one entry point, :func:`train`, built on TRL + PEFT.

Objectives (``rows`` format in brackets):

``sft``        [{input, target}]  TRL ``SFTTrainer`` on a prompt/completion dataset, so the loss
               covers the completion tokens only. With a chat template the prompt is a user
               turn and the completion an assistant turn (TRL applies the template).
``kd``         [{input, gold, teacher}]  DKT eq. 3:
               ``L = (1 - lam) * NLL(gold | input) + lam * NLL(teacher | input)``; a row without
               ``teacher`` (its teacher answer did not parse) adds to the gold term only.
``multitask``  [{input, targets: {task: target}}] with ``tasks=[{name, prefix, weight}]``
               (TinyLLM / distilling step-by-step): every task contributes the example
               ``prefix + input -> targets[task]`` and ``L = sum_m weight_m * L_m``.

``batch_size`` counts *inputs* (training rows) for every objective: a kd or multitask batch
holds ``batch_size`` inputs with all of their targets (kd: gold and teacher; multitask: every
task), as in the TinyLLM authors' trainer (one batch of questions, ``gamma*L_pred +
alpha*L_t5 + beta*L_llama`` on it). So an epoch of kd or multitask takes as many optimizer
steps as an epoch of sft on the same rows (:func:`input_batches`).
``dpo``        [{prompt, chosen, rejected}]  TRL ``DPOTrainer`` with ``beta``.

How kd and multitask are weighted
---------------------------------
TRL 1.16's ``SFTTrainer`` has no per-example loss weights, so both objectives build a
*grouped* prompt/completion dataset (kd: each input twice, group ``gold`` with weight
``1 - lam`` and group ``teacher`` with weight ``lam``; multitask: each input once per task,
group = task) and train it with :class:`_GroupWeightedSFTTrainer`, a small ``SFTTrainer``
subclass that keeps all of TRL's data preparation, chat templating, completion masking and
fused log-prob head, and changes only which sequences share a batch (every sequence of an
input goes into the input's batch: :class:`_InputBatchSampler`) and how the per-token NLLs
are reduced::

    L = sum_g  w_g * (sum of NLL over group-g completion tokens) / (group-g completion tokens)

The token counts are taken over the whole optimizer step (all gradient-accumulation
micro-batches), exactly as TRL normalises plain SFT by ``num_items_in_batch``; so every group
(task, or gold/teacher) gets its own token-mean loss ``L_g`` and the groups are mixed by their
weights, independently of how long each group's targets are (rationales vs. labels). Every
optimizer step sees every group of its inputs; a group is absent from a step only where all
of the step's inputs lack its target (a target of none), and then contributes nothing. Each group's (unweighted)
loss is logged as ``loss_<group>``.

Groups of weight 0 are dropped from the dataset (no compute is spent on them), and when a
single group of weight 1 remains the plain ``SFTTrainer`` runs: ``kd`` with ``lam=0`` *is*
plain SFT on the gold targets and ``lam=1`` plain SFT on the teacher targets, bit for bit.

Other choices
-------------
* LoRA by default (``LORA_DEFAULTS``: r=16, alpha=32, dropout=0.05, ``target_modules=
  "all-linear"``: every linear layer of the transformer blocks, lm_head excluded. Adapting the
  MLPs as well as attention is what QLoRA found necessary to match full fine-tuning, and
  ``"all-linear"`` needs no per-architecture module names). ``lora=None`` fine-tunes all
  weights and saves a full model.
* ``adapter=<folder>`` continues a previous version: the adapter is loaded *trainable* and the
  result is saved as a new adapter in ``out_dir`` (its own LoRA config is kept; ``lora`` is
  ignored). For ``dpo`` TRL then uses a frozen copy of that adapter as the reference policy;
  with a fresh LoRA the reference is the base model (adapter disabled); with full
  fine-tuning TRL loads a separate reference copy.
* The precision of the trained role (its ``dtype``; ``precision=``): bf16 autocast where
  it resolves to bf16 (by default on CUDA; on a CPU with ``dtype "bf16"`` or ``"auto"`` and
  native bf16), LoRA keeping the frozen base in bf16 and full fine-tuning fp32 master
  weights; fp32 otherwise. It is recorded in ``collab_train.json``.
* ``report_to="none"``, no intermediate checkpoints, gradient checkpointing off (small models; pass ``gradient_checkpointing=True`` for big ones).
  Deterministic for a given ``seed`` (model init, LoRA init, data order).
* Single-process training; the weighted objectives refuse to run distributed.

Heavy libraries (torch, transformers, trl, peft, datasets) are imported inside functions
only, so ``import runtime.trainer`` stays cheap.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

# the estimate of a pass's activations lives with the other memory estimates (collab plan uses it too)
from collabdsl.memsize import HEAD_VECTORS, activation_bytes  # noqa: F401

OBJECTIVES = ("sft", "kd", "multitask", "dpo")

LORA_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": "all-linear"}
)

# Learning rates used when ``lr=None``: (LoRA, full fine-tuning).
DEFAULT_LR = {
    "sft": (2e-4, 2e-5), "kd": (2e-4, 2e-5), "multitask": (2e-4, 2e-5), "dpo": (5e-5, 1e-6),
}

META_FILE = "collab_train.json"


@dataclass
class TrainResult:
    objective: str
    path: Path  # the adapter folder (LoRA) or the full model folder
    adapter_path: Path | None
    model_path: Path | None
    steps: int  # optimizer steps
    examples: int  # training sequences per epoch (kd: 2 per input, multitask: 1 per task);
    # an optimizer step takes batch_size * grad_accum inputs with all their sequences
    seconds: float  # wall time of the whole call (load, prepare, train, save)
    train_loss: float  # mean training loss over all steps (the weighted loss for kd/multitask)
    tokens: int  # non-padding tokens fed through the model during training (prompts included)
    final_loss: float | None = None  # last logged training loss
    task_losses: dict[str, float] = field(default_factory=dict)  # mean logged loss per group
    log_history: list[dict] = field(default_factory=list)
    # the torch optimizer that ran: {"class": "RMSprop", "weight_decay": [values of its param groups]}
    optimizer: dict | None = None
    # inputs per forward/backward pass: batch_size, or a divisor of it when the batch's
    # activations would not fit (:func:`micro_batch`); the step accumulates the rest
    micro_batch: int | None = None
    batch_size: int | None = None  # inputs per optimizer step (before grad_accum)
    precision: str | None = None  # what the passes computed in: bfloat16 / float16 autocast, or float32

    def to_json(self) -> dict:
        d = asdict(self)
        for k in ("path", "adapter_path", "model_path"):
            d[k] = None if d[k] is None else str(d[k])
        return d


def train(
    objective: str,
    base: str | Path,
    rows: list[dict],
    out_dir: str | Path,
    *,
    adapter: str | Path | None = None,
    lora: Mapping[str, Any] | None = LORA_DEFAULTS,
    lr: float | None = None,
    epochs: float = 1.0,
    batch_size: int = 4,
    grad_accum: int = 1,
    max_length: int = 512,
    seed: int = 0,
    beta: float = 0.1,
    lam: float = 0.5,
    tasks: list[dict] | None = None,
    max_steps: int | None = None,
    warmup: float | None = None,
    scheduler: str | None = None,
    optimizer: str | None = None,
    weight_decay: float | None = None,
    chat: bool | None = None,
    gradient_checkpointing: bool = False,
    logging_steps: int = 1,
    micro_batch: int | None = None,
    precision: str | None = None,
) -> TrainResult:
    """Train ``base`` (a model folder or hub id) on ``rows`` and save the result to ``out_dir``.

    ``lora``: LoRA settings (keys r, alpha, dropout, target_modules; missing keys take
    ``LORA_DEFAULTS``), or ``None`` for full fine-tuning. ``adapter``: a previous version's
    adapter folder to continue training. ``lam``: kd mixing weight of the teacher targets.
    ``tasks``: multitask ``[{name, prefix, weight}]``. ``beta``: DPO temperature.
    ``chat``: apply the tokenizer's chat template (default: when it has one).
    ``max_steps`` overrides ``epochs``. ``warmup``: the share of the optimizer steps with a
    linear warmup, in [0, 1); ``scheduler``: transformers' ``lr_scheduler_type`` (default
    "linear"); ``optimizer``: transformers' ``optim`` name (default: transformers');
    ``weight_decay``: the optimizer's weight decay (default 0). The TRL and PEFT configs are
    built by :func:`build_configs`. ``micro_batch``: inputs per forward/backward pass (a
    divisor of ``batch_size``; default: the largest whose activations fit, :func:`micro_batch`);
    the optimizer step still takes ``batch_size * grad_accum`` inputs and its loss is
    normalised over all of them, so only float rounding (and dropout masks) differ.
    ``precision``: the trained role's ``dtype`` (``runtime.precision`` names; None: the
    device's default, bf16 autocast on CUDA and fp32 on a CPU); see :func:`build_configs`.
    """
    t0 = time.perf_counter()
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    if not rows:
        raise ValueError("no training rows")
    out_dir = Path(out_dir)
    if adapter is not None:
        if lora is None:
            raise ValueError("adapter= continues a LoRA adapter; it cannot go with lora=None")
        if Path(adapter).resolve() == out_dir.resolve():
            raise ValueError("out_dir must differ from the adapter being continued")
    if objective == "kd" and not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must lie in [0, 1], got {lam}")
    # validate and lay out the data before any heavy import or model load
    if objective == "dpo":
        for i, r in enumerate(rows):
            _require(r, ("prompt", "chosen", "rejected"), objective, i)
        groups = None
    else:
        groups = _sft_groups(objective, rows, lam, tasks)
    configs = build_configs(
        objective, out_dir, lora=lora, adapter=adapter, lr=lr, epochs=epochs, batch_size=batch_size,
        grad_accum=grad_accum, max_length=max_length, seed=seed, beta=beta, max_steps=max_steps,
        warmup=warmup, scheduler=scheduler, optimizer=optimizer, weight_decay=weight_decay,
        gradient_checkpointing=gradient_checkpointing, logging_steps=logging_steps, precision=precision)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed

    cuda = torch.cuda.is_available()
    set_seed(seed)

    from runtime.executors.transformers_exec import refuse_encoder

    refuse_encoder(str(base), repr(str(base)))
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if chat is None:
        chat = bool(getattr(tokenizer, "chat_template", None))
    model = trainer = trained = ran = None
    try:
        dtype = torch.bfloat16 if (configs.args.bf16 and lora is not None) else torch.float32
        model = AutoModelForCausalLM.from_pretrained(str(base), dtype=dtype)
        if cuda:
            model = model.to("cuda")

        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)

        micro = _fit_micro_batch(micro_batch, batch_size, model.config, lora, configs.args.bf16,
                                 _longest(tokenizer, rows, groups), 2 if groups is None else len(groups),
                                 gradient_checkpointing)
        configs.args.per_device_train_batch_size = micro
        configs.args.gradient_accumulation_steps = grad_accum * (batch_size // micro)

        if groups is None:
            trainer, n_examples = _dpo_trainer(model, tokenizer, rows, configs.args, configs.peft_config, chat)
        else:
            trainer, n_examples = _sft_trainer(model, tokenizer, groups, configs.args, configs.peft_config, chat)

        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # losses go to TrainResult.log_history, not stdout
        out = trainer.train()
        steps = int(trainer.state.global_step)
        ran = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate wraps it
        tokens = int(getattr(trainer, "_total_train_tokens", 0))
        history = [dict(h) for h in trainer.state.log_history]

        out_dir.mkdir(parents=True, exist_ok=True)
        trained = trainer.model
        from peft import PeftModel

        if isinstance(trained, PeftModel):
            # DPO continuing an adapter adds a frozen "ref" copy: save only the trained one.
            trained.save_pretrained(str(out_dir), selected_adapters=["default"])
            adapter_path, model_path = out_dir, None
            cfg = trained.peft_config["default"]
            targets = cfg.target_modules
            lora_used = {"r": cfg.r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
                         "target_modules": targets if isinstance(targets, str) else sorted(targets)}
        else:
            trainer.save_model(str(out_dir))  # model + tokenizer
            adapter_path, model_path, lora_used = None, out_dir, None

        losses = [h["loss"] for h in history if "loss" in h]
        per_group: dict[str, list[float]] = {}
        for h in history:
            for k, v in h.items():
                if k.startswith("loss_"):
                    per_group.setdefault(k[len("loss_"):], []).append(float(v))
        task_losses = {k: sum(v) / len(v) for k, v in per_group.items()}

        result = TrainResult(
            objective=objective,
            path=out_dir,
            adapter_path=adapter_path,
            model_path=model_path,
            steps=steps,
            examples=n_examples,
            seconds=time.perf_counter() - t0,
            train_loss=float(out.training_loss),
            tokens=tokens,
            final_loss=losses[-1] if losses else None,
            task_losses=task_losses,
            log_history=history,
            optimizer=None if ran is None else {
                "class": type(ran).__name__,
                "weight_decay": sorted({float(g.get("weight_decay", 0.0)) for g in ran.param_groups})},
            micro_batch=micro,
            batch_size=batch_size,
            precision="bfloat16" if configs.args.bf16 else "float16" if configs.args.fp16 else "float32",
        )
        meta = {
            "objective": objective,
            "base": str(base),
            "parent_adapter": None if adapter is None else str(adapter),
            "lora": lora_used,
            "hyperparameters": {
                "lr": configs.args.learning_rate, "epochs": epochs, "batch_size": batch_size,
                "grad_accum": grad_accum, "micro_batch": micro, "max_length": max_length, "seed": seed, "max_steps": max_steps,
                "chat": chat, "warmup": configs.args.warmup_steps,
                "scheduler": getattr(configs.args.lr_scheduler_type, "value", configs.args.lr_scheduler_type),
                "optimizer": getattr(configs.args.optim, "value", configs.args.optim),
                "weight_decay": configs.args.weight_decay,
                "precision": result.precision,
                **({"beta": beta} if objective == "dpo" else {}),
                **({"lam": lam} if objective == "kd" else {}),
                **({"tasks": tasks} if objective == "multitask" else {}),
            },
            "result": {k: v for k, v in result.to_json().items() if k != "log_history"},
        }
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2, default=str))
        return result
    finally:
        # what the training held (model, optimizer state, accelerate's references) is given
        # back now, not when the run ends: a run trains several versions in one process
        if trainer is not None:
            trainer.accelerator.free_memory()
        model = trainer = trained = ran = None  # noqa: F841 - drop the frame's references
        release_memory()


def train_memory() -> int:
    """Bytes a training's micro-batch may take for its activations: ``COLLAB_BATCH_GB`` when
    set, else a quarter of the memory available now (the generation batches' budget,
    :func:`runtime.executors.transformers_exec.batch_memory`)."""
    import torch

    from runtime.executors.transformers_exec import batch_memory

    return batch_memory(torch.device("cuda" if torch.cuda.is_available() else "cpu"))


def micro_batch(batch_size: int, per_input: int, budget: int) -> int:
    """The largest divisor of ``batch_size`` whose inputs' activations (``per_input`` bytes
    each) fit in ``budget``; 1 when even one input does not."""
    fit = max(1, budget // max(1, per_input))
    return max(d for d in range(1, batch_size + 1) if batch_size % d == 0 and d <= fit)


def _longest(tokenizer, rows: list[dict], groups) -> int:
    """Tokens of the longest training sequence (prompt + completion, + 64 for a chat
    template's turns), from the texts."""
    if groups is None:
        texts = [r["prompt"] + max(r["chosen"], r["rejected"], key=len) for r in rows]
    else:
        texts = [p + c for _, _, pairs in groups for p, c, _ in pairs]
    if not texts:
        return 1
    longest = max(texts, key=len)  # by characters: tokenizing every row would cost more
    return len(tokenizer(longest, add_special_tokens=False)["input_ids"]) + 64


def _fit_micro_batch(given: int | None, batch_size: int, config, lora, bf16: bool, longest: int,
                     seqs_per_input: int, checkpointing: bool) -> int:
    if given is not None:
        if given < 1 or batch_size % given:
            raise ValueError(f"micro_batch must divide batch_size ({batch_size}); got {given}")
        return given
    dropout = None if lora is None else float(_lora_settings(lora)["dropout"])
    per_input = activation_bytes(config, seqs_per_input * longest, lora_dropout=dropout, bf16=bf16,
                                 checkpointing=checkpointing, length=longest)
    return micro_batch(batch_size, per_input, train_memory())


def release_memory() -> None:
    """Collect what is no longer referenced and give freed memory back: CUDA's cache, and
    the heap pages malloc keeps (``runtime.allocator.give_back``): without it the resident
    size of a process that trained once stays near its peak, and grows with each training."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    from runtime import allocator

    allocator.give_back(force=True)


# ---------------------------------------------------------------------------------------------
# Configs


@dataclass
class TrainConfigs:
    """What a training is configured with: the TRL arguments and the PEFT LoRA config."""

    args: Any  # trl.SFTConfig (sft, kd, multitask) or trl.DPOConfig (dpo)
    peft_config: Any  # peft.LoraConfig of a new adapter; None for full fine-tuning or a continued adapter


def build_configs(
    objective: str,
    out_dir: str | Path,
    *,
    lora: Mapping[str, Any] | None = LORA_DEFAULTS,
    adapter: str | Path | None = None,
    lr: float | None = None,
    epochs: float = 1.0,
    batch_size: int = 4,
    grad_accum: int = 1,
    max_length: int = 512,
    seed: int = 0,
    beta: float = 0.1,
    max_steps: int | None = None,
    warmup: float | None = None,
    scheduler: str | None = None,
    optimizer: str | None = None,
    weight_decay: float | None = None,
    gradient_checkpointing: bool = False,
    logging_steps: int = 1,
    precision: str | None = None,
) -> TrainConfigs:
    """The ``SFTConfig``/``DPOConfig`` and ``LoraConfig`` that :func:`train` trains with
    (the same arguments; no model is loaded). Options left at None keep TRL's defaults.

    ``precision`` (the trained role's ``dtype``, resolved by ``runtime.precision.resolve``:
    ``auto`` is bf16 where the device computes it natively): ``bfloat16`` trains under bf16
    autocast, also on a CPU (transformers then needs ``use_cpu``; ``bench/train_precision.py``
    on a CPU with AVX512-BF16: 4 steps of full fine-tuning 0.84x the wall of fp32, of LoRA
    0.98x: the frozen base gains little); ``float16`` under fp16
    autocast, CUDA only; ``float32`` in fp32. None: bf16 on a CUDA device that supports it,
    fp32 elsewhere (what collab always did)."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; expected one of {OBJECTIVES}")
    if warmup is not None and not 0 <= warmup < 1:
        raise ValueError(f"warmup is the share of the steps spent warming up, in [0, 1); got {warmup}")
    if weight_decay is not None and weight_decay < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
    peft_config = None
    if lora is not None:
        settings = _lora_settings(lora)
        if adapter is None:
            peft_config = _lora_config(settings)
    import torch

    cuda = torch.cuda.is_available()
    if precision is None:
        bf16, fp16 = cuda and torch.cuda.is_bf16_supported(), False
    else:
        from runtime.precision import resolve

        name = resolve(precision, "cuda" if cuda else "cpu")
        bf16, fp16 = name == "bfloat16", name == "float16"
        if fp16 and not cuda:
            raise ValueError("dtype float16 trains under fp16 autocast, which needs a CUDA device; "
                             "use bf16 or fp32 on a CPU")
    if lr is None:
        lr = DEFAULT_LR[objective][0 if lora is not None else 1]
    common = {
        "output_dir": str(out_dir),
        "learning_rate": lr,
        "num_train_epochs": epochs,
        "max_steps": -1 if max_steps is None else int(max_steps),
        "per_device_train_batch_size": batch_size,
        "gradient_accumulation_steps": grad_accum,
        "max_length": max_length,
        "seed": seed,
        "data_seed": seed,
        "bf16": bf16,
        "fp16": fp16,
        # transformers refuses bf16 autocast on a CPU unless told the CPU is the device
        **({"use_cpu": True} if bf16 and not cuda else {}),
        "activation_checkpointing": gradient_checkpointing,
        "report_to": "none",
        "save_strategy": "no",
        "eval_strategy": "no",
        "logging_steps": logging_steps,
        "disable_tqdm": True,
        "dataloader_pin_memory": cuda,
    }
    # transformers 5 has no warmup_ratio: warmup_steps below 1 is the ratio of the steps
    chosen = {"warmup_steps": None if warmup is None else float(warmup), "lr_scheduler_type": scheduler,
              "optim": optimizer, "weight_decay": None if weight_decay is None else float(weight_decay)}
    common.update({k: v for k, v in chosen.items() if v is not None})
    if objective == "dpo":
        from trl import DPOConfig

        return TrainConfigs(DPOConfig(**common, beta=beta), peft_config)
    from trl import SFTConfig

    return TrainConfigs(SFTConfig(**common, completion_only_loss=True), peft_config)


# ---------------------------------------------------------------------------------------------
# LoRA


def _lora_settings(lora: Mapping[str, Any]) -> dict:
    unknown = set(lora) - set(LORA_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown LoRA settings {sorted(unknown)}; known: {sorted(LORA_DEFAULTS)}")
    return {**LORA_DEFAULTS, **lora}


def _lora_config(lora: Mapping[str, Any]):
    from peft import LoraConfig

    s = _lora_settings(lora)
    target = s["target_modules"]
    return LoraConfig(
        r=int(s["r"]),
        lora_alpha=s["alpha"],
        lora_dropout=float(s["dropout"]),
        target_modules=target if isinstance(target, str) else list(target),
        bias="none",
        task_type="CAUSAL_LM",
    )


# ---------------------------------------------------------------------------------------------
# SFT family (sft, kd, multitask)


def _require(row: dict, keys: tuple[str, ...], objective: str, i: int) -> None:
    missing = [k for k in keys if k not in row]
    if missing:
        raise ValueError(f"{objective} row {i} lacks {missing}: {row!r}")


def _sft_groups(objective: str, rows: list[dict], lam: float, tasks: list[dict] | None):
    """[(group name, weight, [(prompt text, completion text, row index), ...])], zero weights
    dropped; a group of positive weight without examples is an error (ValueError). The row
    index keeps every sequence of one input together in a batch (:func:`input_batches`)."""
    if objective == "sft":
        pairs = []
        for i, r in enumerate(rows):
            _require(r, ("input", "target"), objective, i)
            pairs.append((r["input"], r["target"], i))
        groups = [("sft", 1.0, pairs)]
    elif objective == "kd":
        gold, teacher = [], []
        for i, r in enumerate(rows):
            _require(r, ("input", "gold"), objective, i)
            gold.append((r["input"], r["gold"], i))
            if r.get("teacher") is not None:  # no teacher answer: the gold term only
                teacher.append((r["input"], r["teacher"], i))
        groups = [("gold", 1.0 - lam, gold), ("teacher", lam, teacher)]
    else:  # multitask
        if not tasks:
            raise ValueError("multitask needs tasks=[{name, prefix, weight}, ...]")
        names = [t["name"] for t in tasks]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate task names in {names}")
        groups = []
        for t in tasks:
            name, prefix, weight = t["name"], t.get("prefix", ""), float(t.get("weight", 1.0))
            if weight < 0:
                raise ValueError(f"task {name!r} has a negative weight")
            pairs = []
            for i, r in enumerate(rows):
                _require(r, ("input", "targets"), objective, i)
                if r["targets"].get(name) is not None:
                    pairs.append((prefix + r["input"], r["targets"][name], i))
            groups.append((name, weight, pairs))
    empty = [g[0] for g in groups if g[1] > 0 and not g[2]]
    if empty:  # its loss would silently be left out of L
        raise ValueError(f"{objective}: no examples for {', '.join(map(repr, empty))} (weight > 0)")
    groups = [g for g in groups if g[1] > 0]
    if not groups:
        raise ValueError(f"{objective}: no examples with a positive weight")
    return groups


def _pc_record(prompt: str, completion: str, chat: bool) -> dict:
    if chat:
        return {
            "prompt": [{"role": "user", "content": prompt}],
            "completion": [{"role": "assistant", "content": completion}],
        }
    return {"prompt": prompt, "completion": completion}


def _sft_trainer(model, tokenizer, groups, args, peft_config, chat: bool):
    from datasets import Dataset
    from trl import SFTTrainer

    records = []
    for g, (_, _, pairs) in enumerate(groups):
        for p, c, item in pairs:
            records.append({**_pc_record(p, c, chat), "group": g, "item": item})
    if len(groups) == 1 and groups[0][1] == 1.0:  # one sequence per input: plain SFT batches
        dataset = Dataset.from_list([{k: v for k, v in r.items() if k not in ("group", "item")}
                                     for r in records])
        trainer = SFTTrainer(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
            peft_config=peft_config,
        )
    else:
        trainer = _weighted_sft_cls()(
            model=model, args=args, train_dataset=Dataset.from_list(records),
            processing_class=tokenizer, peft_config=peft_config,
            group_names=[g[0] for g in groups], group_weights=[g[1] for g in groups],
        )
    return trainer, len(records)


def input_batches(items: list[int], batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
    """Batches of dataset positions for one epoch: the distinct inputs of ``items`` (the row
    index of each sequence) shuffled with ``seed`` and ``epoch``, cut into groups of
    ``batch_size`` inputs, each batch holding *every* position of its inputs (all their
    tasks). So there are ``ceil(inputs / batch_size)`` batches, as in sft on the same rows."""
    import random

    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    positions: dict[int, list[int]] = {}
    for pos, item in enumerate(items):
        positions.setdefault(int(item), []).append(pos)
    order = sorted(positions)
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return [[pos for item in order[i:i + batch_size] for pos in positions[item]]
            for i in range(0, len(order), batch_size)]


class _InputBatchSampler:
    """A DataLoader ``batch_sampler`` of :func:`input_batches`, reshuffled every epoch."""

    def __init__(self, items: list[int], batch_size: int, seed: int):
        self.items, self.batch_size, self.seed, self.epoch = list(items), batch_size, seed, 0
        self._n = len(input_batches(self.items, batch_size, seed))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self._n

    def __iter__(self):
        batches = input_batches(self.items, self.batch_size, self.seed, self.epoch)
        self.epoch += 1  # the next pass (epoch) without set_epoch is shuffled anew
        return iter(batches)


_WEIGHTED_CLS = None


def _weighted_sft_cls():
    """Build (once) the SFTTrainer subclass; a factory so trl is imported lazily."""
    global _WEIGHTED_CLS
    if _WEIGHTED_CLS is not None:
        return _WEIGHTED_CLS

    import torch
    from trl import SFTTrainer

    class _GroupWeightedSFTTrainer(SFTTrainer):
        """SFT whose loss is ``sum_g w_g * token-mean NLL of group g`` (see the module doc).

        The dataset carries integer ``group`` and ``item`` (row index) columns; they survive
        TRL's preparation, ``item`` makes the batches (:class:`_InputBatchSampler`: all
        sequences of ``batch_size`` inputs), and both reach the batch through a collator
        wrapper and are popped before the forward.
        """

        # compute_loss normalises by the token counts of the whole optimizer step
        loss_is_scaled_for_ga = True

        def __init__(self, *args, group_names, group_weights, **kwargs):
            self._group_names = list(group_names)
            self._group_weights = torch.tensor(group_weights, dtype=torch.float32)
            super().__init__(*args, **kwargs)
            if self.accelerator.num_processes > 1:
                raise NotImplementedError("group-weighted SFT runs in a single process only")
            if self.padding_free:
                raise NotImplementedError("group-weighted SFT does not support padding-free")
            inner = self.data_collator

            def collate(examples):
                batch = inner(examples)
                batch["group"] = torch.tensor([ex["group"] for ex in examples], dtype=torch.long)
                batch["item"] = torch.tensor([ex["item"] for ex in examples], dtype=torch.long)
                return batch

            self.data_collator = collate

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            extra = [c for c in ("group", "item") if c not in self._signature_columns]
            self._signature_columns = [*self._signature_columns, *extra]

        def get_train_dataloader(self):
            """Batches of ``batch_size`` inputs with all their sequences (every task of each
            question in the same optimizer step), instead of ``batch_size`` shuffled sequences."""
            from torch.utils.data import DataLoader

            dataset = self._remove_unused_columns(self.train_dataset, description="Training")
            sampler = _InputBatchSampler(dataset["item"], self._train_batch_size, self.args.seed)
            loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=self.data_collator,
                                num_workers=self.args.dataloader_num_workers,
                                pin_memory=self.args.dataloader_pin_memory)
            return self.accelerator.prepare(loader)

        def _group_token_counts(self, labels, group):
            per_example = labels[..., 1:].ne(-100).sum(-1).float()
            counts = torch.zeros(len(self._group_names), device=labels.device)
            return counts.index_add_(0, group.to(labels.device), per_example)

        def _get_num_items_in_batch(self, batch_samples, device):
            # Per-group completion-token counts over every micro-batch of the optimizer step.
            if not batch_samples:
                return None
            counts = sum(self._group_token_counts(b["labels"], b["group"]) for b in batch_samples)
            return counts.to(device)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            group = inputs.pop("group")
            inputs.pop("item", None)
            inputs["use_cache"] = False
            outputs = model(**inputs, fused_lm_head=True)
            nll = -outputs.log_probs  # (batch, seq-1), zero on masked positions
            n_groups = len(self._group_names)
            onehot = torch.nn.functional.one_hot(group, n_groups).to(nll.dtype)
            group_nll = onehot.T @ nll.sum(-1)  # (groups,)
            group_tokens = onehot.T @ outputs.label_mask.sum(-1).to(nll.dtype)
            if num_items_in_batch is None or not torch.is_tensor(num_items_in_batch):
                denom = group_tokens  # evaluation: normalise within the batch
            else:
                denom = num_items_in_batch.to(nll.dtype)
            weights = self._group_weights.to(device=nll.device, dtype=nll.dtype)
            loss = (weights * group_nll / denom.clamp(min=1)).sum()

            # metrics: each group's own token-mean NLL on this micro-batch, accuracy, tokens
            with torch.no_grad():
                for g, name in enumerate(self._group_names):
                    if group_tokens[g] > 0:
                        value = (group_nll[g] / group_tokens[g]).item()
                        self._metrics[mode][f"loss_{name}"].append(value)
                n_valid = outputs.label_mask.sum()
                if n_valid > 0 and outputs.is_top1 is not None:
                    self._metrics[mode]["mean_token_accuracy"].append(
                        (outputs.is_top1.sum() / n_valid).item()
                    )
                if mode == "train":
                    self._total_train_tokens += int(inputs["attention_mask"].sum().item())
                self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return (loss, outputs) if return_outputs else loss

    _WEIGHTED_CLS = _GroupWeightedSFTTrainer
    return _WEIGHTED_CLS


# ---------------------------------------------------------------------------------------------
# DPO


def _dpo_trainer(model, tokenizer, rows, args, peft_config, chat: bool):
    from datasets import Dataset
    from trl import DPOTrainer

    records = []
    for r in rows:
        if chat:
            records.append({
                "prompt": [{"role": "user", "content": r["prompt"]}],
                "chosen": [{"role": "assistant", "content": r["chosen"]}],
                "rejected": [{"role": "assistant", "content": r["rejected"]}],
            })
        else:
            records.append({k: r[k] for k in ("prompt", "chosen", "rejected")})
    trainer = DPOTrainer(
        model=model, args=args, train_dataset=Dataset.from_list(records),
        processing_class=tokenizer, peft_config=peft_config,
    )
    return trainer, len(records)
