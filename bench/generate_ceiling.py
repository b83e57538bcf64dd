"""A generate node against the ceiling of the model on this machine.

    .venv/bin/python bench/generate_ceiling.py [--rows 64] [--max-tokens 48]
        [--batches 8,16,32,64] [--dtypes float32,bfloat16] [--repeats 1]

Prompts: the first ``--rows`` CommonsenseQA questions of ``../shared/data/cqa`` (relative
to the project root; a built-in list where that folder is absent), as multiple-choice
chain-of-thought prompts, chat-templated, greedy, ``--max-tokens`` new tokens.

1. **Ceiling**: bare ``model.generate`` (the embedded model's transformers weights loaded
   with ``AutoModelForCausalLM`` in each dtype; ``generate_throughput.handwritten``: left
   padding, batches of each size of the sweep, prompts in their given order). The best tokens/s of the sweep is the ceiling.
2. **Node**: the same prompts as one ``generate`` node of a collab program
   (``collab run`` in this process, role ``dtype "auto"`` and no batch option, so the
   runtime chooses both). Its tokens/s is completion tokens over the node's time less
   the model load.
3. **Adapters**: the node again through a trained version (a LoRA adapter with random
   non-zero weights), which the executor merges for the batch, against bare
   ``model.generate`` through the unmerged PEFT model at the node's batch size.

Prints tokens/s of each, the node/ceiling ratio (issue 11's goal: >= 0.8), how many
greedy texts of bf16 equal those of fp32 at the same batch size, and merged vs unmerged.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

DATA = ROOT.parent / "shared" / "data" / "cqa"
FALLBACK = ["Where would you put a plate after washing it?", "What do people use to cut paper?",
            "Where is a good place to keep milk cold?", "What does a bird use to fly?"]


def questions(n: int) -> list[str]:
    files = sorted(DATA.glob("*test*.json*")) if DATA.is_dir() else []
    out = []
    for f in files:
        for line in f.read_text().splitlines():
            r = json.loads(line)
            opts = " ".join(f"({chr(97 + i)}) {c}" for i, c in enumerate(r["choices"]))
            out.append(f"Q: {r['question']}\nAnswer Choices: {opts}\nA: Let's think step by step.")
            if len(out) == n:
                return out
    return [FALLBACK[i % len(FALLBACK)] + f" ({i})" for i in range(n)]


def bare(model, tok, prompts, batch, max_tokens, eos, pad):
    """(seconds, completion tokens, texts) of generate_throughput's hand-written loop of
    batched ``model.generate`` on ``model``."""
    from types import SimpleNamespace

    from generate_throughput import handwritten

    t = time.perf_counter()
    outs, n_tok = handwritten(SimpleNamespace(tokenizer=tok, model=model, device="cpu", eos_ids=eos, pad_id=pad),
                              prompts, max_tokens, batch)
    return time.perf_counter() - t, n_tok, outs


PROGRAM = """
program ceiling "one generate node"
model m = embedded("smollm2-135m-instruct") max_tokens {max_tokens} dtype "auto"
data d = load("rows.jsonl", columns: {{question: "question"}})
for x in d {{ x.reply = m.generate(x.question) }}
"""


def node_run(prompts, max_tokens, folder: Path, adapter: str | None = None):
    """tokens/s of the program's generate node (load excluded), its texts, batch and dtype."""
    from collabdsl.compiler import compile_path
    from runtime.run import run_graph

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps({"question": p}) + "\n" for p in prompts))
    path = folder / "prog.collab"
    path.write_text(PROGRAM.format(max_tokens=max_tokens))
    res = compile_path(str(path))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    before = None
    if adapter is not None:  # serve the node through the adapter: its role's current version
        import runtime.agents as agents

        before = agents.Role.__init__

        def with_adapter(self, *a, **kw):
            before(self, *a, **kw)
            self.adapter = adapter
            self.version_id = "bench-adapter"
        agents.Role.__init__ = with_adapter
    try:
        out = run_graph(res.graph, program_path=str(path), sources=res.sources,
                        store_path=str(folder / "runs.db"), progress=False)
    finally:
        if before is not None:
            agents.Role.__init__ = before
    assert out.status == "finished", out.error
    (key, st), = [(k, s) for k, s in out.stats.items() if s.kind == "generate"]
    (agent,) = out.agents.values()
    import sqlite3

    con = sqlite3.connect(folder / "runs.db")
    rows = [json.loads(d) for (d,) in con.execute("select data from rows where node_id = ?", [key])]
    # rows land in completion order; "d:12" is row 12 of d
    texts = [r["v"] for r in sorted(rows, key=lambda r: int(str(r["rid"]).rsplit(":", 1)[1]))]
    con.close()
    secs = st.seconds - agent["load_seconds"]
    return secs, st.completion_tokens, texts, agent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=48)
    ap.add_argument("--batches", default="8,16,32,64")
    ap.add_argument("--dtypes", default="float32,bfloat16")
    ap.add_argument("--repeats", type=int, default=1, help="rounds of the sweep; each setting's best counts")
    args = ap.parse_args(argv)

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from runtime.embedded import embedded_model_dir
    from runtime.precision import resolve

    prompts = questions(args.rows)
    path = embedded_model_dir("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(path)
    eos = [tok.eos_token_id] + [i for i in [tok.convert_tokens_to_ids("<|im_end|>")] if i != tok.eos_token_id]
    pad = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
    batches = [int(b) for b in args.batches.split(",")]
    print(f"{len(prompts)} prompts ({'CommonsenseQA test' if DATA.is_dir() else 'built-in'}), greedy, "
          f"max_tokens {args.max_tokens}, torch threads {torch.get_num_threads()}, "
          f"'auto' precision here: {resolve('auto', 'cpu')}")
    sweep, texts = {}, {}
    for dtype in args.dtypes.split(","):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        bare(model, tok, prompts[:2], 2, 2, eos, pad)  # warm up
        for _ in range(args.repeats):
            for b in batches:
                secs, n, outs = bare(model, tok, prompts, b, args.max_tokens, eos, pad)
                if (dtype, b) not in sweep or n / secs > sweep[(dtype, b)]:
                    sweep[(dtype, b)] = n / secs
                texts[(dtype, b)] = outs
        del model
    print(f"{'bare model.generate':24s} " + " ".join(f"{'batch ' + str(b):>10s}" for b in batches) + "  (tokens/s)")
    for dtype in args.dtypes.split(","):
        print(f"{dtype:24s} " + " ".join(f"{sweep[(dtype, b)]:10.1f}" for b in batches))
    (best_dtype, best_b), ceiling = max(sweep.items(), key=lambda kv: kv[1])
    print(f"ceiling: {ceiling:.1f} tokens/s ({best_dtype}, batch {best_b})")
    dts = args.dtypes.split(",")
    if len(dts) == 2:
        for b in batches:
            same = sum(x == y for x, y in zip(texts[(dts[0], b)], texts[(dts[1], b)]))
            print(f"  batch {b}: {same}/{len(prompts)} greedy texts of {dts[1]} equal {dts[0]}'s")

    with tempfile.TemporaryDirectory() as tmp:
        # twice, each in a fresh store: the first pays the process's first bf16/fp32 kernels
        # for these shapes (as a run's first batch does); the second is the steady state
        # that the bare sweep (after its warm-up) measures
        for label, folder in (("cold", "plain-1"), ("warm", "plain-2")):
            secs, n, node_texts, agent = node_run(prompts, args.max_tokens, Path(tmp) / folder)
            tps = n / secs
            dtype, b = agent["dtype"], -(-agent["calls"] // agent["batches"])  # rows per backend batch
            print(f"generate node ({label}): {tps:.1f} tokens/s ({dtype}, {agent['batches']} backend batch(es) of "
                  f"up to {b} rows, {secs:.1f} s): {tps / ceiling:.2f}x the ceiling")
        ref = texts.get((dtype, best_b)) or []
        if ref:
            print(f"  {sum(x == y for x, y in zip(node_texts, ref))}/{len(prompts)} node texts equal bare "
                  f"{dtype} batch {best_b}'s")

        # adapters: a LoRA with random non-zero weights, merged by the executor vs unmerged PEFT
        from peft import LoraConfig, get_peft_model

        base = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype)).eval()
        peft_model = get_peft_model(base, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"],
                                                     init_lora_weights=False))
        adir = Path(tmp) / "adapter"
        peft_model.save_pretrained(adir)
        peft_model.eval()
        u_secs, u_n, u_texts = bare(peft_model, tok, prompts, b, args.max_tokens, eos, pad)
        del peft_model, base
        m_secs, m_n, m_texts, _ = node_run(prompts, args.max_tokens, Path(tmp) / "adapter-run", str(adir))
        print(f"adapter: node (merged) {m_n / m_secs:.1f} tokens/s vs bare unmerged PEFT batch {b} "
              f"{u_n / u_secs:.1f}: {(m_n / m_secs) / (u_n / u_secs):.2f}x; "
              f"{sum(x == y for x, y in zip(m_texts, u_texts))}/{len(prompts)} texts equal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
