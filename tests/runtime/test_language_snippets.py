"""Issue 12: every example of docs/language.md lints clean and runs. A snippet is a fragment
of a program, so each is completed with the declarations it refers to (PRELUDE, less what
the snippet declares itself, and its own CONTEXT) and then linted and run on the real
runtime with a fake model backend and a fake trainer: a construct the docs show must not
lint clean and then stop the run."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from runtime_testing import fake_trainer, run_program

from collabdsl.compiler import check_path

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"
SNIPPETS = re.findall(r"```collab\n(.*?)```", DOC.read_text(), re.DOTALL)

ROWS = [{"question": "What do bees make?", "options": ["honey", "milk"], "answer": "honey",
         "q": "What do bees make?\n(a) honey\n(b) milk", "score": 0.2, "teacher": "honey",
         "cot": "Bees make honey. So the answer is (a) honey.", "rationale": "Bees make honey.",
         "input": "What do bees make?", "gold_output": "honey", "prompt": "What do bees make?",
         "summary": "bees: honey", "query": "bees?", "weak_in": "bees?", "options_text": "(a) honey\n(b) milk",
         "reply": "So the answer is (a) honey. 1. first\n2. second\nAnswer: honey", "escalated": True,
         "drafts": ["honey", "jam"], "helps": [True, False], "chosen": "honey", "rejected": "milk"}
        for _ in range(2)]
ROWS[1] = {**ROWS[1], "question": "What color is the sky?", "options": ["green", "blue"], "answer": "blue",
           "q": "What color is the sky?\n(a) green\n(b) blue", "score": 0.9, "escalated": False}

# what the snippets refer to; a line whose name a snippet declares itself is left out
PRELUDE = """program snippet "an example of docs/language.md, completed"
param p0: float = 0.6
param k: int = 2
param s0: float = 0.5
param threshold: float = 0.5
param iterations: int = 2
param no_confidence_prompt: bool = false
param use_sft: bool = false
param task_description: str = "Answer the question."
param delta_threshold: float = 0.5
param m: int = 1
param train_data: str = "builtin:science-mc"
param n_train: int = 4
param weak_max_tokens: int = 8
model small = embedded("smollm2-135m-instruct") trainable lora(r: 4, alpha: 8) max_tokens 8
model large = embedded("smollm2-135m-instruct") frozen max_tokens 8
model weak = embedded("smollm2-135m-instruct") trainable max_tokens 8
model judge = embedded("smollm2-135m-instruct") frozen max_tokens 8
model student = embedded("smollm2-135m-instruct") trainable max_tokens 8
model strong = embedded("smollm2-135m-instruct") frozen max_tokens 8
model evaluator = embedded("smollm2-135m-instruct") frozen max_tokens 8
model weak_sft = embedded("smollm2-135m-instruct") trainable max_tokens 8
model teacher = embedded("smollm2-135m-instruct") frozen max_tokens 8
data train = load("rows.jsonl")
data test = load("rows.jsonl")
data distill = load("rows.jsonl")
data judge_set = load("rows.jsonl")
data rejected = load("rows.jsonl")
data queries = load("rows.jsonl")
data errors = load("rows.jsonl")
data pref_queries = load("rows.jsonl")
data prefs = load("rows.jsonl")
kb knowledge
prompt cot(q) = "Q: {q}\\nA: Let's think step by step."
prompt weak_prompt(q) = "Q: {q}\\nA:"
prompt judge_prompt(q, a) = "Rate from 0 to 1: {q} {a}"
prompt reflect(q, k) = "Write {k} questions like: {q}"
prompt s4l(q, a) = "{q} My classmate says {a}."
prompt s4l_plain(q) = "{q}"
prompt teacher_prompt(q, o, a) = "{q} {o} {a}"
prompt inference_prompt(q) = "{q}"
prompt evaluator_prompt(g, z) = "Rate 1-10: {g} {z}"
prompt student_cot(t, k, q) = "{t} {k} {q}"
step collaboration_helps(x, d) {
  return len(d) > 3
}
step knowledge_block(entries) {
  return join(entries)
}
"""

SMALL4LARGE = """step small4large(x) {
  guess = small.choose(x.q, options: x.options, confidence: option_prob)
  if no_confidence_prompt or guess.confidence > p0 {
    return large.generate(s4l(x.q, guess.answer), temperature: 0.6)
  }
  return large.generate(s4l_plain(x.q), temperature: 0.6)
}"""

def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


# what one snippet needs beyond the prelude: declarations put before it ("before"), param
# values to run with ("sets"), files it reads ("files", made with the formats the docs name)
CONTEXT: dict[str, dict] = {  # a text of the snippet -> its context (indices move as the docs grow)
    "data distill, judge_set = split(train": {"sets": {"train_data": "choices.jsonl"}},  # an ARC-style file whose options are "choices"
    "# SNLI / MNLI": {"files": {
        "snli/train.jsonl": _jsonl([{"premise": "A dog runs.", "hypothesis": "An animal moves.", "label": 0},
                                    {"premise": "A dog runs.", "hypothesis": "A cat sleeps.", "label": 2}]),
        "boolq/dev.jsonl": _jsonl([{"question": "is the sky blue", "passage": "The sky is blue.", "answer": True}]),
        "pubmedqa.json": json.dumps([{"QUESTION": "Does it help?", "CONTEXTS": "It helps.",
                                      "final_decision": "yes"}]),
        "medqa.jsonl": _jsonl([{"question": "Which organ pumps blood?", "options": {"A": "lung", "B": "heart"},
                                "answer_idx": "B"}])}},
    "x.q = mc_question(x.question, format_options(x.options))": {"before": "from stdlib.qa import mc_question"},  # the stdlib prompt, not the builtin
    '"DKT-large" = extract_answer(small4large(x)': {"before": SMALL4LARGE},
    "step answer_mc(m, x) {": {"before": "from stdlib.qa import mc_text"},
    'from "common.collab" import helper': {"files": {"common.collab": "step helper(x) {\n  return x.question\n}\n"}},
}

DECLARES = re.compile(r"^\s*(?:param|model|data|prompt|kb|step)\s+([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?", re.MULTILINE)


def _items(text: str) -> list[str]:
    """The prelude's declarations, a step with its body as one."""
    out: list[str] = []
    for line in text.splitlines():
        if out and (line.startswith((" ", "}"))):
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def _program(snippet: str, before: str = "") -> str:
    """The snippet with the prelude's declarations it does not make itself."""
    own = {n for m in DECLARES.finditer(snippet) for n in m.groups() if n}
    header = re.search(r"^program ", snippet, re.MULTILINE) is not None
    kept = [d for d in _items(PRELUDE)
            if not (DECLARES.match(d) and DECLARES.match(d).group(1) in own) and not (header and d.startswith("program "))]
    return snippet + "\n" + "\n".join(kept) if header else "\n".join(kept) + "\n" + before + "\n" + snippet


