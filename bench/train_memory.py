"""Resident memory across several trainings in one process, as a run trains its versions.

    .venv/bin/python bench/train_memory.py [--trainings 4] [--rows 16] [--steps 4]

Two fresh processes each train the embedded model ``--trainings`` times (LoRA sft, the
same rows, ``--steps`` optimizer steps) through ``runtime.trainer.train`` and read their
resident set size (VmRSS) after each training and their peak (VmHWM):

- ``collab``: as the trainer is (its references dropped and ``release_memory()`` after each);
- ``without release``: ``runtime.trainer.release_memory`` replaced by a no-op.

Prints the RSS after each training, the growth from the first to the last, the peaks,
and the ratio of the two growths, measured in one run.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status(field: str) -> float:
    """A /proc/self/status field in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} in /proc/self/status (Linux only)")


def child(args) -> int:
    sys.path.insert(0, str(ROOT))
    from runtime import trainer
    from runtime.embedded import embedded_model_dir

    if args.no_release:
        trainer.release_memory = lambda: None
    base = embedded_model_dir()
    rows = [{"input": f"What is {i} plus {i}?", "target": f"{i} plus {i} is {2 * i}."} for i in range(args.rows)]
    rss = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.trainings):
            trainer.train("sft", base, rows, Path(tmp) / f"v{k}", max_steps=args.steps, batch_size=4, seed=k)
            rss.append(_status("VmRSS"))
    print(json.dumps({"rss": rss, "peak": _status("VmHWM")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trainings", type=int, default=4)
    ap.add_argument("--rows", type=int, default=16)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--no-release", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args)
    cmd = [sys.executable, __file__, "--child", "--trainings", str(args.trainings), "--rows", str(args.rows),
           "--steps", str(args.steps)]
    got = {}
    for name, extra in (("collab", []), ("without release", ["--no-release"])):
        out = subprocess.run(cmd + extra, capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise SystemExit(f"{name} failed: {out.stderr.strip().splitlines()[-1:]}")
        got[name] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.trainings} LoRA sft trainings of the embedded model in one process, {args.rows} rows, "
          f"{args.steps} steps each")
    print(f"{'variant':16s} {'RSS after each training (MB)':40s} {'growth':>8s} {'peak':>8s}")
    for name, r in got.items():
        growth = r["rss"][-1] - r["rss"][0]
        print(f"{name:16s} {' '.join(f'{x:7.0f}' for x in r['rss']):40s} {growth:8.0f} {r['peak']:8.0f}")
    a, b = (got[n]["rss"][-1] - got[n]["rss"][0] for n in ("collab", "without release"))
    print(f"growth first -> last training: collab {a:.0f} MB vs {b:.0f} MB without release"
          + (f" ({a / b:.2f}x)" if b > 0 else ""))
    print(f"RSS after the last training: {got['collab']['rss'][-1] / got['without release']['rss'][-1]:.2f}x; "
          f"peak {got['collab']['peak'] / got['without release']['peak']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
