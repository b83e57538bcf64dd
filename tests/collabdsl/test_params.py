"""Params set from outside the program (``--set``, profiles): strings read with the
language's escapes, non-finite numbers refused, and the value checks (thresholds E104,
kd lambda E109, counts E110) run on the values actually bound, not only on the defaults."""
from __future__ import annotations

import pytest
from collab_testing import HEAD

from collabdsl.compiler import parse_value
from collabdsl.parser import unescape

THRESHOLD = HEAD + '''param p0: float = 0.6
param k: int = 2
param lam: float = 0.5
PROFILE
for x in train {
  x.g = small.generate(p(x.question), confidence: mean_token_prob)
  if x.g.confidence < p0 { x.s = large.sample(p(x.question), k: k) }
}
train small kd for x in train { input: x.question, gold: x.answer, teacher: x.answer, lambda: lam }
'''


@pytest.mark.parametrize("raw, value", [
    (r"\n\nQ:", "\n\nQ:"), (r"a\tb", "a\tb"), (r"back\\slash", "back\\slash"), (r"\"q\"", '"q"'),
    (r"\x41\u00e9", "A\u00e9"), (r"\d+", r"\d+"), ("plain é", "plain é"), ("tail\\", "tail\\"),
])
def test_a_str_set_from_outside_reads_the_language_escapes(raw, value):
    assert parse_value(raw, "str") == value == unescape(raw)


def test_a_malformed_escape_in_set_is_E120(build):
    r = build(HEAD + 'param s: str = "x"\nfor x in train { x.a = before(x.question, s) }\n', sets={"s": r"\x4"})
    (d,) = r.errors
    assert d.code == "E120" and "malformed escape" in d.message


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e999", "NaN"])
def test_a_non_finite_float_in_set_is_E120(build, raw):
    r = build(THRESHOLD.replace("PROFILE", ""), sets={"p0": raw})
    (d,) = r.errors
    assert d.code == "E120" and "finite" in d.message and r.graph is None


def test_a_non_finite_float_in_a_profile_or_default_is_refused(check):
    r = check(THRESHOLD.replace("PROFILE", "profile big { p0 = 1e999 }"))
    assert [(d.code, d.span.line) for d in r.errors] == [("E123", 9)]
    r = check(THRESHOLD.replace("param p0: float = 0.6", "param p0: float = 1e999").replace("PROFILE", ""))
    assert ("E114", 6) in [(d.code, d.span.line) for d in r.errors]


@pytest.mark.parametrize("sets, profile, code, line, col, text", [
    ({"p0": "1.5"}, "", "E104", 12, 23, "threshold 1.5 (p0 = 1.5, set by --set) is outside"),
    ({"p0": "-0.1"}, "", "E104", 12, 23, "set by --set"),
    ({}, "profile big default { p0 = 2.0 }", "E104", 12, 23, "set by profile 'big'"),
    ({"k": "0"}, "", "E110", 12, 65, "k must be at least 1, got 0 (k = 0, set by --set)"),
    ({"lam": "1.5"}, "", "E109", 14, 0, "lambda 1.5 is outside [0, 1]: kd mixes (1 - lambda) gold and lambda "
                                         "teacher (lam = 1.5, set by --set)"),
])
def test_values_set_from_outside_get_the_range_checks_of_defaults(build, sets, profile, code, line, col, text):
    r = build(THRESHOLD.replace("PROFILE", profile), sets=sets)
    assert r.graph is None
    (d,) = r.errors
    assert (d.code, d.span.line) == (code, line) and d.span.col == (col or d.span.col) and text in d.message, d


def test_values_in_range_compile(build):
    assert build(THRESHOLD.replace("PROFILE", "profile big default { p0 = 0.9 }"),
                 sets={"k": "3", "lam": "1"}).graph is not None


CHOICES = HEAD + '''param fmt: str = "cot" in ["cot", "direct"]
if fmt == "direct" {
  for x in train { x.a = large.generate(p(x.question)) }
} else {
  for x in train { x.a = large.generate(p(x.question), max_tokens: 9) }
}
'''


def test_a_set_value_that_is_not_one_of_the_params_values_is_E120(build):
    """`param fmt: str = "cot" in ["cot", "direct"]`: a --set value outside the list is an
    error naming the values, not a run of the else branch (a typo used to run the default)."""
    r = build(CHOICES, sets={"fmt": "Direct"})
    (d,) = r.errors
    assert d.code == "E120" and r.graph is None
    assert '"Direct" is not one of the values of param \'fmt\': "cot", "direct"' in d.message
    assert build(CHOICES, sets={"fmt": "direct"}).graph is not None


@pytest.mark.parametrize("choices", ['[1, 2]', '["cot", x]', '"cot"', '["cot", "cot"]', '[]'])
def test_a_params_values_are_a_list_of_distinct_literals_of_its_type(check, choices):
    r = check(CHOICES.replace('["cot", "direct"]', choices))
    assert [d.code for d in r.errors] == ["E114"], [d.message for d in r.errors]
