"""The number lexer: a small explicit byte automaton over runs of `[0-9.]` that knows the place of every digit.

States: OUT (not in a run), INT k (k integer digits so far, 1..MAX_DIGITS + 1, the last meaning "too many"),
FRAC j (after the point, j fraction digits so far, 0..MAX_DIGITS + 1), and BAD (a second point).

A digit's place gives its contribution outright: the k-th integer digit (from 0) adds d * 10^(MAX_DIGITS - 1 - k)
to the integer part scaled to MAX_DIGITS digits, the j-th fraction digit adds d * 10^(MAX_DIGITS - 1 - j) to the
fraction in millionths. A number's value is then a plain sum over its digits, wherever tokens split them, and the
device adds all of a batch's contributions with one segment sum, no per-token accumulation. The integer part is
rescaled once its digit count is known: int = scaled // 10^(MAX_DIGITS - digits). Digits past MAX_DIGITS add
nothing; such numbers are malformed and the answer automaton rejects them anyway.
"""
from __future__ import annotations

import dataclasses

from tempr1_jax.rewards.grammar import MAX_DIGITS

OUT = 0
_INT = 1  # INT k is _INT + k - 1
_FRAC = _INT + MAX_DIGITS + 1  # FRAC j is _FRAC + j
BAD = _FRAC + MAX_DIGITS + 2
N_STATES = BAD + 1
_POINT, _ZERO, _NINE = ord("."), ord("0"), ord("9")


def is_run_byte(byte: int) -> bool:
    return byte == _POINT or _ZERO <= byte <= _NINE


def in_run(state: int) -> bool:
    return state != OUT


@dataclasses.dataclass
class Run:
    """What one run receives from one token: scaled integer digits, their count, and millionths."""

    scaled_int: int = 0
    int_digits: int = 0
    frac6: int = 0


@dataclasses.dataclass
class Effect:
    """A byte string's effect from one lexer state."""

    next_state: int
    opens: int = 0  # runs that start inside it
    continues: bool = False  # its first run was open before it
    runs: list[Run] = dataclasses.field(default_factory=list)  # every run it touches, in order


def _place_value(place: int, digit: int) -> int:
    return digit * 10 ** (MAX_DIGITS - 1 - place) if place < MAX_DIGITS else 0


def effect(data: bytes, state: int) -> Effect:
    out = Effect(state, continues=in_run(state) and bool(data) and is_run_byte(data[0]))
    if out.continues:
        out.runs.append(Run())
    for byte in data:
        if not is_run_byte(byte):
            state = OUT
            continue
        if state == OUT:
            out.opens += 1
            out.runs.append(Run())
        run = out.runs[-1]
        if byte == _POINT:
            state = _FRAC if state == OUT or _INT <= state < _FRAC else BAD
        elif state == OUT or _INT <= state < _FRAC:
            k = 0 if state == OUT else state - _INT + 1
            run.scaled_int += _place_value(k, byte - _ZERO)
            run.int_digits += 1
            state = _INT + min(k, MAX_DIGITS)
        elif state < BAD:
            j = state - _FRAC
            run.frac6 += _place_value(j, byte - _ZERO)
            state = _FRAC + min(j + 1, MAX_DIGITS + 1)
    out.next_state = state
    return out
