"""Each paper program runs unchanged on data it was not written for, mapped with `--set`
only: an NLI file (SNLI/MNLI jsonl: premise, hypothesis, an integer label) and a yes/no
file (BoolQ: passage, question, a boolean answer). The load's templates:, options: and
answer_is: (docs/language.md §5) build the question, give every row the same options and turn
the label into its option's text.

Logic test: the models are a fake executor that records every request and answers with the
gold option of the question it finds in the prompt, and the trainer is a fake that records the
rows it is given (no weights). What the test asserts is what the programs' models see: every
question is the mapped one, every choice is among the fixed options, the training targets name
the gold answer's text, and the systems that answer by choosing score exactly 1.0 (a label
mapped to the wrong option would score less).
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from collabdsl.compiler import compile_path
from runtime import agents, trainer
from runtime.executors.base import ChoiceResult, Generation
from runtime.run import run_graph

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = ("dkt", "cowest", "nesycd", "tinyllm", "scicot")

NLI_OPTIONS = ["entailment", "neutral", "contradiction"]
SNLI = [  # SNLI/MNLI jsonl: label 0 entailment, 1 neutral, 2 contradiction
    {"premise": "A man in a red shirt plays a guitar on a stage.", "hypothesis": "A man is playing music.",
     "label": 0, "explanation_1": "Playing a guitar is playing music."},
    {"premise": "Two dogs run across a snowy field.", "hypothesis": "The dogs are sleeping indoors.",
     "label": 2, "explanation_1": "Dogs running outside are not sleeping indoors."},
    {"premise": "A woman reads a book in a park.", "hypothesis": "The woman is a teacher.",
     "label": 1, "explanation_1": "Reading a book does not say what her job is."},
    {"premise": "Children build a sandcastle at the beach.", "hypothesis": "Kids are at the beach.",
     "label": 0, "explanation_1": "Children building a sandcastle at the beach are at the beach."},
]
NLI_TEMPLATE = "Premise: {premise}\nHypothesis: {hypothesis}"

BOOLQ = [  # BoolQ: the answer is a JSON boolean
    {"question": "is the pacific the largest ocean on earth", "answer": True,
     "passage": "The Pacific Ocean is the largest and deepest of Earth's oceanic divisions."},
    {"question": "can penguins fly long distances", "answer": False,
     "passage": "Penguins are flightless birds; their wings evolved into flippers."},
    {"question": "is mercury a liquid at room temperature", "answer": True,
     "passage": "Mercury is the only metal that is liquid at standard temperature and pressure."},
    {"question": "does the moon produce its own light", "answer": False,
     "passage": "The Moon shines by reflecting sunlight; it emits almost no light of its own."},
]
BOOLQ_TEMPLATE = "{passage}\n\nQuestion: {question}?"


def nli_case():
    rows = SNLI
    questions = {NLI_TEMPLATE.format(**r): NLI_OPTIONS[r["label"]] for r in rows}
    sets = {"question_template": NLI_TEMPLATE, "fixed_options": "|".join(NLI_OPTIONS), "answer_column": "label",
            "answer_is": "index0", "rationale_column_cowest": "explanation_1"}
    return rows, questions, tuple(NLI_OPTIONS), sets


def boolq_case():
    rows = BOOLQ
    questions = {BOOLQ_TEMPLATE.format(**r): "yes" if r["answer"] else "no" for r in rows}
    sets = {"question_template": BOOLQ_TEMPLATE, "fixed_options": "yes|no", "answer_is": "bool",
            "rationale_column_cowest": "passage"}
    return rows, questions, ("yes", "no"), sets


CASES = {"nli": nli_case, "boolq": boolq_case}


class World:
    """What the fake models and the fake trainer saw."""

    def __init__(self, questions: dict[str, str], options: tuple[str, ...]):
        self.questions = questions  # mapped question -> gold answer text
        self.options = options      # the fixed options, in order
        self.choices: list = []
        self.prompts: list[str] = []
        self.trained: list[list[dict]] = []

    def gold_in(self, prompt: str) -> str | None:
        hits = [q for q in self.questions if q in prompt]
        # the question asked is the last one in the prompt (in-context examples come before it,
        # as in TinyLLM's teacher prompt); one question is never part of another here
        return self.questions[max(hits, key=prompt.rindex)] if hits else None


class FakeExecutor:
    batch_size = 8

    def __init__(self, world: World):
        self.world = world

    def generate(self, requests):
        out = []
        for r in requests:
            self.world.prompts.append(r.prompt)
            gold = self.world.gold_in(r.prompt)
            # the option's letter first (DKT asks its large model to start so), then a reason
            # and the answer in the marker the other programs parse
            letter = "abcdefghij"[self.world.options.index(gold)] if gold in self.world.options else "a"
            text = (f"({letter}) {gold}\nThe statement and the facts it gives decide the matter here. "
                    f"So the answer is {gold}." if gold else "9")
            out.append([Generation(text=text, token_logprobs=[-0.05] * 4, top2_margins=[0.9] * 4,
                                   completion_tokens=4) for _ in range(r.n)])
        return out

    def choose(self, requests):
        out = []
        for r in requests:
            self.world.choices.append(r)
            gold = self.world.gold_in(r.prompt)
            i = list(r.options).index(gold) if gold in r.options else 0
            probs = [0.9 if j == i else 0.1 / (len(r.options) - 1) for j in range(len(r.options))]
            out.append(ChoiceResult(probs=probs))
        return out

    def close(self):
        pass


def _run(name: str, case: str, tmp_path: Path, monkeypatch):
    rows, questions, options, sets = CASES[case]()
    world = World(questions, tuple(options))
    monkeypatch.setattr(agents, "make_executor", lambda spec: FakeExecutor(world))

    def fake_train(objective, base, train_rows, out_dir, **kw):
        world.trained.append(list(train_rows))
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
        return trainer.TrainResult(objective, out, out, None, 1, len(train_rows), 0.1, 1.0, 10)

    monkeypatch.setattr(trainer, "train", fake_train)
    monkeypatch.setattr("runtime.train_eval._base_path", lambda spec: "base")
    data = tmp_path / "data"
    data.mkdir()
    for split in ("train", "test"):
        (data / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    cowest_rationale = sets.pop("rationale_column_cowest")
    sets = {**sets, "train_data": str(data), "test_data": str(data)}
    if name == "cowest":
        sets["rationale_column"] = cowest_rationale
    res = compile_path(str(ROOT / "programs" / f"{name}.collab"), {k: str(v) for k, v in sets.items()},
                       allow_read=[str(tmp_path)])
    assert res.graph is not None, [d.message for d in res.diagnostics]
    out = run_graph(res.graph, program_path=str(ROOT / "programs" / f"{name}.collab"), sources=res.sources,
                    store_path=str(tmp_path / "runs.db"), limit=len(rows), progress=False)
    return out, world, options


def _values(row: dict) -> list[str]:
    """The texts of a training row (a multitask row's targets included), but its input."""
    out = []
    for k, v in row.items():
        if k == "input":
            continue
        out += [x for x in (v.values() if isinstance(v, dict) else [v]) if isinstance(x, str)]
    return out


def _holds(row: dict, q: str) -> bool:
    return q in str(row.get("input", ""))


def _answer_of(text: str, options) -> str | None:
    """The option a target ends with (``... the answer is entailment.``, ``Answer:\nno``, or
    CoWeSt's ground truth ``Answer: B``, the option's capital letter)."""
    tail = text.strip().rstrip(".").strip()
    m = re.search(r"(?:^|\n)Answer: ([A-Z])$", tail)
    if m and ord(m.group(1)) - ord("A") < len(options):
        return options[ord(m.group(1)) - ord("A")]
    for o in sorted(options, key=len, reverse=True):
        if tail == o or tail.endswith((" " + o, "\n" + o)):
            return o
    return None


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("name", PROGRAMS)
def test_a_program_runs_on_data_it_was_not_written_for(name, case, tmp_path, monkeypatch):
    out, world, options = _run(name, case, tmp_path, monkeypatch)
    assert out.status == "finished", out.error

    # the models saw the mapped questions, and only those
    seen = [p for p in world.prompts + [c.prompt for c in world.choices]]
    asked = {q for q in world.questions if any(q in p for p in seen)}
    assert asked == set(world.questions), sorted(set(world.questions) - asked)
    # every choice among the question's options is among the fixed options (dkt chooses) ...
    row_choices = [c for c in world.choices if world.gold_in(c.prompt)]
    assert all(tuple(c.options) == options for c in row_choices), {tuple(c.options) for c in row_choices}
    # ... and the prompts that show the options (the other programs generate) show the fixed ones, in order
    for q in world.questions:
        shown = [p for p in seen if q in p and all(o in p.split(q, 1)[1] for o in options)]
        assert shown or any(q in c.prompt for c in row_choices), f"no prompt shows the options of {q!r}"
        for p in shown:
            rest = p.split(q, 1)[1]
            assert [rest.index(o) for o in options] == sorted(rest.index(o) for o in options), p

    # the trainings learned the gold answers' texts: a target ends with the gold option, none
    # with another one (the fake teachers always answer the gold; a mis-mapped answer column shows
    # in the targets built from the row's answer)
    assert world.trained, "the program trains its students"
    for q, gold in world.questions.items():
        ends = [_answer_of(v, options) for rows in world.trained for r in rows if _holds(r, q) for v in _values(r)]
        assert gold in ends, (q, gold)
        assert set(ends) - {None} == {gold}, (q, gold, ends)

    # a system whose model chose the gold option scores 1.0: the gold answer is its option's text
    scored = [r for r in out.results if r.get("accuracy") is not None]
    assert scored and all(r["n"] == len(world.questions) for r in scored), out.results
    assert max(r["accuracy"] for r in scored) == 1.0, out.results


def _write_nli(folder: Path, rows) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        (folder / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def test_a_mapping_set_on_the_command_line_is_checked_when_compiling(tmp_path):
    data = _write_nli(tmp_path / "data", SNLI)
    prog = str(ROOT / "programs" / "dkt.collab")
    base = {"train_data": str(data), "test_data": str(data)}
    res = compile_path(prog, {**base, "fixed_options": "entailment|neutral|contradiction",
                              "options_column": "choices"}, allow_read=[str(tmp_path)])
    assert res.graph is None
    errs = [(d.code, d.span.line) for d in res.diagnostics if d.is_error]
    assert errs and {c for c, _ in errs} == {"E131"}, [d.message for d in res.diagnostics]
    d = next(d for d in res.diagnostics if d.code == "E131")
    assert "options: gives every row the column 'options', but columns: maps 'options' from 'choices'" in d.message
    assert "set by --set" in d.message and d.span.path.endswith("dkt.collab")
    res = compile_path(prog, {**base, "fixed_options": "entailment", "answer_is": "index"}, allow_read=[str(tmp_path)])
    msgs = sorted(d.message for d in res.diagnostics if d.code == "E109")
    assert any(m.startswith("options needs at least two options") for m in msgs), msgs
    assert any(m.startswith('unknown answer form "index"') for m in msgs), msgs
    res = compile_path(prog, {**base, "question_template": "no column here"}, allow_read=[str(tmp_path)])
    assert [d.code for d in res.diagnostics if d.is_error][:1] == ["E109"], [d.message for d in res.diagnostics]


def test_a_label_out_of_range_fails_the_run_with_the_file_and_row(tmp_path, monkeypatch):
    rows = SNLI + [{"premise": "A cat sits.", "hypothesis": "An animal sits.", "label": 3}]
    data = _write_nli(tmp_path / "data", rows)
    monkeypatch.setattr(agents, "make_executor", lambda spec: FakeExecutor(World({})))
    prog = ROOT / "programs" / "scicot.collab"
    sets = {"train_data": str(data), "test_data": str(data), "question_template": NLI_TEMPLATE,
            "fixed_options": "|".join(NLI_OPTIONS), "answer_column": "label", "answer_is": "index0"}
    res = compile_path(str(prog), sets, allow_read=[str(tmp_path)])
    assert res.graph is not None, [d.message for d in res.diagnostics]
    out = run_graph(res.graph, program_path=str(prog), sources=res.sources, store_path=str(tmp_path / "runs.db"),
                    progress=False)
    assert out.status == "failed"
    assert "\n" not in out.error and str(prog) in out.error
    assert any(f"{data / f'{split}.jsonl'}: row 5: answer index 3 is out of range: the row has 3 options, "
               f"numbered 0 to 2 (answer_is \"index0\")" in out.error for split in ("train", "test")), out.error


@pytest.mark.slow
def test_dkt_on_nli_data_with_the_embedded_model(tmp_path, monkeypatch):
    """The real thing, once: DKT's embedded profile on the SNLI-shaped file with the real
    SmolLM2 model and the real trainer (2 rows). The real model's choices are scored against
    the mapped options, and its trainings learn the gold options' texts. λ = 0 and no
    baselines: the 135M "large" model rarely states an option in the asked form (a kd training
    none of whose rows has a teacher answer is refused: its teacher term would be left out
    without a word), and LLM-labeling learns the large model's labels, not the gold ones."""
    real_make, real_train = agents.make_executor, trainer.train
    choices, trained = [], []

    def make(spec):
        ex = real_make(spec)
        choose = ex.choose

        def recording(requests):
            choices.extend(requests)
            return choose(requests)

        ex.choose = recording
        return ex

    def train(objective, base, rows, out_dir, **kw):
        trained.append(list(rows))
        return real_train(objective, base, rows, out_dir, **kw)

    monkeypatch.setattr(agents, "make_executor", make)
    monkeypatch.setattr(trainer, "train", train)
    data = _write_nli(tmp_path / "data", SNLI[:2])
    prog = ROOT / "programs" / "dkt.collab"
    sets = {"train_data": str(data), "test_data": str(data), "question_template": NLI_TEMPLATE,
            "fixed_options": "|".join(NLI_OPTIONS), "answer_column": "label", "answer_is": "index0", "lam": "0",
            "with_baselines": "false"}
    res = compile_path(str(prog), sets, allow_read=[str(tmp_path)])
    assert res.graph is not None and res.profile == "embedded", [d.message for d in res.diagnostics]
    out = run_graph(res.graph, program_path=str(prog), sources=res.sources, store_path=str(tmp_path / "runs.db"),
                    progress=False)
    assert out.status == "finished", out.error
    questions = {NLI_TEMPLATE.format(**r): NLI_OPTIONS[r["label"]] for r in SNLI[:2]}
    assert choices and all(tuple(c.options) == tuple(NLI_OPTIONS) for c in choices)
    assert {q for q in questions if any(q in c.prompt for c in choices)} == set(questions)
    targets = {(q, r.get("target") or r.get("gold")) for rows in trained for r in rows for q in questions
               if q in str(r.get("input", ""))}
    assert targets and all(t == questions[q] for q, t in targets if t in NLI_OPTIONS), targets
    assert {q for q, _ in targets} == set(questions)
    scored = [r for r in out.results if r["table"] != "reflection_parsing"]
    assert scored and all(r["n"] == 2 and 0.0 <= r["accuracy"] <= 1.0 for r in scored), out.results
