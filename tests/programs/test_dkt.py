"""DKT (programs/dkt.collab) does what the paper does.

1. The compiled IR pins the paper's dataflow: which model version each eval row and each
   training uses, what each training trains on, which options reach the trainer.
2. A run on a fake executor (logic only: every model reply is scripted, the trainer records
   its rows) asserts the semantics issue 10 names: reflection questions come with their own
   parsed options and what does not parse is dropped and counted; the large model's answer
   is read from a stated format; an unparseable judge score follows a param and is reported;
   a row whose teacher answer did not parse keeps the gold term of Eq. 3.
3. Encoder-only small models (RoBERTa, footnote 1) are refused by name, at bind time and
   when loaded.
"""
from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from collabdsl.compiler import compile_path
from collabdsl.unparse import unparse
from runtime.run import run_graph

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "dkt.collab"


def _compile(sets=None, allow_read=(), models=None):
    res = compile_path(str(PROGRAM), {k: unparse(v) for k, v in (sets or {}).items()}, models,
                       allow_read=list(allow_read))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return res, res.graph


def _src(span: str) -> str:
    path, line, _ = span.rsplit(":", 2)
    return Path(path).read_text().splitlines()[int(line) - 1]


def _nodes(G, **attrs):
    return [n for n, a in G.nodes(data=True) if all(a.get(k) == v for k, v in attrs.items())]


def _by_label(G, label):
    (n,) = [n for n, a in G.nodes(data=True) if a["label"] == label]
    return n


def _system_node(G, table, system):
    """The node whose column is an eval system's value."""
    ev = G.nodes[_by_label(G, f"eval {table}")]
    col = next(s["column"] for s in ev["options"]["systems"] if s["label"] == system)
    (n,) = [n for n, a in G.nodes(data=True) if a["out"] == col and a["data"] == ev["data"]
            and a.get("parent") == ev.get("parent")]
    return n


def _model_ancestor(G, node, kind):
    """The nearest node of ``kind`` the system's value is computed from (same data set)."""
    seen, todo = set(), [node]
    while todo:
        n = todo.pop(0)
        if n in seen:
            continue
        seen.add(n)
        if G.nodes[n]["kind"] == kind:
            return n
        todo += [p for p, _, e in G.in_edges(n, data=True) if e.get("kind") == "data"]
    raise AssertionError(f"no {kind} upstream of {node}")


# ---------------------------------------------------------------------- 1. the IR
def test_ir_versions_of_every_row_and_training():
    _, G = _compile()
    trains = {n: a for n, a in G.nodes(data=True) if a["kind"] == "train"}
    init = next(n for n, a in trains.items() if a["data"] == "train" and a["out"] == "small")
    llm_lab = next(n for n, a in trains.items() if a["out"] == "small_llm_labeling")
    kd = next(n for n, a in trains.items() if a["options"]["objective"] == "kd")
    reflect = next(n for n, a in trains.items() if a["data"] == "reflections")

    # initialisation: gold answers of all of D (footnote 1), from the base weights
    assert G.nodes[init]["version"] is None and G.nodes[init]["options"]["objective"] == "sft"
    assert {k: unparse(v) for k, v in G.nodes[init]["expr"]["entries"].items()} == \
        {"input": "x.q", "target": "x.answer"}
    # LLM-labeling: the initialised small model trained on the large model's labels of D
    assert G.nodes[llm_lab]["version"] == init and G.nodes[llm_lab]["data"] == "llm_labelled"
    # the loop: kd on D_distill, then sft on the reflections, each from the version before
    assert G.nodes[kd]["data"] == "distill" and G.nodes[kd]["version"] == init
    assert G.nodes[kd]["options"]["lambda"] == 0.5
    assert G.nodes[reflect]["version"] == kd and G.nodes[reflect]["options"]["objective"] == "sft"
    loop = _nodes(G, kind="loop")[0]
    assert G.nodes[kd]["parent"] == loop and G.nodes[reflect]["parent"] == loop
    assert "small" in G.nodes[loop]["carried"] or any("small" in str(c) for c in G.nodes[loop]["carried"])

    # Table 2 rows: the small model right after initialisation; LLM-labeling its own version
    small_row = _model_ancestor(G, _system_node(G, "baselines", "Small model"), "choose")
    assert G.nodes[small_row]["model"] == "small" and G.nodes[small_row]["version"] == init
    lab_row = _model_ancestor(G, _system_node(G, "baselines", "LLM-labeling"), "choose")
    assert G.nodes[lab_row]["model"] == "small_llm_labeling" and G.nodes[lab_row]["version"] == llm_lab
    # DKT-small: the version the reflection training of the round made
    dkt_small = _model_ancestor(G, _system_node(G, "dkt", "DKT-small"), "choose")
    assert G.nodes[dkt_small]["version"] == reflect
    # the large model is frozen: no call of it uses a trained version
    assert all(a["version"] is None for _, a in G.nodes(data=True) if a["model"] == "large")


