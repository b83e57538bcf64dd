"""CoWeSt (programs/cowest.collab) does what the paper does.

The compiled IR pins the dataflow: which model version each Table 1 row uses, what SFT and
DPO train on and from which version, the options that reach TRL's configs (RMSprop and a
max_length that fits a 1028-token draft, B.2), the sampling of preference generation
against the evaluation's, the query and ground-truth formats of Figures 6 and 8.

A run on a fake executor (logic only: scripted replies, a recording trainer) checks the
semantics end to end: evaluation decodes with its own settings, not the preference-data
sampling (T 1.0, top-p 0.9); the drafts the evaluator prefers are DPO's chosen texts; DPO
continues the SFT adapter; a bound ready-made weak SFT model is not fine-tuned again."""
from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from collabdsl.compiler import compile_path
from runtime.executors.base import Generation
from runtime.run import run_graph

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "cowest.collab"
SHARED = ROOT.parent / "shared" / "data"

ROWS = ["Eval", "Weak only", "Weak SFT", "Weak Self-Refine", "Strong only", "Strong CoT",
        "Strong Self-Refine", "Collaboration w/o alignment", "CoWeSt"]


def _compile(sets=None, models=None, allow_read=()):
    res = compile_path(str(PROGRAM), {k: str(v) for k, v in (sets or {}).items()}, models,
                       allow_read=list(allow_read))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return res.graph


def _nodes(G, **attrs):
    return [n for n, a in G.nodes(data=True) if all(a.get(k) == v for k, v in attrs.items())]


def _version(G, node) -> str | None:
    """The model version a node uses: the role a train node wrote, or None (base weights)."""
    v = G.nodes[node].get("version")
    return None if v is None else G.nodes[v]["out"]


def _system_models(G, label: str) -> set:
    """{(role, version)} of the model calls on the test rows that a Table 1 row's value
    depends on."""
    (ev,) = _nodes(G, kind="eval")
    system = next(s for s in G.nodes[ev]["options"]["systems"] if s["label"] == label)
    (writer,) = [n for n, a in G.nodes(data=True) if a.get("out") == system["column"] and a["data"] == "test"]
    up = nx.ancestors(G, writer) | {writer}
    return {(G.nodes[n]["model"], _version(G, n)) for n in up
            if G.nodes[n]["kind"] in ("generate", "sample", "score", "choose") and G.nodes[n]["data"] == "test"}


def _entry(G, train, name) -> str:
    from collabdsl.unparse import unparse

    return unparse(G.nodes[train]["expr"]["entries"][name])


# ---------------------------------------------------------------------- the IR
def test_each_table_row_uses_its_model_version():
    G = _compile()
    (ev,) = _nodes(G, kind="eval")
    labels = [s["label"] for s in G.nodes[ev]["options"]["systems"]]
    assert labels == ROWS[1:]
    assert G.nodes[ev]["options"]["metrics"] == ["accuracy", "macro_f1", "answered"]
    weak, sft, aligned, strong = ("weak", None), ("weak_sft", "weak_sft"), ("weak_aligned", "weak_aligned"), \
        ("strong", None)
    expected = {"Weak only": {weak}, "Weak SFT": {sft}, "Weak Self-Refine": {weak}, "Strong only": {strong},
                "Strong CoT": {strong}, "Strong Self-Refine": {strong},
                "Collaboration w/o alignment": {sft, strong}, "CoWeSt": {aligned, strong}}
    assert {label: _system_models(G, label) for label in labels} == expected


