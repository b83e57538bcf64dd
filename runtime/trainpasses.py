"""The forward/backward passes of a training step, grouped by length.

A step's batch is padded to its longest sequence, so a batch of mixed lengths spends much
of its compute on padding (Sci-CoT's stage 2: 35% of the token slots of a batch of 8;
GSM8K question -> solution: 34%). :func:`plan_passes` cuts the step's sequences, sorted by
length, into consecutive groups, each padded only to its own longest, choosing the cut that
costs least under a simple model (a pass costs ``overhead`` token slots plus its padded
slots) among the groups whose activations fit in memory. The step's loss is then the sum
of its passes' losses, each normalised by the token count of the *whole* step
(``num_items_in_batch``, which transformers computes before the passes), so the step's
loss and gradient are those of one pass over the whole batch up to float rounding, the
examples of each step are the ones the sampler gave it, and only the compute spent on
padding changes. (LoRA dropout draws its masks per pass, as with any micro-batching.)

:func:`split_batch` cuts a collated, right-padded batch into those passes.
Heavy imports (torch) only inside functions.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

# What one more pass costs, in padded token slots: the per-pass cost of the 30 layers' kernel
# launches and of smaller matrix products. Measured on the 135M model on 2 CPU cores
# (bench/train_passes.py): a pass of 1 sequence costs about as much as ~100-150 more padded
# tokens in a larger pass.
PASS_OVERHEAD = 128


def plan_passes(lengths: Sequence[int], fits: Callable[[int, int], bool] | None = None,
                overhead: int = PASS_OVERHEAD) -> list[list[int]]:
    """The passes of a step whose sequences are ``lengths`` tokens long: lists of positions
    into ``lengths`` (each list ascending; together every position once), chosen to minimise
    ``sum(overhead + len(group) * max length in group)`` over the groups of consecutive
    sequences in length order. ``fits(n, L)``: whether ``n`` sequences padded to ``L`` tokens
    fit in memory (None: any); a single sequence is always allowed, fitting or not."""
    n = len(lengths)
    if n == 0:
        return []
    order = sorted(range(n), key=lambda i: (lengths[i], i))
    sorted_len = [int(lengths[i]) for i in order]
    inf = float("inf")
    best = [inf] * (n + 1)  # best[j]: cost of the sorted sequences j.. in passes
    cut = [n] * (n + 1)
    best[n] = 0.0
    for j in range(n - 1, -1, -1):
        for k in range(j + 1, n + 1):  # the pass holds sorted sequences j .. k-1
            size, longest = k - j, sorted_len[k - 1]
            if size > 1 and fits is not None and not fits(size, longest):
                break  # longer groups from j hold more and longer sequences: none fits
            cost = overhead + size * longest + best[k]
            if cost < best[j]:
                best[j], cut[j] = cost, k
    passes, j = [], 0
    while j < n:
        passes.append(sorted(order[j:cut[j]]))
        j = cut[j]
    return passes


def padded_slots(lengths: Sequence[int], passes: list[list[int]]) -> int:
    """Token slots computed by ``passes`` (each padded to its longest sequence)."""
    return sum(len(p) * max(lengths[i] for i in p) for p in passes)


def right_padded_lengths(attention_mask) -> list[int] | None:
    """Each row's length when ``attention_mask`` (batch, seq) is right-padded (ones, then
    zeros); None when it is not (left padding, holes): then the batch is not cut."""
    import torch

    lengths = attention_mask.sum(-1)
    positions = torch.arange(attention_mask.shape[-1], device=attention_mask.device)
    expected = (positions[None, :] < lengths[:, None]).to(attention_mask.dtype)
    if not torch.equal(attention_mask, expected):
        return None
    return [int(x) for x in lengths.tolist()]


def split_batch(inputs: dict, passes: list[list[int]], seq_len: int) -> list[dict]:
    """The batch ``inputs`` (tensors of ``batch`` rows; those of ``seq_len`` columns are
    per-token) cut into ``passes`` (row positions), each trimmed to its longest row. Values
    that are not per-row tensors go to every pass unchanged."""
    import torch

    rows = int(inputs["attention_mask"].shape[0])
    out = []
    for p in passes:
        idx = torch.tensor(p, dtype=torch.long)
        length = int(inputs["attention_mask"][idx].sum(-1).max())
        part = {}
        for key, value in inputs.items():
            if torch.is_tensor(value) and value.dim() >= 1 and value.shape[0] == rows:
                value = value.index_select(0, idx.to(value.device))
                if value.dim() >= 2 and value.shape[1] == seq_len:
                    value = value[:, :length]
            part[key] = value
        out.append(part)
    return out
