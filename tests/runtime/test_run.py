"""The runtime end to end on small programs: reuse on rerun, clear errors naming the node
and the source line, and the agents' memory policy."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from runtime_testing import run_program, write_program

from collabdsl.compiler import compile_path
from runtime.agents import Agent, AgentPool


def _program(tmp_path: Path, text: str, rows=None) -> Path:
    return write_program(tmp_path, text, rows)


_run = run_program


EMBEDDED = """
program rerun "generate and choose with the embedded model"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer"})
prompt ask(q) = "Answer briefly: {q}"
for x in d {
  x.reply = m.generate(ask(x.question))
  x.pick = m.choose(ask(x.question), options: x.options).answer
}
eval res for x in d metrics accuracy { gold x.answer  "pick" = x.pick }
"""


@pytest.mark.slow
def test_rerun_of_a_finished_program_makes_no_calls_and_loads_no_model(tmp_path):
    path = _program(tmp_path, EMBEDDED)
    first = _run(path, tmp_path / "runs.db")
    assert first.status == "finished", first.error
    assert sum(s.calls for s in first.stats.values()) == 6
    second = _run(path, tmp_path / "runs.db")
    assert second.status == "finished"
    assert sum(s.calls for s in second.stats.values()) == 0
    assert sum(a["loads"] for a in second.agents.values()) == 0
    assert second.results == first.results
    # a changed prompt is recomputed, the unchanged node is not
    path.write_text(EMBEDDED.replace("Answer briefly: {q}", "Answer in one word: {q}"))
    third = _run(path, tmp_path / "runs.db")
    calls = {s.kind: s.calls for s in third.stats.values() if s.kind in ("generate", "choose")}
    assert calls == {"generate": 3, "choose": 3}


COLUMN = """
program errs "a column model and a data file"
param path: str = "rows.jsonl"
model t = column("answer")
data d = load(path, columns: {question: "question", answer: "answer"})
for x in d { x.reply = t.generate(x.question) }
eval res for x in d metrics exact_match { gold x.answer  "stored" = x.reply }
"""


def test_column_model_stands_in_for_a_model(tmp_path):
    out = _run(_program(tmp_path, COLUMN), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    assert out.results[0]["exact_match"] == 1.0 and out.results[0]["n"] == 3
    assert sum(a["loads"] for a in out.agents.values()) == 0


def test_missing_file_names_the_node_and_line(tmp_path):
    out = _run(_program(tmp_path, COLUMN), tmp_path / "runs.db", sets={"path": "nope.jsonl"})
    assert out.status == "failed"
    assert "prog.collab:5:" in out.error and "load nope.jsonl" in out.error and "nope.jsonl" in out.error


def test_missing_column_of_a_column_model_is_clear(tmp_path):
    out = _run(_program(tmp_path, COLUMN.replace('column("answer")', 'column("rationale")')),
               tmp_path / "runs.db")
    assert out.status == "failed" and "no column 'rationale'" in out.error and "prog.collab:6:" in out.error


SERVER = """
program down "a server that is not there"
model big = server("http://127.0.0.1:9/v1", model: "m") max_retries 1 timeout 2
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = big.generate(x.question) }
"""


def test_unreachable_server_names_the_node_and_line(tmp_path):
    out = _run(_program(tmp_path, SERVER), tmp_path / "runs.db")
    assert out.status == "failed"
    assert "prog.collab:5:" in out.error and "big.generate" in out.error and "127.0.0.1:9" in out.error


def test_model_not_installed_is_clear(tmp_path):
    """A local model folder that is not there is named before the run, at the model's line
    (not a hub-id error from transformers when the model loads)."""
    path = _program(tmp_path, SERVER.replace('server("http://127.0.0.1:9/v1", model: "m") max_retries 1 '
                                             'timeout 2', 'hf("./no-such-model-folder")'))
    res = compile_path(str(path))
    (d,) = res.errors
    assert res.graph is None and d.code == "E127" and (d.span.path, d.span.line) == (str(path), 3)
    assert f"model folder not found: {tmp_path / 'no-such-model-folder'}" in d.message


# ---------------------------------------------------------------------- memory policy
class _Exec:
    closed = 0

    def __init__(self, name):
        self.name = name

    def close(self):
        _Exec.closed += 1


def test_agents_unload_least_recently_used_idle_backend_to_fit(monkeypatch):
    """Policy unit test (fake executors): a new local backend that does not fit next to the
    loaded ones unloads idle ones, least recently used first."""
    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: _Exec(spec["ref"]))
    specs = {r: {"backend": "hf", "ref": r, "kwargs": {}, "options": {}} for r in ("a", "b", "c")}
    pool = AgentPool(specs)
    pool.budget = 250
    for agent in pool.agents.values():
        agent.size = 100

    async def go():
        a, b, c = (pool.agents[f"hf:{r}"] for r in "abc")
        await a._ensure_loaded()
        a.last_used = 1.0
        await b._ensure_loaded()
        b.last_used = 2.0
        await c._ensure_loaded()  # 300 > 250: a (least recently used) goes
        return a, b, c

    a, b, c = asyncio.run(go())
    assert not a.loaded and b.loaded and c.loaded and _Exec.closed == 1
    assert isinstance(a, Agent)


def test_a_training_unloads_idle_backends_its_weights_and_optimizer_need(monkeypatch):
    """Policy unit test (fake executors): before a training, idle backends are unloaded,
    least recently used first, until the training's need fits beside the rest."""
    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: _Exec(spec["ref"]))
    specs = {r: {"backend": "hf", "ref": r, "kwargs": {}, "options": {}} for r in ("a", "b", "c")}
    pool = AgentPool(specs)
    pool.budget = 500
    for agent in pool.agents.values():
        agent.size = 100

    async def go():
        a, b, c = (pool.agents[f"hf:{r}"] for r in "abc")
        for i, agent in enumerate((b, a, c)):
            await agent._ensure_loaded()
            agent.last_used = float(i)
        await pool.make_room(None, need=250)  # 300 + 250 > 500: b (least recent) goes
        first = (a.loaded, b.loaded, c.loaded)
        await pool.make_room(None, need=100)  # 200 + 100 fits: nothing more goes
        return first, (a.loaded, b.loaded, c.loaded)

    first, second = asyncio.run(go())
    assert first == (True, False, True) and second == first