def test_sft_then_dpo_on_the_collaborative_preferences_from_the_sft_version():
    G = _compile()
    (sft,) = _nodes(G, kind="train", out="weak_sft")
    (dpo,) = _nodes(G, kind="train", out="weak_aligned")
    a, b = G.nodes[sft], G.nodes[dpo]
    # SFT (§3.2): the base weak model on the training rows, weak prompt -> ground truth ŷ
    assert (a["model"], a["version"], a["data"], a["options"]["objective"]) == ("weak", None, "train", "sft")
    assert (_entry(G, sft, "input"), _entry(G, sft, "target")) == ("x.weak_in", "x.target")
    # DPO (§3.3.2): continues the SFT version (the reference), on the pairs of the drafts
    assert (b["model"], b["version"], b["data"], b["options"]["objective"]) == ("weak_sft", sft, "prefs", "dpo")
    assert [_entry(G, dpo, k) for k in ("prompt", "chosen", "rejected")] == ["x.weak_in", "x.chosen", "x.rejected"]
    # the drafts are K samples of the SFT version with B.2's sampling ...
    (drafts,) = _nodes(G, kind="sample", out="drafts")
    d = G.nodes[drafts]
    assert (d["model"], _version(G, drafts), d["data"]) == ("weak_sft", "weak_sft", "pref_queries")
    assert {k: d["options"][k] for k in ("k", "temperature", "top_p")} == {"k": 5, "temperature": 1.0, "top_p": 0.9}
    # ... each refined by the strong model and scored against E(z) with B.2's strong sampling
    strong_pref = _nodes(G, kind="generate", model="strong", data="pref_queries")
    assert len(strong_pref) == 1 + 5  # z and one y* per draft
    assert all((G.nodes[n]["options"]["temperature"], G.nodes[n]["options"]["top_p"]) == (1.0, 1.0)
               for n in strong_pref)
    scores = _nodes(G, kind="score", model="evaluator", data="pref_queries")
    assert len(scores) == 6 and all(G.nodes[n]["options"]["on_parse_error"] == {"value": 1} for n in scores)
    (pairs,) = _nodes(G, kind="expand")
    assert G.nodes[pairs]["data"] == "pref_queries" and "prefs" in str(G.nodes[pairs]["out"])
    assert nx.has_path(G, drafts, pairs) and nx.has_path(G, pairs, dpo)


def test_evaluation_decodes_with_its_own_settings_not_the_preference_sampling():
    G = _compile()
    models = G.graph["models"]
    for role in ("weak", "strong"):
        assert (models[role]["options"]["temperature"], models[role]["options"]["top_p"]) == (0.0, 1.0), role
    # no model call on the test rows sets its own sampling: each takes its role's
    for n in _nodes(G, data="test"):
        if G.nodes[n]["kind"] in ("generate", "sample", "score"):
            assert not {"temperature", "top_p"} & set(G.nodes[n]["options"] or {}), G.nodes[n]["label"]
    # every model call of the preference generation sets B.2's
    for n in _nodes(G, data="pref_queries"):
        if G.nodes[n]["kind"] in ("generate", "sample"):
            assert G.nodes[n]["options"]["temperature"] == 1.0, G.nodes[n]["label"]
    G2 = _compile({"eval_temperature": 0.3, "eval_top_p": 0.8})
    assert G2.graph["models"]["weak"]["options"]["temperature"] == 0.3
    assert G2.graph["models"]["strong"]["options"]["top_p"] == 0.8


def test_rmsprop_and_max_length_reach_the_trl_configs(tmp_path):
    from runtime.train_eval import _trainer_kwargs
    from runtime.trainer import build_configs

    G = _compile({"weak_max_tokens": 1028})
    (sft,) = _nodes(G, kind="train", out="weak_sft")
    (dpo,) = _nodes(G, kind="train", out="weak_aligned")
    spec = G.graph["models"]["weak"]
    built = {}
    for name, node in (("sft", sft), ("dpo", dpo)):
        lora, kwargs = _trainer_kwargs(G.nodes[node], spec, 0)
        kwargs.pop("chat", None)
        adapter = None if name == "sft" else tmp_path  # DPO continues the SFT adapter
        built[name] = build_configs(G.nodes[node]["options"]["objective"], tmp_path / name, lora=lora,
                                    adapter=adapter, **kwargs)
    s, d = built["sft"].args, built["dpo"].args
    assert type(d).__name__ == "DPOConfig" and str(d.optim.value) == "rmsprop"
    assert (d.learning_rate, d.per_device_train_batch_size, d.gradient_accumulation_steps, d.num_train_epochs,
            d.beta) == (1.41e-5, 1, 16, 1, 0.1)
    assert type(s).__name__ == "SFTConfig" and (s.learning_rate, s.per_device_train_batch_size,
                                               s.gradient_accumulation_steps) == (1.4e-5, 1, 8)
    assert str(s.optim.value) != "rmsprop"  # B.2 names RMSprop for DPO only
    lora = built["sft"].peft_config
    assert (lora.r, lora.lora_alpha) == (16, 16)
    # a prompt and a 1028-token draft fit (TRL's default 1024 would cut the draft)
    assert d.max_length == s.max_length == 2048
    assert d.max_length >= G.graph["params"]["weak_max_tokens"] + 512


