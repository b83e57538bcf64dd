"""The parser: every construct of the design brief to the right AST classes and spans,
syntax errors that say what was expected and where, string literals and prompt templates."""
from __future__ import annotations

import pytest
from collab_testing import FIXTURES

from collabdsl import ast as A
from collabdsl.evaluate import render_prompt
from collabdsl.parser import MAX_DEPTH, parse, parse_file

ALL = FIXTURES / "parser" / "all_constructs.collab"


@pytest.fixture(scope="module")
def prog() -> A.Program:
    program, diags = parse_file(ALL)
    assert diags == []
    return program


def _line(node) -> tuple[int, int]:
    return node.span.line, node.span.col


def _find(prog, cls, name=None):
    for st in A.iter_stmts(prog.body):
        if isinstance(st, cls) and (name is None or name in [str(n) for n in _names(st)]):
            return st
    raise AssertionError(f"no {cls.__name__} {name}")


def _names(st):
    if isinstance(st, A.Data):
        return st.names
    if isinstance(st, A.Training):
        return [st.new_name or st.model]
    return [getattr(st, "name", "")]


def _one(src: str, cls=None):
    """The single top-level statement of ``src``."""
    program, diags = parse(src, "t.collab")
    assert diags == [], diags
    (st,) = program.body
    if cls is not None:
        assert isinstance(st, cls), st
    return st


def _expr(text: str) -> A.Expr:
    return _one(f"param e: int = {text}", A.Param).default


# ---------------------------------------------------------------------- the whole brief
def test_statement_classes_in_order(prog):
    kinds = [type(st).__name__ for st in prog.body]
    assert kinds == ["Import", "Import", "Param", "Param"] + ["Model"] * 5 + ["Data"] * 5 + [
        "Prompt", "Prompt", "KB", "Step", "ForEach", "Data", "Data", "Training", "Training",
        "Repeat", "Repeat", "StaticIf", "Eval"]
    assert prog.path == str(ALL) and prog.source == ALL.read_text()


def test_header(prog):
    assert prog.header.name == "dkt" and prog.header.description == "One-line description"
    assert _line(prog.header) == (2, 1)
    assert _line(prog.header.name) == (2, 9)
    assert prog.header.name.span.end_col == 12


def test_imports(prog):
    std, file = prog.body[0], prog.body[1]
    assert (std.module, std.is_file, std.names) == ("stdlib.qa", False, ["mc_text", "answer_mc"])
    assert (file.module, file.is_file, file.names) == ("common.collab", True, ["helper"])
    assert _line(std.names[1]) == (4, 32)
    assert _line(file.names[0]) == (5, 29)


def test_params(prog):
    p0, data = prog.body[2], prog.body[3]
    assert (p0.name, p0.type, p0.default) == ("p0", "float", A.Num(p0.default.span, 0.6))
    assert isinstance(data.default, A.Str) and data.default.value == "builtin:science-mc"
    assert _line(p0.name) == (7, 7) and _line(p0.type) == (7, 11) and _line(p0.default) == (7, 19)


def test_models(prog):
    small, large, judge, big, light = prog.body[4:9]
    assert (small.name, small.backend, small.trainable) == ("small", "embedded", True)
    assert [(str(k.name), k.value.value) for k in small.lora] == [("r", 16), ("alpha", 16)]
    assert [(str(k.name), k.value.value) for k in small.options] == [("max_tokens", 64)]
    assert isinstance(small.args[0], A.Str) and small.args[0].value == "smollm2-135m-instruct"
    assert (large.trainable, large.lora) == (False, None)
    assert [(str(k.name), k.value.value) for k in large.options] == [("temperature", 0.6)]
    assert [(str(k.name), k.value.value) for k in judge.kwargs] == [("model", "m")]
    assert judge.trainable is None  # not said
    assert (big.trainable, big.lora) == (True, None)  # `trainable full`
    assert (light.trainable, light.lora) == (True, [])  # `trainable`: LoRA defaults
    assert _line(small.name) == (10, 7) and _line(small.backend) == (10, 15)
    assert _line(small.options[0].name) == (10, 82)


def test_data(prog):
    train = _find(prog, A.Data, "train")
    load = train.source
    assert isinstance(load, A.Call) and load.fname == "load"
    cols = load.kwarg("columns")
    assert isinstance(cols, A.DictLit) and cols.keys == ["question", "options"]
    assert _line(cols.keys[1]) == (16, 73)  # a "string" key keeps its span
    split = _find(prog, A.Data, "distill")
    assert split.names == ["distill", "judge_set"] and _line(split.names[1]) == (17, 15)
    assert split.source.fname == "split" and split.source.args[1].value == 0.5
    both, few, s = (_find(prog, A.Data, n) for n in ("both", "few", "s"))
    assert _line(few) == (18, 44) and _line(s) == (18, 74)  # several statements on one line
    assert [a.id for a in both.source.args] == ["distill", "judge_set"]


