"""How much memory a step of a local model needs, from the sizes in the model's config.

One set of formulas, used before a run by ``collab plan`` (per node) and during it by the
runtime (the transformers executor cuts its batches with :func:`row_bytes`, the trainer
sizes its passes with :func:`activation_bytes`). Pure arithmetic on a config: a
``config.json`` read as a dict or a transformers config object; nothing heavy is imported.

The figures were measured on SmolLM2-135M (see the constants' comments); they are
estimates, and ``collab show`` prints what each node really took (``nodes.peak_mb``).
"""
from __future__ import annotations

from types import SimpleNamespace

# the most rows the transformers executor puts in one batch by default: on a CPU, on CUDA
BATCH_CAP = {False: 64, True: 256}

# Activations a training keeps for its backward pass, per token. Measured on SmolLM2-135M
# (30 layers, hidden 576, MLP 1536, vocabulary 49k, sdpa attention): a bare forward and
# backward keeps 13.5k values per token and layer with all weights trainable (~ 16 hidden +
# 3 MLP), 26k with LoRA on every linear layer and dropout (each adapted layer keeps its
# dropped-out input: + 10 hidden + 4 MLP); a training under TRL keeps ~4.4 vocabulary-sized
# fp32 vectors per token more (the peak of the passes of 1 and 4 inputs of a 3-task
# multitask training, 211-token sequences: 2.45 MB per token fully trained, 3.98 MB with
# LoRA; the bare figures plus that term give 2.50 and 4.00). Attention that materialises
# its scores adds heads x length (twice: scores and probabilities). Gradient checkpointing
# keeps about one hidden vector per token and layer and recomputes the rest.
HEAD_VECTORS = 4.5

ELEMENT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def _get(cfg, name: str):
    return cfg.get(name) if isinstance(cfg, dict) else getattr(cfg, name, None)


def model_dims(config) -> SimpleNamespace:
    """hidden, mlp, layers, heads, kv_heads, head_dim, vocab, attn (the attention
    implementation) and tied (input and output embeddings shared) of a config: a dict read
    from ``config.json`` or a transformers config (its text config for a multimodal one)."""
    cfg = config
    if not isinstance(cfg, dict) and hasattr(cfg, "get_text_config"):
        cfg = cfg.get_text_config()
    cfg = _get(cfg, "text_config") or cfg
    hidden = int(_get(cfg, "hidden_size") or _get(cfg, "n_embd") or 1024)
    heads = int(_get(cfg, "num_attention_heads") or 16)
    tied = _get(cfg, "tie_word_embeddings")
    return SimpleNamespace(
        hidden=hidden, heads=heads,
        mlp=int(_get(cfg, "intermediate_size") or 4 * hidden),
        layers=int(_get(cfg, "num_hidden_layers") or _get(cfg, "n_layer") or 24),
        kv_heads=int(_get(cfg, "num_key_value_heads") or heads),
        head_dim=int(_get(cfg, "head_dim") or hidden // heads),
        vocab=int(_get(cfg, "vocab_size") or 32000),
        attn=_get(cfg, "_attn_implementation") or "sdpa",
        tied=True if tied is None else bool(tied))


def parameters(d: SimpleNamespace) -> int:
    """Weights of a decoder of these sizes: embeddings (twice when untied), attention
    (queries and output hidden x heads x head size, keys and values with the KV heads),
    a gated MLP (3 matrices) and the norms."""
    attn = 2 * d.hidden * d.heads * d.head_dim + 2 * d.hidden * d.kv_heads * d.head_dim
    layer = attn + 3 * d.hidden * d.mlp + 2 * d.hidden
    return d.vocab * d.hidden * (1 if d.tied else 2) + d.layers * layer + d.hidden


def row_bytes(d: SimpleNamespace, length: int, elem: int) -> int:
    """Bytes one row of ``length`` tokens takes in a generation batch: its KV cache (2 x
    layers x KV heads x head size per token), the prefill's activations (hidden and MLP
    sizes per token) and the heads x length^2 fp32 scores of attention that materialises
    them."""
    per_token = 2 * d.layers * d.kv_heads * d.head_dim * elem + (4 * d.hidden + 2 * d.mlp) * elem
    return length * per_token + d.heads * length * length * 4


def activation_bytes(config, tokens: int, *, lora_dropout: float | None, bf16: bool,
                     checkpointing: bool = False, length: int = 0) -> int:
    """Estimated bytes of the activations of ``tokens`` tokens (of sequences ``length`` long)
    kept for one backward pass."""
    d = config if isinstance(config, SimpleNamespace) and hasattr(config, "layers") else model_dims(config)
    per = 16 * d.hidden + 3 * d.mlp
    if lora_dropout:
        per += 10 * d.hidden + 4 * d.mlp
    if d.attn == "eager":
        per += 2 * d.heads * length
    if checkpointing:
        per = 2 * d.hidden
    return int(tokens * (d.layers * per * (2 if bf16 else 4) + HEAD_VECTORS * d.vocab * 4))


def training_state_bytes(d: SimpleNamespace, *, full: bool, precision: str) -> int:
    """Weights, gradients and Adam's two moments a training holds: all of them in fp32 when
    every weight trains (autocast keeps fp32 master weights); with LoRA the frozen base in
    the training's precision (bf16 under bf16 autocast) and the adapter's share, small
    beside it, left out."""
    n = parameters(d)
    if full:
        return n * 4 * 4
    return n * (2 if precision == "bfloat16" else 4)


def generation_bytes(d: SimpleNamespace, *, rows: int, length: int, precision: str, cuda: bool = False,
                     budget: int | None = None) -> int:
    """The weights and one batch of a generation node: ``rows`` rows (at most the
    executor's cap, and only as many as ``budget`` bytes hold) of ``length`` tokens."""
    elem = ELEMENT_BYTES.get(precision, 4)
    per_row = row_bytes(d, length, elem)
    batch = max(1, min(rows, BATCH_CAP[cuda]))
    if budget is not None:
        batch = max(1, min(batch, budget // max(1, per_row)))
    return parameters(d) * elem + batch * per_row
