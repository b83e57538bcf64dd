"""``collab plan``'s memory column: what each local model step is expected to hold at its
peak, before the run (issue 11). The formulas are ``collabdsl.memsize``'s, the ones the
runtime cuts its batches and training passes with; the sizes come from the model's
``config.json`` (a local folder, the Hugging Face cache, or the embedded model's known
sizes). Nothing is downloaded and nothing heavy is imported.

A node's figure is the process the run will be, while that step runs: the libraries a
run loads (:data:`RUNTIME_BYTES`), the node's model weights, and its own work (a
generation batch, or a training's weights, gradients, optimizer state and one pass of
activations). Other models kept loaded beside it (up to ``COLLAB_MAX_LOADED_GB``) come on
top. ``collab show`` prints what each node really took (``peak_mb``), so the two can be
compared.
"""
from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path

from collabdsl import memsize

# resident memory of a run's process before any model loads (python, torch, transformers,
# TRL, PEFT, the store): 0.55-0.65 GB measured on Linux with torch 2.13 (CPU build)
RUNTIME_BYTES = 600 * 2**20
CHAT_TOKENS = 64  # a chat template's turns around a training sequence (as runtime.trainer counts)
SEQS_PER_INPUT = {"sft": 1, "kd": 2, "dpo": 2}  # multitask: one per task
LOCAL = ("embedded", "hf")


def _embedded_config(ref: str | None) -> dict | None:
    from collabdsl.plan import _light_module

    if "runtime.embedded" not in sys.modules and not _light_module("runtime.embedded"):
        return None
    try:
        from runtime.embedded import embedded_config  # type: ignore[import-not-found]

        return embedded_config(ref)
    except Exception:  # noqa: BLE001 - no estimate rather than a failed plan
        return None


def _hub_config(ref: str) -> dict | None:
    """``config.json`` of hub model ``ref`` when the Hugging Face cache holds it (never fetched)."""
    root = os.environ.get("HF_HUB_CACHE") or os.path.join(
        os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface"), "hub")
    snapshots = Path(root) / ("models--" + ref.replace("/", "--")) / "snapshots"
    try:
        for cfg in sorted(snapshots.glob("*/config.json")):
            return json.loads(cfg.read_text())
    except (OSError, ValueError):
        return None
    return None


def model_config(spec: dict | None, base: Path | None = None) -> dict | None:
    """The config of a local model binding (embedded or hf), or None when it is not known
    without a download."""
    if not spec or spec.get("backend") not in LOCAL:
        return None
    ref = spec.get("ref")
    if spec["backend"] == "embedded":
        return _embedded_config(ref)
    ref = str(spec.get("resolved") or ref or "")
    folder = Path(os.path.expanduser(ref))
    if not folder.is_absolute() and base is not None and (base / folder).exists():
        folder = base / folder
    try:
        if folder.is_dir():
            return json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return None
    return _hub_config(ref) if "/" in ref else None


def precision_of(spec: dict) -> str:
    """The precision assumed for a role: a named dtype; fp32 when it names none or ``auto``
    (the CPU default, and the larger of the two where auto would pick bf16)."""
    name = str((spec.get("options") or {}).get("dtype") or "").lower()
    return {"bf16": "bfloat16", "bfloat16": "bfloat16", "fp16": "float16", "float16": "float16",
            "half": "float16"}.get(name, "float32")


def generation(spec: dict, config: dict, *, rows: float, prompt_tokens: float, completion: float) -> int:
    """Peak bytes of a generation node: the runtime, the weights, one batch of up to
    ``rows`` rows of ``prompt_tokens + completion`` tokens."""
    d = memsize.model_dims(config)
    length = math.ceil(prompt_tokens + completion)
    return RUNTIME_BYTES + memsize.generation_bytes(d, rows=int(max(rows, 1)), length=max(length, 1),
                                                    precision=precision_of(spec))


def training(spec: dict, config: dict, *, objective: str, full: bool, lora_dropout: float | None,
             batch_size: int, seqs_per_input: int, length: int) -> int:
    """Peak bytes of a training node: the runtime, the weights (with gradients and Adam's
    state when all train) and the activations of one pass of ``batch_size`` inputs (the
    runtime runs fewer per pass when they would not fit, so this is an upper bound)."""
    d = memsize.model_dims(config)
    precision = precision_of(spec)
    bf16 = precision == "bfloat16"
    state = memsize.training_state_bytes(d, full=full, precision=precision)
    acts = memsize.activation_bytes(d, batch_size * seqs_per_input * length, lora_dropout=None if full else lora_dropout,
                                    bf16=bf16, length=length)
    return RUNTIME_BYTES + state + acts


def program_peak(nodes, models: dict, base: Path | None = None) -> dict | None:
    """The run's peak, estimated: its largest step (a node's figure) plus the weights of the
    other local models the run keeps loaded beside it (roles bound to the same model share
    one; every fully fine-tuned version is a model of its own). ``COLLAB_MAX_LOADED_GB``
    bounds what stays loaded, so this is an upper estimate. None without local steps."""
    steps = [n for n in nodes if getattr(n, "memory", None)]
    if not steps:
        return None
    largest = max(steps, key=lambda n: n.memory)
    loaded: dict[tuple, int] = {}
    for role, spec in models.items():
        config = model_config(spec, base)
        if config is None or spec.get("derived_from"):
            continue
        precision = precision_of(spec)
        key = (spec.get("backend"), spec.get("ref"), precision)
        loaded[key] = memsize.parameters(memsize.model_dims(config)) * memsize.ELEMENT_BYTES.get(precision, 4)
    full = [n for n in nodes if n.kind == "train" and n.memory and getattr(n, "full", False)]
    weights = sorted(loaded.values(), reverse=True) + [max(loaded.values(), default=0)] * \
        sum(int(n.iterations.value) for n in full)
    others = sum(weights) - (weights[0] if weights else 0)  # the largest step holds its own
    return {"bytes": int(largest.memory + others), "largest_step": largest.id, "step_bytes": int(largest.memory),
            "other_models": max(len(weights) - 1, 0), "other_bytes": int(others)}