def test_filter_and_expand(prog):
    rejected = _find(prog, A.Data, "rejected").source
    assert isinstance(rejected, A.Filter) and rejected.var == "x"
    assert isinstance(rejected.cond, A.Compare) and rejected.cond.op == "<"
    refl = _find(prog, A.Data, "reflections").source
    assert isinstance(refl, A.Expand) and (refl.var, refl.item) == ("x", "q")
    assert refl.items.fname == "items" and refl.items.kwarg("max").value == 3
    (assign,) = refl.body
    assert isinstance(assign, A.Assign) and (assign.var, assign.name) == ("x", "question")
    assert _line(refl.item) == (50, 45)


def test_prompts(prog):
    s4l, plain = (st for st in prog.body if isinstance(st, A.Prompt))
    assert s4l.slots == ["q", "a"] and _line(s4l.slots[1]) == (20, 15)
    # triple-quoted: dedented (common indent removed, relative indent kept), outer newlines stripped
    assert s4l.template == "Question: {q}.\n  My classmate believes the answer is {a}."
    assert _line(s4l) == (20, 1) and (s4l.template_span.line, s4l.template_span.col) == (20, 20)
    assert s4l.template_span.end_line == 23
    assert plain.template == "Q: {q} {{not a slot}}"


def test_kb(prog):
    kb = _find(prog, A.KB)
    assert kb.name == "notes" and _line(kb.name) == (26, 4)


def test_step_and_gates(prog):
    step = _find(prog, A.Step)
    assert step.name == "small4large" and step.params == ["x"]
    assert _line(step.params[0]) == (28, 18)
    guess, gate, last = step.body
    assert isinstance(guess, A.Assign) and guess.var is None and guess.name == "guess"
    call = guess.value
    assert call.method == ("small", "choose")
    assert [str(k.name) for k in call.kwargs] == ["options", "confidence"]
    assert isinstance(gate, A.Gate) and isinstance(gate.cond, A.And)
    assert isinstance(gate.then[0], A.Return)
    (elif_,) = gate.orelse  # `else if` is a gate in the else branch
    assert isinstance(elif_, A.Gate) and isinstance(elif_.orelse[0], A.Return)
    assert isinstance(elif_.orelse[0].value, A.NoneLit)
    assert isinstance(last, A.Return) and _line(last) == (37, 3)
    assert _line(gate) == (30, 3) and _line(elif_) == (32, 10)


def test_foreach_rows(prog):
    fe = _find(prog, A.ForEach)
    assert fe.var == "x" and fe.source.id == "distill"
    teacher, draft, drafts, score, write, _math = fe.body
    assert isinstance(teacher.value, A.Attr) and teacher.value.name == "answer"
    assert teacher.value.obj.fname == "small4large"
    assert draft.var is None and draft.name == "draft"
    assert drafts.value.kwarg("k").value == 5
    rng = score.value.kwarg("range")
    assert isinstance(rng, A.Range) and (rng.lo.value, rng.hi.value) == (0, 1)
    assert isinstance(score.value.kwarg("on_parse_error"), A.Num)
    assert isinstance(write, A.CallStmt) and write.call.method == ("notes", "write")
    assert _line(write) == (45, 3) and _line(write.call.func.obj) == (45, 3)
    assert _line(teacher) == (41, 3) and _line(teacher.var) == (41, 3) and _line(teacher.name) == (41, 5)


def test_operator_precedence(prog):
    math = _find(prog, A.ForEach).body[-1].value
    # -1 + 2 * 3 % 4 / 5 - x.drafts[0] == 1 or not true and false
    assert isinstance(math, A.Or)
    cmp, right = math.left, math.right
    assert isinstance(cmp, A.Compare) and cmp.op == "=="
    assert isinstance(right, A.And) and isinstance(right.left, A.Not)
    minus = cmp.left
    assert isinstance(minus, A.BinOp) and minus.op == "-"
    assert isinstance(minus.right, A.Index) and minus.right.obj.name == "drafts"
    plus = minus.left
    assert plus.op == "+" and isinstance(plus.left, A.Neg)
    div = plus.right  # ((2 * 3) % 4) / 5: left associative
    assert div.op == "/" and div.left.op == "%" and div.left.left.op == "*"