def test_ir_small4large_gate_and_what_each_training_reads():
    _, G = _compile()
    kd = _nodes(G, kind="train", data="distill")[0]
    entries = {k: unparse(v) for k, v in G.nodes[kd]["expr"]["entries"].items()}
    assert entries == {"input": "x.q", "gold": "x.answer", "teacher": "x.teacher"}, entries
    # the kd teacher is the large model's stated answer on D_distill with the current small
    # model's answer in its prompt when it is confident (the small4large teacher, Alg. 1 l.3)
    teacher = next(n for n in _nodes(G, data="distill", kind="compute") if G.nodes[n]["out"] == "teacher")
    assert nx.has_path(G, _nodes(G, kind="choose", data="distill")[0], teacher)
    gens = [n for n in _nodes(G, kind="generate", data="distill") if G.nodes[n]["model"] == "large"]
    (gate,) = _nodes(G, kind="gate", data="distill")
    g = G.nodes[gate]["out"]
    # Eq. 2: the prompt with the small answer where p_small > p0, the one without elsewhere
    assert sorted(tuple(G.nodes[n]["when"]) for n in gens) == sorted([(g,), ("!" + g,)])
    conf = next(n for n in _nodes(G, kind="compute", data="distill") if "confident" in G.nodes[n]["out"])
    assert unparse(G.nodes[conf]["expr"]["value"]).endswith("> p0"), unparse(G.nodes[conf]["expr"]["value"])
    assert all(nx.has_path(G, n, teacher) for n in gens)
    choose = _nodes(G, kind="choose", data="distill")[0]
    assert G.nodes[choose]["options"]["confidence"] == "option_prob" and G.nodes[choose]["model"] == "small"
    # the judge score: its parse-error value is the param
    (judge,) = _nodes(G, kind="score")
    assert G.nodes[judge]["options"]["on_parse_error"] == {"value": 0.0}
    assert G.nodes[judge]["options"]["range"] == (0, 1)
    _, G1 = _compile({"judge_unparsed_score": 1})
    (judge,) = _nodes(G1, kind="score")
    assert G1.nodes[judge]["options"]["on_parse_error"] == {"value": 1.0}
    # the reflection training reads the rows expanded from the rejected questions
    (reflections,) = _nodes(G, kind="expand")
    assert G.nodes[reflections]["data"] == "rejected" and G.nodes[reflections]["out"] == "reflections"
    refl_train = _nodes(G, kind="train", data="reflections")[0]
    assert {k: unparse(v) for k, v in G.nodes[refl_train]["expr"]["entries"].items()}["target"] == "x.teacher"


def test_ir_trainer_gets_lambda_and_the_objective():
    from runtime.train_eval import _trainer_kwargs

    res, G = _compile({"lam": 0.3})
    kd = _nodes(G, kind="train", data="distill")[0]
    _, kwargs = _trainer_kwargs(G.nodes[kd], res.models["small"], 0)
    assert kwargs["lam"] == 0.3


