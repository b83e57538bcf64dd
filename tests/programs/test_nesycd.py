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
