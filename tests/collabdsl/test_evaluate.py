"""The pure evaluator (collabdsl.evaluate) and the builtins (collabdsl.builtins)."""
from __future__ import annotations

import pytest

from collabdsl import ast as A
from collabdsl.builtins import (
    ROW_BUILTINS,
    after,
    before,
    best,
    extract_answer,
    format_options,
    items,
    last_number,
    pairs,
    split_rows,
    task,
)
from collabdsl.evaluate import (
    MAX_REPEAT,
    Env,
    EvalError,
    constant,
    evaluate,
    parse_error_policy,
    render_prompt,
    template_slots,
)
from collabdsl.parser import parse

OPTS = ["ice", "water", "steam", "plasma"]


def ex(text: str) -> A.Expr:
    program, diags = parse(f"param e: int = {text}", "t")
    assert diags == [], diags
    return program.body[0].default


def ev(text: str, **kw):
    env = Env(params=kw.pop("params", {}), prompts=kw.pop("prompts", {}), var=kw.pop("var", "x"),
              row=kw.pop("row", None), names=kw.pop("names", {}))
    return evaluate(ex(text), env)


# ---------------------------------------------------------------------- extract_answer
@pytest.mark.parametrize("reply, options, answer", [
    # the authors' formats
    ("Ice melts when heated. So the answer is (d) plasma.", OPTS, "plasma"),
    ("So the answer is (d) text.", ["a", "b", "c", "text"], "text"),
    ("Therefore, the answer is 42.", None, "42"),
    ("Thus, the answer is (b) x", ["w", "x"], "x"),
    ("Thus, the answer is (B)", ["w", "x"], "x"),
    # numbers keep their decimals and thousands; the sentence ends at the first '.'
    ("Therefore, the answer is 3.5.", None, "3.5"),
    ("Therefore, the answer is 1,000 dollars.", None, "1,000 dollars"),
    ("Therefore, the answer is Paris. It is in France.", None, "Paris"),
    ("The answer is 7", None, "7"),
    # the last marker wins; a blank line ends the answer
    ("So the answer is (a) ice. Wait. So the answer is (c) steam.", OPTS, "steam"),
    ("the answer is steam\n\nA note mentioning ice", OPTS, "steam"),
    ("The answer is: water", OPTS, "water"),
    # option text: the longest option named wins
    ("The answer is water vapor", ["water", "water vapor"], "water vapor"),
    ("So the answer is B.", OPTS, "water"),
    # records: a generation with confidence is read through its text
    ({"text": "So the answer is 7.", "confidence": 0.3}, None, "7"),
])
def test_extract_answer(reply, options, answer):
    assert extract_answer(reply, options=options) == answer


@pytest.mark.parametrize("reply, options", [
    ("So the answer is (z) foo.", OPTS),  # a letter past the options
    ("no idea", OPTS),
    ("", None),
    (None, None),
    ("So the answer is .", None),
])
def test_extract_answer_parse_failure_is_none(reply, options):
    assert extract_answer(reply, options=options) is None


def test_extract_answer_custom_markers():
    assert extract_answer("Final: 12. Done", markers=["Final:"]) == "12"
    assert extract_answer("no marker here at all") == "no marker here at all"


# ---------------------------------------------------------------------- other builtins
@pytest.mark.parametrize("text, number", [
    ("The total is 1,234.5 dollars, not 7.", 7), ("1,234.5 dollars", 1234.5), ("-3 apples", -3),
    ("It costs $18.", 18), ("#### 72", 72), ("no number", None), ("", None), (None, None),
    ({"text": "x = 2.50"}, 2.5),
])
def test_last_number(text, number):
    got = last_number(text)
    assert got == number and type(got) is type(number)


def test_items_of_numbered_and_bulleted_lists():
    text = "Here are new questions:\n1. First?\n2) Second?\n- third\n* fourth\nQ3: fifth\nQuestion 4: sixth"
    assert items(text) == ["First?", "Second?", "third", "fourth", "fifth", "sixth"]
    assert items("1. a\n2. b\n3. c", max=2) == ["a", "b"]
    assert items("1. a\n2. b", max=2.0) == ["a", "b"]
    assert items("just\n\nlines") == ["just", "lines"]  # no numbering: every non-empty line
    assert items("") == [] and items(None) == []


