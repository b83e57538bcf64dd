"""A training on the compute thread with glibc's allocator defaults against collab's settings
(runtime/allocator.py, issue 11).

    .venv/bin/python bench/allocator.py [--steps 4]

The same 4-step full fine-tuning of the embedded model, run as collab runs it (on a thread
other than the main one), in two fresh processes one after the other: ``COLLAB_MALLOC=default``
(glibc maps and unmaps every large block) and collab's settings (freed blocks kept for
reuse). Prints each one's wall, user and system seconds, minor page faults and peak resident
size (``getrusage`` of the child), and the ratios.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

ONE = r"""
import json, resource, sys, threading, time
from runtime import allocator
said = allocator.configure()
from runtime.embedded import embedded_model_dir
from runtime.trainer import train
steps, out = json.loads(sys.argv[1])
qa = [json.loads(line) for line in open("runtime/datasets/commonsense-mc/train.jsonl")][:32]
data = [{"input": r["question"], "target": r.get("rationale") or r["answer"]} for r in qa]
box = {}
def job():
    t = time.perf_counter()
    train("sft", embedded_model_dir("smollm2-135m-instruct"), data, out, lora=None, lr=1e-5, batch_size=8,
          max_length=256, max_steps=steps, seed=0)
    box["train_s"] = time.perf_counter() - t
th = threading.Thread(target=job); th.start(); th.join()
u = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"said": said, "train_s": box["train_s"], "user": u.ru_utime, "sys": u.ru_stime,
                  "faults": u.ru_minflt, "maxrss_gb": u.ru_maxrss / 2**20}))
"""


def run(mode: str, steps: int, out: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(PYTHONPATH=str(ROOT), COLLAB_MALLOC=mode)
    proc = subprocess.run([sys.executable, "-c", ONE, json.dumps([steps, out])], cwd=ROOT, capture_output=True,
                          text=True, env=env)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    args = ap.parse_args()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        a = run("default", args.steps, f"{tmp}/a")
        b = run("collab", args.steps, f"{tmp}/b")
    for name, r in (("glibc defaults", a), ("collab", b)):
        print(f"  {name:15s} training {r['train_s']:6.1f} s  user {r['user']:6.1f} s  sys {r['sys']:5.1f} s  "
              f"faults {r['faults'] / 1e6:5.2f} M  peak RSS {r['maxrss_gb']:.2f} GB   ({r['said']})")
    print(f"  collab / defaults: training {b['train_s'] / a['train_s']:.2f}x, sys {b['sys'] / a['sys']:.2f}x, "
          f"faults {b['faults'] / a['faults']:.2f}x, peak RSS {b['maxrss_gb'] / a['maxrss_gb']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
