"""The regex-to-DFA compiler agrees with Python's `re` (ASCII, full match) on the grammar's own patterns."""
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tempr1_jax.rewards import regex_dfa
from tempr1_jax.rewards.grammar import ANSWER, completion_pattern


PIECES = list("0123456789. ,\t\n-eABxto<>/") + ["<answer>", "</answer>", "<evidence>", "</evidence>", "<think>",
                                                "</think>", " to ", "١", "\u00a0", "é"]
PATTERNS = [
    ANSWER["intervals"],
    ANSWER["option_evidence"],
    completion_pattern("intervals"),
    completion_pattern("option_evidence", think_required=True),
    r"[\s\S]*</think>",
    r"a{2,3}b*(c|d)?x{2,}[^a-c]\.?",
]


@pytest.fixture(scope="module", params=range(len(PATTERNS)))
def compiled(request):
    pattern = PATTERNS[request.param]
    return re.compile(pattern, re.ASCII), regex_dfa.compile_pattern(pattern)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(st.lists(st.sampled_from(PIECES + list("abcdx")), max_size=24).map("".join))
def test_dfa_matches_re(compiled, text):
    ref, dfa = compiled
    assert bool(dfa.accepting[dfa.run(dfa.starts["start"], text.encode())]) == (ref.fullmatch(text) is not None)


def test_grammar_examples_are_accepted_and_rejected():
    dfa = regex_dfa.compile_pattern(ANSWER["intervals"])
    accepts = lambda s: bool(dfa.accepting[dfa.run(dfa.starts["start"], s)])
    assert accepts(b" <answer>1 to 2.5 ,\n3.25\tto 4</answer>\n")
    assert not accepts(b"<answer>1 to 2,</answer>")  # trailing comma
    assert not accepts(b"<answer>1234567 to 2</answer>")  # seven integer digits
    assert not accepts(b"<answer>1.1234567 to 2</answer>")  # seven fraction digits


def test_minimal_dfa_is_small_and_total():
    dfa = regex_dfa.compile_pattern(r"[\s\S]*</think>")
    assert dfa.next.shape == (9, 256)  # the 8-byte needle: 0..8 bytes matched
    assert np.all((dfa.next >= 0) & (dfa.next < 9))


@pytest.mark.parametrize("pattern", [r"^a", r"a$", r"\w", r"(?=a)", r"a{0}", r"(a"])
def test_unsupported_syntax_raises(pattern):
    with pytest.raises(ValueError):
        regex_dfa.compile_pattern(pattern)
