"""Row builtins that read answers out of free text: whole words, not substrings."""
from __future__ import annotations

import pytest

from collabdsl.builtins import (
    ROW_BUILTINS,
    best,
    extract_answer,
    format_options,
    index_of,
    named_option,
    pairs,
)

join_texts = ROW_BUILTINS["join"].impl

YNM = ["yes", "no", "maybe"]


@pytest.mark.parametrize("reply, want", [
    ("I don't know.", None),             # "no" inside "know" is not the option "no"
    ("The answer is: I do not know", None),
    ("Nobody can tell.", None),
    ("No.", "no"), ("no", "no"), ("Yes, clearly.", "yes"), ("Maybe.", "maybe"),
    ("The answer is yes", "yes"), ("So the answer is no.", "no"),
    ("yes or no, it is hard to say", None),  # two options named: no answer, not the longest
    ("not yes", None),                       # a negated option is not chosen
])
def test_short_options_match_whole_words(reply, want):
    assert extract_answer(reply, options=YNM) == want


@pytest.mark.parametrize("reply, options, want", [
    ("The tissue is abnormal.", ["normal", "abnormal"], "abnormal"),
    ("The tissue is normal.", ["normal", "abnormal"], "normal"),
    ("The result is not significant.", ["significant", "not significant"], "not significant"),
    ("The result is significant.", ["significant", "not significant"], "significant"),
    ("The result is not significant.", ["significant", "insignificant"], None),  # negated: not named
    ("The cause is unknown.", ["known", "unknown"], "unknown"),
    ("The cause is unknown.", ["yes", "no"], None),
    ("So the answer is 3.5", ["3", "3.5", "13.5"], "3.5"),
    ("So the answer is 13.5", ["3", "3.5", "13.5"], "13.5"),
    ("So the answer is 3", ["3", "3.5", "13.5"], "3"),
    ("So the answer is 3.", ["3", "3.5", "13.5"], "3"),
    ("Thus, the answer is (b) x", ["w", "(b) x"], "(b) x"),   # an option that starts with punctuation
    ("I'd say yes.", ["yes.", "no."], "yes."),               # an option that ends with punctuation
    ("The answer is salt water", ["water", "salt water"], "salt water"),
    ("It is a dog.", ["A", "B"], None),   # the article "a" is not the option "A" (one letter: case counts)
    ("B", ["A", "B"], "B"),
    ("So the answer is (c) ice", ["steam", "water", "ice"], "ice"),
    ("So the answer is ice", ["steam", "water", "ice"], "ice"),
    ("c", ["steam", "water", "ice"], "ice"),   # a bare option letter
    ("I think it is steam", ["steam", "water", "ice", "a", "b", "c", "d", "e", "f"], "steam"),
])
def test_option_texts_match_whole_words(reply, options, want):
    assert extract_answer(reply, options=options) == want


def test_named_option_returns_the_index():
    assert named_option("I don't know", YNM) is None
    assert named_option("it is a maybe", YNM) == 2
    assert named_option("", YNM) is None and named_option("yes", []) is None


@pytest.mark.parametrize("call", [
    lambda: extract_answer("So the answer is b", options="abc"),
    lambda: named_option("yes", "yes no"),
    lambda: format_options("ab"),
    lambda: format_options({"a": 1, "b": 2}),
    lambda: pairs("ab", [1, 2]),
    lambda: best("ab", [1, 2]),
    lambda: index_of("a", "abc"),
    lambda: join_texts("abc"),
])
def test_a_text_is_not_a_list_of_its_characters(call):
    """Builtins that take a list refuse a text (its characters) or a dict (its keys): the run
    then fails naming the row, instead of answering from single characters."""
    with pytest.raises(ValueError, match="must be a list, got a (str|dict)"):
        call()


def test_extract_answer_takes_one_marker_as_a_text():
    assert extract_answer("Final: blue. So the answer is red", markers="Final:") == "blue"
    assert extract_answer("x", options=None) == "x" and format_options(None) == ""


@pytest.mark.parametrize("reply, want", [
    ("No, yes it is.", None),       # a comma is not a negation's reach: both named, none chosen
    ('It is not "yes".', None), ("It isn't yes", None), ("no, not yes", "no"), ("Never maybe; yes.", "yes"),
])
def test_a_negation_reaches_only_the_option_right_after_it(reply, want):
    assert extract_answer(reply, options=YNM) == want


# ------------------------------------------------------------------ rationale_only (Sci-CoT cleaning)
rationale_only = ROW_BUILTINS["rationale_only"].impl
SEISMO = ["barometer", "seismograph", "thermometer", "anemometer"]


