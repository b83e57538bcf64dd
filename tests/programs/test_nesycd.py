"""NesyCD (programs/nesycd.collab) does what its paper does: the compiled IR pins the
dataflow (which model version each table row and each training uses, what each training
trains on, which options reach TRL's config, which field retrieval ranks), and a run on a
fake executor and a fake trainer (logic only) shows Eq. 5's retrieval: BM25 ranks the
stored questions (the KB's keys) and returns the knowledge stored under the best one."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collabdsl.compiler import compile_path
from runtime.run import run_graph

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "programs" / "nesycd.collab"

# Each knowledge text is written to mislead a ranking of the texts: KNOW-0 (stored under the
# sky question) speaks of bees and nectar, KNOW-1 (stored under the bees question) of the
# sky. Ranking the keys (Eq. 5: rho scores the stored questions) finds each question's own.
ROWS = [
    {"question": "What color is the sky on a clear day?", "options": ["blue", "green"], "answer": "blue"},
    {"question": "What do bees make from flower nectar?", "options": ["honey", "milk"], "answer": "honey"},
    {"question": "What is frozen water called?", "options": ["ice", "steam"], "answer": "ice"},
]
KNOWLEDGE = {
    0: "KNOW-0 bees make honey from flower nectar; bees nectar flower",
    1: "KNOW-1 the sky color on a clear day; sky clear day color",
    2: "KNOW-2 freezing turns liquid into a solid",
}


def _which(text: str) -> int | None:
    """The row whose question ``text`` holds (the last one named in it)."""
    at = [(text.rfind(r["question"]), i) for i, r in enumerate(ROWS)]
    pos, i = max(at)
    return i if pos >= 0 else None


class FakeExecutor:
    """Teacher: a correct CoT. KB teacher: KNOWLEDGE of the question after the last
    "The student was given the following question:". Student (any version): the wrong
    option, with a low confidence margin, so that every row retrieves."""

    prompts: list = []

    def __init__(self, ref):
        self.ref = ref

    def close(self):
        pass

    def reply(self, prompt: str) -> str:
        if prompt.startswith("You are an expert assistant teacher"):
            r = ROWS[_which(prompt)]
            return f"Reasoning about it. Therefore, the answer is {r['answer']}."
        if "As an excellent educational teacher" in prompt:
            tail = prompt.rsplit("The student was given the following question:", 1)[1]
            return f"Learning Summary: {KNOWLEDGE[_which(tail)]} Supplementary Knowledge: none"
        i = _which(prompt)
        if i is None:
            return "Therefore, the answer is blue."
        wrong = [o for o in ROWS[i]["options"] if o != ROWS[i]["answer"]][0]
        return f"Therefore, the answer is {wrong}."

    def generate(self, reqs):
        from runtime.executors.base import Generation

        out = []
        for r in reqs:
            FakeExecutor.prompts.append(r.prompt)
            margins = [0.1] * 4 if r.logprobs else None
            logps = [-0.1] * 4 if r.logprobs else None
            out.append([Generation(text=self.reply(r.prompt), token_logprobs=logps, top2_margins=margins)
                        for _ in range(r.n)])
        return out


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """Run programs/nesycd.collab on ROWS with the fake executor and a fake trainer that
    records what each training was given; returns (outcome, trainings, prompts)."""
    from runtime.trainer import TrainResult

    trainings = []

    def fake_train(objective, base, rows, out_dir, **kw):
        out = Path(out_dir) / "adapter"
        out.mkdir(parents=True, exist_ok=True)
        trainings.append({"objective": objective, "rows": rows, **kw})
        return TrainResult(objective, out, out, None, steps=1, examples=len(rows), seconds=0.0,
                           train_loss=0.0, tokens=0)

    FakeExecutor.prompts = []
    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: FakeExecutor(spec["ref"]))
    monkeypatch.setattr("runtime.trainer.train", fake_train)
    monkeypatch.setattr("runtime.train_eval._base_path", lambda spec: "base-weights")
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    res = compile_path(str(PROGRAM), {"train_data": str(data), "test_data": str(data)},
                       allow_read=(str(tmp_path),))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    out = run_graph(res.graph, program_path=str(PROGRAM), sources=res.sources,
                    store_path=str(tmp_path / "runs.db"), progress=False)
    assert out.status == "finished", out.error
    return out, trainings, FakeExecutor.prompts


KNOWLEDGE_LEAD = "You can utilize the general learning summary and supplementary knowledge"


def _knowledge_in(text: str) -> list[str]:
    return re.findall(r"KNOW-\d", text.split("Question:")[0]) if KNOWLEDGE_LEAD in text else []


def test_retrieval_ranks_the_stored_questions_and_returns_their_knowledge(fake_run):
    """Eq. 5: every question retrieves the knowledge stored under itself (m = 1), in the AD
    training examples of S_E and at gated inference, although another entry's knowledge
    text shares more words with the question."""
    out, trainings, prompts = fake_run
    ad = [r for t in trainings for r in t["rows"] if KNOWLEDGE_LEAD in str(r.get("input", ""))]
    assert ad, "S_E got no AD example"
    for r in ad:
        i = _which(r["input"].split(KNOWLEDGE_LEAD, 1)[1].split("Question:", 1)[1])
        assert _knowledge_in(r["input"]) == [f"KNOW-{i}"], r["input"]
    gated = [p for p in prompts if KNOWLEDGE_LEAD in p]
    assert gated, "no row retrieved at inference"
    for p in gated:
        i = _which(p.split("Question:", 1)[1])
        assert _knowledge_in(p) == [f"KNOW-{i}"], p


def test_each_training_gets_what_the_paper_trains_it_on(fake_run):
    """S_P on the teacher's CoTs; S_E continues S_P on AD (with the retrieved knowledge), DC
    and AP examples; MT-CoT on DC and AP from the untrained student; Step-by-step on
    predict:/explain: tasks; Fine-tuning on question -> answer. Every one with the cosine
    schedule, 10% warmup and max_length 2048 (Table 6)."""
    out, trainings, _ = fake_run
    assert len(trainings) == 5

    def one(pred):
        (t,) = [t for t in trainings if pred(t)]
        return t

    se = one(lambda t: t["adapter"] is not None)
    sbs = one(lambda t: t["objective"] == "multitask")
    sp = one(lambda t: t["adapter"] is None and t["objective"] == "sft"
             and all(r["input"].endswith("step by step. ") for r in t["rows"]))
    ft = one(lambda t: t["adapter"] is None and t["objective"] == "sft"
             and all(r["input"].endswith("\nAnswer: ") for r in t["rows"]))
    mt = one(lambda t: t["adapter"] is None and any("[Answer Prediction]" in r["input"] for r in t["rows"]))
    for t in trainings:
        assert (t["scheduler"], t["warmup"], t["max_length"]) == ("cosine", 0.1, 2048)
    golds = {r["question"]: r["answer"] for r in ROWS}
    # S_P (Std-CoT): a CoT input without knowledge -> the teacher's CoT ending with the gold answer
    assert sp["objective"] == "sft" and sp["adapter"] is None and len(sp["rows"]) == 2 * len(ROWS)
    for r in sp["rows"]:
        assert KNOWLEDGE_LEAD not in r["input"] and r["input"].endswith("Answer: Let's think step by step. ")
        assert r["target"].endswith(f"Therefore, the answer is {golds[ROWS[_which(r['input'])]['question']]}.")
    # S_E starts from S_P's adapter; AD = DC inputs + knowledge, AP = answer only (§3.4)
    assert se["adapter"] is not None and Path(se["adapter"]).name == "adapter"
    ad = [r for r in se["rows"] if KNOWLEDGE_LEAD in r["input"]]
    ap = [r for r in se["rows"] if r["input"].endswith("[Answer Prediction]: ")]
    dc = [r for r in se["rows"] if r not in ad and r not in ap]
    assert (len(ad), len(dc), len(ap)) == (2 * len(ROWS), 2 * len(ROWS), len(ROWS))
    assert all(r["target"].startswith("Therefore, the answer is") for r in ap)
    # baselines start from the untrained student
    assert ft["adapter"] is None and mt["adapter"] is None and sbs["adapter"] is None
    assert all(r["input"].endswith("\nAnswer: ") and r["target"].startswith("Therefore, the answer is")
               for r in ft["rows"])
    assert sorted(r["input"] for r in mt["rows"]) == sorted(r["input"] for r in dc + ap)
    assert sbs["objective"] == "multitask"
    assert [(t["prefix"], t["weight"]) for t in sbs["tasks"]] == [("predict: ", 0.5), ("explain: ", 0.5)]
    for r in sbs["rows"]:
        pred, expl = r["targets"].values()
        assert pred.startswith("Therefore, the answer is") and "the answer is" not in expl


def test_the_prompts_are_the_authors(fake_run):
    """The knowledge prompt carries the two error-analysis examples of the authors'
    inference.py before the student's question; the student's inputs open with the code's
    lead sentence; the Zero-shot row asks for the code's one-sentence answer."""
    _, _, prompts = fake_run
    kb = [p for p in prompts if "As an excellent educational teacher" in p]
    assert kb and all("[Supplementary Knowledge]\n\nExample 0The student was given" in p
                      and "\n\nExample 1The student was given" in p
                      and "Carmen saved 592 pennies" in p for p in kb)
    student = [p for p in prompts if not p.startswith(("You are an expert", "As an excellent"))]
    lead = "The following are multiple choice questions (with answers) about science. "
    assert student and all(p.removeprefix("predict: ").startswith(lead) for p in student)
    assert any(p.startswith("predict: " + lead) for p in student)  # the Step-by-step row
    assert any(p.endswith("one-sentence answer with the format \"Therefore, the answer is\".\n\n"
                          f"Question: {ROWS[0]['question']}\nA. blue\nB. green\nAnswer: ") for p in student)


