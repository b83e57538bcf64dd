"""The runtime against hand-written code, measured in one run:

1. a `generate` node of a compiled program (agents, batching, cache, store) vs a
   hand-written batched `model.generate` loop over the same prompts and model
   (goal: node throughput >= 0.9x of the loop);
2. a rerun of the finished program: model calls (goal 0), models loaded and wall time.

    .venv/bin/python bench/runtime_overhead.py [--prompts 32] [--max-tokens 32] [--batch-size 16]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from generate_throughput import make_prompts  # noqa: E402

from runtime.agents import in_compute_thread  # noqa: E402

PROGRAM = """
program bench_generate "one generate node"
model m = embedded("smollm2-135m-instruct") max_tokens {max_tokens} batch_size {batch_size}
data d = load("prompts.jsonl", columns: {{prompt: "prompt"}})
for x in d {{ x.out = m.generate(x.prompt) }}
"""


def hand_loop(prompts, max_tokens, batch_size):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runtime.embedded import embedded_model_dir

    path = embedded_model_dir()
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                     add_generation_prompt=True) for p in prompts]
    t = time.perf_counter()
    outs = []
    with torch.no_grad():
        for i in range(0, len(texts), batch_size):
            enc = tok(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            gen = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id or tok.eos_token_id)
            outs += tok.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return time.perf_counter() - t, outs


def run_node(work: Path):
    from collabdsl.compiler import compile_path
    from runtime.run import run_graph

    res = compile_path(str(work / "prog.collab"))
    assert res.graph is not None, res.diagnostics
    t = time.perf_counter()
    out = run_graph(res.graph, program_path=str(work / "prog.collab"), sources=res.sources,
                    store_path=str(work / "runs.db"))
    wall = time.perf_counter() - t
    gen = next(s for k, s in out.stats.items() if s.kind == "generate")
    loads = sum(a["loads"] for a in out.agents.values())
    load_s = sum(a["load_seconds"] for a in out.agents.values())
    return wall, gen, loads, load_s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=2, help="interleaved rounds; the best time counts")
    a = ap.parse_args()
    prompts = make_prompts(a.prompts)
    loop_times, node_runs = [], []
    for _ in range(a.repeats):
        work = Path(tempfile.mkdtemp(prefix="collab-bench-"))  # a fresh store: no cache
        (work / "prompts.jsonl").write_text("".join(json.dumps({"prompt": p}) + "\n" for p in prompts))
        (work / "prog.collab").write_text(PROGRAM.format(max_tokens=a.max_tokens, batch_size=a.batch_size))
        # on the runtime's compute thread too: torch work on two threads of one process would
        # have two OpenMP teams competing for the cores (see runtime/agents.py)
        loop_times.append(asyncio.run(in_compute_thread(hand_loop, prompts, a.max_tokens, a.batch_size))[0])
        node_runs.append(run_node(work))
    loop_s = min(loop_times)
    wall, gen, loads, load_s = min(node_runs, key=lambda r: r[1].seconds - r[3])
    # the node's time without the model load (the hand loop loaded before its clock started)
    node_s = gen.seconds - load_s
    print(f"prompts {a.prompts}, max_tokens {a.max_tokens}, batch size {a.batch_size}, best of {a.repeats}")
    print(f"hand-written batched loop: {loop_s:.2f} s  ({a.prompts / loop_s:.2f} prompts/s)")
    print(f"generate node: {node_s:.2f} s without the {load_s:.2f} s model load ({a.prompts / node_s:.2f} "
          f"prompts/s); whole run {wall:.2f} s; calls {gen.calls}")
    print(f"node throughput / loop throughput: {loop_s / node_s:.2f}x (goal >= 0.9x)")
    wall2, gen2, loads2, _ = run_node(work)
    print(f"rerun of the finished program: {wall2:.3f} s, model calls {gen2.calls}, models loaded {loads2}, "
          f"cache hits {gen2.cache_hits} (goal: 0 calls)")


if __name__ == "__main__":
    main()
