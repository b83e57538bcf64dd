"""The passes of a training step grouped by length (runtime/trainpasses.py), without a model."""
from __future__ import annotations

import itertools

import pytest
import torch

from runtime.trainpasses import PASS_OVERHEAD, padded_slots, plan_passes, right_padded_lengths, split_batch


def _cost(lengths, passes, overhead=PASS_OVERHEAD):
    return overhead * len(passes) + padded_slots(lengths, passes)


def test_every_sequence_is_in_exactly_one_pass():
    lengths = [90, 98, 101, 109, 110, 143, 151, 190, 12, 400]
    passes = plan_passes(lengths)
    assert sorted(i for p in passes for i in p) == list(range(len(lengths)))
    assert all(p == sorted(p) for p in passes)


def test_mixed_lengths_are_grouped_and_pay_less_padding_than_one_pass():
    """Sci-CoT's stage-2 batch of 8 (token lengths measured on SmolLM2's chat template)."""
    lengths = [151, 90, 190, 101, 109, 98, 143, 110]
    passes = plan_passes(lengths)
    assert len(passes) == 2
    short, long_ = sorted(passes, key=len, reverse=True)
    assert max(lengths[i] for i in short) <= min(lengths[i] for i in long_)  # grouped by length
    assert padded_slots(lengths, passes) < 0.8 * padded_slots(lengths, [list(range(8))])


def test_equal_lengths_stay_one_pass():
    assert plan_passes([50] * 8) == [list(range(8))]
    assert plan_passes([77, 77, 80, 83, 84, 86, 90, 91]) == [list(range(8))]  # the overhead outweighs the padding


def test_the_plan_is_the_cheapest_cut_of_the_sorted_sequences():
    lengths = [5, 300, 40, 41, 200, 7, 150, 39]
    best = _cost(lengths, plan_passes(lengths))
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    for cuts in itertools.product([0, 1], repeat=len(lengths) - 1):  # every cut of the sorted order
        groups, cur = [], [order[0]]
        for i, c in enumerate(cuts):
            if c:
                groups.append(cur)
                cur = []
            cur.append(order[i + 1])
        groups.append(cur)
        assert best <= _cost(lengths, groups)


def test_passes_keep_to_what_fits_in_memory_and_a_sequence_too_long_runs_alone():
    lengths = [100] * 6 + [1000]
    fits = lambda n, length: n * length <= 300  # noqa: E731
    passes = plan_passes(lengths, fits)
    assert all(len(p) == 1 or len(p) * max(lengths[i] for i in p) <= 300 for p in passes)
    assert [6] in passes  # fits for no n, yet runs
    assert sum(len(p) for p in passes) == 7
    assert plan_passes(lengths, lambda n, length: False) == [[i] for i in range(7)]


def test_no_sequences_no_passes():
    assert plan_passes([]) == []


def test_right_padded_lengths_and_refusing_other_masks():
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    assert right_padded_lengths(mask) == [3, 4, 1]
    assert right_padded_lengths(torch.tensor([[0, 1, 1], [1, 1, 1]])) is None  # left padding
    assert right_padded_lengths(torch.tensor([[1, 0, 1], [1, 1, 1]])) is None  # a hole


def test_split_batch_takes_the_rows_of_each_pass_trimmed_to_their_longest():
    ids = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 6, 7, 8], [9, 10, 0, 0, 0]])
    mask = (ids != 0).long()
    labels = torch.where(mask.bool(), ids, torch.full_like(ids, -100))
    inputs = {"input_ids": ids, "attention_mask": mask, "labels": labels,
              "group": torch.tensor([0, 1, 0]), "flag": True}
    a, b = split_batch(inputs, [[0, 2], [1]], seq_len=5)
    assert a["input_ids"].tolist() == [[1, 2, 3], [9, 10, 0]]
    assert a["labels"].tolist() == [[1, 2, 3], [9, 10, -100]]
    assert a["group"].tolist() == [0, 0] and a["flag"] is True
    assert b["input_ids"].tolist() == [[4, 5, 6, 7, 8]] and b["group"].tolist() == [1]
    # every real token goes to exactly one pass
    assert sum(int(p["attention_mask"].sum()) for p in (a, b)) == int(mask.sum())


@pytest.mark.parametrize("n", [1, 2, 3, 9])
def test_small_batches(n):
    lengths = list(range(10, 10 + 37 * n, 37))
    passes = plan_passes(lengths)
    assert sorted(i for p in passes for i in p) == list(range(n))
