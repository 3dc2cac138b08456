"""The device parser: sampled token ids `[B, T]` to intervals, counts, option letter and the well-formed flag, under jit.

The grammar is defined over bytes (`grammar`), and every table here is precomputed once from the vocabulary, so the
same code parses completions of any tokenizer. One `lax.scan` over tokens runs three byte automata side by side, each
advanced a whole token at a time by a table lookup:

- the answer automaton: the minimal byte DFA of `\\s*<think>` (into an absorbing "thinking" state) or of the answer
  part directly, compiled from the `grammar` patterns; it alone decides what is well formed;
- the close automaton: the DFA of `[\\s\\S]*</think>`, which sees every `</think>`. The think block ends at the last
  one, only known at the end, so each `</think>` while thinking restarts the answer automaton on the bytes after it
  (`answer_after_think`) and starts a new "region" for the numbers. This is all the look-ahead the grammar needs;
- the number lexer (`lexer`), over runs of `[0-9.]`. After the think block a well-formed completion holds digits only
  in its interval list, so the n-th run of the last region is endpoint n % 2 of interval n // 2.

The scan carries only the three states and a run counter. Everything else is parallel over `[B, T]`: each token's
lexer effect (given the lexer state before it) gives its runs' digit contributions, which land on their run with one
segment sum for the whole batch.

Tokens with the same effect on everything share a class, so the scan's gathers hit small tables (~130 classes for
Qwen's 151k tokens).
"""
from __future__ import annotations

import dataclasses
import functools
import re

import jax
import jax.numpy as jnp
import numpy as np

from tempr1_jax.rewards import lexer, regex_dfa
from tempr1_jax.rewards.grammar import ANSWER, LETTERS, MAX_DIGITS, NUM, THINK_CLOSE, THINK_OPEN
from tempr1_jax.rewards.tasks import GRAMMAR_OF_TASK, GRAMMARS, MAX_INTERVALS, TG
from tempr1_jax.rewards.vocab import Vocab

MAX_NUMBERS = 2 * MAX_INTERVALS
_RUN = re.compile(rb"[0-9.]+")
_NUM = re.compile(NUM.encode())
# Packed lexer effect: runs opened (clipped: more than MAX_NUMBERS is malformed anyway), "continues", letter + 1,
# and the lexer state after the token, so one gather per step serves the lexer and the run counter.
_MAX_OPENS = 127
_CONTINUES_SHIFT = 7
_LETTER_SHIFT = 8
_NEXT_SHIFT = 11
_DIGITS_FIELD = 8  # integer contributions are packed as scaled_int * 8 + digit count
# Packed token info: class * 4 + 2 * is_end + is_special.
_INFO_SHIFT = 2


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TokenTables:
    """Everything the parser needs from a vocabulary: a pytree of arrays, passed to jit as an argument."""

    token_info: jax.Array  # [V + 1] int32: class * 4 + 2 * is_end + is_special; entry V is the empty token
    answer_next: jax.Array  # [C, S] int32
    answer_after_think: jax.Array  # [C, G] int32: state after the bytes following the token's last `</think>`
    close_next: jax.Array  # [C, K] int32: next close state, + K if a `</think>` ends inside the token
    number_flags: jax.Array  # [C, L + 1] int32: packed opens / continues / letter / next lexer state, per column
    number_int: jax.Array  # [Q, C, L + 1] int32: scaled integer digits * 8 + digit count, per touched run
    number_frac: jax.Array  # [Q, C, L + 1] int32: fraction in millionths, per touched run
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


def _holds_non_number(data: bytes) -> bool:
    return any(0 < m.start() and m.end() < len(data) and not _NUM.fullmatch(m.group()) for m in _RUN.finditer(data))