def test_trainings(prog):
    sft, kd = (st for st in prog.body if isinstance(st, A.Training))
    assert (sft.model, sft.objective, sft.var, sft.new_name) == ("small", "sft", "x", None)
    assert [str(k.name) for k in sft.entries] == ["input", "target", "epochs", "lr"]  # trailing comma
    assert sft.entry("lr").value == 2e-4
    assert kd.new_name == "small_sft" and _line(kd.new_name) == (55, 7)
    assert _line(kd) == (55, 1)  # `model NAME = train ...` spans the whole declaration
    assert kd.entry("lambda").value == 0.5 and kd.entry("nope") is None


def test_loops_and_static_if(prog):
    count, until = (st for st in prog.body if isinstance(st, A.Repeat))
    assert count.count.value == 2 and count.var == "i" and count.until is None
    assert isinstance(count.body[0], A.Training)
    assert count.count is not None and until.count is None
    assert isinstance(until.until, A.Compare) and until.max.value == 5 and until.body == []
    sif = _find(prog, A.StaticIf)
    assert isinstance(sif.cond, A.Not) and isinstance(sif.cond.operand, A.Compare)
    assert isinstance(sif.then[0], A.Training)
    assert isinstance(sif.then[0].entry("target"), A.ListLit) and len(sif.then[0].entry("target").items) == 2
    (elif_,) = sif.orelse
    assert isinstance(elif_, A.StaticIf) and elif_.then == [] and elif_.orelse == []
    # decls() sees statements inside loops and ifs
    assert len(list(prog.decls(A.Training))) == 4


def test_eval(prog):
    ev = _find(prog, A.Eval)
    assert (ev.name, ev.var, ev.source.id, ev.metrics) == ("results", "x", "train", ["accuracy", "token_f1"])
    assert _line(ev.metrics[1]) == (61, 47)
    assert isinstance(ev.gold, A.Attr) and ev.gold.name == "answer"
    small, dkt = ev.systems
    assert (small.label, small.when) == ("small", None)
    assert dkt.label == "DKT-large" and isinstance(dkt.when, A.Compare)
    assert _line(dkt) == (64, 3)


def test_every_node_has_a_span_inside_the_file(prog):
    n_lines = len(prog.source.splitlines())
    for node in prog.walk():
        s = node.span
        assert s.path == str(ALL)
        assert 1 <= s.line <= s.end_line <= n_lines, node
        assert s.col >= 1


# ---------------------------------------------------------------------- literals
@pytest.mark.parametrize("text, value", [
    ("0", 0), ("42", 42), ("2.5", 2.5), ("2e-4", 2e-4), ("1.5e3", 1500.0), ('"a\\nb"', "a\nb"),
    ('"say \\"hi\\""', 'say "hi"'), ('"caf\u00e9"', "caf\u00e9"), ('"back\\\\slash"', "back\\slash"),
])
def test_literals(text, value):
    e = _expr(text)
    assert e.value == value and type(e.value) is type(value)


def test_keyword_literals_and_collections():
    assert isinstance(_expr("true"), A.Bool) and _expr("false").value is False
    assert isinstance(_expr("none"), A.NoneLit)
    lst = _expr("[1, 2, 3,]")
    assert isinstance(lst, A.ListLit) and [i.value for i in lst.items] == [1, 2, 3]
    assert _expr("[]").items == [] and _expr("{}").keys == []
    d = _expr('{a: 1, "b c": 2}')
    assert d.keys == ["a", "b c"] and [v.value for v in d.values] == [1, 2]
    assert isinstance(_expr("(1 + 2) * 3"), A.BinOp) and _expr("(1 + 2) * 3").left.op == "+"
    r = _expr("lo..hi + 1")
    assert isinstance(r, A.Range) and isinstance(r.hi, A.BinOp)


def test_unknown_escape_is_kept_as_written():
    assert _expr('"\\d+"').value == "\\d+"


def test_triple_quoted_prompt_is_dedented():
    src = 'prompt p(q, a) = """\n        First {q}\n          indented {a}\n\n        last\n        """\n'
    p = _one(src, A.Prompt)
    assert p.template == "First {q}\n  indented {a}\n\nlast"
    same_line = _one('prompt p(q) = """Q: {q}\nA:"""', A.Prompt)
    assert same_line.template == "Q: {q}\nA:"
    quotes = _one('prompt p(q) = """He said "yes" to {q}"""', A.Prompt)
    assert quotes.template == 'He said "yes" to {q}'


