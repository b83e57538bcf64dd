"""Issue 11: how the trainer sizes a pass by memory (no model: the estimate and the choice)."""
from __future__ import annotations

from types import SimpleNamespace

from runtime.trainer import activation_bytes, micro_batch

SMOL = SimpleNamespace(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                       _attn_implementation="sdpa")


def test_the_estimate_matches_what_was_measured_on_the_embedded_model():
    # measured (bench/train_memory.py --activations): 8 x 256 tokens, full fine-tuning
    # 3,164 MB, LoRA with dropout 6,086 MB
    full = activation_bytes(SMOL, 8 * 256, lora_dropout=None, bf16=False) / 2**20
    lora = activation_bytes(SMOL, 8 * 256, lora_dropout=0.05, bf16=False) / 2**20
    assert 0.85 < full / 3164 < 1.2 and 0.85 < lora / 6086 < 1.2, (full, lora)
    assert activation_bytes(SMOL, 100, lora_dropout=0.0, bf16=False) == activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False)  # no dropout: nothing extra kept
    assert activation_bytes(SMOL, 100, lora_dropout=None, bf16=True) * 2 == activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False)
    eager = SimpleNamespace(**{**vars(SMOL), "_attn_implementation": "eager"})
    assert activation_bytes(eager, 100, lora_dropout=None, bf16=False, length=512) > activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False, length=512)
    assert activation_bytes(SMOL, 100, lora_dropout=0.1, bf16=False, checkpointing=True) < activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False) / 5


def test_the_pass_is_the_largest_divisor_of_the_batch_that_fits():
    assert micro_batch(8, per_input=100, budget=10_000) == 8
    assert micro_batch(8, per_input=100, budget=399) == 2  # 3 fit, 3 does not divide 8
    assert micro_batch(12, per_input=100, budget=650) == 6
    assert micro_batch(7, per_input=100, budget=650) == 1  # a prime batch: 1 or all
    assert micro_batch(8, per_input=100, budget=10) == 1  # even one does not fit: one at a time