FULL = """
program full "full fine-tuning makes a version that is then served"
model m = embedded("smollm2-135m-instruct") trainable full max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.before = m.generate(x.question) }
train m sft for x in d { input: x.question, target: x.answer, max_steps: 2, lr: 1e-3, batch_size: 3 }
for x in d { x.after = m.generate(x.question) }
eval res for x in d metrics exact_match { gold x.answer  "before" = x.before  "after" = x.after }
"""


@pytest.mark.slow
def test_full_fine_tuning_version_is_served(tmp_path):
    out = _run(_program(tmp_path, FULL), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    assert sum(a["loads"] for a in out.agents.values()) == 2  # the base, then the trained folder
    versions = list((tmp_path / "versions").iterdir())
    assert len(versions) == 1 and (versions[0] / "config.json").is_file()


def test_agent_batches_requests_of_concurrent_nodes(monkeypatch):
    """Logic test (fake executor): two nodes submitting at once share one backend batch."""
    from runtime.executors.base import Generation, GenRequest

    batches = []

    class Recorder(_Exec):
        def generate(self, reqs):
            batches.append(len(reqs))
            return [[Generation(text=r.prompt.upper())] for r in reqs]

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Recorder(spec["ref"]))
    pool = AgentPool({"m": {"backend": "api", "ref": "x/y", "kwargs": {}, "options": {"batch_size": 8}}})
    agent = pool.roles["m"].agent

    async def go():
        a = agent.submit("generate", [GenRequest(f"a{i}") for i in range(3)])
        b = agent.submit("generate", [GenRequest(f"b{i}") for i in range(4)])
        out = await asyncio.gather(a, b)
        await pool.close()
        return out

    a, b = asyncio.run(go())
    assert batches == [7]
    assert [g[0].text for g in a] == ["A0", "A1", "A2"] and [g[0].text for g in b] == ["B0", "B1", "B2", "B3"]


WIDE = """
program wide "one generate node over 40 rows"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.reply = m.generate(x.question) }
"""


def _upper_executor(monkeypatch, batch_size: int) -> list[int]:
    """A fake local executor (limit ``batch_size``) that answers each prompt in capitals;
    the sizes of the batches it got are appended to the returned list."""
    from runtime.executors.base import Generation

    batches: list[int] = []

    class Upper(_Exec):
        def generate(self, reqs):
            batches.append(len(reqs))
            return [[Generation(text=r.prompt.upper(), prompt_tokens=1, completion_tokens=1)] for r in reqs]

    Upper.batch_size = batch_size
    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Upper(spec["ref"]))
    return batches


def test_a_node_fills_the_agents_batch_from_all_its_chunks(monkeypatch, tmp_path):
    """Issue 11, logic test (fake executor): a node's 40 rows reach the backend as one batch
    (the agent's size, 64 for a local model), not as chunks of 16 + 16 + 8; each chunk of
    16 rows is still committed on its own, and every row gets its own reply."""
    import sqlite3

    batches = _upper_executor(monkeypatch, 64)
    rows = [{"question": f"q{i}", "answer": "a"} for i in range(40)]
    db = tmp_path / "runs.db"
    out = run_program(write_program(tmp_path, WIDE, rows), db)
    assert out.status == "finished", out.error
    assert batches == [40]
    con = sqlite3.connect(db)
    got = con.execute("select row_index, data from rows where run_id = ?", [out.run_id]).fetchall()
    con.close()
    assert sorted(i for i, _ in got) == list(range(40))  # dense indices, none written twice
    import json

    assert sorted(json.loads(d)["v"] for _, d in got) == sorted(f"Q{i}" for i in range(40))