def test_pairs_best_first_and_skipping_ties_and_none():
    got = pairs(["a", "b", "c"], [0.1, 0.9, 0.5])
    assert [(p["chosen"], p["rejected"]) for p in got] == [("b", "a"), ("b", "c"), ("c", "a")]
    assert got[0]["margin"] == pytest.approx(0.8)
    assert pairs(["a", "b"], [1, 1]) == []
    assert pairs(["a", "b"], [None, 1]) == []
    assert [(p["chosen"], p["rejected"]) for p in pairs(["a", "b", "c"], [3, 1, 2], margin=1)] == [("a", "b")]
    assert pairs(None, None) == [] and pairs(["a"], [1]) == []


def test_pairs_zip_pairs_preferred_and_dispreferred_one_to_one():
    """CoWeSt, Algorithm 1: Y+ and Y- in draft order, the first min(|Y+|, |Y-|) of each."""
    got = pairs(["d0", "d1", "d2", "d3", "d4"], [False, True, False, True, True], match="zip")
    assert [(p["chosen"], p["rejected"]) for p in got] == [("d1", "d0"), ("d3", "d2")]
    assert pairs(["a", "b"], [True, True], match="zip") == []
    assert pairs(["a", "b", "c"], [None, 2, 1], match="zip")[0]["rejected"] == "c"
    numeric = pairs(["a", "b", "c", "d"], [5, 3, 5, 4.5], margin=1, match="zip")
    assert [(p["chosen"], p["rejected"]) for p in numeric] == [("a", "b")]
    with pytest.raises(ValueError, match='"all" or "zip"'):
        pairs(["a"], [1], match="best")
    # records become their text
    assert pairs([{"text": "x"}, {"text": "y"}], [1, 0])[0]["chosen"] == "x"


def test_format_options_styles():
    assert format_options(["x", "y"]) == "(a) x\n(b) y"
    assert format_options(["x", "y"], style="A.") == "A. x\nB. y"
    assert format_options(["x", "y"], style="(A)") == "(A) x\n(B) y"
    assert format_options([]) == "" and format_options(None) == ""


def test_format_options_one_line_style_and_unknown_styles():
    """CoWeSt's Figure 6 writes the options on one line: ``(A): x (B): y``. A style the
    builtin does not know is an error, not the default ``(a)`` lines."""
    assert format_options(["Vitamin C", "Vitamin B7"], style="(A):") == "(A): Vitamin C (B): Vitamin B7"
    with pytest.raises(ValueError, match="style must be one of"):
        format_options(["x", "y"], style="(A) ")


def test_small_text_builtins():
    assert after("a #### 5", "####") == "5" and after("x", "y") is None
    assert before("a. So the answer is b", "So the answer is") == "a." and before(" abc ", "z") == "abc"
    assert best(["a", "b", "c"], [1, 3, 3]) == "b" and best([], []) is None and best(["a"], [None]) is None
    assert task("predict: ", "x", weight=0.5) == {"prefix": "predict: ", "target": "x", "weight": 0.5,
                                                  "name": "predict"}
    assert task("", "y")["name"] == "task"
    impl = {name: b.impl for name, b in ROW_BUILTINS.items()}
    assert impl["join"](["a", {"text": "b"}], " ") == "a b"
    assert impl["letter"](2) == "c" and impl["len"](None) == 0 and impl["round"](2.567, 2) == 2.57
    assert impl["max"]([1, 5, 2]) == 5 and impl["min"](4, 2, 3) == 2
    assert impl["contains"]("abc", "b") and not impl["contains"](None, "b")