def _number_effects(tokens: list[bytes], after: list[bytes]):
    """Lexer tables per token and effect column (L lexer states, then column L for the bytes after the token's last
    `</think>`, lexed from OUT): packed flags `[N, L + 1]` and the runs' contributions `[N, L + 1, Q]`, Q the most
    runs one token touches. Column L's next state equals the whole token's: the token ends after `</think>`."""
    n, width = len(tokens), lexer.N_STATES + 1
    next_state = np.tile(np.arange(width), (n, 1))
    next_state[:, lexer.N_STATES] = lexer.OUT
    effects: dict[tuple[int, int], lexer.Effect] = {}
    for i, (t, a) in enumerate(zip(tokens, after)):
        if not any(map(lexer.is_run_byte, t)):
            if t:
                next_state[i] = lexer.OUT
            continue
        for state in range(lexer.N_STATES):
            effects[i, state] = lexer.effect(t, state)
            next_state[i, state] = effects[i, state].next_state
        effects[i, lexer.N_STATES] = lexer.effect(a, lexer.OUT)
        next_state[i, lexer.N_STATES] = effects[i, lexer.N_STATES].next_state
        # Bytes with a run strictly inside them that is not a number can only sit where the answer automaton
        # rejects, so their contributions may as well be zero: that keeps Q, the contribution slots per token, small.
        if _holds_non_number(t):
            for state in range(lexer.N_STATES):
                effects[i, state].runs = []
        if _holds_non_number(a):
            effects[i, lexer.N_STATES].runs = []
    # Trailing runs that receive nothing need no slot: adding zero is a no-op.
    for e in effects.values():
        while e.runs and not (e.runs[-1].int_digits or e.runs[-1].frac6):
            e.runs.pop()
    q = max([len(e.runs) for e in effects.values()], default=0)
    opens = np.zeros((n, width), np.int64)
    continues = np.zeros((n, width), np.int64)
    int_part = np.zeros((n, width, q), np.int64)
    frac = np.zeros((n, width, q), np.int64)
    for (i, col), e in effects.items():
        opens[i, col] = min(e.opens, _MAX_OPENS)
        continues[i, col] = e.continues
        for k, run in enumerate(e.runs):
            int_part[i, col, k] = run.scaled_int * _DIGITS_FIELD + min(run.int_digits, _DIGITS_FIELD - 1)
            frac[i, col, k] = run.frac6
    return opens + (continues << _CONTINUES_SHIFT) + (next_state << _NEXT_SHIFT), int_part, frac


def _last_letter(data: bytes) -> int:
    """The last option letter in `data` (0 = A), or -1."""
    at = [data.rfind(c.encode()) for c in LETTERS]
    return int(np.argmax(at)) if max(at) >= 0 else -1


def build_token_tables(vocab: Vocab) -> TokenTables:
    """Precomputes the parser tables of a vocabulary (a few seconds for Qwen's 151k tokens)."""
    answer, close = _automata()
    n_close = close.next.shape[0]
    tokens = [b"" if i in vocab.end_ids or i in vocab.special_ids else t for i, t in enumerate(vocab.token_bytes)]
    tokens.append(b"")  # the empty token
    n = len(tokens)

    answer_next = _effects(answer, tokens)
    close_next, closed_at = _run_all(close, *_padded_bytes(tokens), np.tile(np.arange(n_close), (n, 1)))
    # The last `</think>` of a token ends at the same offset from every start state that sees one: an occurrence
    # wholly inside the token is seen from all of them, and only one prefix of the token can finish a partial one.
    cut = closed_at.max(axis=1)
    assert np.all((closed_at == 0) | (closed_at == cut[:, None])), "inconsistent </think> offsets"
    after = [t[c:] for t, c in zip(tokens, cut)]
    grammar_starts = np.array([answer.starts[f"answer/{g}"] for g in GRAMMARS])
    answer_after, _ = _run_all(answer, *_padded_bytes(after), np.tile(grammar_starts, (n, 1)))
    close_code = close_next + n_close * (closed_at > 0)
    flags, number_int, number_frac = _number_effects(tokens, after)

    flags = flags + ((np.array([_last_letter(t) for t in tokens])[:, None] + 1) << _LETTER_SHIFT)

    features = np.concatenate(
        [answer_next, answer_after, close_code, flags, number_int.reshape(n, -1),
         number_frac.reshape(n, -1)], axis=1
    ).astype(np.int32)
    _, first, token_class = np.unique(
        np.ascontiguousarray(features).view(np.dtype((np.void, features.shape[1] * 4))).reshape(-1),
        return_index=True,
        return_inverse=True,
    )
    v = len(vocab)
    is_end = np.isin(np.arange(n), list(vocab.end_ids))
    is_special = np.isin(np.arange(n), list(vocab.special_ids))
    start = np.array(
        [[answer.starts[f"optional/{g}"] for g in GRAMMARS], [answer.starts["required"]] * len(GRAMMARS)], np.int32
    )
    as_i32 = lambda x: jnp.asarray(x, jnp.int32)
    assert v + 1 == n
    return TokenTables(
        token_info=as_i32((token_class.reshape(-1) << _INFO_SHIFT) + 2 * is_end + is_special),
        answer_next=as_i32(answer_next[first]),
        answer_after_think=as_i32(answer_after[first]),
        close_next=as_i32(close_code[first]),
        number_flags=as_i32(flags[first]),
        number_int=as_i32(np.moveaxis(number_int[first], 2, 0)),
        number_frac=as_i32(np.moveaxis(number_frac[first], 2, 0)),
        accepting=jnp.asarray(answer.accepting),
        start=as_i32(start),
        thinking=as_i32(int(np.nonzero(answer.marked)[0][0])),
        close_start=as_i32(close.starts["start"]),
    )


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ParsedBatch:
    well_formed: jax.Array  # [B] bool
    intervals: jax.Array  # [B, MAX_INTERVALS, 2] float32 seconds; zero past `count`
    count: jax.Array  # [B] int32; 0 when malformed
    letter: jax.Array  # [B] int32; 0 = A, -1 when malformed or not gvqa
    # [B, T] int32: the interval whose numbers each token writes (a token spanning two numbers counts for its first
    # one's), -1 for tokens that write none of the `count` intervals: what a confidence per interval averages over.
    interval_of_token: jax.Array