def test_brace_escapes_render_as_braces():
    p = _one('prompt p(q) = "Answer as JSON {{\\"answer\\": {q}}}"', A.Prompt)
    assert p.template == 'Answer as JSON {{"answer": {q}}}'
    assert render_prompt(p.template, ["q"], [42]) == 'Answer as JSON {"answer": 42}'
    assert render_prompt("{{q}} {q} }} {{", ["q"], ["v"]) == "{q} v } {"
    assert render_prompt("{unknown} {q}", ["q"], [None]) == "{unknown} "


def test_empty_file_is_an_empty_program():
    for src in ("", "   \n\n", "# only a comment\n# and another"):
        program, diags = parse(src, "empty.collab")
        assert diags == [] and program.header is None and program.body == []


def test_header_is_optional_and_newlines_are_not_significant():
    a, _ = parse('param a: int = 1 param b: int = 2', "t")
    b, _ = parse('param a: int\n=\n1\nparam b: int = 2', "t")
    assert [p.name for p in a.body] == [p.name for p in b.body] == ["a", "b"]


def test_keywords_are_names_where_no_keyword_fits():
    st = _one('model m = server("http://h/v1", model: "m")', A.Model)
    assert st.kwargs[0].name == "model"
    fe = _one("for x in d { x.data = max(x.in, 1)  x.full = x.max }", A.ForEach)
    assert [str(a.name) for a in fe.body] == ["data", "full"]
    assert fe.body[0].value.fname == "max"


# ---------------------------------------------------------------------- syntax errors
def _error(src: str):
    program, diags = parse(src, "bad.collab")
    assert program is None
    (d,) = diags
    assert d.code == "E001" and d.severity == "error"
    return d


def test_unclosed_brace_points_at_it():
    d = _error('program t "t"\nfor x in d {\n  x.a = 1\n\n')
    assert (d.span.line, d.span.col) == (2, 12)
    assert "'{' is never closed" in d.message and "'}'" in d.message
    d = _error('for x in d {\n  x.a = f(1, [2, 3\n')
    assert (d.span.line, d.span.col) == (2, 14) and "'[' is never closed" in d.message
    # brackets inside strings and comments do not count
    d = _error('step s(x) {\n  y = "{" # (\n  z = """\n[\n"""\n')
    assert (d.span.line, d.span.col) == (1, 11)


def test_missing_equals():
    d = _error('program t "t"\nparam p0: float 0.6\n')
    assert (d.span.line, d.span.col) == (2, 17)
    assert d.message == "syntax error: unexpected number '0.6'; expected '='"
    d = _error('data train load("x")')
    assert (d.span.line, d.span.col) == (1, 12) and "expected" in d.message and "'='" in d.message


def test_stray_token():
    d = _error('program t "t"\nmodel m = embedded("x") )\n')
    assert (d.span.line, d.span.col) == (2, 25) and "unexpected token ')'" in d.message
    d = _error("param a: int = 1 $")
    assert (d.span.line, d.span.col) == (1, 18) and "unexpected character '$'" in d.message
    d = _error("x = 3")  # a statement must start with a keyword
    assert (d.span.line, d.span.col) == (1, 1) and "unexpected name 'x'" in d.message
    assert "'param'" in d.message


def test_bad_strings():
    d = _error('prompt p(q) = "no end {q}\n')
    assert (d.span.line, d.span.col) == (1, 15) and "unterminated string" in d.message
    d = _error('prompt p(q) = """no end {q}\n\n')
    assert (d.span.line, d.span.col) == (1, 15) and 'unterminated """string' in d.message
    program, diags = parse('prompt p(q) = "bad \\x escape"', "bad.collab")
    assert program is None and diags[0].code == "E002"
    assert (diags[0].span.line, diags[0].span.col) == (1, 15)  # the string itself


def test_unexpected_end_of_file_without_brackets():
    d = _error("param a: int =")
    assert d.message.startswith("syntax error: unexpected end of file; expected")


def test_expected_names_are_readable():
    d = _error("for x in d { x.a = }")
    assert "'}'" in d.message and "a name" in d.message and "a number" in d.message
    assert "__ANON" not in d.message and "$END" not in d.message


def test_deep_nesting_is_a_diagnostic():
    ok = " + ".join(["1"] * (MAX_DEPTH // 2))
    assert parse(f"param a: int = {ok}", "t")[1] == []
    deep = " + ".join(["1"] * (MAX_DEPTH * 3))
    d = _error(f"param a: int = 1\nparam b: int = {deep}")
    assert (d.span.line, d.span.col) == (2, 1) and "nested" in d.message


def test_unreadable_file(tmp_path):
    p = tmp_path / "x.collab"
    p.write_bytes(b"\xff\xfe\x00")
    program, (d,) = parse_file(p)
    assert program is None and d.code == "E003" and "cannot read file" in d.message
