"""TinyLLM (programs/tinyllm.collab) against its paper (§3.2-3.3, §4.1, §4.4, Table 1) and the
authors' code: the compiled dataflow (which model each row and training uses, what each
training trains on, which options reach the trainer), and a run on fake executors and a
recording trainer (logic only) that asserts the multitask batches, the teacher template with
two random in-context examples of the same data set, "w/o diverse teachers" sampled from
FLAN-T5 (live and stored) and Standard KD on the teacher's labels. The real-TRL proof of the
batches is tests/runtime/test_trainer.py::test_multitask_batches_hold_every_task_of_their_questions;
test_tinyllm_trains_on_one_batch_of_questions below runs the program's three students with it."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import networkx as nx
import pytest

from collabdsl.compiler import compile_path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "tinyllm.collab"
SHARED = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"no reference data at {SHARED}")
FAKES = {"teacher_t5": "api:fake/flan-t5", "teacher_llama": "api:fake/llama", "icl_generator": "api:fake/generator"}


def _compile(sets=None, models=None, allow_read=()):
    res = compile_path(str(PROGRAM), {k: str(v) for k, v in (sets or {}).items()} or None, models,
                       allow_read=allow_read)
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return res


def _trains(G) -> dict:
    return {a["out"]: a for _, a in G.nodes(data=True) if a["kind"] == "train"}


def _row_models(G) -> dict:
    """eval row label -> (model of the generate that answers it, the train node of its version)."""
    ev = next(a for _, a in G.nodes(data=True) if a["kind"] == "eval")
    writer = {a["out"]: n for n, a in G.nodes(data=True) if a.get("data") == "test" and isinstance(a.get("out"), str)}
    out = {}
    for s in ev["options"]["systems"]:
        gens = [G.nodes[n] for n in nx.ancestors(G, writer[s["column"]]) | {writer[s["column"]]}
                if G.nodes[n]["kind"] == "generate" and G.nodes[n]["data"] == "test"]
        assert len(gens) == 1, s["label"]
        out[s["label"]] = (gens[0]["model"], gens[0]["version"])
    return out


# ------------------------------------------------------------------ the compiled dataflow


def test_table1_rows_and_the_version_each_answers_with():
    G = _compile().graph
    trains = _trains(G)
    node_of = {a["out"]: n for n, a in G.nodes(data=True) if a["kind"] == "train"}
    rows = _row_models(G)
    assert list(rows) == ["Inference", "LoRA", "Full Fine-tuning", "Standard KD", "Distill-step-by-step", "TinyLLM"]
    assert rows["Inference"] == ("student", None)  # the pre-trained student, no training
    for label, model in [("LoRA", "lora_tuned"), ("Full Fine-tuning", "fine_tuned"), ("Standard KD", "standard_kd"),
                         ("Distill-step-by-step", "step_by_step"), ("TinyLLM", "tinyllm")]:
        assert rows[label] == (model, node_of[model]), label
    for name, a in trains.items():  # every student is trained from the base student, on the same questions
        assert a["model"] == "student" and a["data"] == "train_icl", name


def test_what_each_training_trains_on_and_the_options_that_reach_the_trainer():
    from runtime.train_eval import _trainer_kwargs
    from runtime.trainer import build_configs

    res = _compile()
    trains = _trains(res.graph)
    assert {n: a["options"]["objective"] for n, a in trains.items()} == {
        "tinyllm": "multitask", "step_by_step": "multitask", "fine_tuned": "sft", "lora_tuned": "sft",
        "standard_kd": "sft"}
    assert set(trains["tinyllm"]["reads"]) == {"input", "answer", "r_t5", "r_llama"}
    assert set(trains["step_by_step"]["reads"]) == {"input", "answer", "r_t5"}
    assert set(trains["fine_tuned"]["reads"]) == set(trains["lora_tuned"]["reads"]) == {"input", "answer"}
    assert set(trains["standard_kd"]["reads"]) == {"input", "teacher_label"}  # the teacher's labels, not gold
    spec = res.models["student"]
    assert spec["lora"] is None  # `trainable full`: the paper's students train every weight
    for name, a in trains.items():
        lora, kw = _trainer_kwargs(a, spec, 0)
        cfg = build_configs(a["options"]["objective"], "/tmp/x", lora=lora, **kw)
        assert (cfg.args.per_device_train_batch_size, cfg.args.max_length, cfg.args.num_train_epochs) == (8, 1024, 1)
        if name == "lora_tuned":  # Table 1's LoRA row: an adapter, at its own learning rate
            assert cfg.peft_config is not None and cfg.args.learning_rate == 2e-4
        else:  # §4.1: lr 5e-5, full fine-tuning
            assert cfg.peft_config is None and cfg.args.learning_rate == 5e-5, name


def test_in_context_examples_are_drawn_from_the_same_data_set():
    G = _compile().graph
    fs = [a for _, a in G.nodes(data=True) if a["kind"] == "fewshot"]
    assert len(fs) == 1 and fs[0]["options"]["inputs"] == ["train"] and fs[0]["options"]["k"] == 2
    gen = [a for _, a in G.nodes(data=True) if a["kind"] == "generate" and a["model"] == "icl_generator"]
    assert len(gen) == 1 and gen[0]["data"] == "train"  # an example's rationale, before the draw
    teachers = [a for _, a in G.nodes(data=True) if a.get("model") in ("teacher_t5", "teacher_llama")
                and a["kind"] == "generate"]
    assert {a["data"] for a in teachers} == {"train_icl"} and all(a["reads"] == ["teacher_prompt"] for a in teachers)


def test_without_diverse_teachers_samples_the_stronger_teacher():
    G = _compile({"no_diverse_teachers": "true"}).graph
    models = [(a["kind"], a.get("model")) for _, a in G.nodes(data=True) if a["kind"] in ("generate", "sample")
              and a.get("data") == "train_icl"]
    assert models == [("sample", "teacher_t5")]  # FLAN-T5 (§4.4, §4.6); LLaMA does not run
    sample = next(a for _, a in G.nodes(data=True) if a["kind"] == "sample")
    assert sample["options"]["k"] == 2 and sample["options"]["temperature"] == 1.0
    assert "w/o diverse teachers" in _row_models(G)


@needs_shared
def test_stored_rationales_dataflow():
    d = SHARED / "arc"
    sets = {"train_data": d / "arc_train.json", "test_data": d / "arc_test.json", "options_column": "choices",
            "stored_rationales": str(d / "llm" / "train_CoT_*.json")}
    res = _compile(sets, allow_read=[SHARED])
    assert res.models["teacher_t5"]["backend"] == "column" and res.models["teacher_t5"]["ref"] == "stored_t5"
    G = res.graph
    assert not [a for _, a in G.nodes(data=True) if a.get("model") == "icl_generator"]  # stored: no examples
    kd = _trains(G)["standard_kd"]
    assert kd["reads"] == ["input", "teacher_label"]
    res = _compile({**sets, "no_diverse_teachers": "true"}, allow_read=[SHARED])
    rows = _row_models(res.graph)
    assert "w/o diverse teachers (one stored FLAN-T5 rationale in both tasks)" in rows
    assert "w/o diverse teachers" not in rows


def test_rationale_column_has_no_standard_kd_row():
    rows = _row_models(_compile({"rationale_column": "answer"}).graph)
    assert "Standard KD" not in rows and "Full Fine-tuning" in rows and "LoRA" in rows


# ------------------------------------------------------------------ a run on fake executors


class FakeExec:
    """Every backend of the run: replies that name the model and the question, so a test can
    tell which model wrote which target."""

    batch_size = 8
    calls: list = []

    def __init__(self, name):
        self.name = name

    def generate(self, reqs):
        from runtime.executors.base import Generation

        out = []
        for r in reqs:
            FakeExec.calls.append((self.name, r.prompt, r.n, r.temperature))
            q = re.findall(r"Question:\n(.*)", r.prompt)
            q = q[-1] if q else r.prompt.splitlines()[-1]
            out.append([Generation(text=f"<{self.name} #{i} on {q}>") for i in range(r.n)])
        return out

    def choose(self, reqs):
        from runtime.executors.base import ChoiceResult

        FakeExec.calls += [(self.name, r.prompt, "choose", None) for r in reqs]
        return [ChoiceResult(probs=[0.0] * (len(r.options) - 1) + [1.0]) for r in reqs]  # always the last option

    def close(self):
        pass


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """Run the program with every model a FakeExec and runtime.trainer.train recording its
    calls; each training's optimizer steps are counted with the trainer's own batching."""
    from runtime import trainer as T
    from runtime.run import run_graph

    FakeExec.calls = []
    trained = {}
    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: FakeExec(str(spec.get("ref"))))

    def fake_train(objective, base, rows, out_dir, *, tasks=None, lora=T.LORA_DEFAULTS, adapter=None, **kw):
        groups = T._sft_groups(objective, rows, kw.get("lam", 0.5), tasks)
        items = [item for _, _, pairs in groups for _, _, item in pairs]
        batches = T.input_batches(items, kw.get("batch_size", 4), kw.get("seed", 0))
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        trained[out_dir.name] = {"objective": objective, "rows": rows, "tasks": tasks, "lora": lora, "kw": kw,
                                 "groups": groups, "batches": batches}
        return T.TrainResult(objective=objective, path=out_dir, adapter_path=out_dir if lora is not None else None,
                             model_path=None if lora is not None else out_dir, steps=len(batches),
                             examples=len(items), seconds=0.0, train_loss=1.0, tokens=1)

    monkeypatch.setattr(T, "train", fake_train)

    def run(sets=None, allow_read=(), models=FAKES):
        res = compile_path(str(PROGRAM), {"n_train": "6", "n_test": "3", **{k: str(v) for k, v in (sets or {}).items()}},
                           models, allow_read=allow_read)
        assert res.graph is not None, [d.message for d in res.diagnostics]
        out = run_graph(res.graph, program_path=str(PROGRAM), sources=res.sources,
                        store_path=str(tmp_path / "runs.db"), progress=False)
        assert out.status == "finished", out.error
        by_model = {}
        for t in out.trainings:
            info = trained[Path(t["path"]).name]
            by_model[t["model"]] = {**info, "steps": t["steps"]}
        return out, by_model

    return run


def test_tinyllm_batches_tasks_and_targets(fake_run):
    out, trained = fake_run()
    assert set(trained) == {"tinyllm", "step_by_step", "fine_tuned", "lora_tuned", "standard_kd"}
    # the same number of optimizer steps per epoch for every student: 6 questions, 8 per batch
    assert {m: t["steps"] for m, t in trained.items()} == dict.fromkeys(trained, 1)
    tiny = trained["tinyllm"]
    assert [(t["name"], t["prefix"], t["weight"]) for t in tiny["tasks"]] == [
        ("predict", "predict: ", 1.0), ("explain", "explain: ", 1.0), ("rationale", "rationale: ", 1.0)]
    (batch,) = tiny["batches"]
    items = [i for _, _, pairs in tiny["groups"] for _, _, i in pairs]
    per_task = {}
    for g, (name, _, pairs) in enumerate(tiny["groups"]):
        per_task[name] = sorted(i for _, _, i in pairs)
    assert all(v == list(range(6)) for v in per_task.values())  # every question under every task ...
    assert sorted(items[p] for p in batch) == sorted(list(range(6)) * 3)  # ... in the one batch
    for r in tiny["rows"]:  # FLAN-T5 writes "explain: ", LLaMA "rationale: ", on the row's own question
        q = r["input"].splitlines()[0]
        assert r["targets"]["explain"] == f"<fake/flan-t5 #0 on {q}>"
        assert r["targets"]["rationale"] == f"<fake/llama #0 on {q}>"
        assert r["targets"]["predict"] and not r["targets"]["predict"].startswith("<")  # the gold option text
    dss = trained["step_by_step"]
    assert [(t["prefix"], t["weight"]) for t in dss["tasks"]] == [("predict: ", 0.5), ("explain: ", 0.5)]
    assert trained["fine_tuned"]["lora"] is None and trained["lora_tuned"]["lora"] is not None
    assert trained["fine_tuned"]["kw"]["lr"] == 5e-5 and trained["lora_tuned"]["kw"]["lr"] == 2e-4
    # Standard KD learns the teacher's label (the fake teacher always chooses the last option)
    gold = {r["input"]: r["target"] for r in trained["fine_tuned"]["rows"]}
    kd = {r["input"]: r["target"] for r in trained["standard_kd"]["rows"]}
    assert kd.keys() == gold.keys() and kd != gold
    assert [r["system"] for r in out.results] == ["Inference", "LoRA", "Full Fine-tuning", "Standard KD",
                                                  "Distill-step-by-step", "TinyLLM"]


def test_teacher_prompt_is_the_readme_template_with_two_random_examples_of_the_data(fake_run):
    fake_run()
    teacher = [p for m, p, n, _ in FakeExec.calls if m == "fake/flan-t5" and n == 1]
    generator = [p for m, p, _, _ in FakeExec.calls if m == "fake/generator"]
    assert len(teacher) == 6 and len(generator) == 6  # one example rationale per training question
    questions = [re.findall(r"Question:\n(.*)", p)[-1] for p in teacher]
    assert len(set(questions)) == 6
    for p, q in zip(teacher, questions):
        assert re.search(r"\n\nQuestion:\n.*\nOptions:\n(\([a-e]\) .*\n)+Answer:\n[a-e]\nRationale:\n"
                         r"Let's think step by step\.$", p)
        shots = re.findall(r"Question:\n(.*)", p)[:-1]
        assert len(shots) == 2 and q not in shots and set(shots) <= set(questions)  # two others of the same data
        for s in shots:  # each example with its answer letter and the generator's rationale
            assert f"<fake/generator #0 on {s}>" in p
    assert len({tuple(re.findall(r"Question:\n(.*)", p)[:-1]) for p in teacher}) > 1  # drawn per question


def test_without_diverse_teachers_both_rationales_are_flan_t5_samples(fake_run):
    out, trained = fake_run({"no_diverse_teachers": "true"})
    assert not [c for c in FakeExec.calls if c[0] == "fake/llama"]
    samples = [(n, t) for m, _, n, t in FakeExec.calls if m == "fake/flan-t5" and n != "choose"]
    assert samples == [(2, 1.0)] * 6
    for r in trained["tinyllm"]["rows"]:
        q = r["input"].splitlines()[0]
        assert (r["targets"]["explain"], r["targets"]["rationale"]) == (f"<fake/flan-t5 #0 on {q}>",
                                                                        f"<fake/flan-t5 #1 on {q}>")
    assert "w/o diverse teachers" in [r["system"] for r in out.results]


@needs_shared
def test_stored_rationales_targets_and_without_diverse_teachers(fake_run):
    d = SHARED / "arc"
    sets = {"train_data": d / "arc_train.json", "test_data": d / "arc_test.json", "options_column": "choices",
            "stored_rationales": str(d / "llm" / "train_CoT_*.json")}
    out, trained = fake_run({**sets, "no_diverse_teachers": "true"}, allow_read=[SHARED], models=None)
    stored = []
    for i in range(3):
        stored += json.loads((d / "llm" / f"train_CoT_{i}.json").read_text())
    train = json.loads((d / "arc_train.json").read_text())
    rows = trained["tinyllm"]["rows"]
    for i, r in enumerate(rows):
        t5 = stored[i].split("\n\nQ:")[0].split("Thus, the answer is")[0].strip()  # the authors' loader
        assert r["targets"]["explain"] == t5 == r["targets"]["rationale"]  # the one stored FLAN-T5 rationale
        assert "Thus, the answer is" not in r["targets"]["explain"]
    kd = trained["standard_kd"]["rows"]
    for i, r in enumerate(kd):  # FLAN-T5's label: the option after "Thus, the answer is (x)"
        letter = re.search(r"Thus, the answer is \(([a-e])\)", stored[i]).group(1)
        assert r["target"] == train[i]["choices"]["abcde".index(letter)]
    # no teacher and no generator ran: only the students answered the test questions
    assert {c[0] for c in FakeExec.calls} <= {"smollm2-135m-instruct"} | {Path(t["path"]).as_posix()
                                                                           for t in out.trainings}
    assert "w/o diverse teachers (one stored FLAN-T5 rationale in both tasks)" in [r["system"] for r in out.results]


# ------------------------------------------------------------------ the real trainer


@pytest.mark.slow
def test_tinyllm_trains_on_one_batch_of_questions(tmp_path, monkeypatch):
    """The program's three students (TinyLLM, Distill-step-by-step, Full Fine-tuning) on 8
    questions with the real TRL trainer at batch size 4: 2 optimizer steps each; every
    TinyLLM step sees 4 questions under all three tasks and optimises
    L_pred + a_t5 L_t5 + a_llama L_llama."""
    from runtime import trainer as T
    from runtime.embedded import embedded_model_dir

    seen = []
    cls = T._weighted_sft_cls()
    original = cls.compute_loss

    def spy(self, model, inputs, *a, **k):
        seen.append((inputs["item"].tolist(), inputs["group"].tolist()))
        return original(self, model, inputs, *a, **k)

    monkeypatch.setattr(cls, "compute_loss", spy)
    base = embedded_model_dir("smollm2-135m-instruct")
    rows = [{"input": f"Question {i}?\nAnswer Choices:\n(a) yes\n(b) no",
             "targets": {"predict": "yes", "explain": f"Because {i} is small.", "rationale": f"Step 1: {i}."}}
            for i in range(8)]
    tasks = [{"name": "predict", "prefix": "predict: ", "weight": 1.0},
             {"name": "explain", "prefix": "explain: ", "weight": 2.0},
             {"name": "rationale", "prefix": "rationale: ", "weight": 0.5}]
    kw = {"lr": 5e-5, "batch_size": 4, "max_length": 64, "epochs": 1, "lora": None}
    tiny = T.train("multitask", base, rows, tmp_path / "tiny", tasks=tasks, **kw)
    dss = T.train("multitask", base, rows, tmp_path / "dss", tasks=[
        {"name": "predict", "prefix": "predict: ", "weight": 0.5},
        {"name": "explain", "prefix": "explain: ", "weight": 0.5}], **kw)
    ft = T.train("sft", base, [{"input": "predict: " + r["input"], "target": "yes"} for r in rows],
                 tmp_path / "ft", **kw)
    assert tiny.steps == dss.steps == ft.steps == 2
    for items, groups in seen[:2]:
        per = {g: sorted(i for i, gg in zip(items, groups) if gg == g) for g in (0, 1, 2)}
        assert len(per[0]) == 4 and per[0] == per[1] == per[2]
    for h in [h for h in tiny.log_history if "loss" in h]:
        assert h["loss"] == pytest.approx(h["loss_predict"] + 2.0 * h["loss_explain"] + 0.5 * h["loss_rationale"],
                                          rel=1e-4, abs=1e-5)
