"""The answer grammar as Python regular expressions, and the host-side parser that applies it.

This module is the single source of the grammar: the host reference matches these patterns with `re`, and the device
parser compiles the very same pattern strings into a byte automaton (`regex_dfa`). Patterns use ASCII semantics
(`re.ASCII`): `\\d` is `[0-9]` and `\\s` is `[ \\t\\n\\r\\f\\v]`, so Unicode digits and spaces are not accepted
outside the think block, exactly as the byte automaton sees them.

One deliberate tightening of the issue's grammar: a number has at most `MAX_DIGITS` digits before and after its point
(`\\d{1,6}(?:\\.\\d{1,6})?` rather than `\\d+(?:\\.\\d+)?`). Longer numbers are malformed. This keeps every
well-formed number exact in int32 on device (below 10^6 s, about 11.6 days, to the microsecond), so device and host
agree bit for bit on what is well formed, `start <= end` included, instead of disagreeing wherever float32 rounding
makes two different long numbers equal.
"""
from __future__ import annotations

import dataclasses
import functools
import re

from tempr1_jax.rewards.tasks import GRAMMAR_OF_TASK, GRAMMARS, MAX_INTERVALS, TG, task_id

MAX_DIGITS = 6
NUM = rf"\d{{1,{MAX_DIGITS}}}(?:\.\d{{1,{MAX_DIGITS}}})?"
INTERVAL = rf"({NUM})\s+to\s+({NUM})"
LIST = rf"{INTERVAL}(?:\s*,\s*{INTERVAL})*"
LETTERS = "ABCDE"

THINK_OPEN = r"\s*<think>"
THINK_CLOSE = r"</think>"
# What follows the think block (or the whole completion when it has none), per grammar.
ANSWER = {
    "intervals": rf"\s*<answer>\s*(?P<list>{LIST})\s*</answer>\s*",
    "option_evidence": (
        rf"\s*<answer>\s*(?P<letter>[{LETTERS[0]}-{LETTERS[-1]}])\s*</answer>"
        rf"\s*<evidence>\s*(?P<list>{LIST})\s*</evidence>\s*"
    ),
}


def completion_pattern(grammar: str, think_required: bool = False) -> str:
    """The full-match pattern of one grammar. The think block ends at the last `</think>`: the answer part holds none."""
    think = rf"{THINK_OPEN}[\s\S]*?{THINK_CLOSE}"
    return (think if think_required else rf"(?:{think})?") + ANSWER[grammar]


@functools.lru_cache(maxsize=None)
def _compiled(grammar: str, think_required: bool) -> re.Pattern:
    return re.compile(completion_pattern(grammar, think_required), re.ASCII)


_INTERVAL_RE = re.compile(INTERVAL, re.ASCII)


@dataclasses.dataclass(frozen=True)
class Parsed:
    """One parsed completion. Malformed completions have no intervals and letter -1."""

    well_formed: bool
    intervals: tuple[tuple[float, float], ...] = ()
    letter: int = -1  # 0 = A; -1 unless the task is gvqa and the completion is well formed


MALFORMED = Parsed(False)


def parse(task: str, text: str | None, think_required: bool = False) -> Parsed:
    """Applies the grammar of `task` to `text` in float64. `None` (an undecodable completion) is malformed."""
    tid = task_id(task)
    if text is None:
        return MALFORMED
    m = _compiled(GRAMMARS[GRAMMAR_OF_TASK[tid]], think_required).fullmatch(text)
    if m is None:
        return MALFORMED
    intervals = tuple((float(s), float(e)) for s, e in _INTERVAL_RE.findall(m["list"]))
    if any(s > e for s, e in intervals) or len(intervals) > MAX_INTERVALS or (tid == TG and len(intervals) != 1):
        return MALFORMED
    letter = LETTERS.index(m["letter"]) if "letter" in m.re.groupindex else -1
    return Parsed(True, intervals, letter)
