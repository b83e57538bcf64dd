"""Diagnostics render in time linear in the file: ``collab lint`` on generated programs of
0.1, 1 and (with --big) 10 MB, one diagnostic every tenth statement, in a fresh interpreter
each. Prints the seconds per file and the ratio of time to size against the smallest, measured
in this one run (a ratio near 1 per size step means linear). Goal: 1 MB in under 2 s.

    python bench/lint_scaling.py [--big]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def program(size: int) -> str:
    lines = ['program big "generated"']
    n, i = 0, 0
    while n < size:
        if i % 10 == 0:  # an undeclared slot: E103 and W205, each rendered with its line and caret
            line = f'prompt p{i}(q) = "Question {{q}} and {{missing}} {i}"'
        else:
            line = (f'prompt p{i}(q, a) = """You are a helpful assistant. Question: {{q}}. '
                    'My classmate believes the answer is {a}. Respond."""')
        lines.append(line)
        n += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--big", action="store_true", help="also 10 MB (about 20 s)")
    args = ap.parse_args()
    sizes = [100_000, 1_000_000] + ([10_000_000] if args.big else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            path = Path(tmp) / f"p{size}.collab"
            path.write_text(program(size))
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "collabdsl", "lint", str(path)], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
            rows.append((size, time.perf_counter() - t))
    base_size, base_s = rows[0]
    print(f"{'size':>10} {'seconds':>8} {'s per MB':>9} {'vs smallest':>12}")
    for size, s in rows:
        per_mb = s / (size / 1e6)
        print(f"{size:>10,} {s:>8.2f} {per_mb:>9.2f} {per_mb / (base_s / (base_size / 1e6)):>11.2f}x")
    one_mb = dict(rows)[1_000_000]
    print(f"1 MB: {one_mb:.2f} s (goal < 2 s): {'ok' if one_mb < 2 else 'OVER'}")


if __name__ == "__main__":
    main()
