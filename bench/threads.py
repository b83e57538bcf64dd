"""Generation speed under collab's thread settings against torch's defaults, on an idle
machine and on one whose cores are busy with other work.

    .venv/bin/python bench/threads.py [--prompts 16] [--max-tokens 16] [--repeats 2]

Each measurement is a fresh process (libgomp reads its settings once, when torch loads it)
that loads the embedded model with ``TransformersExecutor`` and generates the same greedy
batch ``--repeats`` times; the best time counts. Variants:

- ``torch default``: no thread setting at all (OMP_WAIT_POLICY unset: idle threads spin);
- ``collab``: ``runtime.threads.configure()`` first, as ``collab run`` does (PASSIVE);
- ``collab --threads 1``: ``configure(1)``.

"loaded" starts one busy process per core for the length of the measurement (a stand-in
for a shared machine: another run, a test suite, a browser). Prints tokens/s of each and
the ratios to ``torch default`` measured in the same run, and whether the texts agree.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# name -> (how the child calls runtime.threads.configure: None = not at all, and extra environment)
VARIANTS = {"torch default": (None, {}), "collab": ("auto", {}), "collab --threads 1": (1, {})}
EXTRA = {"GOMP_SPINCOUNT=10000": (None, {"GOMP_SPINCOUNT": "10000"}),
         "GOMP_SPINCOUNT=1000": (None, {"GOMP_SPINCOUNT": "1000"})}


def child(args) -> int:
    sys.path.insert(0, str(ROOT))
    if args.variant is not None:
        from runtime.threads import configure

        configure(None if args.variant == "auto" else int(args.variant))
    import torch

    sys.path.insert(0, str(ROOT / "bench"))
    from generate_throughput import make_prompts

    from runtime.executors.base import GenRequest
    from runtime.executors.transformers_exec import TransformersExecutor

    ex = TransformersExecutor("smollm2-135m-instruct", kind="auto", batch_size=args.prompts)
    reqs = [GenRequest(p, max_tokens=args.max_tokens) for p in make_prompts(args.prompts)]
    ex.generate(reqs[:2])  # warm up
    best, texts, tokens = None, [], 0
    for _ in range(args.repeats):
        t = time.perf_counter()
        gens = [g[0] for g in ex.generate(reqs)]
        secs = time.perf_counter() - t
        if best is None or secs < best:
            best, texts, tokens = secs, [g.text for g in gens], sum(g.completion_tokens for g in gens)
    print(json.dumps({"seconds": best, "tokens": tokens, "texts": texts, "threads": torch.get_num_threads(),
                      "wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset")}))
    return 0


def _busy() -> None:
    while True:
        pass


def measure(variant, loaded: bool, args) -> dict:
    variant, extra = variant
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "GOMP_SPINCOUNT",
                                                             "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
    env.update(extra)
    cmd = [sys.executable, __file__, "--child", "--prompts", str(args.prompts), "--max-tokens",
           str(args.max_tokens), "--repeats", str(args.repeats)]
    if variant is not None:
        cmd += ["--variant", str(variant)]
    load = []
    if loaded:
        load = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.timeout)
    finally:
        for p in load:
            p.kill()
            p.wait()
    if out.returncode != 0:
        raise SystemExit(f"child failed: {out.stderr.strip().splitlines()[-1:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--timeout", type=int, default=600, help="seconds per measurement")
    ap.add_argument("--spin", action="store_true", help="also libgomp's default policy with a short spin "
                    "(GOMP_SPINCOUNT 10000 and 1000)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--variant", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    print(f"{os.cpu_count()} cores; {args.prompts} prompts x {args.max_tokens} tokens, one batch, greedy, "
          f"best of {args.repeats}")
    print(f"{'machine':8s} {'variant':22s} {'threads':>7s} {'wait policy':>11s} {'seconds':>8s} "
          f"{'tok/s':>7s} {'ratio':>6s} {'same text':>9s}")
    for loaded in (False, True):
        base = None
        for name, variant in {**VARIANTS, **(EXTRA if args.spin else {})}.items():
            r = measure(variant, loaded, args)
            tps = r["tokens"] / r["seconds"]
            base = base or r
            ratio = tps / (base["tokens"] / base["seconds"])
            same = sum(a == b for a, b in zip(r["texts"], base["texts"]))
            print(f"{'loaded' if loaded else 'idle':8s} {name:22s} {r['threads']:7d} {r['wait_policy']:>11s} "
                  f"{r['seconds']:8.2f} {tps:7.1f} {ratio:6.2f} {same:>5d}/{len(r['texts'])}", flush=True)
    print("ratio: tokens/s against 'torch default' on the same machine state, same run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