def test_query_and_ground_truth_formats_of_figures_6_and_8():
    from collabdsl.evaluate import render_prompt

    G = _compile()
    p = G.graph["prompts"]
    query = render_prompt(p["mc_query"]["template"], p["mc_query"]["slots"],
                          ["Given a question, choose the right answer from four options.",
                           "Which vitamin is supplied from only animal source:",
                           "(A): Vitamin C (B): Vitamin B7 (C): Vitamin B12 (D): Vitamin D"])
    assert query == ("Given a question, choose the right answer from four options.\n\nQuestion:\n"
                     "Which vitamin is supplied from only animal source:\n\nOptions\n"
                     "(A): Vitamin C (B): Vitamin B7 (C): Vitamin B12 (D): Vitamin D")
    gold = render_prompt(p["gold_output"]["template"], p["gold_output"]["slots"], ["Chronic ...", "A"])
    assert gold == "Explanation:\nChronic ...\nAnswer: A"
    qa = render_prompt(p["qa_query"]["template"], p["qa_query"]["slots"], ["I.", "The 2022 Grand National", "If?"])
    assert qa == "I.\n\nContext:\nThe 2022 Grand National\n\nQuestion: \nIf?"


def test_generative_task_reads_the_context_and_scores_em_and_f1():
    G = _compile({"task": "qa"})
    (ev,) = _nodes(G, kind="eval")
    assert G.nodes[ev]["options"]["metrics"] == ["exact_match", "token_f1", "answered"]
    loads = {G.nodes[n]["out"]: G.nodes[n]["options"]["columns"] for n in _nodes(G, kind="load")}
    assert loads["test"] == {"question": "question", "context": "context", "answer": "answer"}
    assert "context" in loads["train"] and "options" not in loads["train"]


@pytest.mark.parametrize("name, value", [("weak_format", "Direct"), ("task", "ifqa")])
def test_an_unknown_format_or_task_is_an_error_not_the_default_branch(name, value):
    res = compile_path(str(PROGRAM), {name: value})
    assert res.graph is None and [d.code for d in res.errors] == ["E120"]
    assert f'"{value}" is not one of the values of param \'{name}\'' in res.errors[0].message


def test_binding_the_trained_version_without_weak_sft_ready_says_what_it_is():
    """`--model weak_sft=...` alone cannot replace a training: the error names the training
    (the program's weak_sft_ready declares the role instead)."""
    res = compile_path(str(PROGRAM), None, {"weak_sft": "hf:ProbeMedicalYonseiMAILab/medllama3-v20"})
    (d,) = res.errors
    line = next(i for i, t in enumerate(PROGRAM.read_text().splitlines(), 1) if "model weak_sft = train" in t)
    assert d.code == "E120" and f"the version trained from 'weak' at {PROGRAM}:{line}" in d.message


def test_a_ready_made_weak_sft_model_skips_sft():
    G = _compile({"weak_sft_ready": True}, {"weak_sft": "hf:ProbeMedicalYonseiMAILab/medllama3-v20"})
    assert not _nodes(G, kind="train", out="weak_sft")
    assert G.graph["models"]["weak_sft"]["ref"] == "ProbeMedicalYonseiMAILab/medllama3-v20"
    (dpo,) = _nodes(G, kind="train", out="weak_aligned")
    assert (G.nodes[dpo]["model"], G.nodes[dpo]["version"]) == ("weak_sft", None)  # DPO from the bound model
    assert _system_models(G, "Weak SFT") == {("weak_sft", None)}


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"no reference data at {SHARED}")
def test_stored_rationales_in_aligned_files_are_the_ground_truth_explanations():
    from collabdsl.access import ReadPolicy
    from runtime.data import load_rows

    G = _compile({"train_data": SHARED / "cqa" / "cqa_train.json", "test_data": SHARED / "cqa" / "cqa_test.json",
                  "options_column": "choices", "stored_rationales": SHARED / "cqa" / "llm" / "train_CoT_*.json"},
                 allow_read=[SHARED])
    (load,) = [n for n in _nodes(G, kind="load") if G.nodes[n]["out"] == "train"]
    o = G.nodes[load]["options"]
    rows = load_rows(o["source"], split=o.get("split"), columns=o.get("columns"), limit=3,
                     base_dir=PROGRAM.parent, attach=o.get("attach"),
                     policy=ReadPolicy.for_program(PROGRAM, G.graph["access"]["allow_read"]))
    assert all(r["stored"].strip() for r in rows)
    (cut,) = [n for n, a in G.nodes(data=True) if a.get("out") == "rationale" and a["data"] == "train"]
    assert nx.has_path(G, load, cut)
    (gold_out,) = [n for n, a in G.nodes(data=True) if a.get("out") == "gold_output"]
    assert nx.has_path(G, cut, gold_out)


