"""The options contract at compile time: every option name of collabdsl.options is accepted
exactly where its entry says it applies (backends, objectives, methods) and rejected
elsewhere with a located E112; values outside an option's range or set are E109; a
``--model`` binding and ``--set`` values are checked against the same tables; a training
that continues a LoRA adapter cannot set LoRA options. Where each accepted option lands
at run time is tests/runtime/test_option_contract.py."""
from __future__ import annotations

import pytest
from collab_testing import HEAD, UNUSED, findings

from collabdsl import options as O
from collabdsl.options import BACKEND_KWARGS, LORA_OPTIONS, MODEL_OPTIONS, TRAIN_OPTIONS
from collabdsl.vocab import BACKENDS, MODEL_METHODS, OBJECTIVES

# A literal value each option accepts (the runtime test uses its own distinctive values).
MODEL_VALUES = {"temperature": "0.3", "top_p": "0.9", "max_tokens": "7", "seed": "5", "chat": "false",
                "batch_size": "3", "concurrency": "4", "timeout": "9", "max_retries": "2", "device": '"cpu"',
                "dtype": '"bf16"', "system": '"You are terse."', "replicas": "2"}
REFS = {"embedded": '"smollm2-135m-instruct"', "hf": '"org/m"', "gguf": '"org/repo/m.gguf"', "vllm": '"org/m"',
        "api": '"openai/gpt-4o-mini"', "server": '"http://127.0.0.1:1/v1"', "column": '"answer"'}


def _first(result):
    """The first diagnostic that is not an unused-definition warning."""
    return next(d for d in result.diagnostics if d.code not in UNUSED)


def _col(src: str, line: int, text: str) -> int:
    """The 1-based column of ``text`` on ``line`` of ``src``."""
    return src.splitlines()[line - 1].index(text) + 1


def _model_program(backend: str, option: str) -> str:
    return (f'program t "t"\nmodel m = {backend}({REFS[backend]}) frozen {option} {MODEL_VALUES[option]}\n'
            'data d = load("builtin:science-mc", split: "test")\n'
            'for x in d { x.a = m.generate(x.question) }\n')


def test_the_tables_have_one_entry_per_name():
    assert set(MODEL_VALUES) == set(MODEL_OPTIONS)
    assert tuple(OBJECTIVES) == O.OBJECTIVE_NAMES
    assert set(BACKEND_KWARGS) <= set(BACKENDS)
    for table in (MODEL_OPTIONS, TRAIN_OPTIONS, LORA_OPTIONS, O.METHOD_OPTIONS, O.LOAD_OPTIONS):
        for name, opt in table.items():
            assert opt.name == name and opt.lands, name
    for name, opt in MODEL_OPTIONS.items():
        assert set(opt.applies) <= set(BACKENDS) - {"column"}, name  # a column model takes no option
    for name, opt in TRAIN_OPTIONS.items():
        assert opt.applies and set(opt.applies) <= set(OBJECTIVES) and opt.kwarg, name
    for m in MODEL_METHODS.values():  # the methods' signatures are the per-call table
        assert set(m.required + m.optional) == {n for n, o in O.METHOD_OPTIONS.items() if m.name in o.applies}


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("option", sorted(MODEL_OPTIONS))
def test_a_model_option_is_accepted_exactly_on_the_backends_it_applies_to(check, backend, option):
    r = check(_model_program(backend, option))
    got = findings(r)
    if backend in MODEL_OPTIONS[option].applies:
        assert got == [], [d.message for d in r.diagnostics]
    else:
        col = len(f"model m = {backend}({REFS[backend]}) frozen ") + 1
        assert got == [("E112", 2, col)], [d.message for d in r.diagnostics]
        assert f"'{option}' does not apply to" in _first(r).message
        assert f"{backend}()" in _first(r).message


def test_concurrency_on_an_embedded_model_is_E112_at_the_option(check):
    r = check(HEAD.replace("trainable\n", "trainable concurrency 4\n", 1))
    assert findings(r) == [("E112", 2, 59)]
    assert "api(), server()" in _first(r).message


@pytest.mark.parametrize("backend, kwarg, value", [
    ("server", "model", '"m"'), ("gguf", "file", '"m.gguf"'), ("vllm", "gpu_memory_utilization", "0.5"),
    ("vllm", "max_model_len", "2048")])