def test_split_rows_is_deterministic_and_complete():
    rows = list(range(10))
    a, b = split_rows(rows, 0.3, seed=1)
    assert len(a) == 3 and sorted(a + b) == rows and a == sorted(a)
    assert split_rows(rows, 0.3, seed=1) == (a, b)
    assert split_rows(rows, 0.3, seed=2) != (a, b)


# ---------------------------------------------------------------------- render_prompt
def test_render_prompt():
    assert render_prompt("Q: {q} A: {a}", ["q", "a"], ["2+2", 4]) == "Q: 2+2 A: 4"
    assert render_prompt("{{q}} is {q}", ["q"], ["x"]) == "{q} is x"
    assert render_prompt('JSON: {{"k": {v}}}', ["v"], [1.0]) == 'JSON: {"k": 1}'  # 1.0 prints as 1
    assert render_prompt("{q}", ["q"], [None]) == ""
    assert render_prompt("{q}", ["q"], [{"answer": "b", "probs": [0.2, 0.8]}]) == "b"
    assert render_prompt("{q}", ["q"], [["x", "y"]]) == "x\ny"
    assert render_prompt("{ q } {nope} {", ["q"], ["v"]) == "{ q } {nope} {"


# ---------------------------------------------------------------------- the evaluator
def test_arithmetic_and_text():
    assert ev("1 + 2 * 3") == 7 and ev("(1 + 2) * 3") == 9 and ev("7 % 4") == 3 and ev("1 / 4") == 0.25
    assert ev('"n=" + 2.0') == "n=2" and ev('"a" + none') == "a" and ev("-(2 - 5)") == 3
    assert ev("[1, 2][1]") == 2 and ev('{a: 1}["a"]') == 1 and ev("1..3") == (1, 3)


def test_comparisons_and_logic():
    assert ev("1 < 2 and not false") is True and ev("1 > 2 or 0 == 0") is True
    assert ev("none == none") is True and ev("none != 1") is True
    # an unparsed (None) value never passes a threshold
    assert ev("x.s > 0.5", row={"s": None}) is False and ev("x.s < 0.5", row={"s": None}) is False
    # a choice record compares as its answer, a generation as its text
    assert ev('x.c == "water"', row={"c": {"answer": "water", "index": 1, "confidence": 0.9, "probs": []}})
    assert ev('x.g == "hi"', row={"g": {"text": "hi", "confidence": 0.2}})


def test_names_rows_and_fields():
    row = {"question": "q?", "g": {"text": "t", "confidence": 0.4}, "n": None}
    assert ev("x.question", row=row) == "q?" and ev("x.g.confidence", row=row) == 0.4
    assert ev("x.n.text", row=row) is None  # fields of None are None
    assert ev("x.g.nope", row=row) is None  # a record's missing field is None
    assert ev('"s".text') == "s"
    assert ev("p0 * 2", params={"p0": 0.5}) == 1.0 and ev("i + 1", names={"i": 2}) == 3
    with pytest.raises(EvalError, match="no field 'nope'"):
        ev("x.nope", row=row)
    with pytest.raises(EvalError, match="'y' has no value"):
        ev("y")
    with pytest.raises(EvalError, match="has no field"):
        ev("(1).a")


def test_calls_of_prompts_and_builtins():
    prompts = {"ask": {"slots": ["q"], "template": "Q: {q}"}}
    assert ev("ask(x.q)", prompts=prompts, row={"q": "why"}) == "Q: why"
    assert ev('extract_answer("So the answer is (b) water.", options: ["ice", "water"])') == "water"
    assert ev('last_number("3 and 4", on_parse_error: drop)') == 4  # the policy is not an argument
    assert ev('lower(strip("  HI "))') == "hi" and ev("len([1, 2])") == 2


