"""Issue 12: a system message and earlier turns reach every backend as chat turns. The same
program, greedy, on the embedded model (transformers) and on a real OpenAI-compatible
server on 127.0.0.1 serving the same model (litellm), gives the same replies; without the
turns the replies differ; the turns are in the cache key."""
from __future__ import annotations

import pytest
from openai_server import ModelRunner, OpenAIServer
from runtime_testing import run_program, write_program

from runtime.executors.base import encode_prompt

pytestmark = pytest.mark.slow

ROWS = [{"question": "What is the capital of France?", "answer": "Paris"},
        {"question": "How many legs does a spider have?", "answer": "eight"}]

PROGRAM = """
program turns "a system message and a second turn"
model m = MODEL max_tokens 12 system "You answer in one word, in French."
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d {
  x.first = m.generate(x.question)
  x.second = m.generate("Are you sure? Answer again.", history: [x.question, x.first])
  x.plain = m.generate("Are you sure? Answer again.")
}
eval res for x in d metrics mean { "first" = x.first  "second" = x.second  "plain" = x.plain }
"""


def test_the_template_holds_the_system_message_and_the_turns_in_order(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model_dir))
    turns = (("system", "Be terse."), ("user", "Q1"), ("assistant", "A1"))
    text, _ids, special = encode_prompt(tok, "Q2", True, tok.eos_token_id, turns)
    order = [text.index(s) for s in ("Be terse.", "Q1", "A1", "Q2")]
    assert order == sorted(order) and text.rstrip().endswith("assistant") and not special
    assert "<|im_start|>system\nBe terse.<|im_end|>" in text
    plain, _, special = encode_prompt(tok, "Q2", False, tok.eos_token_id, turns)
    assert plain == "Be terse.\n\nQ1\n\nA1\n\nQ2" and special


def test_turns_reach_transformers_and_litellm_alike(tmp_path, tiny_model_dir):
    local = write_program(tmp_path / "local", PROGRAM.replace("MODEL", 'embedded("smollm2-135m-instruct")'), ROWS)
    a = run_program(local, tmp_path / "local" / "runs.db")
    assert a.status == "finished", a.error
    with OpenAIServer(runner=ModelRunner(tiny_model_dir)) as srv:
        served = write_program(tmp_path / "served", PROGRAM.replace(
            "MODEL", f'server("{srv.base_url}", model: "smollm2")'), ROWS)
        b = run_program(served, tmp_path / "served" / "runs.db")
    assert b.status == "finished", b.error
    import json
    import sqlite3

    def values(db, run_id):
        con = sqlite3.connect(db)
        got = {(n, i): json.loads(d)["v"] for n, i, d in con.execute(
            "select node_id, row_index, data from rows where run_id = ?", [run_id])}
        con.close()
        return got

    va, vb = values(tmp_path / "local" / "runs.db", a.run_id), values(tmp_path / "served" / "runs.db", b.run_id)
    assert len(va) == 6 and va == vb  # both backends got the same turns
    second = {i: v for (n, i), v in va.items() if n == "n2"}
    plain = {i: v for (n, i), v in va.items() if n == "n3"}
    assert second and second != plain, (second, plain)  # the history changed the replies