def test_backend_kwargs_belong_to_their_backend(check, backend, kwarg, value):
    src = ('program t "t"\nmodel m = {b}({ref}, {k}: {v}) frozen\ndata d = load("builtin:science-mc", '
           'split: "test")\nfor x in d {{ x.a = m.generate(x.question) }}\n')
    ref = '"org/repo"' if (backend, kwarg) == ("gguf", "file") else REFS[backend]  # the hub form: no local file
    assert findings(check(src.format(b=backend, ref=ref, k=kwarg, v=value))) == []
    other = "hf" if backend != "hf" else "api"
    r = check(src.format(b=other, ref=REFS[other], k=kwarg, v=value))
    assert [c for c, *_ in findings(r)] == ["E112"]


@pytest.mark.parametrize("opt, value, ok", [
    ("warmup", "0.1", True), ("warmup", "0", True), ("warmup", "1", False), ("warmup", "-0.1", False),
    ("scheduler", '"cosine"', True), ("scheduler", '"cosin"', False), ("scheduler", "3", False),
    ("optimizer", '"rmsprop"', True), ("optimizer", '"adamw"', True), ("optimizer", '"adam"', False),
    ("weight_decay", "0.01", True), ("weight_decay", "0", True), ("weight_decay", "-1", False),
    ("lora_dropout", "1.0", False), ("lora_r", "0", False), ("lr", "0", False), ("full", "1", False),
    ("batch_size", "2.5", False), ("epochs", "0.5", True),
])
def test_training_option_values(check, opt, value, ok):
    r = check(HEAD + f"train small sft for x in train {{ input: x.question, target: x.answer, {opt}: {value} }}\n")
    got = findings(r)
    assert got == ([] if ok else [("E109", 6, 71 + len(opt) + 2)]), [d.message for d in r.diagnostics]
    if not ok and value.startswith('"'):
        assert "expected one of" in _first(r).message


def test_values_from_params_are_checked_at_lint_and_after_set(check, build):
    src = HEAD + ('param w: float = 0.1\n'
                  'train small sft for x in train { input: x.question, target: x.answer, warmup: w }\n')
    assert findings(check(src)) == []
    assert findings(check(src.replace("= 0.1", "= 1.5"))) == [("E109", 7, 79)]
    r = build(src, sets={"w": "2"})  # --set: the lowering checks the bound value, at the option
    assert r.graph is None and [(d.code, d.span.line, d.span.col) for d in r.errors] == [("E109", 7, 79)]
    assert "warmup 2 is outside [0, 1)" in r.errors[0].message


@pytest.mark.parametrize("objective, entry, wrong", [
    ("sft", "beta: 0.2", "beta"), ("dpo", "lambda: 0.3", "lambda"), ("kd", "beta: 0.2", "beta")])
def test_an_objective_option_on_another_objective_is_E112(check, objective, entry, wrong):
    entries = {"sft": "input: x.question, target: x.answer",
               "kd": "input: x.question, gold: x.answer, teacher: x.answer",
               "dpo": "prompt: x.question, chosen: x.answer, rejected: x.question"}[objective]
    r = check(HEAD + f"train small {objective} for x in train {{ {entries}, {entry} }}\n")
    assert [c for c, *_ in findings(r)] == ["E112"]
    assert f"'{wrong}' does not apply to {objective}" in _first(r).message


def test_warmup_with_the_constant_scheduler_is_E112(check):
    r = check(HEAD + 'train small sft for x in train { input: x.question, target: x.answer, warmup: 0.1, '
              'scheduler: "constant" }\n')
    assert findings(r) == [("E112", 6, 71)]
    assert "constant_with_warmup" in _first(r).message
    r = check(HEAD + 'train small sft for x in train { input: x.question, target: x.answer, lora_r: 4, '
              'full: true }\n')
    assert findings(r) == [("E112", 6, 71)]


def test_the_lowering_reads_training_options_from_the_vocabulary(build):
    r = build(HEAD + 'train small sft for x in train { input: x.question, target: x.answer, warmup: 0.1, '
              'scheduler: "cosine", optimizer: "adamw", weight_decay: 0.01 }\n')
    (node,) = [a for _, a in r.graph.nodes(data=True) if a["kind"] == "train"]
    assert node["options"] == {"warmup": 0.1, "scheduler": "cosine", "optimizer": "adamw_torch",
                               "weight_decay": 0.01, "objective": "sft"}
    assert set(node["expr"]["entries"]) == {"input", "target"}


# ---------------------------------------------------------------------- LoRA settings
def test_lora_settings_are_checked(check):
    r = check(HEAD.replace("trainable\n", "trainable lora(8)\n", 1))
    assert findings(r) == [("E113", 2, 64)]
    r = check(HEAD.replace("trainable\n", "trainable lora(rank: 8)\n", 1))
    assert findings(r) == [("E112", 2, 64)]
    src = HEAD.replace("trainable\n", "trainable lora(r: 8, alpha: 16, dropout: 1.5)\n", 1)
    assert findings(check(src)) == [("E109", 2, _col(src, 2, "1.5"))]
    assert findings(check(HEAD.replace("trainable\n", 'trainable lora(r: 8, target_modules: ["q_proj"])\n', 1))) == []