def interval_logprob(parsed: ParsedBatch, logprobs_BT: jax.Array) -> jax.Array:
    """[B, MAX_INTERVALS] float32: the mean log-probability of the tokens that write each parsed interval's numbers
    (0 past `count`): the model's own confidence in an interval, where a submission must rank its windows."""
    in_BTN = parsed.interval_of_token[..., None] == jnp.arange(MAX_INTERVALS)
    total_BN = jnp.einsum("bt,btn->bn", logprobs_BT.astype(jnp.float32), in_BTN.astype(jnp.float32))
    return total_BN / jnp.maximum(in_BTN.sum(1), 1)


def _scan_states(tables: TokenTables, class_BT: jax.Array, start_B: jax.Array, grammar_B: jax.Array):
    """Runs the three automata over the tokens.

    Returns the final answer state `[B]`, the number of runs in the last region `[B]`, and per token `[B, T]`: its
    lexer effect (class * (L + 1) + column, the column being the lexer state before it, or L where a `</think>`
    inside it starts a new region) and the index of the first run it touches within its region.
    """
    n_states, n_grammars = tables.answer_next.shape[1], tables.answer_after_think.shape[1]
    n_close, n_lex = tables.close_next.shape[1], tables.number_flags.shape[1] - 1
    answer_next, after_think = tables.answer_next.reshape(-1), tables.answer_after_think.reshape(-1)
    close_next, flags = tables.close_next.reshape(-1), tables.number_flags.reshape(-1)

    def step(carry, class_B):
        state, close, lex, thinking, runs = carry
        nxt = answer_next[class_B * n_states + state]
        thinking = thinking | (nxt == tables.thinking)
        code = close_next[class_B * n_close + close]
        restart = (code >= n_close) & thinking
        state = jnp.where(restart, after_think[class_B * n_grammars + grammar_B], nxt)
        effect = class_B * (n_lex + 1) + jnp.where(restart, n_lex, lex)
        flag = flags[effect]
        runs = jnp.where(restart, 0, runs)
        first_run = runs - ((flag >> _CONTINUES_SHIFT) & 1)
        carry = (state, code % n_close, flag >> _NEXT_SHIFT, thinking, runs + (flag & _MAX_OPENS))
        return carry, (effect, first_run)

    b = class_BT.shape[0]
    zeros = jnp.zeros(b, jnp.int32)
    init = (start_B, jnp.full(b, tables.close_start), zeros + lexer.OUT, jnp.zeros(b, bool), zeros)
    (state, _, _, _, runs), (effect_TB, first_run_TB) = jax.lax.scan(step, init, class_BT.T)
    return state, runs, effect_TB.T, first_run_TB.T


