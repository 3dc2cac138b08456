"""The device parser: sampled token ids `[B, T]` to intervals, counts, option letter and the well-formed flag, under jit.

The grammar is defined over bytes (`grammar`), and every table here is precomputed once from the vocabulary, so one
`lax.scan` over tokens parses completions of any tokenizer. Three small machines run side by side in the scan:

- the answer automaton: the minimal byte DFA of `\\s*<think>` (into an absorbing "thinking" state) or of the answer
  part directly, compiled from the `grammar` patterns; `answer_next[class, state]` is a whole token's effect;
- the close automaton: the DFA of `[\\s\\S]*</think>`, which sees every `</think>`. The think block ends at the last
  one, which is only known at the end, so each `</think>` while thinking restarts the answer automaton and the number
  lexer on the bytes after it (`answer_after_think`, lexeme variant 1). Nothing else needs the look-ahead;
- the number lexer: numbers are the maximal runs of `[0-9.]`. Once the think block is over, a well-formed completion
  holds digits only in its interval list, so the n-th run is endpoint n % 2 of interval n // 2. Each token's runs are
  tabulated (a head run continuing the previous token's, complete inner runs, a tail run), and a run's integer and
  fraction digits accumulate exactly in int32; the automaton alone decides what is well formed.

Tokens with the same effect on all three share a class, so the per-step gathers hit small tables.
"""
from __future__ import annotations

import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np

from tempr1_jax.rewards import regex_dfa
from tempr1_jax.rewards.grammar import ANSWER, LETTERS, MAX_DIGITS, NUM, THINK_CLOSE, THINK_OPEN
from tempr1_jax.rewards.tasks import GRAMMAR_OF_TASK, GRAMMARS, MAX_INTERVALS, TG
from tempr1_jax.rewards.vocab import Vocab

MAX_NUMBERS = 2 * MAX_INTERVALS
_FRAC_SCALE = 10**MAX_DIGITS
_POW10 = np.array([10**k for k in range(MAX_DIGITS + 2)], np.int32)  # digit counts are clipped to MAX_DIGITS + 1

# Lexeme layout, per token class and variant (0: the whole token, 1: its bytes after its last `</think>`).
# A chunk is a piece of a number: digits before its point, whether it has the point, digits after it.
_ALL_RUN = 0  # the token has no byte outside [0-9.]: it continues the current run (the empty token too)
_HEAD = 1  # chunk continuing the run open before the token: pre_value, pre_digits, has_point, post_value, post_digits
_TAIL = 6  # chunk opening a run the next token may continue
_N_INNER = 11  # number of complete numbers strictly inside the token
_INNER = 12  # then (integer part, fraction * 10^MAX_DIGITS) per inner number
_CHUNK = 5

_RUN = re.compile(rb"[0-9.]+")
_NUM = re.compile(NUM.encode())


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TokenTables:
    """Everything the parser needs from a vocabulary: a pytree of arrays, passed to jit as an argument."""

    token_class: jax.Array  # [V + 1] int32; entry V is the empty token, used past the end of a completion
    is_end: jax.Array  # [V] bool
    is_special: jax.Array  # [V] bool
    answer_next: jax.Array  # [C, S] int32
    answer_after_think: jax.Array  # [C, G] int32: state after the bytes following the token's last `</think>`
    close_next: jax.Array  # [C, K] int32: next close state + K if a `</think>` ends inside the token
    lexeme: jax.Array  # [C, 2, F] int32
    letter: jax.Array  # [C] int32: the token's last option letter (0 = A), or -1
    accepting: jax.Array  # [S] bool
    start: jax.Array  # [2, G] int32: start state by (think_required, grammar)
    thinking: jax.Array  # [] int32: the absorbing state inside the think block
    close_start: jax.Array  # [] int32


@functools.lru_cache(maxsize=None)
def _automata() -> tuple[regex_dfa.Dfa, regex_dfa.Dfa]:
    nfa = regex_dfa.Nfa()
    thinking = nfa.state()
    nfa.edges[thinking].append((regex_dfa.ANY_BYTE, thinking))
    open_start, open_end = nfa.add_pattern(THINK_OPEN)
    nfa.eps[open_end].append(thinking)
    starts, accepting = {"required": {open_start}}, set()
    for g in GRAMMARS:
        answer_start, answer_end = nfa.add_pattern(ANSWER[g])
        accepting.add(answer_end)
        starts[f"answer/{g}"] = {answer_start}
        starts[f"optional/{g}"] = {open_start, answer_start}
    answer = regex_dfa.determinize(nfa, starts, accepting, marked={thinking})
    assert answer.marked.sum() == 1, "the thinking state must stay distinct"
    close = regex_dfa.compile_pattern(r"[\s\S]*" + THINK_CLOSE)
    return answer, close


