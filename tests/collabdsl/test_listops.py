"""Issue 12: list reductions, votes and ordering over one row's values, with one rule for
missing values (none is no value: skipped, never equal)."""
from __future__ import annotations

import pytest

from collabdsl.builtins import ROW_BUILTINS as B


def call(name, *args, **kw):
    return B[name].impl(*args, **kw)


def test_reductions_skip_missing_values():
    assert call("sum", [1, None, 2.5]) == 3.5 and call("sum", None) == 0
    assert call("mean", [1, None, 3]) == 2 and call("mean", [None]) is None and call("mean", []) is None
    assert call("min", [3, None, 1]) == 1 and call("max", 2, 7, None) == 7 and call("max", [None]) is None
    assert call("argmax", [0.2, None, 0.9, 0.9]) == 2  # the first on ties
    assert call("argmin", [None, 5, 1, 1]) == 2 and call("argmin", []) is None


def test_votes_do_not_count_unparsed_answers():
    assert call("count", ["Paris", "paris ", None, "Rome"], "PARIS") == 2  # texts normalised
    assert call("count", [None, None], None) == 0  # none equals nothing
    assert call("mode", ["b", "a", "a", "b", None, None, None]) == "b"  # tie: the first seen
    assert call("mode", [None, None]) is None and call("mode", []) is None
    assert call("mode", [3, 3.0, 4]) == 3
    assert call("majority", ["a", "a", None]) == "a"
    assert call("majority", ["a", "b", None, None]) is None  # none votes for nothing
    assert call("majority", ["a", "a", "b", "b"]) is None


def test_pairing_and_ordering():
    assert call("zip", ["a", "b", "c"], [1, 2]) == [["a", 1], ["b", 2]]
    assert call("enumerate", ["x", "y"]) == [[0, "x"], [1, "y"]]
    assert call("sorted", [3, None, 1]) == [1, 3, None]
    assert call("sorted", ["d1", "d2", "d3"], key=[0.5, None, 0.9], reverse=True) == ["d3", "d1", "d2"]
    assert call("sorted", ["b", "a"], key=[1, 1]) == ["b", "a"]  # ties keep their order


@pytest.mark.parametrize("name,args,msg", [
    ("sum", ("1 2",), "must be a list"),
    ("mean", ([1, "two"],), "must hold numbers"),
    ("mode", ({"a": 1},), "must be a list"),
    ("sorted", (["a", "b"],), None),
    ("sorted", ([1, "b"],), "mix numbers and texts"),
])
def test_a_wrong_list_is_a_located_error_not_a_guess(name, args, msg):
    if msg is None:
        assert call(name, *args) == ["a", "b"]
        return
    with pytest.raises(ValueError, match=msg):
        call(name, *args)
    with pytest.raises(ValueError, match="key has 1 values for 2 items"):
        call("sorted", ["a", "b"], key=[1])


def test_count_of_a_data_set_and_count_of_a_list_are_told_apart_by_arity(tmp_path):
    from collabdsl.compiler import check_path

    (tmp_path / "rows.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    (tmp_path / "p.collab").write_text('''program c "count twice"
model m = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d { x.s = m.sample(x.question, k: 3)  x.n = count(x.s, x.answer) }
repeat until count(d) > 0 max 2 {
  for x in d { x.t = m.generate(x.question) }
}
''')
    r = check_path(str(tmp_path / "p.collab"))
    assert [d.code for d in r.diagnostics if d.severity == "error"] == []
    (tmp_path / "bad.collab").write_text((tmp_path / "p.collab").read_text().replace("count(x.s, x.answer)",
                                                                                   "count(x.s, x.answer, 1)"))
    r = check_path(str(tmp_path / "bad.collab"))
    assert [(d.code, d.message) for d in r.diagnostics if d.severity == "error"] == [
        ("E113", "count() takes 2 argument(s), called with 3")]


FILTERS = '''program cf "comprehension filters"
param k: int = 4
model a = embedded("smollm2-135m-instruct") max_tokens 4
data d = load("rows.jsonl", columns: {question: "question", answer: "answer"})
for x in d {
  x.opts = ["a", "bb", "ccc"]
  x.long = [o for o in x.opts if len(o) > 1]
  x.evens = [a.generate(x.question + str(i)) for i in 0..k - 1 if i % 2 == 0]
}
'''


def test_a_comprehension_filters_its_items(tmp_path):
    """`[e for v in L if cond]`: over row values it runs per row; over params it is
    unrolled with the condition decided at compile time (one node per kept item); a
    condition on row values beside model calls, or on a list of models, is E125 at lint."""
    from collabdsl import ast as A
    from collabdsl.compiler import check_path, compile_path
    from collabdsl.unparse import unparse

    (tmp_path / "rows.jsonl").write_text('{"question": "q", "answer": "a"}\n')
    good = tmp_path / "good.collab"
    good.write_text(FILTERS)
    assert [d.code for d in check_path(str(good)).diagnostics] == []
    for k, nodes in (("4", 2), ("5", 3)):  # i in 0..k-1 with i even
        G = compile_path(str(good), {"k": k}).graph
        assert sum(a["kind"] == "generate" for _, a in G.nodes(data=True)) == nodes
    comp = next(n for n in check_path(str(good)).program.walk() if isinstance(n, A.ListComp) and n.cond is not None)
    assert unparse(comp) == "[o for o in x.opts if len(o) > 1]"
    row_cond = tmp_path / "row.collab"
    row_cond.write_text(FILTERS.replace("if i % 2 == 0]", 'if x.question != "q"]'))
    assert [(d.code, d.span.line) for d in check_path(str(row_cond)).diagnostics] == [("E125", 8)]
    models = tmp_path / "models.collab"
    models.write_text(FILTERS.replace("x.long = [o for o in x.opts if len(o) > 1]",
                                      "x.long = [m.generate(x.question) for m in [a, a] if 1 > 0]"))
    assert [(d.code, d.span.line) for d in check_path(str(models)).diagnostics] == [("E125", 7)]
    team = tmp_path / "team.collab"  # an ensemble's name is a list of models too
    team.write_text(FILTERS.replace("data d =", "model team = [a]\ndata d =").replace(
        "x.long = [o for o in x.opts if len(o) > 1]", "x.long = [m.generate(x.question) for m in team if 1 > 0]"))
    assert [(d.code, d.span.line) for d in check_path(str(team)).diagnostics] == [("E125", 8)]


def test_a_row_filter_keeps_the_items_where_it_holds():
    from collabdsl import ast as A
    from collabdsl.evaluate import Env, evaluate

    S = A.Span("t.collab", 1, 1, 1, 2)
    o = A.Name(S, A.Ident("o"))
    comp = A.ListComp(S, o, A.Ident("o"), A.Attr(S, A.Name(S, A.Ident("x")), A.Ident("xs")),
                      A.Compare(S, ">", o, A.Num(S, 1)))
    assert evaluate(comp, Env(var="x", row={"xs": [0, 2, None, 3]})) == [2, 3]  # none passes no threshold
