"""The device parser equals the host reference (the tokenizer's own decode, then `re` and float64)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import parse_jit
from rewards_strategies import SLOW_DRAWS, completion, decimal_number
from tempr1_jax.rewards import TASKS, completion_text
from tempr1_jax.rewards.grammar import parse


B, T = 16, 320
# float32 from exact int32 parts: |device - host| <= 2^-23 |host| (see docs/rewards.md).
RTOL = 2.0**-23


def check_against_host(setup, tasks, texts, think_required=False, rows=None):
    rows = rows or [setup.encode(text) + [setup.end_id] for text in texts]
    ids, lengths = setup.batch(rows, T)
    task_ids = np.array([TASKS.index(t) for t in tasks], np.int32)
    out = parse_jit(setup.tables, ids, lengths, task_ids, think_required)
    for k, task in enumerate(tasks):
        host = parse(task, completion_text(setup.tokenizer, setup.vocab, ids[k, : lengths[k]]), think_required)
        context = f"{setup.name} {task} {texts[k]!r}"
        assert bool(out.well_formed[k]) == host.well_formed, context
        assert int(out.count[k]) == len(host.intervals), context
        assert int(out.letter[k]) == host.letter, context
        expected = np.zeros((32, 2))
        expected[: len(host.intervals)] = np.reshape(host.intervals, (-1, 2))
        np.testing.assert_allclose(np.asarray(out.intervals[k], np.float64), expected, rtol=RTOL, atol=0, err_msg=context)
    return out


batch = st.lists(st.sampled_from(TASKS), min_size=B, max_size=B).flatmap(
    lambda tasks: st.tuples(st.just(tasks), st.tuples(*[completion(t) for t in tasks]))
)


@settings(max_examples=15, deadline=None, database=None, derandomize=True, suppress_health_check=SLOW_DRAWS)
@given(batch, st.booleans())
def test_random_completions_match_host(setup, tasks_texts, think_required):
    tasks, texts = tasks_texts
    out = check_against_host(setup, tasks, list(texts), think_required)
    assert out.well_formed.shape == (B,)


decimal_batch = st.lists(st.sampled_from(TASKS), min_size=B, max_size=B).flatmap(
    lambda tasks: st.tuples(st.just(tasks), st.tuples(*[completion(t, number=decimal_number) for t in tasks]))
)


@settings(max_examples=10, deadline=None, database=None, derandomize=True, suppress_health_check=SLOW_DRAWS)
@given(decimal_batch)
def test_arbitrary_decimals_parse_within_one_ulp(setup, tasks_texts):
    tasks, texts = tasks_texts
    check_against_host(setup, tasks, list(texts))


def test_edge_cases(setup):
    cases = [
        ("tal", "<think>a</think><answer>1 to 2</answer></think><answer>3 to 4</answer>"),  # think ends at the last
        ("tal", "<answer>" + ", ".join(f"{k} to {k + 1}" for k in range(32)) + "</answer>"),
        ("tal", "<answer>" + ", ".join(f"{k} to {k + 1}" for k in range(33)) + "</answer>"),
        ("dtg", "<answer>999999.000001 to 999999</answer>"),  # reversed, though equal in float32
        ("dtg", "<answer>999999 to 999999.000001</answer>"),
        ("dtg", "<answer>0.000001 to 000000.1</answer>"),
        ("tg", "<answer>1 to 2, 3 to 4</answer>"),
        ("gvqa", "<think>A or B? E</think><answer> C </answer><evidence>1 to 2</evidence>"),
        ("gvqa", "<answer>F</answer><evidence>1 to 2</evidence>"),
        ("vhd", "<think><answer>1 to 2</answer>"),  # unclosed think
        ("vhd", "<answer>1 to 2</answer><think></think>"),
        ("vhd", "  \n<think>数🙂</think>\n<answer>1 to 2</answer>\n"),
        ("vhd", "<answer>1 to 2</answer>" + " " * 150),
        ("tal", ""),
    ]
    tasks, texts = zip(*cases)
    out = check_against_host(setup, list(tasks), list(texts))
    assert list(np.asarray(out.well_formed)) == [True, True, False, False, True, True, False, True, False, False,
                                                 False, True, True, False]
    np.testing.assert_array_equal(out.intervals[0, 0], [3, 4])
    assert int(out.letter[7]) == 2


def test_ids_after_the_end_are_ignored(qwen):
    good = qwen.encode("<answer>1 to 2</answer>")
    junk = qwen.encode(" junk <answer>")
    rows = [good + [qwen.end_id] + junk, good + junk, good + [qwen.tokenizer.token_to_id("<|endoftext|>")] + junk]
    ids, lengths = qwen.batch(rows, 32)
    lengths[1] = len(good)  # the length cuts the junk off
    out = parse_jit(qwen.tables, ids, lengths, np.zeros(3, np.int32), False)
    assert list(np.asarray(out.well_formed)) == [True, True, True]


def test_special_tokens_spoil_the_completion(qwen):
    vision = qwen.tokenizer.token_to_id("<|vision_start|>")
    im_start = qwen.tokenizer.token_to_id("<|im_start|>")
    think = qwen.encode("<think>")
    answer = qwen.encode("<answer>1 to 2</answer>")
    rows = [think + [vision] + qwen.encode("x</think>") + answer, answer + [im_start], think + qwen.encode("</think>") + answer]
    out = check_against_host(qwen, ["vhd"] * 3, ["", "", ""], rows=rows)
    assert list(np.asarray(out.well_formed)) == [False, False, True]


def test_tags_split_across_tokens_read_the_same(qwen):
    pieces = ["<", "think", ">", "a", "</", "think", ">", "<", "answer", ">", "1", " to", " ", "2", "</", "answer", ">"]
    split = [i for p in pieces for i in qwen.encode(p)]
    whole = qwen.encode("<think>a</think><answer>1 to 2</answer>")
    assert split != whole and qwen.tokenizer.decode(split) == qwen.tokenizer.decode(whole)
    ids, lengths = qwen.batch([split, whole], 32)
    out = parse_jit(qwen.tables, ids, lengths, np.zeros(2, np.int32), True)
    assert list(np.asarray(out.well_formed)) == [True, True]
    np.testing.assert_array_equal(out.intervals[0], out.intervals[1])


@pytest.mark.parametrize("which", ["qwen", "demo"])
def test_token_bytes_agree_with_the_tokenizer_decode(which, qwen, demo):
    setup = {"qwen": qwen, "demo": demo}[which]
    rng = np.random.default_rng(0)
    ids = sorted(set(rng.integers(0, len(setup.vocab), 3000).tolist()) | set(range(len(setup.vocab) - 30, len(setup.vocab))))
    checked = 0
    for i in ids:
        if i in setup.vocab.end_ids or i in setup.vocab.special_ids:
            continue
        try:
            text = setup.vocab.token_bytes[i].decode()
        except UnicodeDecodeError:  # a partial UTF-8 sequence: only whole sequences decode
            continue
        assert setup.tokenizer.decode([i], skip_special_tokens=False) == text, i
        checked += 1
    assert checked > min(1000, len(setup.vocab) // 2)


def test_vocabulary_with_tokens_across_the_think_end():
    """A hand-made vocabulary whose tokens straddle `</think>` and hold non-numbers before it."""
    from tempr1_jax.rewards import Vocab, build_token_tables

    pieces = [b"<think>", b"a.b</think>\n<answer>1", b".5 to 2", b"</answer>", b"x</thi", b"nk><answer>3 to 4"]
    vocab = Vocab(tuple(pieces) + (b"",), frozenset({len(pieces)}), frozenset())
    tables = build_token_tables(vocab)
    rows = np.array([[0, 1, 2, 3, 6], [0, 4, 5, 3, 6]], np.int32)
    out = parse_jit(tables, rows, np.full(2, 5, np.int32), np.array([1, 1], np.int32), True)
    assert list(np.asarray(out.well_formed)) == [True, True]
    np.testing.assert_array_equal(out.intervals[:, 0], [[1.5, 2], [3, 4]])


def _intervals_by_characters(text: str, offsets) -> list[int]:
    """The reference for `interval_of_token`: a token writes interval k // 2 when its characters overlap the k-th
    number after the last `</think>` (the first such number, where it overlaps two); -1 where it overlaps none."""
    import re
    start = text.rfind("</think>") + len("</think>") if "</think>" in text else 0
    spans = [m.span() for m in re.finditer(r"\d+(?:\.\d+)?", text[start:])]
    owner = []
    for a, b in offsets:
        hit = [k for k, (s, e) in enumerate(spans) if a < start + e and start + s < b]
        owner.append(hit[0] // 2 if hit else -1)
    return owner


@pytest.mark.parametrize("task, text", [
    ("vhd", "<think>at 2.5 s the dog 3 runs</think><answer>1.5 to 3.0, 4.25 to 7.5, 10 to 12.75</answer>"),
    ("tg", "<answer>0 to 100.5</answer>"),
    ("dtg", "<think>x</think><answer>12.5 to 30.0,30.0 to 31.25</answer>"),
])
def test_interval_logprob_averages_the_tokens_that_write_each_interval(setup, task, text):
    from tempr1_jax.rewards.parser import interval_logprob
    enc = setup.tokenizer.encode(text, add_special_tokens=False)
    ids, lengths = setup.batch([enc.ids], len(enc.ids) + 3)
    out = parse_jit(setup.tables, ids, lengths, np.array([TASKS.index(task)], np.int32), "<think>" in text)
    assert bool(out.well_formed[0])
    owner = _intervals_by_characters(text, enc.offsets)
    np.testing.assert_array_equal(np.asarray(out.interval_of_token)[0, :len(owner)], owner)
    assert (np.asarray(out.interval_of_token)[0, len(owner):] == -1).all()  # ids past the end write nothing
    logprobs = -np.random.default_rng(0).uniform(0.01, 3, ids.shape).astype(np.float32)
    got = np.asarray(interval_logprob(out, logprobs))[0]
    n = int(out.count[0])
    want = [logprobs[0, :len(owner)][np.array(owner) == k].mean() for k in range(n)]
    np.testing.assert_allclose(got[:n], want, rtol=1e-6)
    assert (got[n:] == 0).all()
