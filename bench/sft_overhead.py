"""Overhead of runtime.trainer.train('sft', ...) over a bare TRL SFTTrainer script.

Both sides train the same LoRA (r=16, alpha=32, dropout=0.05, all-linear) on the same
chat-formatted prompt/completion data, for the same number of steps, from the same seed, and
save the adapter. Each side is timed end to end (tokenizer + model load, dataset preparation,
training, save) after the libraries are imported once; the runs alternate (bare, ours, bare,
ours, ...) to spread machine noise over both. The adapters are compared at the end: with the
same seed they must be identical, which shows the two sides did the same work.

    .venv/bin/python bench/sft_overhead.py [--steps 20] [--repeats 2] [--model DIR]

Goal: ratio ours / bare <= 1.10.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH, MAX_LENGTH, LR, SEED = 4, 128, 2e-4, 0


def make_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        a, b = 3 + 7 * i % 50, 11 + 13 * i % 40
        rows.append({"input": f"What is {a} plus {b}? Answer with the number only.",
                     "target": f"{a + b}"})
    return rows


def bare_trl(model_dir: str, rows: list[dict], out: str, steps: int) -> float:
    """What a hand-written TRL script does; returns the trainer's own train_runtime."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    ds = Dataset.from_list([
        {"prompt": [{"role": "user", "content": r["input"]}],
         "completion": [{"role": "assistant", "content": r["target"]}]}
        for r in rows
    ])
    args = SFTConfig(
        output_dir=out, max_steps=steps, per_device_train_batch_size=BATCH, learning_rate=LR,
        max_length=MAX_LENGTH, seed=SEED, bf16=False, activation_checkpointing=False,
        report_to="none", save_strategy="no", disable_tqdm=True,
    )
    peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear",
                             task_type="CAUSAL_LM")
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok,
                         peft_config=peft_config)
    runtime = trainer.train().metrics["train_runtime"]
    trainer.save_model(out)
    return runtime


def ours(model_dir: str, rows: list[dict], out: str, steps: int) -> float:
    from runtime.trainer import train

    res = train("sft", model_dir, rows, out, lr=LR, batch_size=BATCH, max_length=MAX_LENGTH,
                max_steps=steps, seed=SEED)
    return next(h["train_runtime"] for h in reversed(res.log_history) if "train_runtime" in h)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rows", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads (1 gives steadier numbers on a busy machine)")
    ap.add_argument("--model", default=None, help="model folder (default: the embedded SmolLM2)")
    a = ap.parse_args()

    import logging
    import warnings

    import datasets
    import torch
    import transformers

    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    datasets.disable_progress_bars()
    logging.getLogger("trl").setLevel(logging.ERROR)
    import peft  # noqa: F401  (import cost paid before any timing)
    import trl  # noqa: F401

    if a.threads:
        torch.set_num_threads(a.threads)

    if a.model is None:
        from runtime.embedded import embedded_model_dir

        a.model = str(embedded_model_dir())
    rows = make_rows(a.rows)
    print(f"model={a.model} rows={a.rows} steps={a.steps} batch={BATCH} max_length={MAX_LENGTH} "
          f"threads={torch.get_num_threads()} "
          f"device={'cuda' if torch.cuda.is_available() else 'cpu'}")

    wall = {"bare": [], "ours": []}
    cpu = {"bare": [], "ours": []}
    loop = {"bare": [], "ours": []}
    outs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(a.repeats):
            for name, fn in (("bare", bare_trl), ("ours", ours)):
                out = str(Path(tmp) / f"{name}{rep}")
                t0, c0 = time.perf_counter(), time.process_time()
                loop[name].append(fn(a.model, rows, out, a.steps))
                wall[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
                outs[name] = out
                print(f"  run {rep} {name:4s}: wall {wall[name][-1]:7.2f}s  cpu {cpu[name][-1]:7.2f}s"
                      f"  train loop {loop[name][-1]:7.2f}s", flush=True)

        from safetensors.torch import load_file

        wa = load_file(str(Path(outs["bare"]) / "adapter_model.safetensors"))
        wb = load_file(str(Path(outs["ours"]) / "adapter_model.safetensors"))
        same = wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    med_loop = {k: statistics.median(v) for k, v in loop.items()}
    ratio, ratio_loop = med["ours"] / med["bare"], med_loop["ours"] / med_loop["bare"]
    ratio_cpu = med_cpu["ours"] / med_cpu["bare"]
    for name, label in (("bare", "bare TRL"), ("ours", "runtime ")):
        runs = ", ".join(f"{x:.2f}" for x in wall[name])
        print(f"{label} wall median {med[name]:.2f}s (runs {runs})")
    print(f"ratio ours/bare (medians): wall {ratio:.3f}x, cpu {ratio_cpu:.3f}x, "
          f"train loop {ratio_loop:.3f}x "
          f"(goal <= 1.10x: {'met' if ratio <= 1.10 else 'NOT met'})")
    print(f"identical adapters: {same}")


if __name__ == "__main__":
    main()