# ------------------------------------------------------------------ the compiled IR
@pytest.fixture(scope="module")
def G():
    res = compile_path(str(PROGRAM), profile="none")
    assert res.graph is not None, [d.message for d in res.diagnostics]
    return res.graph


def _writer(G, data, col):
    return [n for n in G.graph["order"] if G.nodes[n]["data"] == data and G.nodes[n]["out"] == col][-1]


def _row_models(G, label):
    """{(model role, version's role)} of the test-set model calls an eval row depends on."""
    (ev,) = [n for n in G if G.nodes[n]["kind"] == "eval"]
    (system,) = [s for s in G.nodes[ev]["options"]["systems"] if s["label"] == label]
    up = nx_ancestors(G, _writer(G, "test", system["column"]))
    return {(G.nodes[n]["model"], G.nodes[G.nodes[n]["version"]]["out"] if G.nodes[n]["version"] else None)
            for n in up if G.nodes[n]["kind"] == "generate" and G.nodes[n]["data"] == "test"}, system


def nx_ancestors(G, n):
    import networkx as nx

    return nx.ancestors(G, n) | {n}


def test_each_row_uses_the_model_version_of_its_method(G):
    rows = {"Zero-shot": {("student", None)}, "Zero-shot-CoT": {("student", None)},
            "Zero-shot-CoT w k": {("student", None)}, "Fine-tuning": {("student_ft", "student_ft")},
            "Std-CoT": {("student_p", "student_p")}, "Std-CoT w k": {("student_p", "student_p")},
            "MT-CoT": {("student_mt_cot", "student_mt_cot")}, "Step-by-step": {("student_sbs", "student_sbs")},
            "NesyCD": {("student_e", "student_e")}}
    for label, want in rows.items():
        got, system = _row_models(G, label)
        assert got == want, label
        retrieves = bool(system["retrievals"])
        assert retrieves == label.endswith("w k") or label == "NesyCD" and retrieves, label


