"""Training steps in passes grouped by length against one pass per batch, on real data.

    .venv/bin/python bench/train_passes.py [--data ../shared/data] [--rows 32] [--repeats 2] [--full]

For each data set, ``runtime.trainer.train`` (sft, batch 8, one epoch over ``--rows`` rows,
SmolLM2-135M, bf16 autocast where the CPU has it) runs twice per repeat, alternating: with
its passes planned per step (the default, ``runtime.trainpasses``) and with
``micro_batch=8`` (each batch one pass, padded to its longest sequence, as TRL runs it).
Prints per data set the best wall time of each, their ratio, the token slots each computed
(padding included) against the real tokens, and the largest relative difference of the
logged step losses (float rounding: the same examples, loss and normalisation).

Data, read where they lie (``--data``, the shared reference data beside the project):
GSM8K question -> worked solution, CommonsenseQA question -> its abstractive explanation,
ARC-Challenge question -> the stored FLAN-T5 rationale, and the project's builtin
science-mc question -> "The answer is (X) text." (short targets of similar length).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def _jsonl(path: Path, n: int) -> list[dict]:
    return [json.loads(x) for x in path.read_text().splitlines()[:n]]


def datasets(data: Path, n: int) -> dict[str, list[dict]]:
    from collabdsl.builtins import format_options, index_of

    out = {}
    gsm = _jsonl(data / "gsm8k" / "train.jsonl", n)
    out["gsm8k q -> solution"] = [{"input": x["question"], "target": x["answer"]} for x in gsm]
    cqa = _jsonl(data / "cqa" / "cqa_train.json", n)
    out["cqa q -> explanation"] = [{"input": f"{x['question']}\n{format_options(x['choices'], style='(A)')}",
                                    "target": x["abstractive_explanation"]} for x in cqa]
    arc = json.loads((data / "arc" / "arc_train.json").read_text())[:n]
    cot = json.loads((data / "arc" / "llm" / "train_CoT_0.json").read_text())[:n]
    out["arc q -> flan-t5 rationale"] = [{"input": f"{x['question']}\n{format_options(x['choices'], style='(A)')}",
                                          "target": r.split("\n\nQ:")[0].strip()} for x, r in zip(arc, cot)]
    from scicot_by_hand import rows as science_mc

    rows = []
    for x in science_mc("train", n):
        i = index_of(x["answer"], x["options"])
        if i is not None:
            rows.append({"input": f"{x['question']}\n{format_options(x['options'], style='(A)')}",
                         "target": f"The answer is ({'ABCDEFGHIJ'[i]}) {x['answer']}."})
    out["science-mc q -> answer"] = rows
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--rows", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--full", action="store_true", help="train every weight (default: LoRA, dropout 0)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from runtime.embedded import embedded_model_dir
    from runtime.trainer import train

    base = embedded_model_dir("smollm2-135m-instruct")
    lora = None if args.full else {"dropout": 0.0}
    print(f"sft, batch 8, {args.rows} rows, {'all weights' if args.full else 'LoRA'}, precision auto; "
          f"{os.cpu_count()} cores; best of {args.repeats}")
    for name, rows in datasets(Path(args.data), args.rows).items():
        best, res = {}, {}
        for _ in range(args.repeats):
            for mode, micro in (("planned", None), ("one pass", 8)):
                with tempfile.TemporaryDirectory() as tmp:
                    t = time.perf_counter()
                    r = train("sft", base, rows, tmp, lora=lora, lr=5e-5 if args.full else 2e-4, batch_size=8,
                              max_length=1024, precision="auto", micro_batch=micro)
                    best[mode] = min(best.get(mode, float("inf")), time.perf_counter() - t)
                    res[mode] = r
        p, o = res["planned"], res["one pass"]
        lp = [h["loss"] for h in p.log_history if "loss" in h]
        lo = [h["loss"] for h in o.log_history if "loss" in h]
        diff = max(abs(a - b) / max(abs(b), 1e-9) for a, b in zip(lp, lo))
        print(f"  {name:28s} planned {best['planned']:6.1f} s ({p.passes} passes, {p.padded_tokens} slots)  "
              f"one pass {best['one pass']:6.1f} s ({o.passes} passes, {o.padded_tokens} slots)  "
              f"real tokens {p.tokens}  wall {best['planned'] / best['one pass']:.2f}x  "
              f"slots {p.padded_tokens / o.padded_tokens:.2f}x  step losses max rel diff {diff:.1e}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