def _padded_bytes(tokens: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(t) for t in tokens], np.int64)
    out = np.zeros((len(tokens), max(1, lengths.max())), np.uint8)
    for i, t in enumerate(tokens):
        out[i, : len(t)] = np.frombuffer(t, np.uint8)
    return out, lengths


def _run_all(dfa: regex_dfa.Dfa, data: np.ndarray, lengths: np.ndarray, states: np.ndarray):
    """Runs every byte string from every start state in `states` ([N, S0]); also returns, per row and start, the end
    offset of the last byte that entered an accepting state (0 if none)."""
    states = states.copy()
    last_accept = np.zeros(states.shape, np.int64)
    for pos in range(data.shape[1]):
        rows = np.nonzero(lengths > pos)[0]
        nxt = dfa.next[states[rows], data[rows, pos][:, None]]
        states[rows] = nxt
        last_accept[rows] = np.where(dfa.accepting[nxt], pos + 1, last_accept[rows])
    return states, last_accept


def _effects(dfa: regex_dfa.Dfa, tokens: list[bytes]) -> np.ndarray:
    """`[N, S]`: the state after each token from each state.

    Most tokens hold a byte that only the thinking state survives; what follows it cannot matter, so tokens are cut
    after their first such byte and each distinct cut is run once.
    """
    others = np.ones(dfa.next.shape[0], bool)
    others[dfa.marked] = False
    dead = np.nonzero(np.all(dfa.next == np.arange(len(others))[:, None], axis=1) & others & ~dfa.accepting)[0]
    kills = np.all(dfa.next[others] == dead[0], axis=0) & np.all(dfa.next[dfa.marked] == np.nonzero(dfa.marked)[0])
    cut_at = re.compile(b"[" + b"".join(re.escape(bytes([c])) for c in np.nonzero(kills)[0]) + b"]")
    cuts = [t[: m.end()] if (m := cut_at.search(t)) else t for t in tokens]
    distinct, index = np.unique(np.array(cuts, dtype=object), return_inverse=True)
    data, lengths = _padded_bytes(list(distinct))
    states, _ = _run_all(dfa, data, lengths, np.tile(np.arange(dfa.next.shape[0]), (len(distinct), 1)))
    return states[index.reshape(-1)]


def _chunk(run: bytes) -> list[int]:
    pre, point, post = run.partition(b".")
    post = post.partition(b".")[0]  # a second point only occurs in runs the automaton rejects
    clip = MAX_DIGITS + 1
    return [int(pre[:clip] or 0), min(len(pre), clip), int(bool(point)), int(post[:clip] or 0), min(len(post), clip)]


def _exact(num: bytes) -> tuple[int, int]:
    pre, _, post = num.partition(b".")
    return int(pre), int(post.ljust(MAX_DIGITS, b"0") or 0)


def _lexeme(data: bytes) -> list[int]:
    runs = list(_RUN.finditer(data))
    if not runs:
        return [int(not data)] + [0] * (_INNER - 1)
    head = runs[0].group() if runs and runs[0].start() == 0 else b""
    if len(head) == len(data):
        return [1, *_chunk(head), *[0] * (_N_INNER - _TAIL), 0]
    tail = runs[-1].group() if runs and runs[-1].end() == len(data) else b""
    # Inner runs that are not numbers only occur in completions the automaton rejects: no need to keep them.
    inner = [m.group() for m in runs if 0 < m.start() and m.end() < len(data) and _NUM.fullmatch(m.group())]
    return [0, *_chunk(head), *_chunk(tail), len(inner), *[v for num in inner for v in _exact(num)]]


