"""Peak resident memory of each shipped program's embedded run, per node, and its growth
per training.

    .venv/bin/python bench/program_memory.py [dkt cowest ...] [--interval 0.25]

Each program runs as `collab run programs/NAME.collab` (its default embedded profile) in a
fresh process with a fresh store. The run measures each node's peak itself (the kernel's
high-water mark around each model job, stored as `nodes.peak_mb`; runtime/memory.py); this
script also samples the process's resident set size (VmRSS) every `--interval` seconds
and reads from the store which trainings are running. Prints per program: wall time, the
highest sampled RSS, the nodes with the highest stored peaks (with their labels and
memory estimates from `collab plan`), the RSS at the start of each training and after it, and the growth per
training (least-squares slope of the RSS after each training against its number).

Peaks of different programs are comparable; peaks of one program across commits are the
figure to watch: issue 11 asks that the peak be bounded by the largest single step and not
grow with the number of trainings.
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
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from runtime.memory import status_mb  # noqa: E402 - after the path
PROGRAMS = ("dkt", "cowest", "nesycd", "tinyllm", "scicot")


def _running(db: Path) -> list[tuple[str, str]]:
    if not db.exists():
        return []
    try:
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.1)
        rows = con.execute("select node_id, kind from nodes where status = 'running'").fetchall()
        con.close()
        return rows
    except sqlite3.Error:
        return []


def measure(name: str, interval: float, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "runs.db"
        cmd = [sys.executable, "-m", "collabdsl", "run", str(ROOT / "programs" / f"{name}.collab"),
               "--store", str(db), *extra]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT)})
        trainings: list[list[float]] = []  # [rss when first seen running, rss when last seen]
        train_open: dict[str, int] = {}
        peak = 0.0
        while proc.poll() is None:
            rss = status_mb("VmRSS", proc.pid)
            if rss is None:
                break
            peak = max(peak, rss)  # VmHWM is reset by the run around each job (runtime.memory)
            running = _running(db)
            for node, kind in running:
                if kind == "train":
                    if node not in train_open:
                        train_open[node] = len(trainings)
                        trainings.append([rss, rss])
            for node, i in list(train_open.items()):
                if node not in {n for n, _ in running}:
                    trainings[i][1] = rss  # the first sample after the training ended
                    del train_open[node]
            time.sleep(interval)
        out, err = proc.communicate()
        wall = time.perf_counter() - t
        stored = {}
        if db.exists():
            con = sqlite3.connect(db)
            stored = {n: p for n, p in con.execute("select node_id, peak_mb from nodes where peak_mb is not null")}
            con.close()
    labels, planned = {}, {}
    plan = subprocess.run([sys.executable, "-m", "collabdsl", "plan", str(ROOT / "programs" / f"{name}.collab"),
                           "--format", "json", *extra], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    if plan.returncode == 0:
        nodes = json.loads(plan.stdout)["nodes"]
        labels = {n["id"]: n["label"] for n in nodes}
        planned = {n["id"]: n["memory"] / 2**20 for n in nodes if n.get("memory")}
    after = [b for _, b in trainings]
    slope = None
    if len(after) >= 2:
        n = len(after)
        mx, my = (n - 1) / 2, sum(after) / n
        slope = sum((i - mx) * (y - my) for i, y in enumerate(after)) / sum((i - mx) ** 2 for i in range(n))
    top = [(f"{n} {labels.get(n.split('@')[0], '')[:40]}", v, planned.get(n.split('@')[0].split('#')[0]))
           for n, v in sorted(stored.items(), key=lambda kv: -kv[1])[:4]]
    return {"program": name, "rc": proc.returncode, "wall": wall, "peak": peak, "top": top,
            "trainings": trainings, "slope": slope, "err": err.strip().splitlines()[-1:] if proc.returncode else []}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("programs", nargs="*", default=list(PROGRAMS))
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--", dest="extra", nargs=argparse.REMAINDER, default=[])
    args = ap.parse_args()
    for name in args.programs:
        r = measure(name, args.interval, args.extra)
        gb = lambda mb: f"{mb / 1024:.2f} GB"  # noqa: E731
        print(f"{name}: rc {r['rc']}, {r['wall']:.0f} s, highest sampled RSS {gb(r['peak'])}"
              + (f"  ERROR {r['err']}" if r["err"] else ""))
        print("  highest node peaks (stored; collab plan's estimate): " + "; ".join(
            f"{n}: {gb(v)}" + (f" (plan ~{gb(e)})" if e else "") for n, v, e in r["top"]))
        if r["trainings"]:
            print("  trainings (RSS at start -> after): "
                  + ", ".join(f"{gb(a)} -> {gb(b)}" for a, b in r["trainings"]))
        if r["slope"] is not None:
            print(f"  growth per training (RSS after each): {r['slope']:+.0f} MB")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