def parse_ids(tables: TokenTables, ids_BT: jax.Array, lengths_B: jax.Array, task_B: jax.Array,
              think_required: bool | jax.Array = False) -> ParsedBatch:
    """Parses completions `ids_BT` (only the first `lengths_B` ids of each row count) of tasks `task_B`.

    Ids stop counting at a row's first end id; any other special id before that makes the row malformed.
    `think_required` may be a Python bool or a traced scalar (it only picks the start states).
    """
    b, t = ids_BT.shape
    info_BT = tables.token_info[jnp.clip(ids_BT, 0, tables.token_info.shape[0] - 2)]
    pos_T = jnp.arange(t)
    end_B = jnp.minimum(lengths_B, jnp.min(jnp.where(info_BT & 2, pos_T, t), axis=1))
    live_BT = pos_T < end_B[:, None]
    spoiled_B = jnp.any((info_BT & 1).astype(bool) & live_BT, axis=1)
    class_BT = jnp.where(live_BT, info_BT, tables.token_info[-1]) >> _INFO_SHIFT

    grammar_B = jnp.asarray(GRAMMAR_OF_TASK, jnp.int32)[task_B]
    start_B = tables.start[jnp.asarray(think_required, jnp.int32), grammar_B]
    state_B, count_B, effect_BT, first_run_BT = _scan_states(tables, class_BT, start_B, grammar_B)

    # Numbers: only the last region counts (the bytes after the last `</think>`, or all of them without one).
    n_columns = tables.number_flags.shape[1]
    region_start_B = jnp.max(jnp.where(effect_BT % n_columns == n_columns - 1, pos_T, 0), axis=1)
    region_BT = pos_T >= region_start_B[:, None]
    # Every (token, touched run) adds its (integer, fraction) contributions to its run: one segment sum for all.
    q = jnp.arange(tables.number_int.shape[0])
    slot_BTQ = jnp.where(region_BT[..., None], jnp.clip(first_run_BT[..., None] + q, 0, MAX_NUMBERS), MAX_NUMBERS)
    segment_BTQ = jnp.arange(b)[:, None, None] * (MAX_NUMBERS + 1) + slot_BTQ
    parts_BTQ2 = jnp.stack([tables.number_int, tables.number_frac], axis=-1).reshape(len(q), -1, 2)[:, effect_BT]
    sums = jax.ops.segment_sum(jnp.moveaxis(parts_BTQ2, 0, 2).reshape(-1, 2), segment_BTQ.reshape(-1),
                               num_segments=b * (MAX_NUMBERS + 1)).reshape(b, MAX_NUMBERS + 1, 2)[:, :MAX_NUMBERS]
    int_sum, frac6 = sums[..., 0], sums[..., 1]

    # The integer part is its scaled digits over 10^(missing digits): exact in float32 for every well-formed number
    # (both below 2^24, and the quotient is an integer), and cheaper than integer division.
    digits = jnp.minimum(int_sum & (_DIGITS_FIELD - 1), MAX_DIGITS)
    unit = jnp.asarray(10.0 ** (MAX_DIGITS - np.arange(MAX_DIGITS + 1)), jnp.float32)[digits]
    whole = (int_sum >> _DIGITS_FIELD.bit_length() - 1).astype(jnp.float32) / unit
    pairs = lambda x: x.reshape(b, MAX_INTERVALS, 2)
    (s_whole, e_whole), (s_frac, e_frac) = jnp.moveaxis(pairs(whole), 2, 0), jnp.moveaxis(pairs(frac6), 2, 0)
    n_intervals = count_B // 2
    live_N = jnp.arange(MAX_INTERVALS)[None, :] < n_intervals[:, None]
    # Exact integer comparison: float32 would call two different long numbers equal.
    reversed_ = (s_whole > e_whole) | ((s_whole == e_whole) & (s_frac > e_frac))
    well_formed = (
        tables.accepting[state_B]
        & ~spoiled_B
        & ~jnp.any(reversed_ & live_N, axis=1)
        & (count_B <= MAX_NUMBERS)
        & ((task_B != TG) | (n_intervals == 1))
    )
    n_intervals = jnp.where(well_formed, n_intervals, 0)
    values = whole + frac6.astype(jnp.float32) / 10**MAX_DIGITS
    live_N = jnp.arange(MAX_INTERVALS)[None, :] < n_intervals[:, None]
    intervals = jnp.where(live_N[..., None], pairs(values), 0.0)

    # The option letter is the completion's last [A-E]: after the think block, only the answer holds one.
    flag_BT = tables.number_flags.reshape(-1)[effect_BT]
    writes_number_BT = ((flag_BT & _MAX_OPENS) > 0) | ((flag_BT >> _CONTINUES_SHIFT) & 1).astype(bool)
    interval_BT = first_run_BT // 2
    interval_BT = jnp.where(live_BT & region_BT & writes_number_BT & (interval_BT < n_intervals[:, None]),
                            interval_BT, -1)
    letter_BT = ((flag_BT >> _LETTER_SHIFT) & 7) - 1
    last_B = jnp.max(jnp.where(live_BT & (letter_BT >= 0), pos_T * len(LETTERS) + letter_BT, -1), axis=1)
    letter_B = jnp.where(last_B >= 0, last_B % len(LETTERS), -1)
    is_option = grammar_B == GRAMMARS.index("option_evidence")
    return ParsedBatch(well_formed, intervals, n_intervals, jnp.where(well_formed & is_option, letter_B, -1),
                       interval_BT)