def build_token_tables(vocab: Vocab) -> TokenTables:
    """Precomputes the parser tables of a vocabulary (a few seconds for Qwen's 151k tokens)."""
    answer, close = _automata()
    n_states, n_close = answer.next.shape[0], close.next.shape[0]
    tokens = [b"" if i in vocab.end_ids or i in vocab.special_ids else t for i, t in enumerate(vocab.token_bytes)]
    tokens.append(b"")  # the empty token
    data, lengths = _padded_bytes(tokens)
    n = len(tokens)

    answer_next = _effects(answer, tokens)
    close_next, closed_at = _run_all(close, data, lengths, np.tile(np.arange(n_close), (n, 1)))
    # The last `</think>` of a token ends at the same offset from every start state that sees one: an occurrence
    # wholly inside the token is seen from all of them, and only one prefix of the token can finish a partial one.
    cut = closed_at.max(axis=1)
    assert np.all((closed_at == 0) | (closed_at == cut[:, None])), "inconsistent </think> offsets"
    after = [t[c:] for t, c in zip(tokens, cut)]
    after_data, after_lengths = _padded_bytes(after)
    grammar_starts = np.array([answer.starts[f"answer/{g}"] for g in GRAMMARS])
    answer_after, _ = _run_all(answer, after_data, after_lengths, np.tile(grammar_starts, (n, 1)))
    close_code = close_next + n_close * (closed_at > 0)

    lex_rows = [(_lexeme(t), _lexeme(a)) for t, a in zip(tokens, after)]
    width = max(len(r) for rows in lex_rows for r in rows)
    lexeme = np.array([[r + [0] * (width - len(r)) for r in rows] for rows in lex_rows])

    is_letter = (data >= ord(LETTERS[0])) & (data <= ord(LETTERS[-1])) & (np.arange(data.shape[1]) < lengths[:, None])
    last_pos = data.shape[1] - 1 - np.argmax(is_letter[:, ::-1], axis=1)
    letter = np.where(is_letter.any(axis=1), data[np.arange(n), last_pos].astype(np.int64) - ord(LETTERS[0]), -1)

    features = np.concatenate(
        [answer_next, answer_after, close_code, lexeme.reshape(n, -1), letter[:, None]], axis=1
    ).astype(np.int32)
    rows, first, token_class = np.unique(
        np.ascontiguousarray(features).view(np.dtype((np.void, features.shape[1] * 4))).reshape(-1),
        return_index=True,
        return_inverse=True,
    )
    v = len(vocab)
    start = np.array(
        [[answer.starts[f"optional/{g}"] for g in GRAMMARS], [answer.starts["required"]] * len(GRAMMARS)], np.int32
    )
    return TokenTables(
        token_class=jnp.asarray(token_class.reshape(-1), jnp.int32),
        is_end=jnp.asarray(np.isin(np.arange(v), list(vocab.end_ids))),
        is_special=jnp.asarray(np.isin(np.arange(v), list(vocab.special_ids))),
        answer_next=jnp.asarray(answer_next[first], jnp.int32),
        answer_after_think=jnp.asarray(answer_after[first], jnp.int32),
        close_next=jnp.asarray(close_code[first], jnp.int32),
        lexeme=jnp.asarray(lexeme[first], jnp.int32),
        letter=jnp.asarray(letter[first], jnp.int32),
        accepting=jnp.asarray(answer.accepting),
        start=jnp.asarray(start),
        thinking=jnp.asarray(int(np.nonzero(answer.marked)[0][0]), jnp.int32),
        close_start=jnp.asarray(close.starts["start"], jnp.int32),
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ParsedBatch:
    well_formed: jax.Array  # [B] bool
    intervals: jax.Array  # [B, MAX_INTERVALS, 2] float32 seconds; zero past `count`
    count: jax.Array  # [B] int32; 0 when malformed
    letter: jax.Array  # [B] int32; 0 = A, -1 when malformed or not gvqa


def _extend(regs, chunk):
    """Appends a chunk to the run in `regs` (integer digits, fraction digits, fraction length, point seen)."""
    whole, frac, n_frac, point = regs
    pre_value, pre_digits, has_point, post_value, post_digits = (chunk[:, k] for k in range(_CHUNK))
    scale = jnp.asarray(_POW10)[pre_digits]
    return (
        jnp.where(point, whole, whole * scale + pre_value),
        jnp.where(point, frac * scale + pre_value, jnp.where(has_point == 1, post_value, frac)),
        jnp.where(point, n_frac + pre_digits, jnp.where(has_point == 1, post_digits, n_frac)),
        point | (has_point == 1),
    )


def parse_ids(tables: TokenTables, ids_BT: jax.Array, lengths_B: jax.Array, task_B: jax.Array,
              think_required: bool = False) -> ParsedBatch:
    """Parses completions `ids_BT` (only the first `lengths_B` ids of each row count), task ids `task_B`."""
    b, t = ids_BT.shape
    ids_BT = jnp.clip(ids_BT, 0, tables.is_end.shape[0] - 1)
    pos_T = jnp.arange(t)
    end_B = jnp.minimum(lengths_B, jnp.min(jnp.where(tables.is_end[ids_BT], pos_T, t), axis=1))
    live_BT = pos_T < end_B[:, None]
    spoiled_B = jnp.any(tables.is_special[ids_BT] & live_BT, axis=1)
    empty = tables.token_class.shape[0] - 1
    class_BT = jnp.where(live_BT, tables.token_class[ids_BT], tables.token_class[empty])

    grammar_B = jnp.asarray(GRAMMAR_OF_TASK, jnp.int32)[task_B]
    n_states, n_grammars = tables.answer_next.shape[1], tables.answer_after_think.shape[1]
    n_close = tables.close_next.shape[1]
    n_inner = (tables.lexeme.shape[2] - _INNER) // 2
    rows_B = jnp.arange(b)
    zeros = jnp.zeros(b, jnp.int32)
    no = jnp.zeros(b, bool)

    def push(carry, flag, whole, frac6):
        count, start_whole, start_frac6, ordered, numbers = carry
        is_end = count % 2 == 1
        reversed_ = (whole < start_whole) | ((whole == start_whole) & (frac6 < start_frac6))
        ordered = ordered & ~(flag & is_end & reversed_)
        opens = flag & ~is_end
        value = whole.astype(jnp.float32) + frac6.astype(jnp.float32) / _FRAC_SCALE
        slot = jnp.where(flag & (count < MAX_NUMBERS), count, MAX_NUMBERS)
        numbers = numbers.at[rows_B, slot].set(value, mode="drop")
        return (count + flag, jnp.where(opens, whole, start_whole), jnp.where(opens, frac6, start_frac6), ordered,
                numbers)

    def step(carry, class_B):
        state, close, thinking, in_run, regs, out = carry
        nxt = tables.answer_next.reshape(-1)[class_B * n_states + state]
        thinking = thinking | (nxt == tables.thinking)
        code = tables.close_next.reshape(-1)[class_B * n_close + close]
        reset = (code >= n_close) & thinking
        state = jnp.where(reset, tables.answer_after_think.reshape(-1)[class_B * n_grammars + grammar_B], nxt)
        lex = tables.lexeme[class_B, reset.astype(jnp.int32)]
        count, start_whole, start_frac6, ordered, numbers = out
        out = (jnp.where(reset, 0, count), start_whole, start_frac6, ordered | reset, numbers)
        in_run = in_run & ~reset

        regs = _extend(tuple(jnp.where(in_run, r, jnp.zeros_like(r)) for r in regs), lex[:, _HEAD:_TAIL])
        in_run = in_run | (lex[:, _HEAD + 1] + lex[:, _HEAD + 2] + lex[:, _HEAD + 4] > 0)
        closes = (lex[:, _ALL_RUN] == 0) & in_run
        whole, frac, n_frac, _ = regs
        frac6 = frac * jnp.asarray(_POW10)[jnp.clip(MAX_DIGITS - n_frac, 0, MAX_DIGITS + 1)]
        out = push(out, closes, whole, frac6)
        for k in range(n_inner):
            out = push(out, lex[:, _N_INNER] > k, lex[:, _INNER + 2 * k], lex[:, _INNER + 2 * k + 1])
        keeps = lex[:, _ALL_RUN] == 1
        tail = _extend((zeros, zeros, zeros, no), lex[:, _TAIL:_N_INNER])
        regs = tuple(jnp.where(keeps, r, s) for r, s in zip(regs, tail))
        in_run = jnp.where(keeps, in_run, lex[:, _TAIL + 1] + lex[:, _TAIL + 2] + lex[:, _TAIL + 4] > 0)
        return (state, close, thinking, in_run, regs, out), None

    init = (
        tables.start[int(think_required), grammar_B],
        jnp.full(b, tables.close_start),
        no,
        no,
        (zeros, zeros, zeros, no),
        (zeros, zeros, zeros, jnp.ones(b, bool), jnp.zeros((b, MAX_NUMBERS), jnp.float32)),
    )
    (state, _, _, _, _, (count, _, _, ordered, numbers)), _ = jax.lax.scan(step, init, class_BT.T)

    n_intervals = count // 2
    well_formed = (
        tables.accepting[state] & ~spoiled_B & ordered & (count <= MAX_NUMBERS) & ((task_B != TG) | (n_intervals == 1))
    )
    n_intervals = jnp.where(well_formed, n_intervals, 0)
    intervals = numbers.reshape(b, MAX_INTERVALS, 2)
    intervals = jnp.where(jnp.arange(MAX_INTERVALS)[None, :, None] < n_intervals[:, None, None], intervals, 0.0)

    letter_BT = jnp.where(live_BT, tables.letter[class_BT], -1)
    last_B = t - 1 - jnp.argmax(letter_BT[:, ::-1] >= 0, axis=1)
    letter = letter_BT[rows_B, last_B]
    is_option = jnp.asarray(GRAMMAR_OF_TASK, jnp.int32)[task_B] == GRAMMARS.index("option_evidence")
    letter = jnp.where(well_formed & is_option, letter, -1)
    return ParsedBatch(well_formed, intervals, n_intervals, letter)
