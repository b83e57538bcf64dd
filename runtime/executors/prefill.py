"""The prompts of a generation batch read in groups of similar length (the prefill).

A batch is left-padded to its longest prompt, and reading the prompts (the prefill) costs
every padded slot: on 2 CPU cores a Sci-CoT teacher batch of 32 prompts, 104-152 tokens,
took 4.3 s of its 11.4 s to read at width 152 and 3.2 s read in groups of 8 sorted by length
(bench/prefill_groups.py measures it). :func:`prefill` reads all but the last
token of each prompt in groups chosen by :func:`runtime.trainpasses.plan_passes` (each group
left-padded only to its own longest prompt), and lays the groups' key/value caches side by
side in one cache of the batch's width, the padding's slots zero and masked. Decoding then
goes on from that cache exactly as after a one-batch prefill: each row's tokens keep their
positions (counted from its first real token, as transformers counts them from the mask) and
attend to the same real tokens; only float rounding of other batch shapes differs.

Only for caches whose every layer is a plain full-attention ``DynamicLayer`` (a sliding
window or a recurrent state does not pad this way): otherwise None, and the caller reads the
batch at once.
"""
from __future__ import annotations

import torch

from runtime.trainpasses import plan_passes

# One more prefill pass costs about as much as this many padded prompt tokens (per-pass
# kernel launches of the layers, smaller matrix products)
PREFILL_OVERHEAD = 128


def plan(lengths: list[int]) -> list[list[int]]:
    """Row groups of the prefill of prompts ``lengths`` tokens long (their last token is
    read by the decode), or one group."""
    return plan_passes([max(0, n - 1) for n in lengths], overhead=PREFILL_OVERHEAD)


def prefill(model, ids: torch.Tensor, mask: torch.Tensor, cache_kw: str):
    """The key/value cache of ``ids[:, :-1]`` (left-padded prompts, ``mask`` their attention
    mask) read in groups of similar length, or None when one group is best or the model's
    cache cannot be laid out this way. ``cache_kw``: the forward's cache argument
    (``cache`` in transformers 5.2x, ``past_key_values`` before)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    rows, width = ids.shape
    lengths = [int(n) for n in mask.sum(-1).tolist()]
    if width < 2 or min(lengths) < 2:
        return None
    groups = plan(lengths)
    if len(groups) < 2:
        return None
    read = width - 1  # the last column is the decode's first step
    parts = []
    for g in groups:
        idx = torch.tensor(g, dtype=torch.long, device=ids.device)
        w = max(lengths[i] for i in g) - 1
        part = mask.index_select(0, idx)[:, read - w:read]
        # positions counted from each row's first real token, as generate counts them
        positions = (part.long().cumsum(-1) - 1).masked_fill(part == 0, 0)
        out = model(input_ids=ids.index_select(0, idx)[:, read - w:read], attention_mask=part,
                    position_ids=positions, use_cache=True, logits_to_keep=1,
                    **{cache_kw: DynamicCache(config=model.config)})
        cache = getattr(out, cache_kw)
        if not all(type(layer) is DynamicLayer for layer in cache.layers):
            return None
        parts.append((idx, w, cache))
    merged = DynamicCache(config=model.config)
    if not all(type(layer) is DynamicLayer for layer in merged.layers):
        return None
    for layer in range(len(parts[0][2].layers)):
        keys = values = None
        for idx, w, cache in parts:
            k, v = cache.layers[layer].keys, cache.layers[layer].values  # (group rows, heads, w, dim)
            if keys is None:
                keys = k.new_zeros((rows, k.shape[1], read, k.shape[3]))
                values = v.new_zeros((rows, v.shape[1], read, v.shape[3]))
            keys[idx, :, read - w:] = k
            values[idx, :, read - w:] = v
        merged.update(keys, values, layer)
    return merged