@pytest.fixture
def fake_models(monkeypatch):
    from runtime.executors.base import ChoiceResult, Generation

    class Exec:
        batch_size = 64

        def __init__(self, spec):
            pass

        def generate(self, reqs):
            text = "1. Why is the sky blue?\n2. What do bees make?\nSo the answer is (a) honey. 7"
            return [[Generation(text=text, prompt_tokens=1, completion_tokens=1, token_logprobs=[-0.1],
                                top2_margins=[0.5]) for _ in range(r.n)] for r in reqs]

        def choose(self, reqs):
            return [ChoiceResult(probs=[1 / len(r.options)] * len(r.options)) for r in reqs]

        def close(self):
            pass

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Exec(spec))
    fake_trainer(monkeypatch)


def _context(i: int) -> dict:
    return next((c for key, c in CONTEXT.items() if key in SNIPPETS[i]), {})


def _write(tmp_path: Path, i: int) -> Path:
    (tmp_path / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (tmp_path / "choices.jsonl").write_text("".join(json.dumps({**r, "choices": r["options"]}) + "\n" for r in ROWS))
    for name, text in _context(i).get("files", {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    path = tmp_path / "prog.collab"
    path.write_text(_program(SNIPPETS[i], _context(i).get("before", "")))
    return path


def test_the_docs_have_snippets():
    assert len(SNIPPETS) >= 20
    assert all(sum(key in s for s in SNIPPETS) == 1 for key in CONTEXT)  # each context finds its snippet


@pytest.mark.parametrize("i", range(len(SNIPPETS)))
def test_each_docs_snippet_lints_clean_and_runs(i, tmp_path, fake_models):
    path = _write(tmp_path, i)
    result = check_path(str(path))
    errors = [f"{d.code} {d.span.line}: {d.message}" for d in result.diagnostics if d.severity == "error"]
    context = _context(i)
    assert not errors, (errors, path.read_text())
    out = run_program(path, tmp_path / "runs.db", sets=context.get("sets"))
    assert out.status == "finished", (out.error, path.read_text())
