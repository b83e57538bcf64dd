"""Issue 11: how the trainer sizes a pass by memory (no model: the estimate and the choice)."""
from __future__ import annotations

from types import SimpleNamespace

from runtime.trainer import activation_bytes, micro_batch

SMOL = SimpleNamespace(hidden_size=576, intermediate_size=1536, num_hidden_layers=30, num_attention_heads=9,
                       vocab_size=49152, _attn_implementation="sdpa")


def test_the_estimate_matches_what_was_measured_on_the_embedded_model():
    # measured with runtime.trainer.train: the peaks of a 3-task multitask training in passes
    # of 4 and of 1 input (211-token sequences) differ by 4,594 MB fully trained and by
    # 7,566 MB with LoRA (dropout 0.05): 9 sequences of 211 tokens
    full = activation_bytes(SMOL, 9 * 211, lora_dropout=None, bf16=False) / 2**20
    lora = activation_bytes(SMOL, 9 * 211, lora_dropout=0.05, bf16=False) / 2**20
    assert 0.9 < full / 4594 < 1.15 and 0.9 < lora / 7566 < 1.15, (full, lora)
    assert activation_bytes(SMOL, 100, lora_dropout=0.0, bf16=False) == activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False)  # no dropout: nothing extra kept
    assert activation_bytes(SMOL, 100, lora_dropout=None, bf16=True) < activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False)
    eager = SimpleNamespace(**{**vars(SMOL), "_attn_implementation": "eager"})
    assert activation_bytes(eager, 100, lora_dropout=None, bf16=False, length=512) > activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False, length=512)
    assert activation_bytes(SMOL, 100, lora_dropout=0.1, bf16=False, checkpointing=True) < activation_bytes(
        SMOL, 100, lora_dropout=None, bf16=False) / 2  # the head term stays


def test_the_pass_is_the_largest_divisor_of_the_batch_that_fits():
    assert micro_batch(8, per_input=100, budget=10_000) == 8
    assert micro_batch(8, per_input=100, budget=399) == 2  # 3 fit, 3 does not divide 8
    assert micro_batch(12, per_input=100, budget=650) == 6
    assert micro_batch(7, per_input=100, budget=650) == 1  # a prime batch: 1 or all
    assert micro_batch(8, per_input=100, budget=10) == 1  # even one does not fit: one at a time
