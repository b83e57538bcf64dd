"""Which checkpoints the local backends can serve: causal (decoder) language models.

collab's local backends (``embedded``, ``hf``, ``vllm``) generate text, score options as
continuations and fine-tune with a causal LM loss. An encoder-only checkpoint (BERT,
RoBERTa, DeBERTa, ...: DKT's small model is a fine-tuned RoBERTa classifier) has no
such head; transformers would still load several of them as a "causal LM"
(``RobertaForCausalLM``) with a freshly initialised head and answer nonsense without a word.
So such a model is refused by name: at bind time when its ``config.json`` is at hand (a
local folder, or the Hugging Face cache, read without network), and again by the executor
and the trainer when they load it. Pure and cheap: no heavy import.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

# transformers ``model_type`` values of encoder-only architectures (masked-LM pretraining)
ENCODER_TYPES = frozenset({
    "albert", "bert", "big_bird", "camembert", "canine", "convbert", "deberta", "deberta-v2",
    "distilbert", "electra", "ernie", "esm", "flaubert", "funnel", "ibert", "layoutlm", "longformer",
    "luke", "megatron-bert", "mobilebert", "modernbert", "mpnet", "nezha", "nystromformer", "rembert",
    "roberta", "roberta-prelayernorm", "roc_bert", "roformer", "squeezebert", "xlm", "xlm-roberta",
    "xlm-roberta-xl", "xmod", "yoso",
})
# architectures whose checkpoint was trained as a decoder even though its type is above
_DECODER_HEADS = ("ForCausalLM", "LMHeadModel")


def encoder_problem(config: dict, shown: str) -> str | None:
    """Why the checkpoint of ``config`` (a ``config.json``) cannot be served, or None."""
    mtype = str(config.get("model_type") or "")
    archs = [str(a) for a in config.get("architectures") or []]
    if mtype not in ENCODER_TYPES or config.get("is_decoder") or any(a.endswith(_DECODER_HEADS) for a in archs):
        return None
    return (f"{shown} is an encoder-only model ({mtype}{', ' + archs[0] if archs else ''}): collab's local "
            f"backends serve causal language models (generate, choose by option likelihood, sft/kd/dpo "
            f"with a causal LM loss), and an encoder has no such head; bind a causal LM (a decoder such "
            f"as SmolLM2, Qwen2.5 or Llama) to this role")


def _hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home) / "hub"


def known_config(spec: dict) -> dict | None:
    """The ``config.json`` of a bound hf/vllm model when it is at hand without network: in
    its local folder (``spec["resolved"]`` with ``local``), else in the Hugging Face cache;
    None when not found or unreadable (the loader checks again)."""
    if spec.get("backend") not in ("hf", "vllm"):
        return None
    ref = spec.get("resolved") or spec.get("ref")
    if not isinstance(ref, str) or not ref:
        return None
    if spec.get("local"):
        paths = [Path(ref) / "config.json"]
    else:
        snaps = _hub_cache() / ("models--" + ref.replace("/", "--")) / "snapshots"
        try:
            paths = sorted(snaps.glob("*/config.json"))
        except OSError:
            paths = []
    for p in paths:
        try:
            return json.loads(p.read_text())
        except (OSError, ValueError):
            continue
    return None
