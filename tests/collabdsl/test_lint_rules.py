"""Every diagnostic the checker can emit, on a failing fixture and its corrected twin.

``fixtures/lint/<NAME>_fail.collab`` triggers exactly one code at a known place;
``fixtures/lint/<NAME>_pass.collab`` is the same program corrected and has no diagnostic
at all, not even a warning. Extra tests below cover the rendered and JSON formats and
cases that once produced a wrong diagnostic.
"""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from collab_testing import HEAD, LINT, findings

from collabdsl import checks
from collabdsl.compiler import check_path, lint_paths
from collabdsl.diagnostics import Diagnostic, render_all, to_json

# fixture name -> (code, line, col, file of the diagnostic: None for the fixture itself)
CASES = {
    "E001": ("E001", 4, 17, None),             # `param p0: float 0.6`: missing '='
    "E002": ("E002", 11, 19, None),            # a string Python cannot read ("\units")
    "E101": ("E101", 17, 15, None),            # `larg.choose`
    "E102": ("E102", 12, 8, None),             # prompt `plain` twice
    "E103": ("E103", 12, 17, None),            # `{a}` in the template, not a slot
    "E104": ("E104", 14, 27, None),            # `guess.confidence > 1.5`
    "E104_range": ("E104", 19, 45, None),      # `x.score >= 80` with `range: 1..10`
    "E105": ("E105", 17, 7, None),             # training a frozen model
    "E106": ("E106", 17, 7, None),             # training an api() model
    "E107": ("E107", 19, 1, None),             # dpo on data without chosen / rejected
    "E108": ("E108", 26, 17, None),            # reading a column nothing wrote
    "E109": ("E109", 16, 103, None),           # `lambda: 1.5`
    "E109_warmup": ("E109", 18, 116, None),    # `warmup: 10` (a ratio in [0, 1))
    "E110": ("E110", 15, 49, None),            # `k: 0` in sample
    "E111": ("E111", 11, 1, None),             # `from stdlib.nonexistent import plain`
    "E111_name": ("E111", 11, 48, None),       # a name the module does not define
    "E111_cycle": ("E111", 2, 1, "modules/cycle_b.collab"),
    "E111_module": ("E111", 2, 1, "modules/with_model.collab"),
    "E112": ("E112", 15, 90, None),            # `temprature:`
    "E112_backend": ("E112", 6, 59, None),     # `concurrency 4` on an embedded model (api/server only)
    "E112_objective": ("E112", 18, 13, None),  # `train small distill`
    "E112_metric": ("E112", 23, 46, None),     # `metrics accuracy, f1`
    "E113": ("E113", 17, 28, None),            # a prompt with 2 slots called with 1
    "E114": ("E114", 4, 19, None),             # `param p0: float = "0.6"`
    "E114_choices": ("E114", 5, 24, None),     # a default that is not one of the param's `in [...]` values
    "E114_ablation": ("E114", 5, 15, None),    # `ablation "..."` on an int param (only a bool is a switch)
    "E115": ("E115", 23, 4, None),             # `if count(test) > 0` at program level
    "E116": ("E116", 18, 5, None),             # `return` in a for block
    "E117": ("E117", 20, 12, None),            # `large.retrieve(...)`
    "E117_data": ("E117", 23, 23, None),       # `eval ... for x in take(test, 8)`
    "E118": ("E118", 19, 15, None),            # choose() without options:
    "E118_kbkey": ("E118", 16, 3, None),       # notes.write() without key: where notes.retrieve(by: key)
    "E119": ("E119", 23, 1, None),             # eval without gold
    "E122": ("E122", 19, 10, None),            # a step calling itself
    "E123": ("E123", 9, 8, None),              # a profile giving a float param a string
    "E123_choices": ("E123", 8, 12, None),     # a profile value that is not one of the param's values
    "E124": ("E124", 11, 9, None),             # two default profiles
    "E125": ("E125", 11, 14, None),            # a model call in a comprehension over x.options
    "E126": ("E126", 7, 18, None),             # load("/etc/passwd"): outside the readable folders
    "E126_import": ("E126", 9, 1, None),       # an import from outside them (not read)
    "E127": ("E127", 4, 20, None),             # gguf("models/missing.gguf"): no such file
    "E128": ("E128", 5, 19, None),             # api("huggingface/https://..."): names a host
    "E129": ("E129", 23, 25, None),            # steps calling steps twice per level, 13 levels
    "E130": ("E130", 11, 51, None),            # choose() with options: "yes no" (a text)
    "E131": ("E131", 7, 59, None),             # options: "yes|no" and columns: {options: "choices"}
    "E131_answer": ("E131", 8, 78, None),      # answer_is: "index0" with no answer or options column
    "E131_template": ("E131", 7, 40, None),    # a template naming {passage}, which the builtin lacks
    "E109_load": ("E109", 8, 74, None),        # options: "yes" (one option) through a param
    "E132": ("E132", 4, 18, None),             # hf("models/tiny-roberta"): an encoder-only checkpoint
    "W201": ("W201", 5, 7, None),
    "W202": ("W202", 7, 7, None),
    "W203": ("W203", 12, 8, None),
    "W204": ("W204", 9, 6, None),
    "W205": ("W205", 12, 18, None),
    "W206": ("W206", 12, 1, None),             # a loop whose body trains nothing
    "W207": ("W207", 16, 14, None),            # .confidence of a generation without estimator
    "W208": ("W208", 14, 6, None),
    "W209": ("W209", 23, 1, None),
}


