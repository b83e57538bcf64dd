"""LiteLLMExecutor concurrency bench: 64 calls to the test OpenAI-compatible server
(tests/runtime/openai_server.py) with 200 ms added latency, concurrency 16 vs 1.

The server answers a fixed cheap reply (``fixed_reply``, no model run), so the times measure
the client's concurrency, not CPU inference: ideal is 64 x 0.2 s = 12.8 s sequential and
4 x 0.2 s = 0.8 s at concurrency 16, a 16x speedup. Goal: >= 10x.

Run from the repository root: ``.venv/bin/python bench/litellm_concurrency.py``.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "runtime")]

from openai_server import OpenAIServer

from runtime.executors.base import GenRequest
from runtime.executors.litellm_exec import LiteLLMExecutor


def timed(srv: OpenAIServer, concurrency: int, calls: int) -> float:
    ex = LiteLLMExecutor("openai/smollm2", api_base=srv.base_url, concurrency=concurrency)
    reqs = [GenRequest(f"bench prompt {i}", max_tokens=4) for i in range(calls)]
    srv.reset_counters()
    t0 = time.perf_counter()
    out = ex.generate(reqs)
    dt = time.perf_counter() - t0
    assert len(out) == calls and all(g[0].text for g in out)
    assert srv.requests == calls and srv.max_in_flight <= concurrency
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency-ms", type=float, default=200)
    a = ap.parse_args()
    with OpenAIServer(latency_ms=a.latency_ms, fixed_reply="ok, done") as srv:
        timed(srv, a.concurrency, 4)  # warm up litellm (imports, HTTP client)
        seq = timed(srv, 1, a.calls)
        par = timed(srv, a.concurrency, a.calls)
        peak = srv.max_in_flight
    print(f"{a.calls} calls, {a.latency_ms:.0f} ms server latency, fixed reply (no model)")
    print(f"sequential (concurrency 1): {seq:6.2f} s")
    print(f"concurrency {a.concurrency:<2d}:            {par:6.2f} s  (max in flight {peak})")
    print(f"speedup: {seq / par:.1f}x (goal >= 10x)")


if __name__ == "__main__":
    main()
