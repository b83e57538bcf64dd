"""fewshot(D, k, seed:): every row with k other rows of its data set, drawn at random."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

from collabdsl.compiler import compile_path
from runtime.handlers import HANDLERS


def _draw(rows, k, seed=0):
    ctx = SimpleNamespace(datasets={"d": rows})
    node = {"data": "d", "out": ["e"], "options": {"k": k, "seed": seed, "inputs": ["d"]}}
    asyncio.run(HANDLERS["fewshot"](ctx, node, "n1"))
    return ctx.datasets["e"]


ROWS = [{"question": f"q{i}", "answer": f"a{i}", "_rid": f"d:{i}"} for i in range(10)]


def test_k_other_rows_of_the_data_set_per_row():
    out = _draw(ROWS, 2)
    assert [r["question"] for r in out] == [r["question"] for r in ROWS]  # the rows, in order
    for r in out:
        qs = [s["question"] for s in r["shots"]]
        assert len(qs) == 2 == len(set(qs)) and r["question"] not in qs
        assert all(s == {"question": s["question"], "answer": "a" + s["question"][1:]} for s in r["shots"])
    assert len({tuple(s["question"] for s in r["shots"]) for r in out}) > 1  # a draw per row
    assert "shots" not in ROWS[0]  # the input data set is left as it was


def test_seeded_and_bounded_by_the_other_rows():
    assert _draw(ROWS, 3, seed=4) == _draw(ROWS, 3, seed=4) != _draw(ROWS, 3, seed=5)
    small = _draw(ROWS[:3], 5)
    assert all(len(r["shots"]) == 2 for r in small)
    assert all(r["shots"] == [] for r in _draw(ROWS[:1], 2))


def test_lint_knows_the_shots_column_and_rejects_a_bad_k(tmp_path):
    head = ('program f "x"\ndata d = load("builtin:science-mc", split: "train", '
            'columns: {question: "question", options: "options", answer: "answer"})\n')
    good = tmp_path / "good.collab"
    good.write_text(head + 'data e = fewshot(d, 2, seed: 1)\n'
                    'for x in e { x.ex = join([s.question + " " + s.answer for s in x.shots], "\\n") }\n'
                    'eval r for x in e metrics accuracy { gold x.answer  "echo" = x.ex }\n')
    res = compile_path(str(good))
    assert res.graph is not None, [d.message for d in res.diagnostics]
    assert [a["kind"] for _, a in res.graph.nodes(data=True)][:2] == ["load", "fewshot"]
    unknown = tmp_path / "unknown.collab"
    unknown.write_text(head + 'for x in d { x.ex = join([s.question for s in x.shots], "\\n") }\n'
                       'eval r for x in d metrics accuracy { gold x.answer  "echo" = x.ex }\n')
    assert "E108" in {d.code for d in compile_path(str(unknown)).diagnostics}  # only fewshot's rows have shots
    bad = tmp_path / "bad.collab"
    bad.write_text(head + 'data e = fewshot(d, 1.5)\nfor x in e { x.ex = x.question }\n'
                   'eval r for x in e metrics accuracy { gold x.answer  "echo" = x.ex }\n')
    res = compile_path(str(bad))
    assert res.graph is None and "E109" in {d.code for d in res.diagnostics}
