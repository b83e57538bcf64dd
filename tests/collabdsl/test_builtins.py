"""Row builtins that read answers out of free text: whole words, not substrings."""
from __future__ import annotations

import pytest

from collabdsl.builtins import extract_answer, named_option

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