TRAIN = "train small sft for x in train { input: x.question, target: x.answer%s }\n"
NAMED = "model small2 = train small sft for x in train { input: x.question, target: x.answer%s }\n"


@pytest.mark.parametrize("second", [", lora_r: 8", ", lora_alpha: 8", ", lora_dropout: 0.1", ", full: true"])
def test_a_training_that_continues_an_adapter_takes_no_lora_options(build, second):
    name = second.split(":")[0].lstrip(", ")
    r = build(HEAD + TRAIN % "" + TRAIN % second)
    assert r.graph is None
    (d,) = r.errors
    assert (d.code, d.span.line, d.span.col) == ("E112", 7, 71)
    assert "continues the adapter trained at line 6" in d.message and name in d.message
    # the first training of the role sets them; a new name bound to a training continues too
    assert build(HEAD + TRAIN % second + TRAIN % "").graph is not None
    r = build(HEAD + NAMED % "" + "train small2 sft for x in train { input: x.question, target: x.answer%s }\n"
              % second)
    assert r.graph is None and r.errors[0].code == "E112"


def test_a_loop_continues_its_own_adapter_from_the_second_iteration(build):
    r = build(HEAD + "repeat 2 {\n  " + TRAIN % ", lora_r: 8" + "}\n")
    assert r.graph is None
    (d,) = r.errors
    assert (d.code, d.span.line) == ("E112", 7) and "previous iteration" in d.message
    # a new version from the untouched base in every iteration: a fresh adapter each time
    assert build(HEAD + "repeat 2 {\n  " + NAMED % ", lora_r: 8" + "}\n").graph is not None
    # full fine-tuning every iteration continues full weights: no adapter to keep
    assert build(HEAD + "repeat 2 {\n  " + TRAIN % ", full: true" + "}\n").graph is not None


def test_lora_options_on_a_full_fine_tuning_role(build):
    head = HEAD.replace("trainable\n", "trainable full\n", 1)
    r = build(head + TRAIN % ", lora_r: 8")
    assert r.graph is None and r.errors[0].code == "E112" and "trainable full" in r.errors[0].message
    assert build(head + TRAIN % ", full: false, lora_r: 8").graph is not None  # an adapter, asked for


# ---------------------------------------------------------------------- per-call options
def test_confidence_estimators_belong_to_their_method(check):
    r = check(HEAD + "for x in train { x.a = small.generate(p(x.question), confidence: option_prob) }\n")
    assert [c for c, *_ in findings(r)] == ["E112"] and "mean_token_prob, top2_margin" in _first(r).message
    r = check(HEAD + "for x in train { x.a = small.choose(p(x.question), options: x.options, "
              "confidence: top2_margin) }\n")
    assert [c for c, *_ in findings(r)] == ["E112"] and "option_prob" in _first(r).message


def test_generation_options_of_a_call_on_a_column_model(check, build):
    src = HEAD + 'model stored = column("answer")\nfor x in train { x.a = stored.generate(p(x.question)%s) }\n'
    assert findings(check(src % "")) == []
    r = check(src % ", temperature: 0.7")
    assert findings(r) == [("E112", 7, _col(src % ", temperature: 0.7", 7, "temperature"))]
    assert "column()" in _first(r).message
    # declared once as a column and once as a model (a static if): the taken branch decides
    two = HEAD + ('param stored: bool = true\nif stored { model t = column("answer") } else { model t = '
                  'embedded("smollm2-135m-instruct") frozen }\nfor x in train { x.a = t.generate(p(x.question), '
                  'max_tokens: 8) }\n')
    assert findings(check(two)) == []
    r = build(two)
    assert r.graph is None
    assert [(d.code, d.span.line, d.span.col) for d in r.errors] == [("E112", 8, _col(two, 8, "max_tokens"))]
    assert build(two, sets={"stored": "false"}).graph is not None
    r = build(HEAD + "for x in train { x.a = small.generate(p(x.question), temperature: t0) }\n"
              "param t0: float = 0.5\n", sets={"t0": "-1"})
    assert r.graph is None and r.errors[0].code == "E109"


