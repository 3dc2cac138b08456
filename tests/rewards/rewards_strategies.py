"""Hypothesis strategies for completions (well formed and malformed), and a small byte-level BPE trained offline."""
from __future__ import annotations

import tokenizers
from hypothesis import HealthCheck
from hypothesis import strategies as st

from tempr1_jax.rewards.grammar import LETTERS

# Batches of 16 completions are big draws, which a loaded CI machine can make slow to generate.
SLOW_DRAWS = [HealthCheck.too_slow, HealthCheck.data_too_large]

# Interval endpoints on a binary grid (multiples of 1/8 below 2^12): exact in float32, so device and host rewards
# differ only by float32 arithmetic. `decimal_number` covers arbitrary decimals for the parse-precision checks.
grid_value = st.integers(0, 8 * 4096 - 1).map(lambda k: k / 8)


@st.composite
def grid_number(draw) -> str:
    v = draw(grid_value)
    style = draw(st.sampled_from(["g", "f2", "f3", "pad"]))
    if style == "g":
        return str(v) if v != int(v) else str(int(v))  # binary fractions print exactly
    if style == "pad":
        return f"{v:09.3f}"  # leading zeros: 6 integer digits at most
    return f"{v:.{style[1]}f}" if style == "f3" or (v * 4) == int(v * 4) else f"{v:.3f}"


decimal_number = st.builds(
    lambda i, f: i + ("." + f if f else ""),
    st.text("0123456789", min_size=1, max_size=6),
    st.one_of(st.just(""), st.text("0123456789", min_size=1, max_size=6)),
)
space = st.text(" \t\n", max_size=3)
space1 = st.text(" \t\n", min_size=1, max_size=3)


@st.composite
def interval_text(draw, number=grid_number(), ordered=True) -> tuple[str, tuple[str, str]]:
    a, b = draw(number), draw(number)
    if ordered and float(a) > float(b):
        a, b = b, a
    return f"{a}{draw(space1)}to{draw(space1)}{b}", (a, b)


@st.composite
def interval_list(draw, n, number=grid_number()) -> tuple[str, list[tuple[str, str]]]:
    parts = [draw(interval_text(number)) for _ in range(n)]
    text = parts[0][0]
    for p, _ in parts[1:]:
        text += f"{draw(space)},{draw(space)}{p}"
    return text, [iv for _, iv in parts]


think_text = st.lists(
    st.sampled_from(list("abc xyz 0123456789.,<>/\n") + ["<answer>", "</answer>", "<think>", "</thin", "k>",
                                                         " to ", "é", "数", "🙂", "<evidence>"]),
    max_size=12,
).map("".join)


@st.composite
def completion(draw, task: str, number=grid_number(), max_intervals: int = 6) -> str:
    """A well-formed completion of `task`, then, with probability 1/2, one malformation."""
    n = 1 if task == "tg" else draw(st.integers(1, max_intervals))
    listed, _ = draw(interval_list(n, number))
    think = ""
    if draw(st.booleans()):
        think = f"{draw(space)}<think>{draw(think_text)}</think>"
    if task == "gvqa":
        body = (f"{draw(space)}<answer>{draw(space)}{draw(st.sampled_from(LETTERS))}{draw(space)}</answer>"
                f"{draw(space)}<evidence>{draw(space)}{listed}{draw(space)}</evidence>{draw(space)}")
    else:
        body = f"{draw(space)}<answer>{draw(space)}{listed}{draw(space)}</answer>{draw(space)}"
    text = think + body
    if draw(st.booleans()):
        text = draw(malformed(text, task, number))
    return text


@st.composite
def malformed(draw, text: str, task: str, number) -> str:
    kind = draw(st.sampled_from([
        "drop_tag", "misorder", "prefix", "suffix", "reverse", "negative", "scientific", "empty", "many",
        "unicode_digit", "unicode_space", "long_number", "no_to", "two_points", "tg_two", "truncate",
    ]))
    tags = ["<answer>", "</answer>", "<think>", "</think>", "<evidence>", "</evidence>"]
    if kind == "drop_tag":
        tag = draw(st.sampled_from([t for t in tags if t in text] or ["<answer>"]))
        return text.replace(tag, "", 1)
    if kind == "misorder":
        if "<evidence>" in text:
            return text.replace("<answer>", "<tmp>").replace("<evidence>", "<answer>").replace("<tmp>", "<evidence>")
        return text.replace("<answer>", "</answer>", 1)
    if kind == "prefix":
        return draw(st.sampled_from(["Answer: ", "x", "The answer is ", "1"])) + text
    if kind == "suffix":
        return text + draw(st.sampled_from([" done", ".", "<answer>", "2", "</think>"]))
    if kind == "reverse":
        a, b = sorted([draw(grid_value), draw(grid_value)])
        a, b = (a, b + 1) if a == b else (a, b)
        swapped = f"{b} to {a}, "
        return text.replace("<answer>", f"<answer>{swapped}", 1) if task != "gvqa" else \
            text.replace("<evidence>", f"<evidence>{swapped}", 1)
    if kind == "negative":
        return text.replace(" to", " to -", 1) if " to" in text else "-" + text
    if kind == "scientific":
        return text.replace(" to", "e3 to", 1)
    if kind == "empty":
        return f"<answer>{draw(space)}</answer>" if task != "gvqa" else "<answer>A</answer><evidence> </evidence>"
    if kind == "many":
        listed, _ = draw(interval_list(33, number))
        return f"<answer>{listed}</answer>" if task != "gvqa" else f"<answer>B</answer><evidence>{listed}</evidence>"
    if kind == "unicode_digit":
        return text.replace("1", "١", 1).replace("2", "２", 1)
    if kind == "unicode_space":
        return text.replace(" to", "\u00a0to", 1).replace("<answer>", "<answer>\u3000", 1)
    if kind == "long_number":
        return text.replace(" to", "0000000 to", 1)
    if kind == "no_to":
        return text.replace(" to ", " ", 1)
    if kind == "two_points":
        return text.replace(" to", ".5.5 to", 1)
    if kind == "tg_two":
        return text.replace("</answer>", ", 1 to 2</answer>", 1)
    return text[: draw(st.integers(0, max(0, len(text) - 1)))]


def train_demo_tokenizer() -> tokenizers.Tokenizer:
    """A 400-token byte-level BPE whose merges cross tag, number and space boundaries (`use_regex=False`), so
    tokens like `k>\\n<a` or `5 to 1` exist: the hard cases for a token-level parser. Deterministic and offline."""
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<eos>", "<pad>", "<sep>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    corpus = [
        "<think>the cup is at 12.5 seconds</think>\n<answer>12.5 to 17.25, 30 to 41.125</answer>",
        "<answer>0 to 1.5</answer>", "<answer>B</answer>\n<evidence>3.75 to 9, 10 to 11</evidence>",
        "<think>first 1 to 2 then 3.0 to 4.5</think> <answer>1 to 2, 3.0 to 4.5</answer>",
        "see 0.125 and 7, then 8 to 9; 123.5 to 200.75", "<think></think><answer>5 to 5</answer>",
    ] * 20
    tok.train_from_iterator(corpus, trainer)
    tok.add_tokens([tokenizers.AddedToken("<think>", special=False), tokenizers.AddedToken("</think>", special=False)])
    return tok
