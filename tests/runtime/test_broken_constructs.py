"""Issue 12, "broken today": constructs that lint clean must run and mean what they say.
The runtime is the real one (scheduler, store, agents); the executor is a fake that
records what each call asked for (a logic test: which calls, with which limits)."""
from __future__ import annotations

import pytest
from runtime_testing import run_program, write_program

from collabdsl import plan as P
from collabdsl.compiler import check_path, compile_path
from runtime.executors.base import Generation

ROWS = [{"question": "What color is the sky?", "answer": "blue"},
        {"question": "What do bees make?", "answer": "honey"}]


def fake_backend(monkeypatch, reply) -> list:
    """A backend whose sample ``i`` of request ``r`` to model ``ref`` is ``reply(ref, r, i)``;
    returns the list of every ``(ref, request)`` it received."""
    seen = []

    class Exec:
        batch_size = 64

        def __init__(self, spec):
            self.ref = spec.get("ref")

        def generate(self, reqs):
            seen.extend((self.ref, r) for r in reqs)
            return [[Generation(text=reply(self.ref, r, i), prompt_tokens=1, completion_tokens=1) for i in range(r.n)]
                    for r in reqs]

        def close(self):
            pass

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Exec(spec))
    return seen


@pytest.fixture
def calls(monkeypatch):
    """Every request the fake backend received, with the model it was made for."""
    return fake_backend(monkeypatch, lambda ref, r, i: f"{ref}: {r.prompt[-12:]}")


ENSEMBLE = """
program ensemble "three models answer each question"
model a = embedded("smollm2-135m-instruct") max_tokens 4
model b = hf("org/model-b") max_tokens 4
model c = embedded("smollm2-135m-instruct") max_tokens 4 temperature 0.7
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.replies = [m.generate(x.question) for m in [a, b, c]] }
"""


def test_a_comprehension_over_a_literal_list_of_models_calls_each_model(tmp_path, calls):
    path = write_program(tmp_path, ENSEMBLE, ROWS)
    p = P.plan(compile_path(str(path)).graph)
    assert sum(n.calls.value for n in p.nodes if n.calls) == 6  # 3 models x 2 rows (was 0: it ran per row)
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    assert sorted(ref for ref, _ in calls) == ["org/model-b"] * 2 + ["smollm2-135m-instruct"] * 4
    assert sorted({r.temperature for _, r in calls}) == [0.0, 0.7]  # each call is its own model's
    assert out.stats and sum(s.calls for s in out.stats.values()) == 6


def test_two_missing_values_do_not_agree_but_none_tests_still_work():
    from collabdsl import ast as A
    from collabdsl.evaluate import Env, evaluate

    S = A.Span("t.collab", 1, 1, 1, 2)
    env = Env(var="x", row={"small": None, "large": None, "gold": "b"})

    def col(name):
        return A.Attr(S, A.Name(S, A.Ident("x")), A.Ident(name))

    def ev(op, left, right):
        return evaluate(A.Compare(S, op, left, right), env)

    none = A.NoneLit(S)
    assert ev("==", col("small"), col("large")) is False  # two unparsed answers are no agreement
    assert ev("!=", col("small"), col("large")) is True
    assert ev("==", col("small"), none) is True and ev("==", none, col("small")) is True
    assert ev("!=", col("small"), none) is False
    assert ev("==", col("gold"), col("gold")) is True and ev("==", col("small"), col("gold")) is False


VOTE = """
program vote "two unparsed answers are no agreement"
model small = hf("org/small") max_tokens 4
model large = hf("org/large") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d {
  x.s = last_number(small.generate(x.question))
  x.l = last_number(large.generate(x.question))
  if x.s == x.l { x.agreed = small.generate("agreed: " + x.question) }
}
"""


def test_unparsed_answers_do_not_agree_in_a_run(tmp_path, calls):
    path = write_program(tmp_path, VOTE, ROWS)
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    assert not any(any(c.isdigit() for c in r.prompt) for _, r in calls)  # no reply holds a number
    assert [r.prompt for _, r in calls if r.prompt.startswith("agreed")] == []  # was both rows


