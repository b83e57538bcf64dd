"""Shared helpers of the runtime tests: write a program beside its data, compile and run it."""
from __future__ import annotations

import json
from pathlib import Path

from collabdsl.compiler import compile_path
from runtime.run import run_graph

QA_ROWS = [
    {"question": "What color is the sky?", "options": ["blue", "green"], "answer": "blue"},
    {"question": "What do bees make?", "options": ["honey", "milk"], "answer": "honey"},
    {"question": "What is frozen water?", "options": ["ice", "steam"], "answer": "ice"},
]


def write_program(folder: Path, text: str, rows: list[dict] | None = None) -> Path:
    """``folder/prog.collab`` holding ``text``, beside ``folder/rows.jsonl`` holding ``rows``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in (QA_ROWS if rows is None else rows)))
    p = folder / "prog.collab"
    p.write_text(text)
    return p


def run_program(path: Path, db: Path, **kw):
    """Compile ``path`` (``sets``, ``models``) and run it into the store ``db``."""
    res = compile_path(str(path), kw.pop("sets", None), kw.pop("models", None))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return run_graph(res.graph, program_path=str(path), sources=res.sources, store_path=str(db),
                     progress=False, **kw)


def fake_trainer(monkeypatch, seen: list | None = None) -> list:
    """Replace runtime.trainer.train by one that writes an adapter folder (its config, no
    weights) and appends each call's keywords to ``seen`` (returned): a logic test of the
    train handler without a real training."""
    from runtime import trainer

    seen = [] if seen is None else seen

    def fake_train(objective, base, rows, out_dir, **kw):
        seen.append(kw)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        return trainer.TrainResult(objective, out, out, None, 1, len(rows), 0.1, 1.0, 10)

    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr("runtime.train_eval._base_path", lambda spec: "base")
    return seen