@pytest.mark.parametrize("text, want", [
    # the answer declared first: removed, the explanation after it kept (it used to pass whole)
    ("The correct answer is seismograph. A seismograph records how the ground shakes.",
     "A seismograph records how the ground shakes."),
    # the answer marker first: the explanation after it is no longer cut away
    ("The answer is (b) seismograph. It records ground motion during an earthquake.",
     "It records ground motion during an earthquake."),
    ("Earthquakes shake the ground. So the answer is (b) seismograph.", "Earthquakes shake the ground."),
    ("The answer is (B) seismograph because it records ground motion.", "It records ground motion."),
    ("Earthquakes shake the ground.\nAnswer: seismograph", "Earthquakes shake the ground."),
    ("Seismograph is the best instrument for this. It records ground motion.", "It records ground motion."),
    ("Earthquakes shake the ground. Therefore, a seismograph is used.", "Earthquakes shake the ground."),
    ("Option (b) is correct. Earthquakes shake the ground.", "Earthquakes shake the ground."),
    ("Of the above choices, only seismograph measures shaking. Earthquakes shake the ground.",
     "Earthquakes shake the ground."),
    ("Seismograph. Seismograph.", None),           # nothing but the answer: no explanation left
    ("So the answer is (b).", None),
    # explanations that name the instrument without choosing it stay
    ("A barometer measures air pressure, not shaking. Earthquakes shake the ground.",
     "A barometer measures air pressure, not shaking. Earthquakes shake the ground."),
])
def test_rationale_only_keeps_explanations_and_removes_answer_statements(text, want):
    assert rationale_only(text, options=SEISMO, answer="seismograph") == want


def test_rationale_only_removes_the_question_restated_with_the_answer():
    q = "The students saw a crack in a boulder with a tree growing out of it. What were they observing?"
    text = ("Weathering breaks rocks apart by water, wind and roots. "
            "The students were observing weathering in the crack of the boulder.")
    opts = ["erosion", "weathering", "deposition", "melting"]
    assert rationale_only(text, options=opts, answer="weathering", question=q) == \
        "Weathering breaks rocks apart by water, wind and roots."
    assert rationale_only(text, options=opts, answer="weathering") == text  # without the question


def test_rationale_only_without_options():
    # arithmetic: the answer declarations go, the computations (which reach the number) stay
    gsm = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips.\n#### 72"
    assert rationale_only(gsm, answer="72") == \
        "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nShe sold 48+24 = <<48+24=72>>72 clips."
    assert rationale_only("He has 84 / 2 = 42. The answer is (84 / 2).", answer="( 84.0 / 2.0 )") == "He has 84 / 2 = 42."
    assert rationale_only("The sky scatters blue light. Thus blue is the answer.") == "The sky scatters blue light."
    assert rationale_only(None) is None and rationale_only("") is None


# ---------------------------------------------------------------------- DKT's parsers
OPTS3 = ["honey", "milk", "salt"]


@pytest.mark.parametrize("reply, want", [
    ("(a) honey", "honey"), ("(B) milk, since cows make it", "milk"), ("  (c)", "salt"),
    ("Answer: (b)", "milk"), ("**Answer:** (a) honey", "honey"),
    ("My classmate believes honey, but that is not right.", None),  # discusses, states nothing
    ("The answer is (a) honey.", None),   # not the asked format (a letter starting a line)
    ("Perfect, you are right.\n\n(c) salt\n\nSalt is a mineral.", "salt"),
    ("(b)\n\nThe correct answer is milk.", "milk"),
    ("(a) honey\n(b) milk\n(c) salt", None),  # the options listed: several letters, no answer
    ('The correct answer is "milk."', None),
    ("(d) none of these", None),          # no such option
    ("", None), (None, None),
])
def test_stated_option_reads_only_the_asked_format(reply, want):
    assert ROW_BUILTINS["stated_option"].impl(reply, OPTS3) == want


def test_stated_option_refuses_options_that_are_not_a_list():
    with pytest.raises(ValueError, match="must be a list"):
        ROW_BUILTINS["stated_option"].impl("(a)", "honey milk")


def test_mc_questions_parses_each_question_with_its_own_options():
    mc_questions = ROW_BUILTINS["mc_questions"].impl
    text = ("Here are three new questions.\n\n"
            "Question 1: Which city serves as China's capital?\n(A) Beijing\n(B) Shanghai\n\n"
            "Question 2: What is the capital\nof France?\nA) Paris\nB) Lyon\nC) Nice\n\n"
            "Question 3: What is 2 + 2?\n\n"            # no options: left out
            "4. Which is a metal?\n(A) iron\n(C) wood\n"  # letters skip B: left out
            "Q5: Which is wet?\nA. water\nB. sand\n")
    assert mc_questions(text) == [
        {"question": "Which city serves as China's capital?", "options": ["Beijing", "Shanghai"]},
        {"question": "What is the capital of France?", "options": ["Paris", "Lyon", "Nice"]},
        {"question": "Which is wet?", "options": ["water", "sand"]},
    ]
    assert [q["question"] for q in mc_questions(text, max=1)] == ["Which city serves as China's capital?"]
    # nothing in the format: a parse failure (on_parse_error), not the lines as questions
    assert mc_questions("1. What is the capital of France?\n2. What is 2 + 2?") is None
    assert mc_questions("") is None
