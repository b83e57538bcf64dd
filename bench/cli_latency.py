"""Start-up latency of ``collab lint``: the wall time of ``collab lint programs/*.collab`` in a
fresh interpreter, against ``python -c "import lark"`` (the parser library every lint needs)
as a floor on the same machine. Median of 7 runs each, after one untimed warm-up run of each
(which writes the .pyc and lark grammar caches). Goal: lint <= 0.3 s.

    python bench/cli_latency.py [--runs 7] [--json]

Uses the installed ``collab`` script next to the interpreter when there is one, otherwise
``python -m collabdsl.cli``. Exit status 1 when lint fails or the median is over the goal
(with --check).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 0.3


def _lint_command(programs: list[str]) -> list[str]:
    script = Path(sys.executable).with_name("collab")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script), "lint", *programs]
    return [sys.executable, "-m", "collabdsl.cli", "lint", *programs]


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _time(cmd: list[str], runs: int, env: dict) -> tuple[float, list[float], int, float]:
    """(median wall, all walls, exit status, median CPU seconds of the child)."""
    subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True)  # warm-up, not timed
    times, cpus, rc = [], [], 0
    for _ in range(runs):
        c = _cpu()
        t = time.perf_counter()
        proc = subprocess.run(cmd, check=False, cwd=ROOT, env=env, capture_output=True)
        times.append(time.perf_counter() - t)
        cpus.append(_cpu() - c)
        rc = rc or proc.returncode
    return statistics.median(times), times, rc, statistics.median(cpus)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON")
    ap.add_argument("--check", action="store_true", help=f"exit 1 when the lint median is over {GOAL_S} s")
    args = ap.parse_args(argv)

    programs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "programs").glob("*.collab"))
    if not programs:
        print("no programs/*.collab to lint", file=sys.stderr)
        return 1
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    lint_cmd = _lint_command(programs)
    lint_med, lint_all, rc, lint_cpu = _time(lint_cmd, args.runs, env)
    lark_med, lark_all, _, lark_cpu = _time([sys.executable, "-c", "import lark"], args.runs, env)
    base_med, _, _, base_cpu = _time([sys.executable, "-c", "pass"], args.runs, env)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    result = {
        "command": " ".join(Path(lint_cmd[0]).name if i == 0 else c for i, c in enumerate(lint_cmd)),
        "programs": len(programs), "runs": args.runs,
        "lint_median_s": round(lint_med, 4), "import_lark_median_s": round(lark_med, 4),
        "python_startup_median_s": round(base_med, 4), "ratio_lint_over_lark": round(lint_med / lark_med, 2),
        "lint_cpu_median_s": round(lint_cpu, 4), "import_lark_cpu_median_s": round(lark_cpu, 4),
        "load_average_1min": load, "cpus": os.cpu_count(), "goal_s": GOAL_S, "meets_goal": lint_med <= GOAL_S, "lint_exit_status": rc,
        "lint_all_s": [round(t, 4) for t in lint_all], "import_lark_all_s": [round(t, 4) for t in lark_all],
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"collab lint ({len(programs)} programs): median {lint_med:.3f} s wall, {lint_cpu:.3f} s CPU "
              f"over {args.runs} runs")
        print(f"python -c 'import lark':     median {lark_med:.3f} s wall, {lark_cpu:.3f} s CPU")
        print(f"python -c 'pass':            median {base_med:.3f} s wall, {base_cpu:.3f} s CPU")
        print(f"ratio lint / import lark:    {lint_med / lark_med:.2f}")
        if load is not None:
            print(f"load average {load:.2f} on {os.cpu_count()} CPUs (wall times grow with load)")
        print(f"goal <= {GOAL_S} s: {'met' if lint_med <= GOAL_S else 'NOT met'}"
              + ("" if rc in (0, 1) else f" (lint exited {rc})"))
    if rc not in (0, 1):
        return 1
    return 1 if args.check and lint_med > GOAL_S else 0


if __name__ == "__main__":
    sys.exit(main())