def test_ir_generative_setting_and_passage_column():
    _, G = _compile({"generative": True})
    small = [a for _, a in G.nodes(data=True) if a["model"] == "small" and a["kind"] != "train"]
    assert small and all(a["kind"] == "generate" and a["options"]["confidence"] == "mean_token_prob"
                         for a in small)
    assert not _nodes(G, kind="choose")
    loads = [a for _, a in G.nodes(data=True) if a["kind"] == "load"]
    assert all(set(a["options"]["columns"]) == {"question", "answer"} for a in loads)
    gate = _nodes(G, kind="gate", data="distill")[0]
    conf = [n for n in _nodes(G, kind="compute", data="distill") if "confident" in G.nodes[n]["out"]][0]
    assert unparse(G.nodes[conf]["expr"]["value"]).endswith("> p0_generative") and gate

    _, G = _compile({"passage_column": "context"})
    loads = [a for _, a in G.nodes(data=True) if a["kind"] == "load"]
    assert all(a["options"]["columns"]["passage"] == "context" for a in loads)
    q = [a for _, a in G.nodes(data=True) if a["kind"] == "compute" and a["data"] == "test" and a["out"].startswith("_row_text")]
    assert q and "x.passage" in unparse(q[0]["expr"]["value"])


def test_program_header_suggests_only_models_that_work():
    text = PROGRAM.read_text()
    assert "roberta-large" not in text.split("program dkt")[0].split("Real models:")[1].split("\n")[0]


# ---------------------------------------------------------------------- 2. a fake run
ROWS = [
    {"question": "What color is the sky?", "options": ["blue", "green", "red"], "answer": "blue"},
    {"question": "What do bees make?", "options": ["honey", "milk", "salt"], "answer": "honey"},
    {"question": "What is frozen water?", "options": ["ice", "steam", "sand"], "answer": "ice"},
    {"question": "Which animal barks?", "options": ["dog", "cat", "cow"], "answer": "dog"},
]

REFLECTION = """Here are three new questions.

Question: What is the capital of France?
(A) Paris
(B) Lyon
(C) Nice

Question: Which city serves as the capital of China?

Question: What is 2 + 2?
(A) 4
(B) 5
"""


def _reply(prompt: str) -> str:
    if prompt.startswith("As a judge assistant"):
        return "0.9" if "sky" in prompt else "It looks reasonable to me."  # no number: a parse failure
    if prompt.startswith("You serve as an AI Assistant"):
        return REFLECTION
    if prompt.startswith("Input:"):  # SuperICL
        return "(a)"
    if prompt.startswith("You are a question answering assistant"):
        if "capital of France" in prompt:
            return "Answer: (A) Paris is the capital."
        if "2 + 2" in prompt:
            return "Four, I believe."  # no stated answer: the reflection row is dropped
        if "bees" in prompt:
            # names the classmate's option but states no answer: no longer read as that option
            return "My classmate believes honey, but that is not right."
        return "(A), because it is the first option."
    raise AssertionError(f"unexpected prompt {prompt[:60]!r}")


def _reply_generative(prompt: str) -> str:
    """Generative QA (ProtoQA-style): the small model answers the bare question, the large
    model states its answer on a last "Answer:" line, reflections are a numbered list."""
    if prompt.startswith("As a judge assistant"):
        return "0.2"
    if prompt.startswith("You serve as an AI Assistant"):
        return "1. What is the capital of France?\n2. Which city is the capital of Spain?"
    if prompt.startswith("You are a question answering assistant"):
        if "France" in prompt:
            return "Let me think.\nAnswer: Paris"
        return "Answer: blue" if "sky" in prompt else "I am not sure."
    if prompt.startswith("Input:"):
        return "blue"
    return {"What color is the sky?": "blue"}.get(prompt.split("\n\n")[-1], "green")


REPLY = {"fn": _reply}


class _FakeExec:
    batch_size = 16

    def __init__(self, ref):
        self.ref = ref

    def generate(self, reqs):
        from runtime.executors.base import Generation

        return [[Generation(text=REPLY["fn"](r.prompt), token_logprobs=[-0.1])] * r.n for r in reqs]

    def choose(self, reqs):
        from runtime.executors.base import ChoiceResult

        out = []
        for r in reqs:
            n = len(r.options)
            probs = [0.7] + [0.3 / (n - 1)] * (n - 1)
            out.append(ChoiceResult(probs=probs, logliks=[-1.0] * n))
        return out

    def close(self):
        pass


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    from runtime import trainer

    trained = []

    def fake_train(objective, base, rows, out_dir, **kw):
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        trained.append({"objective": objective, "rows": rows, "kw": kw})
        return trainer.TrainResult(objective, out, out, None, 1, len(rows), 0.1, 1.0, 10)

    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr("runtime.train_eval._base_path", lambda spec: "base")
    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: _FakeExec(spec["ref"]))
    data = tmp_path / "data" / "qa.jsonl"
    data.parent.mkdir()
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))

    def go(**sets):
        res, G = _compile({"train_data": data, "test_data": data, "iterations": 1, **sets},
                          allow_read=[tmp_path / "data"])
        trained.clear()
        out = run_graph(G, program_path=str(PROGRAM), sources=res.sources,
                        store_path=str(tmp_path / f"runs{len(sets)}.db"), progress=False)
        assert out.status == "finished", out.error
        return out, list(trained)

    return go