def _train(G, role):
    (n,) = [n for n in G if G.nodes[n]["kind"] == "train" and G.nodes[n]["out"] == role]
    return n


def _sources(G, data):
    """The data sets ``data`` is made of (through concat and filter)."""
    n = [m for m in G.graph["order"] if G.nodes[m]["kind"] in ("load", "expand", "filter", "concat")
         and (G.nodes[m]["out"] == data or G.nodes[m]["out"] == [data])][0]
    a = G.nodes[n]
    if a["kind"] == "concat":
        return sorted(s for d in a["label"].split(" ", 1)[1].split(", ") for s in _sources(G, d))
    if a["kind"] == "filter" and "concat" in [G.nodes[m]["kind"] for m in G.graph["order"]
                                              if G.nodes[m]["out"] == [a["data"]]]:
        return _sources(G, a["data"])  # a selection of a union: the union's parts
    return [data]


def test_each_training_starts_from_and_trains_on_what_the_paper_says(G):
    sp, se = _train(G, "student_p"), _train(G, "student_e")
    assert (G.nodes[sp]["model"], G.nodes[sp]["version"], G.nodes[sp]["data"]) == ("student", None, "cot_train")
    assert G.nodes[se]["model"] == "student_p" and G.nodes[se]["version"] == sp  # S_E from S_P
    assert _sources(G, G.nodes[se]["data"]) == ["ad", "ap", "dc"]
    for role, data in (("student_ft", ["train"]), ("student_mt_cot", ["ap", "dc"]), ("student_sbs", ["cot_train"])):
        n = _train(G, role)
        assert G.nodes[n]["model"] == "student" and G.nodes[n]["version"] is None, role
        assert _sources(G, G.nodes[n]["data"]) == data, role
    # AD examples carry the retrieved knowledge; DC, AP and MT-CoT's do not
    ups = nx_ancestors(G, _writer(G, "ad", "input"))
    assert any(G.nodes[n]["kind"] == "retrieve" for n in ups)
    for d in ("dc", "ap"):
        assert not any(G.nodes[n]["kind"] == "retrieve" for n in nx_ancestors(G, _writer(G, d, "input"))), d


