"""A training in fp32 against the same training under bf16 autocast (issue 11).

    .venv/bin/python bench/train_precision.py [--steps 4] [--rows 32]

runtime.trainer.train on the embedded model, 4 SFT steps of 8 rows (CommonsenseQA-style
questions with short rationales as targets), once with LoRA and once with all weights
trained, each in fp32 (the CPU default) and with ``precision="bf16"`` (what a role with
``dtype "bf16"``, or ``"auto"`` on a CPU with native bf16, trains in). Each training runs
in a fresh process (one after the other) so neither inherits the other's warm state; the
bench prints wall seconds end to end (load, train, save), the ratio bf16 / fp32, and the
logged losses of both, which differ by precision only.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE = r"""
import json, sys, time
from runtime.embedded import embedded_model_dir
from runtime.trainer import train
lora, precision, steps, rows, out = json.loads(sys.argv[1])
qa = [json.loads(line) for line in open("runtime/datasets/commonsense-mc/train.jsonl")][:rows]
data = [{"input": r["question"], "target": r.get("rationale") or r["answer"]} for r in qa]
t = time.perf_counter()
r = train("sft", embedded_model_dir("smollm2-135m-instruct"), data, out, lora=lora, lr=1e-4 if lora is not None else 1e-5,
          batch_size=8, max_length=256, max_steps=steps, seed=0, precision=precision)
print(json.dumps({"seconds": time.perf_counter() - t, "losses": [h["loss"] for h in r.log_history if "loss" in h],
                  "precision": r.precision}))
"""


def run(lora, precision, steps, rows, out) -> dict:
    proc = subprocess.run([sys.executable, "-c", ONE, json.dumps([lora, precision, steps, rows, out])], cwd=ROOT,
                          capture_output=True, text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                                                               "HOME": str(Path.home())})
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--rows", type=int, default=32)
    args = ap.parse_args()
    import tempfile

    print(f"SFT, {args.steps} steps of 8 rows, embedded model; seconds end to end (fresh process each)")
    with tempfile.TemporaryDirectory() as tmp:
        for name, lora in (("LoRA", {}), ("all weights", None)):
            got = {p: run(lora, p, args.steps, args.rows, f"{tmp}/{name}-{p}") for p in (None, "bf16")}
            a, b = got[None], got["bf16"]
            print(f"  {name:12s} fp32 {a['seconds']:6.1f} s   bf16 {b['seconds']:6.1f} s   bf16/fp32 "
                  f"{b['seconds'] / a['seconds']:.2f}x   ({b['precision']})")
            print(f"  {'':12s} losses fp32 {[round(x, 3) for x in a['losses']]}  bf16 {[round(x, 3) for x in b['losses']]}")
    return 0


if __name__ == "__main__":
    t0 = time.perf_counter()
    raise SystemExit(main())
