"""A role's precision is decided before anything loads, keyed in its cache and recorded
with the run: a bf16 reply is never reused for an fp32 role (issue 11). Real embedded
model, real SQLite store."""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_testing import run_program, write_program

from runtime import precision
from runtime.precision import call_version, resolve, role_precision

PROGRAM = """
program prec "one generate node whose precision is a param"
param p: str = "fp32"
model m = embedded("smollm2-135m-instruct") max_tokens 4 dtype p
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = m.generate(x.question) }
eval res for x in d metrics exact_match { gold x.answer  "m" = x.reply }
"""


def _calls(outcome) -> tuple[int, int]:
    st = outcome.stats.values()
    return sum(s.calls for s in st), sum(s.cache_hits for s in st)


def test_a_reply_computed_in_fp32_is_not_reused_for_a_bf16_role(tmp_path):
    path = write_program(tmp_path, PROGRAM)
    db = tmp_path / "runs.db"
    first = run_program(path, db, sets={"p": "fp32"})
    assert first.status == "finished", first.error
    assert _calls(first) == (3, 0)
    again = run_program(path, db, sets={"p": "fp32"})
    assert _calls(again) == (0, 3)  # the same precision is reused
    bf16 = run_program(path, db, sets={"p": "bf16"})
    assert bf16.status == "finished", bf16.error
    assert _calls(bf16) == (3, 0)  # another precision asks the model again
    assert bf16.agents and {a["dtype"] for a in bf16.agents.values()} == {"bfloat16"}
    con = sqlite3.connect(db)
    recorded = [r[0] for r in con.execute("select settings from runs order by started")]
    con.close()
    assert '"precision": {"m": "float32"}' in recorded[0]
    assert '"precision": {"m": "bfloat16"}' in recorded[-1]


def test_resume_under_another_precision_says_so(tmp_path):
    from runtime.run import input_changes

    prev = {"params": {}, "bindings": {}, "settings": {"seed": 0, "precision": {"m": "float32"}}}
    changes = input_changes(prev, {}, {}, {"seed": 0, "precision": {"m": "bfloat16"}})
    assert changes == ["precision of m: bfloat16 (was float32)"]


def test_names_resolve_to_torch_precisions(monkeypatch):
    assert resolve(None, "cpu") == "float32"
    assert resolve(None, "cuda") == "bfloat16"
    assert resolve("bf16", "cpu") == "bfloat16"
    assert resolve("half", "cpu") == "float16"
    assert resolve("fp32", "cuda:1") == "float32"
    with pytest.raises(ValueError, match="unknown dtype"):
        resolve("int3", "cpu")


@pytest.mark.parametrize("native, want", [(True, "bfloat16"), (False, "float32")])
def test_auto_is_bf16_only_on_a_cpu_with_bf16_instructions(monkeypatch, native, want):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    resolve.cache_clear()
    try:
        assert resolve("auto", "cpu") == want
    finally:
        resolve.cache_clear()


def test_the_cpu_flags_are_read(monkeypatch, tmp_path):
    flags = tmp_path / "cpuinfo"
    flags.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f amx_bf16 avx512_bf16\n")
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: real(flags if str(self) == "/proc/cpuinfo" else self, *a, **k))
    precision.cpu_has_native_bf16.cache_clear()
    try:
        assert precision.cpu_has_native_bf16() is True
        flags.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
        precision.cpu_has_native_bf16.cache_clear()
        assert precision.cpu_has_native_bf16() is False
    finally:
        precision.cpu_has_native_bf16.cache_clear()


def test_the_precision_joins_the_key_unless_it_is_fp32():
    assert call_version("v1", "float32") == "v1"  # keyed as before: earlier caches stay valid
    assert call_version("v1", None) == "v1"
    assert call_version("v1", "bfloat16") == "v1/bfloat16"
    assert role_precision({"backend": "embedded", "options": {"dtype": "bfloat16"}}) == "bfloat16"
    assert role_precision({"backend": "embedded", "options": {"device": "cpu"}}) == "float32"
    assert role_precision({"backend": "vllm", "options": {"dtype": "auto"}}) == "auto"
    assert role_precision({"backend": "server", "options": {}}) is None


CLI_PROGRAM = """
program prec_cli "one generate node; its role sets no dtype"
model m = embedded("smollm2-135m-instruct") max_tokens 2
model fixed = embedded("smollm2-135m-instruct") max_tokens 2 dtype "fp32"
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = m.generate(x.question) }
"""


def test_run_dtype_sets_the_precision_of_roles_that_set_none(tmp_path, monkeypatch):
    """`collab run --dtype bf16`: a role without a dtype computes in bf16 (recorded with the
    run), a role that names its own keeps it; a bad name is a one-line usage error."""
    from typer.testing import CliRunner

    from collabdsl.cli import app

    path = write_program(tmp_path, CLI_PROGRAM)
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(app, ["run", str(path), "--dtype", "bf16", "--store", str(tmp_path / "runs.db")])
    assert r.exit_code == 0, r.output
    con = sqlite3.connect(tmp_path / "runs.db")
    (settings,) = con.execute("select settings from runs").fetchone()
    con.close()
    assert '"m": "bfloat16"' in settings and '"fixed": "float32"' in settings, settings
    bad = CliRunner().invoke(app, ["run", str(path), "--dtype", "int3", "--store", str(tmp_path / "runs.db")])
    assert bad.exit_code == 2 and "--dtype 'int3': expected one of" in bad.output
    assert "Traceback" not in bad.output


TRAIN_PROGRAM = """
program prec_train "a role trained in its precision"
param p: str = "fp32"
model m = embedded("smollm2-135m-instruct") trainable lora(r: 4, alpha: 8, dropout: 0.0) max_tokens 2 dtype p
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
train m sft for x in d { input: x.question, target: x.answer, max_steps: 2, batch_size: 3 }
"""


@pytest.mark.slow
def test_a_bf16_role_trains_in_bf16_into_its_own_version(tmp_path):
    """Issue 11: the training of a bf16 role runs under bf16 autocast (recorded with the
    training and said in its line); an fp32 role's training of the same data is another
    version (its own folder), never the bf16 one reused."""
    from runtime.report import training_line

    path = write_program(tmp_path, TRAIN_PROGRAM)
    db = tmp_path / "runs.db"
    fp32 = run_program(path, db, sets={"p": "fp32"})
    bf16 = run_program(path, db, sets={"p": "bf16"})
    assert fp32.status == bf16.status == "finished", (fp32.error, bf16.error)
    [t32], [t16] = fp32.trainings, bf16.trainings
    assert (t32["precision"], t16["precision"]) == ("float32", "bfloat16")
    assert t32["path"] != t16["path"] and t32["train_loss"] != t16["train_loss"]
    assert "bfloat16 autocast" in training_line(t16) and "autocast" not in training_line(t32)
    again = run_program(path, db, sets={"p": "bf16"})
    assert again.trainings[0]["path"] == t16["path"]  # the same precision reuses its version