# ---------------------------------------------------------------------- a run on a fake executor
TRAIN = [{"question": f"train question {i}?", "options": ["red", "blue", "green"], "answer": "blue",
          "rationale": f"because {i}"} for i in range(3)]
TEST = [{"question": f"test question {i}?", "options": ["red", "blue", "green"], "answer": "green"}
        for i in range(2)]


class Scripted:
    """Replies by prompt: the weak drafts alternate a helpful one (HELP) and a useless one;
    the strong model's refinement of a helpful draft answers (B), and the evaluator scores
    a reply naming (B) 8, any other 3 (so E(z) = 3 and y+ = the helpful drafts)."""

    requests: list = []

    def __init__(self, ref):
        self.ref = ref

    def generate(self, reqs):
        Scripted.requests += reqs
        return [[Generation(text=self.reply(r.prompt, i)) for i in range(r.n)] for r in reqs]

    @staticmethod
    def reply(prompt: str, i: int) -> str:
        if prompt.startswith("Given the groundtruth"):
            return "8" if "Answer: B" in prompt.split("Model output:")[1] else "3"
        if prompt.startswith("Given a question and the output of an expert model"):
            return "Explanation:\nrefined\nAnswer: B" if "HELP" in prompt else "Explanation:\nno\nAnswer: A"
        if "Can you provide the explanation and output the final results?" in prompt and "Note that" not in prompt:
            return f"draft {i} HELP" if i % 2 == 0 else f"draft {i} useless"
        return "Explanation:\nalone\nAnswer: C"

    def close(self):
        pass


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    import runtime.trainer as T

    Scripted.requests = []
    trained = []

    def fake_train(objective, base, rows, out_dir, **kwargs):
        trained.append({"objective": objective, "base": str(base), "rows": rows, **kwargs})
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        return T.TrainResult(objective, Path(out_dir), Path(out_dir), None, 1, len(rows), 0.0, 0.0, 0)

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Scripted(spec.get("ref")))
    monkeypatch.setattr(T, "train", fake_train)
    for name, rows in (("train", TRAIN), ("test", TEST)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    def run(sets=None, models=None):
        G = _compile({"train_data": tmp_path / "train.jsonl", "test_data": tmp_path / "test.jsonl",
                      **(sets or {})}, models, allow_read=[tmp_path])
        out = run_graph(G, program_path=str(PROGRAM), sources={str(PROGRAM): PROGRAM.read_text()},
                        store_path=tmp_path / "runs.db", progress=False)
        assert out.status == "finished", out.error
        return out, trained, Scripted.requests

    return run


def test_fake_run_evaluation_sampling_and_dpo_pairs(fake_run):
    out, trained, reqs = fake_run()
    test_reqs = [r for r in reqs if "test question" in r.prompt]
    pref_reqs = [r for r in reqs if "train question" in r.prompt]
    assert test_reqs and pref_reqs
    # evaluation: every call on the test rows decodes greedily, none with T 1.0 / top-p 0.9
    assert {(r.temperature, r.top_p, r.n) for r in test_reqs} == {(0.0, 1.0, 1)}
    # preference generation: the drafts with B.2's weak sampling, the strong model at T 1
    drafts = [r for r in pref_reqs if r.n > 1]
    assert drafts and {(r.temperature, r.top_p, r.n) for r in drafts} == {(1.0, 0.9, 5)}
    strong = [r for r in pref_reqs if r.n == 1 and not r.prompt.startswith("Given the groundtruth")]
    assert strong and {(r.temperature, r.top_p) for r in strong} == {(1.0, 1.0)}
    # the query of Figure 6 (options on one line) and the ground truth of Figure 8
    assert any("Options\n(A): red (B): blue (C): green" in r.prompt for r in test_reqs)
    judged = [r for r in reqs if r.prompt.startswith("Given the groundtruth")]
    assert len(judged) == len(TRAIN) * 6  # E(z) and E(y*) of each draft, on the training rows only
    assert all("Groundtruth:\nExplanation:\nbecause" in r.prompt and "\nAnswer: B\n" in r.prompt for r in judged)
    assert {(r.temperature, r.top_p) for r in judged} == {(1.0, 1.0)}
    # SFT, then DPO from the SFT adapter with RMSprop on the preferred drafts
    sft, dpo = trained
    assert sft["objective"] == "sft" and sft["adapter"] is None and sft["max_length"] == 2048
    assert all(r["target"].startswith("Explanation:\nbecause") and r["target"].endswith("\nAnswer: B")
               for r in sft["rows"])
    assert dpo["objective"] == "dpo" and dpo["adapter"] is not None
    assert dpo["optimizer"] == "rmsprop" and dpo["max_length"] == 2048 and dpo["lr"] == 1.41e-5
    assert dpo["rows"] and all("HELP" in r["chosen"] and "useless" in r["rejected"] for r in dpo["rows"])
    assert len(dpo["rows"]) == 2 * len(TRAIN)  # 3 helpful and 2 useless drafts: 2 pairs per query
    # the CoWeSt row drafts with the DPO adapter, "w/o alignment" with the SFT one
    sft_adapter = next(r.adapter for r in drafts)
    assert Path(dpo["adapter"]).resolve() == Path(sft_adapter).resolve()
    adapters = {r.adapter for r in test_reqs if r.prompt.endswith("output the final results?")}
    assert len(adapters) == 2 and sft_adapter in adapters
    # the table: the strong model alone answers (C), the gold; a greedy draft is the helpful
    # one, which the strong model follows to (B)
    table = {r["system"]: r for r in out.results}
    assert list(table) == ROWS[1:]
    assert table["Strong CoT"]["accuracy"] == 1.0 and table["CoWeSt"]["accuracy"] == 0.0


def test_fake_run_a_ready_made_weak_sft_model_is_not_fine_tuned(fake_run, tmp_path):
    ready = tmp_path / "medllama"
    ready.mkdir()
    (ready / "config.json").write_text("{}")
    out, trained, reqs = fake_run({"weak_sft_ready": True}, {"weak_sft": f"hf:{ready}"})
    assert [t["objective"] for t in trained] == ["dpo"]
    (dpo,) = trained
    assert dpo["adapter"] is None and Path(dpo["base"]).resolve() == ready.resolve()
    drafts = [r for r in reqs if r.n > 1]
    assert drafts and {r.adapter for r in drafts} == {None}


def test_fake_run_generative_task_scores_the_answer_field_by_em_and_f1(fake_run, tmp_path):
    """task qa (IfQA): the query carries the context passage (Figure 6), the answer is the
    first line of the "Answer:" field, scored by exact match and token F1."""
    rows = {"train": [{"question": f"train question {i}?", "context": f"passage {i}", "answer": "Red Rum",
                       "rationale": f"because {i}"} for i in range(2)],
            "test": [{"question": f"test question {i}?", "context": f"test passage {i}", "answer": "C"}
                     for i in range(2)]}
    for name, rs in rows.items():
        (tmp_path / f"qa_{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    out, trained, reqs = fake_run({"task": "qa", "train_data": tmp_path / "qa_train.jsonl",
                                   "test_data": tmp_path / "qa_test.jsonl"})
    assert any(r.prompt.startswith("Given a context, answer the following question as briefly as possible.\n\n"
                                   "Context:\ntest passage 0\n\nQuestion: \ntest question 0?") for r in reqs)
    table = {r["system"]: r for r in out.results}
    assert table["Strong CoT"]["exact_match"] == 1.0 and table["Strong CoT"]["token_f1"] == 1.0
    assert table["CoWeSt"]["exact_match"] == 0.0  # the collaboration answers "B"
    assert "accuracy" not in table["CoWeSt"]
    sft = trained[0]
    assert all(r["target"].endswith("\nAnswer: Red Rum") for r in sft["rows"])
