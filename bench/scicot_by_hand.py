"""Sci-CoT at its embedded profile, written by hand with transformers + TRL (no collab
runtime): the script a researcher would write for `programs/scicot.collab`.

    .venv/bin/python bench/scicot_by_hand.py [--dtype float32] [--batch 16]

The same steps, data, prompts, targets and training settings as the program's default run
(32 training and 24 test questions of builtin:science-mc, SmolLM2-135M-Instruct in every
role, greedy decoding, full fine-tuning with lr 5e-5, batch 8, one epoch, seed 0):

1. the teacher explains the gold answer of each training question (64 tokens);
2. its rationale is cleaned of answer statements (collab's ``rationale_only``, so the
   targets are the program's; a pure function of the text);
3. stage 1 learns question -> rationale; it writes rationales for train and test (64 tokens);
4. stage 2 learns question + rationale -> "The answer is (X) text."; the baselines
   "Fine-tune" (question -> answer) and "One-stage" (question -> rationale + answer);
5. accuracy of the three on the test questions (``extract_answer``).

Generation: plain batched ``model.generate`` (chat template, left padding, batches of
``--batch``), as one writes it. Prints one JSON line: seconds per step, accuracies, calls.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from collabdsl.builtins import extract_answer, format_options, index_of, rationale_only  # noqa: E402

TEACHER = """Question: {question}
Options:
{options}
The correct answer is {answer}.
Explain why this is the correct answer. Write a rationale that is specific to this question; do not restate the answer.
Let's think step by step."""
QUESTION = """Question: {question}
Options:
{options}"""
WITH_RATIONALE = """Question: {question}
Options:
{options}
Rationale: {rationale}"""


def rows(split: str, n: int) -> list[dict]:
    lines = (ROOT / "runtime" / "datasets" / "science-mc" / f"{split}.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines[:n]]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    t0 = time.perf_counter()
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from runtime.embedded import embedded_model_dir

    path = embedded_model_dir("smollm2-135m-instruct")
    tok = AutoTokenizer.from_pretrained(path)
    eos = [tok.eos_token_id]
    times, calls = {}, 0
    dtype = getattr(torch, args.dtype)

    def generate(model, prompts, max_tokens):
        nonlocal calls
        calls += len(prompts)
        tok.padding_side = "left"
        texts = [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                         add_generation_prompt=True) for p in prompts]
        out = []
        for i in range(0, len(texts), args.batch):
            enc = tok(texts[i:i + args.batch], return_tensors="pt", padding=True, add_special_tokens=False)
            with torch.inference_mode():
                seqs = model.generate(**enc, max_new_tokens=max_tokens, do_sample=False, eos_token_id=eos,
                                      pad_token_id=tok.pad_token_id)
            out += [tok.decode(s, skip_special_tokens=True).strip() for s in seqs[:, enc["input_ids"].shape[1]:]]
        return out

    def sft(pairs, out_dir):
        pairs = [(p, c) for p, c in pairs if c is not None]  # a row without a target does not train
        data = Dataset.from_list([{"prompt": [{"role": "user", "content": p}],
                                   "completion": [{"role": "assistant", "content": c}]} for p, c in pairs])
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        cfg = SFTConfig(output_dir=out_dir, learning_rate=5e-5, num_train_epochs=1, per_device_train_batch_size=8,
                        max_length=1024, seed=0, data_seed=0, report_to="none", save_strategy="no",
                        logging_steps=1, disable_tqdm=True, completion_only_loss=True, bf16=False)
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok)
        trainer.train()
        model = trainer.model.eval()
        del trainer
        return model.to(dtype)

    train, test = rows("train", 32), rows("test", 24)
    for x in train + test:
        x["options_text"] = format_options(x["options"], style="(A)")
        x["q"] = QUESTION.format(question=x["question"], options=x["options_text"])
    for x in train:
        i = index_of(x["answer"], x["options"])
        x["answer_text"] = None if i is None else f"The answer is ({'ABCDEFGHIJ'[i]}) {x['answer']}."
    t = time.perf_counter()
    teacher = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    for x, r in zip(train, generate(teacher, [TEACHER.format(question=x["question"], options=x["options_text"],
                                                             answer=x["answer"]) for x in train], 64)):
        x["clean"] = rationale_only(r, options=x["options"], answer=x["answer"], question=x["question"])
        x["one_stage"] = None if x["clean"] is None or x["answer_text"] is None else \
            f"{x['clean']}\nAnswer: {x['answer_text']}"
    del teacher
    times["teacher"] = time.perf_counter() - t
    t = time.perf_counter()
    stage1 = sft([(x["q"], x["clean"]) for x in train], tempfile.mkdtemp())
    for x, r in zip(train + test, generate(stage1, [x["q"] for x in train + test], 64)):
        x["rationale"] = r
    del stage1
    times["stage 1"] = time.perf_counter() - t
    t = time.perf_counter()
    inputs = lambda x: WITH_RATIONALE.format(question=x["question"], options=x["options_text"],  # noqa: E731
                                             rationale=x["rationale"])
    stage2 = sft([(inputs(x), x["answer_text"]) for x in train], tempfile.mkdtemp())
    acc = {}
    acc["Sci-CoT (two-stage)"] = generate(stage2, [inputs(x) for x in test], 32)
    del stage2
    fine = sft([(x["q"], x["answer_text"]) for x in train], tempfile.mkdtemp())
    acc["Fine-tune"] = generate(fine, [x["q"] for x in test], 32)
    del fine
    one = sft([(x["q"], x["one_stage"]) for x in train], tempfile.mkdtemp())
    acc["One-stage"] = generate(one, [x["q"] for x in test], 64 + 32)
    del one
    times["stage 2 and baselines"] = time.perf_counter() - t
    result = {name: sum(extract_answer(r, options=x["options"]) == x["answer"] for r, x in zip(replies, test))
              / len(test) for name, replies in acc.items()}
    print(json.dumps({"seconds": time.perf_counter() - t0, "steps": times, "accuracy": result, "calls": calls}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