def _run_within(seconds, *args, **kw):
    """run_program in a thread: a hang fails the test instead of the suite."""
    import threading

    box = {}
    t = threading.Thread(target=lambda: box.setdefault("out", run_program(*args, **kw)), daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"the run hung for {seconds} s"
    return box["out"]


def test_an_executor_with_a_smaller_batch_gets_every_row(monkeypatch, tmp_path):
    """Issue 11 regression (fake executor): the agent batches by 64 until the backend is
    loaded, then by the executor's own limit (16). Rows were lost between the two sizes (the
    batches were cut with one size and stepped with the other) and the run hung."""
    batches = _upper_executor(monkeypatch, 16)
    rows = [{"question": f"q{i}", "answer": "a"} for i in range(40)]
    out = _run_within(60, write_program(tmp_path, WIDE, rows), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    assert sum(batches) == 40 and max(batches) <= 16, batches


def test_a_backend_that_answers_fewer_requests_fails_the_node(monkeypatch, tmp_path):
    """A backend returning fewer results than requests fails the node with that message
    (no request is left waiting: the run used to hang)."""
    from runtime.executors.base import Generation

    class Short(_Exec):
        batch_size = 64

        def generate(self, reqs):
            return [[Generation(text="x")] for r in reqs[:-1]]

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Short(spec["ref"]))
    rows = [{"question": f"q{i}", "answer": "a"} for i in range(5)]
    out = _run_within(60, write_program(tmp_path, WIDE, rows), tmp_path / "runs.db")
    assert out.status == "failed"
    assert "the backend returned 4 results for 5 requests" in out.error


SAME_CALL = """
program same "two nodes ask the same model the same thing"
model m = api("openai/fake") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer"})
prompt ask(q) = "Answer briefly: {q}"
for x in d {
  x.a = m.generate(ask(x.question))
  x.b = m.generate(ask(x.question))
}
eval res for x in d metrics accuracy { gold x.answer  "a" = x.a  "b" = x.b }
"""


def test_identical_calls_of_concurrent_nodes_are_made_once(tmp_path, monkeypatch):
    """Logic test (fake executor): two nodes ready at once with the same prompt, model
    version and options share one backend call per row; the second counts cache hits."""
    from runtime.executors.base import Generation

    prompts = []

    class Recorder(_Exec):
        def generate(self, reqs):
            prompts.extend(r.prompt for r in reqs)
            return [[Generation(text=r.prompt[-8:])] for r in reqs]

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Recorder(spec["ref"]))
    rows = [{"question": "Same?", "options": ["a", "b"], "answer": "a"}] * 2 + [
        {"question": "Other?", "options": ["a", "b"], "answer": "b"}]
    out = _run(_program(tmp_path, SAME_CALL, rows), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    # 3 rows x 2 nodes = 6 requests, 2 distinct prompts: two rows of one node ask the same
    assert sorted(prompts) == ["Answer briefly: Other?", "Answer briefly: Same?"]
    calls = {st.label: (st.calls, st.cache_hits) for st in out.stats.values() if st.calls or st.cache_hits}
    assert sum(c for c, _ in calls.values()) == 2 and sum(h for _, h in calls.values()) == 4, calls


def test_a_failed_call_fails_the_nodes_waiting_for_it(tmp_path, monkeypatch):
    class Broken(_Exec):
        def generate(self, reqs):
            raise ConnectionError("server went away")

    monkeypatch.setattr("runtime.agents._locked_make", lambda spec: Broken(spec["ref"]))
    out = _run(_program(tmp_path, SAME_CALL), tmp_path / "runs.db")
    assert out.status == "failed"
    assert "ConnectionError: server went away" in out.error and "prog.collab:" in out.error


TRAIN_ONLY = """
program train_only "one training, nothing else"
model m = embedded("smollm2-135m-instruct") trainable
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer"})
train m sft for x in d { input: x.question, target: x.answer, max_steps: 1 }
"""


def test_training_resolves_the_embedded_weights_on_the_compute_thread(tmp_path, monkeypatch):
    """The first use of the embedded model converts its GGUF with transformers; that must
    happen on the compute thread, where model loads happen, never beside one (a fresh cache
    once failed with 'cannot import name AutoModelForCausalLM')."""
    import threading

    seen = []

    def fake_dir(ref=None):
        seen.append(threading.current_thread().name)
        raise RuntimeError("stop here")

    monkeypatch.setattr("runtime.embedded.embedded_model_dir", fake_dir)
    out = _run(_program(tmp_path, TRAIN_ONLY), tmp_path / "runs.db")
    assert out.status == "failed" and "stop here" in out.error
    assert seen and all(name.startswith("collab-compute") for name in seen), seen
