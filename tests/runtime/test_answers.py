"""Reading answers: option texts named in whole words by API replies, `choose` with options
that are not a list, a column model whose value is no option, the share of the most common
prediction beside accuracy, and an API reply without text."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

from runtime.store import RunStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from runtime_testing import run_program, write_program

ROWS = [
    {"question": "What color is the sky?", "options": ["blue", "green"], "answer": "blue", "stored": "blue"},
    {"question": "What do bees make?", "options": ["honey", "milk"], "answer": "honey", "stored": "Milk"},
    {"question": "What is frozen water?", "options": ["ice", "steam"], "answer": "ice", "stored": "snow"},
]


def test_parse_choice_matches_option_texts_in_whole_words():
    from runtime.executors.litellm_exec import LiteLLMExecutor

    parse = LiteLLMExecutor.parse_choice
    ynm = ("yes", "no", "maybe")
    assert parse("I don't know.", ynm) is None          # "no" in "know"
    assert parse("hard to say, it's unknown", ynm) is None
    assert parse("yes or no", ynm) is None              # two options: none of them
    assert parse("Surely yes.", ynm) == 0
    assert parse("The tissue is abnormal", ("normal", "abnormal")) == 1
    assert parse("It is normal", ("normal", "abnormal")) == 0


def _program(tmp_path: Path, text: str, rows=None) -> Path:
    return write_program(tmp_path, text, rows if rows is not None else ROWS)


_run = run_program


# ---------------------------------------------------------------------- choose
CHOOSE = """
program pick "choose over a column's options"
model m = column("stored")
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer", stored: "stored", opt: OPTS})
for x in d { x.pick = m.choose(x.question, options: x.opt) }
eval res for x in d metrics accuracy, answered { gold x.answer  "pick" = x.pick }
"""


def test_column_choice_that_is_no_option_gives_no_answer(tmp_path):
    """The stored value "snow" is none of ice/steam: no answer (a parse failure), not option 0
    with confidence 1.0; "Milk" names "milk" (case and spaces ignored)."""
    out = _run(_program(tmp_path, CHOOSE.replace("OPTS", '"options"')), tmp_path / "runs.db")
    assert out.status == "finished", out.error
    row = out.results[0]
    assert row["accuracy"] == pytest.approx(1 / 3) and row["answered"] == pytest.approx(2 / 3)
    key = next(k for k, s in out.stats.items() if s.kind == "choose")
    assert out.stats[key].parse_failures == 1
    with RunStore(tmp_path / "runs.db") as st:
        vals = {r["rid"]: r["v"] for r in st.read_rows(out.run_id, key)}
        node = st.get_node(out.run_id, key)
    assert vals["d:2"]["answer"] is None and vals["d:2"]["index"] is None and vals["d:2"]["confidence"] is None
    assert vals["d:1"]["answer"] == "milk" and vals["d:1"]["index"] == 1
    assert node["parse_failures"] == 1  # what `collab show` prints


@pytest.mark.parametrize("options, what", [
    ("question", "a str"),  # a text: not its characters
    ("answer", "a str"),
])
def test_choose_with_options_that_are_not_a_list_fails_the_row(tmp_path, options, what):
    out = _run(_program(tmp_path, CHOOSE.replace("OPTS", f'"{options}"')), tmp_path / "runs.db")
    assert out.status == "failed"
    assert "prog.collab:5:" in out.error and "row d:0" in out.error and "options" in out.error
    assert what in out.error


@pytest.mark.parametrize("rows_opts, why", [
    ({"a": 1, "b": 2}, "a dict"),
    (["only one"], "1 option"),
    (["ok", 3], "not a text"),
    (None, "none"),
])
def test_choose_rejects_options_of_the_wrong_shape_per_row(tmp_path, rows_opts, why):
    rows = [{"question": "q", "options": rows_opts, "answer": "ok", "stored": "ok"}]
    out = _run(_program(tmp_path, CHOOSE.replace("OPTS", '"options"'), rows), tmp_path / "runs.db")
    assert out.status == "failed", out.results
    assert "prog.collab:5:" in out.error and "row d:0" in out.error and why in out.error


def test_checker_rejects_options_known_not_to_be_a_list(tmp_path):
    from collabdsl.compiler import check_path

    base = ('program p "x"\nmodel m = column("a")\nprompt ask(q) = "Q: {q}"\n'
            'data d = load("rows.jsonl", columns: {q: "q", opts: "opts"})\n'
            'for x in d {\n  x.t = "a text"\n  x.p = m.choose(x.q, options: OPTS)\n}\n')
    for opts in ('"yes no"', "ask(x.q)", "x.t", "x.q + \"!\"", "3"):
        p = tmp_path / "p.collab"
        p.write_text(base.replace("OPTS", opts))
        diags = [d for d in check_path(str(p)).diagnostics if d.code == "E130"]
        assert diags and diags[0].span.line == 7, (opts, [str(d) for d in check_path(str(p)).diagnostics])
    for opts in ('["yes", "no"]', "x.opts", "mc_options(x.q)"):
        p.write_text(base.replace("OPTS", opts))
        assert not [d for d in check_path(str(p)).diagnostics if d.code == "E130"], opts


# ---------------------------------------------------------------------- replies without text
SERVED = """
program served "a served model that refuses one request"
param url: str = "http://127.0.0.1:9/v1"
model big = server(url, model: "smollm2") max_tokens 8 max_retries 0
data d = load("rows.jsonl", columns: {question: "question", options: "options", answer: "answer"})
for x in d { x.reply = big.generate(x.question) }
eval res for x in d metrics accuracy, answered { gold x.answer  "big" = x.reply }
"""


def test_a_reply_with_content_null_fails_the_row_naming_node_and_row(tmp_path):
    """A real OpenAI-compatible server on 127.0.0.1 answers the bees question with
    `"content": null`: not an empty answer in a finished run, but an error naming the line,
    the node and the row; nothing of it is cached, so a rerun asks again."""
    from openai_server import OpenAIServer

    path = _program(tmp_path, SERVED)
    with OpenAIServer(fixed_reply="blue", null_reply_for="bees") as srv:
        out = _run(path, tmp_path / "runs.db", sets={"url": srv.base_url})
        assert out.status == "failed", out.results
        assert "prog.collab:6:" in out.error and "big.generate" in out.error and "row d:1" in out.error
        assert "without text (content: null" in out.error
        srv.null_reply_for = None
        before = srv.requests
        again = _run(path, tmp_path / "runs.db", sets={"url": srv.base_url})
        assert again.status == "finished", again.error
        assert srv.requests - before == 1  # only the refused row is asked again
    with RunStore(tmp_path / "runs.db") as st:
        assert st.get_run(out.run_id)["status"] == "failed" and "row d:1" in st.get_run(out.run_id)["error"]


CHOOSE_SERVED = SERVED.replace("x.reply = big.generate(x.question)",
                               "x.reply = big.choose(x.question, options: x.options)")


def test_an_api_choice_that_names_no_option_is_no_answer(tmp_path):
    """A reply naming no option (here: no text at all) gave uniform probabilities, read as
    option 0 with confidence 1/k; it is no answer, counted as a parse failure."""
    from openai_server import OpenAIServer

    path = _program(tmp_path, CHOOSE_SERVED)
    with OpenAIServer(fixed_reply="B", null_reply_for="bees") as srv:
        out = _run(path, tmp_path / "runs.db", sets={"url": srv.base_url})
    assert out.status == "finished", out.error
    row = out.results[0]
    assert row["answered"] == pytest.approx(2 / 3)  # "B" names green and ice; the bees row: nothing
    key = next(k for k, s in out.stats.items() if s.kind == "choose")
    assert out.stats[key].parse_failures == 1


def test_an_empty_data_file_fails_the_run_naming_file_and_line(tmp_path):
    path = _program(tmp_path, SERVED)
    (tmp_path / "rows.jsonl").write_text("")
    out = _run(path, tmp_path / "runs.db")
    assert out.status == "failed" and out.results == []
    assert "prog.collab:5:" in out.error and "rows.jsonl: the file is empty: no rows" in out.error