@pytest.mark.parametrize("text, message", [
    ("nothing(1)", "cannot be computed"),
    ("load(1)", "cannot be computed"),  # data builtins are not row builtins
    ('int("x")', "int()"),
    ("[1][5]", "cannot index"),
    ("1 / 0", "cannot compute /"),
    ('1 - "a"', "cannot compute -"),
    ('"a" < 1', "cannot compare"),
    ('-"a"', "cannot negate"),
    ("-[1]", "cannot negate"),
    ('"ab" * 99999999999', "more than"),
    ("[0] * 99999999999", "more than"),
    ('"ab" * 600000', "more than 1,000,000 characters"),
    ('("ab" * 400000) + ("ab" * 400000)', "more than 1,000,000 characters"),
    ('([0] * 600000) + ([0] * 600000)', "more than 1,000,000"),
    ('"%0999999999d" % 1', "remainder of two numbers"),
    ('"%s" % "x"', "remainder of two numbers"),
    ('7 % "2"', "remainder of two numbers"),
    ("(1)(2)", "only prompts and builtins"),
])
def test_errors_are_eval_errors_with_a_span(text, message):
    with pytest.raises(EvalError, match=message) as info:
        ev(text)
    assert info.value.span.path == "t" and info.value.span.line == 1 and info.value.reason


def test_repetition_below_the_cap():
    assert ev('"ab" * 3') == "ababab" and ev("[0] * 2") == [0, 0] and ev("3 * 2") == 6
    assert len(ev('"ab" * 500000')) == MAX_REPEAT == 1_000_000
    assert ev("7 % 3") == 1 and ev("7.5 % 2") == 1.5


def test_constant_and_parse_error_policy():
    assert constant(None, {}, default=3) == 3
    assert constant(ex("p + 1"), {"p": 1}) == 2
    with pytest.raises(EvalError):
        constant(ex("x.a"), {})
    call = lambda src: ex(src)
    assert parse_error_policy(call("f(1)")) == ("keep", None)
    assert parse_error_policy(call("f(1, on_parse_error: drop)")) == ("drop", None)
    kind, value = parse_error_policy(call("f(1, on_parse_error: 0)"))
    assert kind == "value" and value.value == 0


@pytest.mark.parametrize("template, slots", [
    ("Q: {q} A: {a} again {q}", ["q", "a"]),
    ("{{q}} is literal", []),
    ("{{{q}}} is a slot between braces", ["q"]),
    ('JSON: {{"k": {v}}}', ["v"]),
    ("{ q } {1x} {", []),
])
def test_template_slots_read_templates_as_render_prompt_does(template, slots):
    assert template_slots(template) == slots
    rendered = render_prompt(template, slots, [f"<{s}>" for s in slots])
    for s in slots:
        assert f"<{s}>" in rendered


def test_multiple_choice_text_helpers():
    from collabdsl.builtins import index_of, letter_index, mc_options, mc_question

    text = "Question: Which unit fits?\nOptions:\n(A) meter.\n(B) light-year.\n(C) gram."
    assert mc_question(text) == "Which unit fits?"
    assert mc_options(text) == ["meter.", "light-year.", "gram."]
    assert [letter_index(x) for x in ("(A)", "b", "C.", "(d)", "AB", None)] == [0, 1, 2, 3, None, None]
    assert index_of("Light-Year.", mc_options(text)) == 1
    assert index_of("parsec", mc_options(text)) is None and index_of(None, ["a"]) is None
    assert mc_options("no options here") == []
    numbered = "Question: Which?\nOptions:\n(1) up\n(2) down"  # some ARC questions number them
    assert mc_options(numbered) == ["up", "down"] and letter_index("(2)") == 1


def test_comprehension_maps_over_a_list_or_an_inclusive_range():
    from collabdsl.evaluate import Env, evaluate
    from collabdsl.parser import parse

    prog, diags = parse('program t "x"\nparam p: int = [len(o) * 2 for o in ["ab", "c"]]\n'
                        'param q: int = [i * i for i in 1..3]\n')
    assert not diags
    p, q = [st.default for st in prog.body]
    assert evaluate(p, Env()) == [4, 2]
    assert evaluate(q, Env()) == [1, 4, 9]
    row = {"options": ["a", "b"]}
    (e,) = [st.default for st in parse('program t "x"\nparam r: int = [upper(o) for o in x.options]\n')[0].body]
    assert evaluate(e, Env(var="x", row=row)) == ["A", "B"]
