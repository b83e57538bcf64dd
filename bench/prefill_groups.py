"""A generation batch's prompts read in groups of similar length against one padded batch.

    .venv/bin/python bench/prefill_groups.py [--rows 32] [--max-tokens 64] [--repeats 2]

The embedded model's ``TransformersExecutor`` generates greedily for one batch of prompts,
with its prompts read in groups (the default, ``runtime/executors/prefill.py``) and read at
once (``grouped_prefill = False``), alternating, in each precision. Prompts: Sci-CoT's
teacher prompt over the builtin science-mc training questions (what ``programs/scicot.collab``
sends), and GSM8K questions from ``../shared/data`` (lengths vary more). Prints the best wall
of each, their ratio, and how many greedy texts are equal (fp32: all, up to float noise; in
bf16 other batch shapes round differently, as cutting the batch in two halves does, which
the bench shows beside it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from scicot_by_hand import TEACHER, rows  # noqa: E402  (what programs/scicot.collab sends)


def prompt_sets(n: int) -> dict[str, list[str]]:
    from collabdsl.builtins import format_options

    out = {"scicot teacher": [TEACHER.format(question=x["question"], options=format_options(x["options"], style="(A)"),
                                             answer=x["answer"]) for x in rows("train", n)]}
    gsm = ROOT.parent / "shared" / "data" / "gsm8k" / "test.jsonl"
    if gsm.exists():
        out["gsm8k questions"] = [json.loads(x)["question"] for x in gsm.read_text().splitlines()[:n]]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dtypes", default="fp32,bf16")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from runtime.executors.base import GenRequest
    from runtime.executors.transformers_exec import TransformersExecutor

    print(f"{args.rows} prompts per batch, {args.max_tokens} tokens, greedy; {os.cpu_count()} cores; "
          f"best of {args.repeats}")
    for dtype in args.dtypes.split(","):
        ex = TransformersExecutor("smollm2-135m-instruct", kind="embedded", dtype=dtype)
        for name, prompts in prompt_sets(args.rows).items():
            reqs = [GenRequest(p, max_tokens=args.max_tokens) for p in prompts]
            best, texts = {}, {}
            for _ in range(args.repeats):
                for grouped in (True, False):
                    ex.grouped_prefill = grouped
                    before = ex.grouped_prefills
                    t = time.perf_counter()
                    out = ex.generate(reqs)
                    best[grouped] = min(best.get(grouped, float("inf")), time.perf_counter() - t)
                    texts[grouped] = [o[0].text for o in out]
                    if grouped:
                        used = ex.grouped_prefills - before
            ex.grouped_prefill = False
            half = len(reqs) // 2
            halves = [o[0].text for o in ex.generate(reqs[:half])] + [o[0].text for o in ex.generate(reqs[half:])]
            ex.grouped_prefill = True
            same = sum(a == b for a, b in zip(texts[True], texts[False]))
            same_halves = sum(a == b for a, b in zip(halves, texts[False]))
            print(f"  {dtype:5s} {name:16s} grouped {best[True]:6.2f} s ({used} of its batches grouped)  "
                  f"at once {best[False]:6.2f} s  ratio {best[True] / best[False]:.2f}x  "
                  f"texts equal {same}/{len(reqs)} (two halves vs at once: {same_halves}/{len(reqs)})", flush=True)
        ex.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