COT = """
program cot "the stdlib chain of thought keeps the role's limit"
from stdlib.qa import answer_cot, answer_cot_number
model m = embedded("smollm2-135m-instruct") max_tokens 8
model k = hf("org/other") max_tokens 12
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d {
  x.a = answer_cot(m, x)
  x.n = answer_cot_number(k, x)
}
"""


def test_the_stdlib_chain_of_thought_keeps_the_roles_max_tokens(tmp_path, calls):
    out = run_program(write_program(tmp_path, COT, ROWS), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    assert len(calls) == 4
    assert {(ref, r.max_tokens) for ref, r in calls} == {("smollm2-135m-instruct", 8), ("org/other", 12)}  # was 256


REFINE = """
program refine "iterative refinement: each round revises the answer of the last"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt revise(q, a) = "Q: {q}\\nPrevious answer: {a}\\nBetter answer:"
step improve(m, x) {
  return m.generate(revise(x.question, x.draft))
}
for x in d { x.draft = m.generate(x.question) }
repeat 2 {
  for x in d { x.draft = improve(m, x) }
}
"""


def test_a_loop_that_updates_a_column_it_reads_is_no_w206(tmp_path, calls):
    path = write_program(tmp_path, REFINE, ROWS)
    r = check_path(str(path))
    assert [d.code for d in r.diagnostics] == []  # it was W206, failing lint --strict
    same = write_program(tmp_path / "same", REFINE.replace("x.draft = improve(m, x)", "x.other = improve(m, x)"), ROWS)
    assert [d.code for d in check_path(str(same)).diagnostics] == ["W206"]  # reads nothing it writes
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    prompts = [r.prompt for _, r in calls]
    assert len(prompts) == 6
    # round 2 revises round 1's answer: the column carried
    assert sum("Previous answer: smollm2-135m-instruct: tter answer:" in p for p in prompts) == 2, prompts


UNTIL = """
program until "repeat until no row is left (docs §14)"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
repeat until count(rejected) == 0 max 3 as i {
  for x in d { x.reply = m.generate(x.question) }
  data rejected = for x in d where i < 1
}
"""


def test_repeat_until_count_of_a_data_set_runs_and_its_body_reads_the_loop_variable(tmp_path, calls):
    """`repeat until count(D) == 0` (docs §14) and the loop variable in the body (a filter
    reading `i` linted clean, then stopped the run: 'i' has no value here)."""
    path = write_program(tmp_path, UNTIL, ROWS)
    assert [d.code for d in check_path(str(path)).diagnostics] == []
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    # iteration 1 keeps every row (i = 0), iteration 2 none: the loop stops after 2 (the
    # second asks the same prompts: answered from the cache)
    ran = sorted(k for k in out.stats if k.startswith("n") and "@" in k)
    assert [k.split("@")[1] for k in ran if out.stats[k].calls + out.stats[k].cache_hits] == ["1", "2"], ran
    assert len(calls) == 2


UNTIL_OUTSIDE = """
program until_outside "the condition counts a data set made before the loop"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
data rejected = for x in d where x.answer == "honey"
repeat until count(rejected) > 0 max 3 {
}
for x in d { x.reply = m.generate(x.question) }
"""


def test_repeat_until_waits_for_the_data_set_it_counts(tmp_path, calls):
    """The loop read `rejected` before its filter had run ('rejected' has no value here):
    the condition's data sets made before the loop are now inputs of the loop."""
    path = write_program(tmp_path, UNTIL_OUTSIDE, ROWS)
    G = compile_path(str(path)).graph
    (loop,) = [n for n, a in G.nodes(data=True) if a["kind"] == "loop"]
    (filt,) = [n for n, a in G.nodes(data=True) if a["kind"] == "filter"]
    assert G.has_edge(filt, loop)
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error


SELF_CONSISTENCY = """
program sc "self-consistency: a vote over k sampled chains of thought"
param k: int = 3
model m = embedded("smollm2-135m-instruct") max_tokens 16 temperature 0.7
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d {
  x.samples = m.sample(x.question, k: k)
  x.votes = [extract_answer(s) for s in x.samples]
  x.vote = mode(x.votes)
  x.agree = count(x.votes, x.vote)
}
eval res for x in d metrics mean {
  "voted blue" = x.vote == "blue"
  "agreeing samples" = x.agree
}
"""


def test_a_vote_over_k_samples_follows_set_k(tmp_path, monkeypatch):
    """Issue 12: the vote is written once and follows `--set k=...` with no edit; unparsed
    samples (no answer marker) are no votes."""
    answers = ["blue", None, "blue", "honey", "honey", "honey", None]  # sample i's answer
    fake_backend(monkeypatch, lambda ref, r, i: f"So the answer is {answers[i]}." if answers[i] else "I do not know")
    path = write_program(tmp_path, SELF_CONSISTENCY, ROWS)
    for k, vote, agree in ((3, "blue", 2), (7, "honey", 3)):
        out = run_program(path, tmp_path / f"runs{k}.db", sets={"k": str(k)})
        assert out.status == "finished", out.error
        got = {r["system"]: r["mean"] for r in out.results}
        assert got == {"voted blue": float(vote == "blue"), "agreeing samples": agree}, got


SAVING = """
program saving "a filter that keeps nothing feeds a training"
model m = embedded("smollm2-135m-instruct") trainable lora(r: 4, alpha: 8) max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
data wrong = for x in d where x.answer == "nothing is this"
data few = for x in d where x.answer == "blue"
train m sft for x in few { input: x.question, target: x.answer, max_steps: 1 }
for x in wrong { x.r = m.generate(x.question) }
repeat until count(pending) == 0 max 2 {
  data pending = for x in d where x.answer == "nothing is this"
}
"""


def test_warnings_that_save_a_run(tmp_path, calls, monkeypatch):
    """Issue 12: a filter that keeps no row (not the one a `repeat until` counts down) and a
    training on fewer than a handful of examples are warned about, located, and stored."""
    import sqlite3

    from runtime_testing import fake_trainer

    fake_trainer(monkeypatch)
    path = write_program(tmp_path, SAVING, ROWS)
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    got = sorted((w["where"].split(":")[-2], w["message"].split(":")[0]) for w in out.warnings)
    assert got == [("5", "the filter keeps none of the 2 rows of 'd'"),
                   ("7", "'m' trains on 1 example (sft)")], out.warnings
    con = sqlite3.connect(tmp_path / "runs.db")
    stored = [m for (m,) in con.execute("select message from warnings where run_id = ?", [out.run_id])]
    con.close()
    assert len(stored) == 2


TEAM = """
program team "an ensemble declared once, called in a comprehension, voted"
model a = embedded("smollm2-135m-instruct") max_tokens 4
model b = hf("org/model-b") max_tokens 4
model c = embedded("smollm2-135m-instruct") max_tokens 4 temperature 0.7
model team = [a, b, c]
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d {
  x.answers = [m.generate(x.question) for m in team]
  x.vote = mode(x.answers)
}
"""


def test_an_ensemble_calls_each_member_and_each_member_is_bindable(tmp_path, calls):
    path = write_program(tmp_path, TEAM, ROWS)
    assert [d.code for d in check_path(str(path)).diagnostics] == []
    out = run_program(path, tmp_path / "runs.db", models={"b": "hf:org/other-b"})
    assert out.status == "finished", out.error
    assert sorted(ref for ref, _ in calls) == ["org/other-b"] * 2 + ["smollm2-135m-instruct"] * 4
    # a and c share the embedded model's agent: their calls went in the same batches
    agents = {k: v for k, v in out.agents.items() if "smollm2" in k}
    assert len(agents) == 1 and next(iter(agents.values()))["calls"] == 4


def test_an_ensemble_lists_models_once(tmp_path):
    bad = TEAM.replace("model team = [a, b, c]", "model team = [a, d, a, zz]")
    got = sorted((d.code, d.span.col) for d in check_path(str(write_program(tmp_path, bad, ROWS))).diagnostics
                 if d.severity == "error")
    assert got == [("E101", 24), ("E102", 21), ("E117", 18)], got


REFINE_ROWS = """
program refine_rows "self-refine until the critic accepts, row by row"
model m = embedded("smollm2-135m-instruct") max_tokens 8
model critic = hf("org/critic") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt revise(q, a) = "Q: {q}\\nDraft: {a}\\nImprove the draft:"
prompt judge(q, a) = "Q: {q}\\nA: {a}\\nIs this answer final?"
for x in d { x.draft = m.generate(x.question) }
repeat for x in d until x.verdict == "yes" max 5 {
  x.draft = m.generate(revise(x.question, x.draft))
  x.verdict = critic.generate(judge(x.question, x.draft))
}
"""


def test_rows_leave_a_per_row_loop_when_their_own_condition_holds(tmp_path, monkeypatch):
    """Issue 12: `repeat for x in D until COND max N`: each row's draft carries from round to
    round, a row leaves once the critic accepts it, the loop ends when none is left, and the
    run notes how many rows were still active after each round."""
    def reply(ref, r, i):
        if ref == "org/critic":
            return "yes" if ("bees" in r.prompt or "A: third" in r.prompt) else "no"
        return "third" if "Draft: second" in r.prompt else "second" if "Draft: first" in r.prompt else "first"

    received = fake_backend(monkeypatch, reply)
    path = write_program(tmp_path, REFINE_ROWS, ROWS)
    assert [d.code for d in check_path(str(path)).diagnostics] == []
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    seen = [(ref, r.prompt) for ref, r in received]
    critic = [p for ref, p in seen if ref == "org/critic"]
    drafts = [p for ref, p in seen if ref != "org/critic"]
    assert len(drafts) == 2 + 2 + 1 and len(critic) == 2 + 1  # round 2 only for the sky's row
    assert sum("Draft: second" in p for p in drafts) == 1 and "sky" in next(p for p in drafts if "Draft: second" in p)
    [note] = [w for w in out.warnings if w["level"] == "note"]
    assert note["message"] == "rows still active after each round: 1, 0"
    assert note["where"].endswith(":9:1")


DEBATE = """
program debate_rounds "each agent reads the others' answers"
model a = embedded("smollm2-135m-instruct") max_tokens 4
model b = hf("org/b") max_tokens 4
model c = hf("org/c") max_tokens 4
model team = [a, b, c]
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
prompt again(q, others) = "Q: {q}\\nOthers: {others}\\nUpdated answer:"
for x in d { x.answers = [m.generate(x.question) for m in team] }
for x in d {
  x.answers = [team[i].generate(again(x.question, join([x.answers[j] for j in 0..2 if j != i], " | "))) for i in 0..2]
}
"""


def test_a_member_of_an_ensemble_is_chosen_by_a_known_index(tmp_path, calls):
    path = write_program(tmp_path, DEBATE, ROWS[:1])
    out = run_program(path, tmp_path / "runs.db")
    assert out.status == "finished", out.error
    second = {ref: r.prompt for ref, r in calls if r.prompt.startswith("Q:")}
    assert set(second) == {"smollm2-135m-instruct", "org/b", "org/c"}
    assert "org/b:" not in second["org/b"] and "org/b:" in second["org/c"]  # the others' answers, not its own
    bad = write_program(tmp_path / "bad", DEBATE.replace("for i in 0..2]", "for i in 0..3]"), ROWS[:1])
    res = compile_path(str(bad))
    assert res.graph is None and [(d.code, "no member 3" in d.message) for d in res.diagnostics] == [("E125", True)]