def _table(out, table, system):
    (row,) = [r for r in out.results if r["table"] == table and r["system"] == system]
    return row


def test_fake_run_reflection_questions_bring_their_own_options(fake_run):
    out, trained = fake_run()
    sft_reflect = [t for t in trained if t["objective"] == "sft" and
                   any("capital of France" in r["input"] for r in t["rows"])]
    assert len(sft_reflect) == 1
    rows = sft_reflect[0]["rows"]
    # every rejected question gave the France question with its own options, labelled by
    # the large model's stated answer; none keeps a parent's options
    parent_options = {o for r in ROWS for o in r["options"]}
    for r in rows:
        assert "(a) Paris\n(b) Lyon\n(c) Nice" in r["input"], r["input"]
        assert not any(f") {o}\n" in r["input"] + "\n" for o in parent_options), r["input"]
        assert r["target"] == "Paris"
    # the question without options was left out, the 2 + 2 question (no stated teacher
    # answer) dropped: nothing else was trained on
    assert not any("China" in r["input"] or "2 + 2" in r["input"] for r in rows)
    # counted: the table of kept reflection questions (2 of k = 3 per rejected question) ...
    kept = _table(out, "reflection_parsing", "reflection questions kept (share of k)")
    assert kept["mean"] == pytest.approx(2 / 3) and kept["n"] == len(rows)
    # ... and the dropped teacher answers as a run warning at the reading step
    msgs = [w["message"] for w in out.warnings]
    assert any(f"{len(rows)} of {2 * len(rows)} values did not parse" in m and "dropped" in m for m in msgs), msgs


def test_fake_run_large_answers_are_read_from_the_stated_format(fake_run):
    out, trained = fake_run()
    large = _table(out, "baselines", "Large model")
    # the bees reply names "honey" but states no answer: unanswered, not read as honey
    assert large["answered"] == pytest.approx(3 / 4)
    assert large["accuracy"] == pytest.approx(3 / 4)  # "(A)" is the gold for the other three
    assert _table(out, "dkt", "DKT-large")["answered"] == pytest.approx(3 / 4)
    assert _table(out, "dkt", "DKT-small")["answered"] == 1.0
    # LLM-labeling trained the small model on the three stated labels only
    lab = [t for t in trained if t["objective"] == "sft" and len(t["rows"]) == 3 and
           all(r["target"] == "blue" or r["target"] in ("ice", "dog") for r in t["rows"])]
    assert lab, [(t["objective"], [r.get("target") for r in t["rows"]]) for t in trained]
    assert {"LLM-labeling", "SuperICL"} <= {r["system"] for r in out.results if r["table"] == "baselines"}


def test_fake_run_kd_keeps_the_gold_term_when_the_teacher_does_not_parse(fake_run):
    out, trained = fake_run(distill_share=1.0, no_judge_reflection=True)
    (kd,) = [t for t in trained if t["objective"] == "kd"]
    assert len(kd["rows"]) == len(ROWS)  # every row of D_distill trains the gold term
    bees = [r for r in kd["rows"] if "bees" in r["input"]]
    assert bees and bees[0]["gold"] == "honey" and "teacher" not in bees[0]
    assert all(r["teacher"] == r["gold"] for r in kd["rows"] if "bees" not in r["input"])
    (rec,) = [t for t in out.trainings if t["objective"] == "kd"]
    tasks = {t["task"]: t for t in rec["tasks"]}
    assert tasks["gold"]["kept"] == 4 and tasks["teacher"]["kept"] == 3
    assert tasks["teacher"]["dropped"] == {"teacher none": 1}


