"""Trained versions stay usable from any folder: `--store ../x/runs.db` reuses the adapter a
run from `x` trained (its record names it relative to the version folder)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import trainer
from runtime.train_eval import DONE_MARK

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_resume import run, write_program  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]

TRAIN = """
program versions "one training"
model m = embedded("smollm2-135m-instruct") trainable lora(r: 4, alpha: 8) max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
train m sft for x in d { input: x.question, target: x.answer, max_steps: 1, batch_size: 4 }
"""


def test_a_version_trained_from_one_folder_is_found_from_another(tmp_path, monkeypatch):
    """Logic test: the trainer is replaced by one that writes a real adapter folder (its
    files, no weights); the handler's record and its reuse are the real ones."""
    calls = []

    def fake_train(objective, base, rows, out_dir, **kw):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        calls.append(out)
        return trainer.TrainResult(objective, out, out, None, 1, len(rows), 0.1, 1.0, 10)

    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr("runtime.train_eval._base_path", lambda spec: "base")
    a, b = tmp_path / "a", tmp_path / "b"
    write_program(a, TRAIN)
    b.mkdir()
    monkeypatch.chdir(a)
    first = run(Path("prog.collab"), Path("runs.db"))
    assert first.status == "finished", first.error
    assert len(calls) == 1 and calls[0].is_absolute()  # the trainer gets the store's folder
    [mark] = list((a / "versions").glob(f"*/{DONE_MARK}"))
    recorded = json.loads(mark.read_text())
    assert not os.path.isabs(recorded["adapter"])  # relative to the version folder
    monkeypatch.chdir(b)
    second = run(Path("../a/prog.collab"), Path("../a/runs.db"))
    assert second.status == "finished", second.error
    assert len(calls) == 1  # the version was found: no second training
    adapter = Path(second.trainings[0]["adapter"])
    assert adapter.is_absolute() and (adapter / "adapter_config.json").is_file()
    assert adapter == calls[0].resolve()


GENERATE_AFTER = TRAIN + """
for x in d { x.reply = m.generate(x.question) }
eval res for x in d metrics token_f1 { gold x.answer  "trained" = x.reply }
"""


@pytest.mark.slow
def test_a_real_version_is_used_from_another_folder(tmp_path):
    rows = [("What color is the sky?", "blue"), ("What do bees make?", "honey"),
            ("What is frozen water?", "ice"), ("What animal barks?", "dog")]
    a, b = tmp_path / "a", tmp_path / "b"
    write_program(a, GENERATE_AFTER, rows)
    b.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}

    def collab(cwd, *args):
        return subprocess.run([sys.executable, "-m", "collabdsl", "run", *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=900)

    r = collab(a, "prog.collab", "--store", "runs.db")
    assert r.returncode == 0, r.stdout + r.stderr
    [mark] = list((a / "versions").glob("*/collab_version.json"))
    written = mark.stat().st_mtime_ns
    # the same program from a sibling folder, the store named relative to it; a new
    # generate node (another max_tokens) must call the trained version
    (a / "prog.collab").write_text(GENERATE_AFTER.replace("m.generate(x.question)",
                                                          "m.generate(x.question, max_tokens: 3)"))
    r = collab(b, "../a/prog.collab", "--store", "../a/runs.db")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "adapter_config.json" not in r.stdout + r.stderr
    assert list((a / "versions").glob("*/collab_version.json")) == [mark]
    assert mark.stat().st_mtime_ns == written  # trained once, reused from the other folder