# ---------------------------------------------------------------------- --model bindings
def test_an_option_the_new_backend_cannot_honour_is_rejected_at_bind(build):
    src = ('program t "t"\nmodel r = embedded("smollm2-135m-instruct") frozen temperature 0.5 max_tokens 8\n'
           'data d = load("builtin:science-mc", split: "test")\nfor x in d { x.a = r.generate(x.question) }\n')
    assert build(src).graph is not None
    r = build(src, models={"r": "column:answer"})
    assert r.graph is None
    got = [(d.code, d.span.line, d.span.col) for d in r.errors]
    assert got == [("E112", 2, _col(src, 2, "temperature")), ("E112", 2, _col(src, 2, "max_tokens"))]
    assert all("bound by --model to column:answer" in d.message for d in r.errors)
    assert build(src, models={"r": "api:openai/gpt-4o-mini"}).graph is not None  # api honours both
    src = src.replace("max_tokens 8", "dtype \"bf16\"")
    r = build(src, models={"r": "api:openai/gpt-4o-mini"})
    assert [(d.code, d.span.col) for d in r.errors] == [("E112", _col(src, 2, "dtype"))]
    assert "api()" in r.errors[0].message


def test_a_call_option_is_checked_against_the_bound_backend(build):
    src = ('program t "t"\nmodel r = embedded("smollm2-135m-instruct") frozen\n'
           'data d = load("builtin:science-mc", split: "test")\n'
           'for x in d { x.a = r.generate(x.question, temperature: 0.7) }\n')
    r = build(src, models={"r": "column:answer"})
    assert [(d.code, d.span.line, d.span.col) for d in r.errors] == [("E112", 4, _col(src, 4, "temperature"))]
    assert "bound by --model to column:answer" in r.errors[0].message


def test_engine_kwargs_survive_a_binding_to_the_same_backend(build):
    src = ('program t "t"\nmodel r = vllm("org/a", max_model_len: 2048) frozen\n'
           'data d = load("builtin:science-mc", split: "test")\nfor x in d { x.a = r.generate(x.question) }\n')
    r = build(src, models={"r": "vllm:org/b"})
    assert r.models["r"]["ref"] == "org/b" and r.models["r"]["kwargs"] == {"max_model_len": 2048}
    r = build(src, models={"r": "hf:org/b"})
    assert [(d.code, d.span.line, d.span.col) for d in r.errors] == [("E112", 2, _col(src, 2, "max_model_len"))]
    src = src.replace('vllm("org/a", max_model_len: 2048)', 'server("http://127.0.0.1:1/v1", model: "m")')
    r = build(src, models={"r": "server:http://127.0.0.1:2/v1#other"})  # the reference replaces model:
    assert r.models["r"]["kwargs"] == {"model": "other"}
    assert build(src, models={"r": "api:openai/gpt-4o-mini"}).graph is not None


def test_option_values_after_set_are_checked_for_models(build):
    src = ('program t "t"\nparam d: str = "bf16"\nmodel r = embedded("smollm2-135m-instruct") frozen dtype d\n'
           'data x = load("builtin:science-mc", split: "test")\nfor y in x { y.a = r.generate(y.question) }\n')
    assert build(src).graph is not None
    r = build(src, sets={"d": "bf17"})
    assert [(e.code, e.span.line, e.span.col) for e in r.errors] == [("E109", 3, 58)]
    assert "unknown dtype" in r.errors[0].message


def test_the_contract_module_is_light():
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, collabdsl.options, collabdsl.checks; heavy = [m for m in ('torch', 'transformers', "
            "'trl', 'litellm', 'networkx') if m in sys.modules]; assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(O.__file__).resolve().parents[1])


@pytest.mark.parametrize("call, message", [
    ("m.sample(x.question, k: 20000)", "k 20000 is more than 10,000 samples of one prompt"),
    ("m.generate(x.question, max_tokens: 2000000)", "max_tokens 2000000 is outside [1, 1000000]"),
])
def test_counts_that_would_take_unbounded_work_are_E109(check, build, call, message):
    """A sample of 10**9 per row or a limit of 10**12 tokens would hold GBs for one call:
    bounded at lint, and again when --set gives the value."""
    src = ('program t "t"\nparam k: int = 3\nmodel m = embedded("smollm2-135m-instruct") frozen\n'
           'data d = load("builtin:science-mc", split: "test")\nfor x in d {{ x.a = {call} }}\n')
    r = check(src.format(call=call))
    assert [(d.code, d.message) for d in r.errors] == [("E109", message)]
    r = build(src.format(call="m.sample(x.question, k: k)"), sets={"k": "1000000000"})
    assert r.graph is None and [d.code for d in r.errors] == ["E109"]
    assert "k 1000000000 is more than 10,000" in r.errors[0].message and r.errors[0].span.line == 5