def test_fake_run_judge_parse_failures_are_reported_and_follow_the_param(fake_run):
    out, _ = fake_run(distill_share=0.0)  # all four questions are judged
    msgs = [w["message"] for w in out.warnings if w["kind"] == "score"]
    assert any("3 of 4 values did not parse" in m and "counts as 0.0" in m for m in msgs), msgs
    assert sum(s.parse_failures for k, s in out.stats.items() if s.kind == "score") == 3
    assert _table(out, "reflection_parsing", "reflection questions kept (share of k)")["n"] == 3

    out, trained = fake_run(distill_share=0.0, judge_unparsed_score=1.0)
    # unparsed scores now accept: only nothing is rejected (the sky row scored 0.9)
    assert not [r for r in out.results if r["table"] == "reflection_parsing" and r["n"]]
    assert not any("capital of France" in r["input"] for t in trained for r in t["rows"])


# ---------------------------------------------------------------------- 3. encoders
def test_encoder_small_model_is_refused_at_bind_time(tmp_path):
    enc = tmp_path / "models" / "tiny-roberta"
    enc.mkdir(parents=True)
    (enc / "config.json").write_text(json.dumps({"model_type": "roberta",
                                                 "architectures": ["RobertaForMaskedLM"]}))
    res = compile_path(str(PROGRAM), None, {"small": f"hf:{enc}"}, allow_read=[tmp_path])
    assert res.graph is None
    (d,) = res.errors
    assert d.code == "E132" and "encoder-only" in d.message and "roberta" in d.message
    assert d.span.path == str(PROGRAM) and "model small" in PROGRAM.read_text().splitlines()[d.span.line - 1]


@pytest.mark.slow
def test_encoder_is_refused_when_loaded(tmp_path):
    """A small randomly initialised RoBERTa saved to disk: transformers would load it as a
    causal LM (RobertaForCausalLM with a new head); the executor and the trainer refuse it."""
    from transformers import RobertaConfig, RobertaForMaskedLM

    from runtime.executors.transformers_exec import refuse_encoder

    cfg = RobertaConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=40)
    RobertaForMaskedLM(cfg).save_pretrained(tmp_path / "enc")
    with pytest.raises(ValueError, match="encoder-only model"):
        refuse_encoder(str(tmp_path / "enc"), "hf('enc')")
    from runtime import trainer

    with pytest.raises(ValueError, match="encoder-only model"):
        trainer.train("sft", str(tmp_path / "enc"), [{"input": "a", "target": "b"}], tmp_path / "out")


def test_fake_run_generative_setting(fake_run, monkeypatch):
    """--set generative=true: the small model generates (mean token probability), the large
    model's answer is the text of its last "Answer:" line, reflections need no options."""
    monkeypatch.setitem(REPLY, "fn", _reply_generative)
    out, trained = fake_run(generative=True, no_distillation=True)
    small = _table(out, "baselines", "Small model")
    assert small["answered"] == 1.0 and small["accuracy"] == pytest.approx(1 / 4)  # "blue" for the sky
    large = _table(out, "baselines", "Large model")
    assert large["answered"] == large["accuracy"] == pytest.approx(1 / 4)  # only the sky reply states one
    refl = [t for t in trained if any("capital of France" in r["input"] for r in t["rows"])]
    assert refl and all(r["target"] == "Paris" for r in refl[0]["rows"])
    assert not any("Spain" in r["input"] for t in trained for r in t["rows"])  # no stated answer


def test_fake_run_passage_column(fake_run, tmp_path):
    rows = [{**r, "context": f"Passage number {i}."} for i, r in enumerate(ROWS)]
    (tmp_path / "data" / "qa.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out, trained = fake_run(passage_column="context", no_judge_reflection=True)
    (init,) = [t for t in trained if t["objective"] == "sft" and len(t["rows"]) == 4 and
               [r["target"] for r in t["rows"]] == [r["answer"] for r in ROWS]]
    assert init["rows"][1]["input"].startswith("Passage number 1.\n\nWhat do bees make?\nAnswer Choices:\n(a) honey")
