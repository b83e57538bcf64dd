"""Generation throughput of TransformersExecutor against plain transformers.

    .venv/bin/python bench/generate_throughput.py [--prompts 32] [--max-tokens 32]
        [--batch-size 16] [--model smollm2-135m-instruct] [--kind embedded] [--logprobs]
        [--repeats 1]

The same greedy, chat-templated prompts go through, in one run and one process:

1. ``TransformersExecutor.generate`` with all requests at once (it batches them);
2. a hand-written loop of batched ``model.generate`` calls (left padding, greedy,
   ``batch_size`` prompts per call) on the executor's own model and tokenizer;
3. ``TransformersExecutor.generate`` one request at a time.

With ``--repeats N`` the three run in N interleaved rounds and each method's best time
counts (steadier on a shared machine). Prints wall time, prompts/s and completion tokens/s of each, the ratios to the hand-written
loop, and how many completions of (1) and (3) match (2) exactly (all greedy, so they should,
up to rare float ties between padded and unpadded batches).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runtime.executors.base import GenRequest

TOPICS = ["the sea", "a cat", "winter", "coffee", "a robot", "the moon", "a library", "rain",
          "a bicycle", "mountains", "a train", "friendship", "the desert", "music", "a garden",
          "the city at night"]
TEMPLATES = ["Write one sentence about {}.", "Give me a short fact about {}.",
             "Describe {} in a few words.", "Why do people like {}?"]


def make_prompts(n: int) -> list[str]:
    """``n`` distinct short prompts of varied lengths (deterministic)."""
    pairs = [(t, topic) for topic in TOPICS for t in TEMPLATES]  # 64 distinct prompts
    return [pairs[(i * 7) % len(pairs)][0].format(pairs[(i * 7) % len(pairs)][1]) for i in range(n)]


def handwritten(ex, prompts: list[str], max_tokens: int, batch_size: int) -> tuple[list[str], int]:
    """Batched ``model.generate`` as one would write it by hand."""
    import torch

    tok, model = ex.tokenizer, ex.model
    side = tok.padding_side
    tok.padding_side = "left"
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                     add_generation_prompt=True) for p in prompts]
    out, n_tokens = [], 0
    try:
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True,
                      add_special_tokens=False).to(ex.device)
            with torch.no_grad():
                seqs = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False,
                                      eos_token_id=ex.eos_ids, pad_token_id=ex.pad_id)
            for row in seqs[:, enc["input_ids"].shape[1]:].tolist():
                n = next((k + 1 for k, t in enumerate(row) if t in ex.eos_ids), len(row))
                n_tokens += n
                out.append(tok.decode(row[:n], skip_special_tokens=True))
    finally:
        tok.padding_side = side
    return out, n_tokens


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--model", default="smollm2-135m-instruct")
    ap.add_argument("--kind", default="auto")
    ap.add_argument("--device", default=None)
    ap.add_argument("--logprobs", action="store_true", help="executor also returns logprobs/margins")
    ap.add_argument("--repeats", type=int, default=1,
                    help="interleaved rounds; each method's best time is reported")
    args = ap.parse_args(argv)

    import torch

    from runtime.executors.transformers_exec import TransformersExecutor

    t = time.perf_counter()
    ex = TransformersExecutor(args.model, kind=args.kind, device=args.device,
                              batch_size=args.batch_size)
    print(f"model {args.model} ({ex.kind}) on {ex.device}, {ex.dtype}, "
          f"torch threads {torch.get_num_threads()}, loaded in {time.perf_counter() - t:.1f}s")
    prompts = make_prompts(args.prompts)
    reqs = [GenRequest(p, max_tokens=args.max_tokens, logprobs=args.logprobs) for p in prompts]
    ex.generate(reqs[:2])  # warm up
    handwritten(ex, prompts[:2], 2, args.batch_size)

    def executor_batched():
        gens = [g[0] for g in ex.generate(reqs)]
        return sum(g.completion_tokens for g in gens), [g.text for g in gens]

    def executor_single():
        gens = [ex.generate([r])[0][0] for r in reqs]
        return sum(g.completion_tokens for g in gens), [g.text for g in gens]

    def by_hand():
        texts, n_tok = handwritten(ex, prompts, args.max_tokens, args.batch_size)
        return n_tok, texts

    methods = [("executor, batched", executor_batched),
               ("hand-written model.generate", by_hand),
               ("executor, one at a time", executor_single)]
    best: dict[str, tuple[float, int, list[str]]] = {}
    for _ in range(args.repeats):  # interleaved rounds; the best time of each method counts
        for name, fn in methods:
            t = time.perf_counter()
            n_tok, outs = fn()
            secs = time.perf_counter() - t
            if name not in best or secs < best[name][0]:
                best[name] = (secs, n_tok, outs)
    rows = [(name, *best[name]) for name, _ in methods]

    base_s, base_tok = rows[1][1], rows[1][2]
    print(f"{len(prompts)} prompts, max_tokens {args.max_tokens}, batch_size {args.batch_size}, "
          f"greedy{', logprobs' if args.logprobs else ''}, best of {args.repeats}")
    print(f"{'method':30s} {'seconds':>8s} {'prompts/s':>10s} {'tokens/s':>9s} {'tok/s ratio':>12s}"
          f" {'same text':>10s}")
    for name, secs, ntok, outs in rows:
        same = sum(a == b for a, b in zip(outs, rows[1][3]))
        ratio = (ntok / secs) / (base_tok / base_s)
        print(f"{name:30s} {secs:8.2f} {len(prompts) / secs:10.2f} {ntok / secs:9.1f} "
              f"{ratio:12.2f} {same:>6d}/{len(prompts)}")
    print(f"speed-up of batched executor over one at a time: {rows[2][1] / rows[0][1]:.2f}x")
    ex.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