def test_retrieval_ranks_the_keys_the_kb_is_written_under(G):
    """Eq. 5: every retrieval ranks the keys (by: key), m = 1, and the KB is written with the
    question as the key; the query is task_description + ' ' + question (code)."""
    from collabdsl.unparse import unparse

    rets = [n for n in G if G.nodes[n]["kind"] == "retrieve"]
    assert len(rets) == 4  # AD examples, and the three gated rows
    for n in rets:
        assert G.nodes[n]["options"] == {"kb": "knowledge", "top": 1, "by": "key"}
        assert unparse(G.nodes[n]["expr"]["query"]) == 'task_description + " " + x.question'
    (w,) = [n for n in G if G.nodes[n]["kind"] == "kb_write"]
    assert unparse(G.nodes[w]["expr"]["key"]) == "x.question" and G.nodes[w]["data"] == "d_neg"


def test_table6_options_reach_the_trl_config(G, tmp_path):
    """cosine schedule, 10% warmup and max_length 2048 land in the SFTConfig that
    runtime/trainer.py builds for every training, and the LoRA rank 32 in its LoraConfig."""
    import inspect

    from runtime.train_eval import _trainer_kwargs
    from runtime.trainer import build_configs

    accepted = set(inspect.signature(build_configs).parameters)
    for role in ("student_p", "student_e", "student_ft", "student_mt_cot", "student_sbs"):
        node = G.nodes[_train(G, role)]
        spec = G.graph["models"]["student"]
        lora, kw = _trainer_kwargs(node, spec, 0)
        cfg = build_configs(node["options"]["objective"], tmp_path / role, lora=lora,
                            **{k: v for k, v in kw.items() if k in accepted})
        args = cfg.args
        assert str(getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)) == "cosine", role
        assert args.warmup_steps == 0.1 and args.max_length == 2048 and args.learning_rate == 2e-4, role
        if role == "student_p":
            assert cfg.peft_config.r == 32
    se = G.nodes[_train(G, "student_e")]["options"]
    assert (se["epochs"], se["batch_size"], se["grad_accum"]) == (3, 8, 4)  # App. A.2