def _fixture(name: str, kind: str) -> str:
    path = LINT / f"{name}_{kind}.collab"
    assert path.is_file(), f"missing fixture {path.name}"
    return str(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_fail_fixture_gives_exactly_its_code(name):
    code, line, col, where = CASES[name]
    path = _fixture(name, "fail")
    result = check_path(path)
    expected_path = str((LINT / where).resolve()) if where else path
    got = {(d.code, d.span.path, d.span.line, d.span.col) for d in result.diagnostics}
    assert got == {(code, expected_path, line, col)}, render_all(result.diagnostics, result.sources)
    d = result.diagnostics[0]
    assert d.severity == ("warning" if code.startswith("W") else "error")
    assert d.message and d.message[0].islower() or d.message[0] in "'`{", d.message


@pytest.mark.parametrize("name", sorted(CASES))
def test_pass_fixture_is_clean(name):
    result = check_path(_fixture(name, "pass"))
    assert result.diagnostics == [], render_all(result.diagnostics, result.sources)
    assert result.program is not None


def test_every_checker_code_has_a_fixture():
    """Each code in RULES (and the parser's E001/E002) is exercised by a fail fixture."""
    rule_codes = {c for entry, _ in checks.RULES for c in entry.split("/")}
    covered = {code for code, *_ in CASES.values()}
    assert rule_codes | {"E001", "E002"} <= covered, sorted(rule_codes - covered)
    # every code the checker can emit is listed in RULES (so docs can enumerate them)
    source = (LINT.parents[3] / "collabdsl" / "checks.py").read_text()
    emitted = set(re.findall(r'(?:error|warning)\("([EW]\d{3})"', source))
    assert emitted <= rule_codes, sorted(emitted - rule_codes)


def test_every_fixture_is_in_the_table():
    names = {p.name.rsplit("_", 1)[0] for p in LINT.glob("*_fail.collab")}
    names |= {p.name.rsplit("_", 1)[0] for p in LINT.glob("*_pass.collab")}
    assert names == set(CASES)


# ---------------------------------------------------------------------- output formats
def test_rendered_format_has_location_source_line_and_caret():
    path = _fixture("E109", "fail")
    result = check_path(path)
    (d,) = result.diagnostics
    text = d.render(result.sources[path])
    head, src, caret = text.split("\n")
    assert head == (f"{path}:16:103: E109 error: lambda 1.5 is outside [0, 1]: kd mixes "
                    "(1 - lambda) gold and lambda teacher")
    assert src == "    " + Path(path).read_text().splitlines()[15]
    assert caret == "    " + " " * 102 + "^^^"  # under "1.5"
    assert src[4 + 102:4 + 105] == "1.5"


def test_rendered_warning_and_caret_under_a_name():
    path = _fixture("W201", "fail")
    result = check_path(path)
    text = render_all(result.diagnostics, result.sources)
    assert text.splitlines() == [
        f"{path}:5:7: W201 warning: param 'p1' is never used",
        "    param p1: float = 0.3",
        "          ^^",
    ]


def test_render_without_source_is_the_head_line_only():
    result = check_path(_fixture("E101", "fail"))
    (d,) = result.diagnostics
    assert d.render() == f"{d.span.path}:17:15: E101 error: undefined name 'larg'"
    assert d.render("") == d.render()
    assert "\n" not in d.render("just one line\n")  # the line is past the end of the source


def test_multiline_span_gets_one_caret():
    path = _fixture("E119", "fail")
    result = check_path(path)
    lines = render_all(result.diagnostics, result.sources).splitlines()
    assert lines[1] == "    eval results for x in test metrics accuracy {"
    assert lines[2] == "    ^"


def test_json_output_shape():
    diags, _ = lint_paths([_fixture("W201", "fail"), _fixture("E114", "fail")])
    data = json.loads(to_json(diags))
    assert isinstance(data, list) and len(data) == 2
    for item in data:
        assert set(item) == {"path", "line", "col", "end_line", "end_col", "code", "severity", "message"}
        assert isinstance(item["line"], int) and isinstance(item["col"], int)
    e114 = next(i for i in data if i["code"] == "E114")
    assert e114 == {"path": _fixture("E114", "fail"), "line": 4, "col": 19, "end_line": 4, "end_col": 24,
                    "code": "E114", "severity": "error",
                    "message": "param 'p0' is float but its default is str"}
    # sorted by path, line, col
    assert [i["path"] for i in data] == sorted(i["path"] for i in data)
    assert json.loads(to_json([])) == []


def test_lint_paths_collects_sources_of_imported_modules():
    diags, sources = lint_paths([_fixture("E111_module", "fail"), _fixture("E101", "fail")])
    assert {d.code for d in diags} == {"E111", "E101"}
    assert str((LINT / "modules" / "with_model.collab").resolve()) in sources
    assert _fixture("E101", "fail") in sources


def test_unreadable_file_is_E003(tmp_path):
    bad = tmp_path / "latin1.collab"
    bad.write_bytes(b'program t "caf\xe9"\n')
    result = check_path(str(bad))
    assert [d.code for d in result.diagnostics] == ["E003"]
    assert check_path(str(tmp_path / "missing.collab")).diagnostics[0].code == "E003"
    assert check_path(str(tmp_path)).diagnostics[0].code == "E003"  # a folder


def test_diagnostic_is_a_value():
    d = Diagnostic("E101", "error", "m", check_path(_fixture("E101", "fail")).diagnostics[0].span)
    assert d.is_error and not Diagnostic("W201", "warning", "m", d.span).is_error


# ---------------------------------------------------------------------- regressions
def _only(result, code):
    (d,) = [d for d in result.diagnostics if d.code == code]
    return d


# Each of these once gave a wrong diagnostic (a false error, a missing error, or a cascade).

def test_repeat_variable_is_defined_in_the_loop(check):
    src = HEAD + '''repeat 2 as i {
  for x in train { x.round = i  x.a = small.generate(p(x.question)) }
  train small sft for x in train { input: x.question, target: x.a }
}
'''
    assert findings(check(src)) == []


def test_repeat_variable_outside_its_loop_is_undefined(check):
    src = HEAD + '''repeat 2 as i {
  train small sft for x in train { input: p(x.question), target: x.answer }
}
for x in train { x.round = i }
'''
    assert findings(check(src)) == [("E101", 9, 28)]


def test_repeat_variable_in_a_program_level_if_is_E115(check):
    src = HEAD + '''repeat 2 as i {
  if i > 0 { train small sft for x in train { input: p(x.question), target: x.answer } }
}
'''
    r = check(src)
    assert {c for c, *_ in findings(r)} == {"E115"}
    assert "loop variable" in _only(r, "E115").message


def test_step_inside_a_static_if_is_checked(check):
    src = HEAD + '''param use_cot: bool = true
prompt cot(q) = "{q} Let's think step by step."
if use_cot {
  step ask(x) { return small.generate(cot(x.question)) }
  for x in train { x.reply = ask(x) }
}
'''
    assert findings(check(src)) == []  # `cot` is used (no W203)
    r = check(src.replace("cot(x.question)", "cot(x.question, nope)"))
    assert {c for c, *_ in findings(r)} == {"E101", "E113"}


def test_failed_import_does_not_cascade_into_undefined_names(check):
    src = HEAD + '''from stdlib.nonexistent import helper, other
for x in train { x.a = small.generate(helper(x.question))  x.b = other(x) }
'''
    r = check(src)
    assert findings(r) == [("E111", 6, 1)]


def test_kb_passed_to_a_step(build):
    src = HEAD + '''kb notes
step recall(k, x) { return k.retrieve(x.question, by: key, top: 1) }
for x in train { notes.write(x.question, key: x.question) }
for x in train { x.hint = recall(notes, x)  x.a = small.generate(p(x.question + x.hint)) }
'''
    r = build(src)
    assert findings(r) == []
    kinds = [r.graph.nodes[n]["kind"] for n in r.graph.graph["order"]]
    assert kinds.count("retrieve") == 1 and kinds.count("kb_write") == 1


def test_kb_passed_to_a_step_and_retrieved_by_key_needs_keys(build):
    """The checker cannot tell which KB a step's parameter is: the lowering finds the write
    without key: of the KB that the step retrieves by key (E118, at the retrieval)."""
    src = HEAD + '''kb notes
step recall(k, x) { return k.retrieve(x.question, by: key, top: 1) }
for x in train { notes.write(x.question) }
for x in train { x.hint = recall(notes, x)  x.a = small.generate(p(x.question + x.hint)) }
'''
    r = build(src)
    assert r.graph is None
    (d,) = [d for d in r.diagnostics if d.severity == "error"]
    assert d.code == "E118" and "gives no 'key:'" in d.message and d.span.line == HEAD.count("\n") + 2


def test_mutual_step_recursion_is_reported_once(check):
    src = HEAD + '''step a(x) { return b(x) }
step b(x) { return a(x) }
for x in train { x.r = a(x) }
'''
    r = check(src)
    assert [c for c, *_ in findings(r)] == ["E122"]
    assert "a -> b -> a" in _only(r, "E122").message


@pytest.mark.parametrize("stmt, what", [
    ('for x in p0 { x.a = 1 }', "'p0' is a param"),
    ('for x in load("builtin:arithmetic") { x.a = 1 }', "a for block needs the name of a data set"),
    ('data d = count(train)', "a data declaration needs the name of a data set"),
    ('data a, b = split(load("builtin:arithmetic"), 0.5)', "split() needs the name of a data set"),
    ('data d = concat(train, small)', "concat() needs a data set; 'small' is a model"),
    ('train small sft for x in shuffle(train) { input: x.question, target: x.answer }',
     "a training needs the name of a data set"),
    ('data f = for x in p0 where x.a > 1', "a filter needs a data set"),
])
def test_a_data_set_is_named_where_one_is_needed(check, build, stmt, what):
    src = HEAD + "param p0: float = 0.5\n" + stmt + "\n"
    r = check(src)
    e117 = [d for d in r.diagnostics if d.code == "E117"]
    assert e117 and what in e117[0].message, render_all(r.diagnostics, r.sources)
    assert build(src).graph is None  # and compiling stops at the diagnostic, without a crash


def test_column_types_reach_field_checks(check):
    src = HEAD + '''for x in train {
  x.g = small.generate(p(x.question), confidence: top2_margin)
  x.c = small.choose(p(x.question), options: x.options)
  x.t = small.generate(p(x.question))
}
data low = for x in train where x.g.confidence < 0.5 and x.c.confidence > 0.2
for x in low { x.y = x.g.text + x.c.answer + x.c.nope + x.t.confidence }
'''
    r = check(src)
    assert findings(r) == [("E108", 12, 50), ("W207", 12, 61)]


def test_score_range_follows_filters_and_splits(check):
    src = HEAD + '''for x in train { x.s = large.score(p(x.question), range: 1..10) }
data a, b = split(train, 0.5, seed: 0)
data kept = for x in a where x.s > 11
'''
    assert findings(check(src)) == [("E104", 8, 36)]


def test_column_rewritten_with_another_type_is_not_typed(check):
    src = HEAD + '''for x in train {
  x.g = small.generate(p(x.question))
  x.g = small.generate(p(x.question), confidence: mean_token_prob)
  x.h = x.g.confidence
}
'''
    assert findings(check(src)) == []


def test_dpo_with_one_missing_column(check):
    src = HEAD + '''for x in train { x.chosen = x.answer }
train small dpo for x in train { prompt: x.question }
'''
    r = check(src)
    assert [c for c, *_ in findings(r)] == ["E107"]
    assert "'rejected' column " in _only(r, "E107").message


def test_deeply_nested_expression_is_a_syntax_error_not_a_crash(check):
    terms = " + ".join(["x.question"] * 400)
    r = check(HEAD + f"for x in train {{ x.a = small.generate(p({terms})) }}\n")
    assert [c for c, *_ in findings(r)] == ["E001"]
    assert "nested" in r.diagnostics[0].message and r.diagnostics[0].span.line == 6


def test_import_of_an_impossible_path_is_E111(check):
    r = check(HEAD + 'from "' + "a" * 400 + '.collab" import x\nfrom "a\\x00b" import y\n')
    assert [c for c, *_ in findings(r)] == ["E111", "E111"]


def test_slots_between_literal_braces(check):
    src = HEAD + '''prompt j(q) = "Reply as {{{q}}}"
prompt k(q) = "Reply as {{q}}"
for x in train { x.a = small.generate(j(x.question))  x.b = small.generate(k(x.question)) }
'''
    r = check(src)
    assert findings(r) == [("W205", 7, 10)]  # k's q is literal text; j's q is a slot


def test_data_used_before_its_definition(check):
    src = HEAD + '''for x in later { x.a = 1 }
data later = take(train, 2)
repeat until count(hard) == 0 max 3 {
  data hard = for x in train where x.answer == "a"
  train small sft for x in hard { input: x.question, target: x.answer }
}
'''
    r = check(src)
    assert findings(r) == [("E101", 6, 10)]  # `until` is tested after the body: `hard` exists
    assert "'later' is used before its definition at line 7" in _only(r, "E101").message


def test_step_result_type_only_when_every_return_agrees(check):
    src = HEAD + '''step mixed(x) {
  if x.answer == "a" { return small.choose(p(x.question), options: x.options) }
  return small.generate(p(x.question))
}
step choice(x) { return small.choose(p(x.question), options: x.options) }
for x in train { x.a = mixed(x).text  x.b = choice(x).text }
'''
    assert findings(check(src)) == [("E108", 11, 55)]  # only choice(x).text


def test_a_module_exports_its_definitions(check):
    """A file without a header holding only prompts, steps and params is a library: its
    definitions are not "never used"."""
    assert check_path(str(LINT / "modules" / "qa_prompts.collab")).diagnostics == []
    r = check('param p0: float = 0.5\nprompt plain(q) = "Q: {q}"\n')
    assert r.diagnostics == []
    r = check('program t "t"\nparam p0: float = 0.5\nprompt plain(q) = "Q: {q}"\n')  # a program
    assert [d.code for d in r.diagnostics] == ["W201", "W203"]


def test_import_of_a_module_with_errors(write, check):
    write('prompt plain(q) = "Q: {q}"\nprompt broken(q = "x"\n', "lib/bad.collab")
    r = check(HEAD + 'from "lib/bad.collab" import plain\nfor x in train { x.a = small.generate(plain(x.question)) }\n')
    got = sorted((d.code, Path(d.span.path).name, d.span.line) for d in r.diagnostics
                 if d.code not in ("W202", "W203"))
    assert got == [("E001", "bad.collab", 2), ("E111", "prog.collab", 6)]
    assert "it has errors" in _only(r, "E111").message


def test_rendering_many_diagnostics_splits_the_source_once():
    """Rendering is linear: the source is split into lines once per file, not once per
    diagnostic (a 1 MB program with 38k diagnostics took 40 s when each split it again)."""

    class CountingSource(str):
        splits = 0

        def splitlines(self, *a, **kw):
            CountingSource.splits += 1
            return super().splitlines(*a, **kw)

    source = CountingSource("".join(f'prompt p{i}(q) = "{{q}} {{nope}}"\n' for i in range(500)))
    span = check_path(_fixture("E101", "fail")).diagnostics[0].span
    diags = [Diagnostic("E103", "error", "m", dataclasses.replace(span, path="big.collab", line=i + 1))
             for i in range(500)]
    text = render_all(diags, {"big.collab": source})
    assert text.count("E103") == 500 and 'prompt p499(q)' in text
    assert CountingSource.splits <= 1
