"""A whole program under collab against the hand-written script doing the same work.

    .venv/bin/python bench/program_vs_script.py [--load 0,2] [--dtype auto] [--repeats 1]

Sci-CoT at its embedded profile: `collab run programs/scicot.collab` (a fresh store, so
nothing is reused) against `bench/scicot_by_hand.py` (transformers + TRL, fp32, batches of
16: the script a researcher writes). For each competing load in ``--load`` (that many
busy processes started by this bench for the duration, one per core = a shared machine),
the two run one after the other (script first), each in a fresh process; the bench
prints the wall and CPU seconds of each, the ratio collab / script (issue 11's goal:
wall <= 0.5), and the accuracies of each side (the same work gives the same table up to
what the precision changes: with ``--dtype auto`` collab's roles compute in bf16 where the
CPU does so natively; ``--dtype fp32`` compares like with like).
"""
from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUSY = "import time\nwhile True:\n    sum(range(10000))\n"


def timed(cmd: list[str]) -> tuple[float, str, int]:
    """(wall s, stdout, exit status) of ``cmd`` in a fresh process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    out, err = proc.communicate()
    return time.perf_counter() - t, out + ("\n" + err[-2000:] if proc.returncode else ""), proc.returncode


def children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def collab_side(dtype: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.db"
        cmd = [sys.executable, "-m", "collabdsl", "run", "programs/scicot.collab", "--store", str(db)]
        if dtype:
            cmd += ["--dtype", dtype]
        c0 = children_cpu()
        wall, out, rc = timed(cmd)
        cpu = children_cpu() - c0
        acc = {}
        if rc == 0:
            con = sqlite3.connect(db)
            acc = {s: v for s, v in con.execute(
                "select system, value from metrics where metric = 'accuracy'")}
            con.close()
    return {"wall": wall, "cpu": cpu, "rc": rc, "accuracy": acc, "tail": out[-600:] if rc else ""}


def script_side() -> dict:
    c0 = children_cpu()
    wall, out, rc = timed([sys.executable, "bench/scicot_by_hand.py"])
    cpu = children_cpu() - c0
    res = json.loads(out.strip().splitlines()[-1]) if rc == 0 else {}
    return {"wall": wall, "cpu": cpu, "rc": rc, "accuracy": res.get("accuracy", {}), "calls": res.get("calls"),
            "steps": res.get("steps"), "tail": out[-600:] if rc else ""}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", default="0,2", help="competing busy processes, one setting per comma")
    ap.add_argument("--dtype", default="auto", help="collab run --dtype (auto, fp32, bf16); 'none': not given")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    dtype = None if args.dtype == "none" else args.dtype
    print(f"Sci-CoT embedded profile; collab --dtype {dtype}; {os.cpu_count()} cores")
    for load in [int(x) for x in args.load.split(",")]:
        busy = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(load)]
        try:
            for _ in range(args.repeats):
                s = script_side()
                c = collab_side(dtype)
                for name, r in (("script", s), ("collab", c)):
                    print(f"  load {load}: {name:6s} wall {r['wall']:7.1f} s  cpu {r['cpu']:7.1f} s  rc {r['rc']}  "
                          f"accuracy {json.dumps(r['accuracy'], sort_keys=True)}" + (f"\n{r['tail']}" if r["tail"] else ""))
                if s["rc"] == 0 and c["rc"] == 0:
                    print(f"  load {load}: collab / script: wall {c['wall'] / s['wall']:.2f}x, "
                          f"cpu {c['cpu'] / s['cpu']:.2f}x")
                sys.stdout.flush()
        finally:
            for p in busy:
                p.kill()
                p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
