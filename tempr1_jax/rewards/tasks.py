"""Task ids and the answer shape each task expects.

`TASKS` fixes the integer id of every task (its index). The data pipeline and the GRPO step pass these ids as an int
array `[B]`, so tasks mix freely within one batch; never reorder this tuple.
"""
from __future__ import annotations

TASKS = ("tg", "dtg", "vhd", "gvqa", "tal")
TASK_ID = {name: i for i, name in enumerate(TASKS)}
TG, DTG, VHD, GVQA, TAL = range(len(TASKS))

# Most intervals an answer may hold, and the padded size of every interval array ([B, MAX_INTERVALS, 2]).
MAX_INTERVALS = 32

# Two answer grammars: a list of intervals, or an option letter followed by a list of evidence intervals.
GRAMMARS = ("intervals", "option_evidence")
GRAMMAR_OF_TASK = tuple(GRAMMARS.index("option_evidence" if t == "gvqa" else "intervals") for t in TASKS)


def task_id(task: str) -> int:
    if task not in TASK_ID:
        raise ValueError(f"unknown task {task!r}: expected one of {TASKS}")
    return TASK_ID[task]
