"""The one annotation schema every dataset is parsed into, and the checks that decide what is bad data.

A `Sample` is one training or evaluation question about one video. Its ground truth is a list of intervals in seconds
whose meaning depends on the task (TempR1's three correspondence types):
- tg: one query, one interval.                       - dtg: N sentences, interval i answers sentence i.
- vhd: one query, its highlight segments (+ scores).  - gvqa: a 5-option question, its evidence segments.
- tal: one action class, every instance of it.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

# The task order (index = task id on device), the reward parser's interval capacity (ground truth is padded to
# [B, MAX_INTERVALS, 2]) and the gvqa option letters all come from the rewards, so that data and rewards agree.
from tempr1_jax.rewards.grammar import LETTERS as OPTION_LETTERS
from tempr1_jax.rewards.tasks import MAX_INTERVALS, TASKS


@dataclasses.dataclass(frozen=True)
class Sample:
    """One question about one video. `video` is the file's path relative to the dataset's video folder."""

    uid: str
    task: str
    video: str
    queries: tuple[str, ...]
    intervals: tuple[tuple[float, float], ...]
    duration: float | None = None  # from the annotation file, where it has one; records store the video's own
    options: tuple[str, ...] = ()  # gvqa
    answer: int = -1  # gvqa: index into options
    scores: tuple[float, ...] = ()  # vhd: one saliency score per interval
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Sample":
        d = dict(d)
        d["queries"] = tuple(d["queries"])
        d["intervals"] = tuple((float(s), float(e)) for s, e in d["intervals"])
        d["options"] = tuple(d.get("options", ()))
        d["scores"] = tuple(float(x) for x in d.get("scores", ()))
        return cls(**d)


@dataclasses.dataclass(frozen=True)
class Problem:
    """One piece of bad data: what (`kind`), where (file:line, video or uid) and the offending value."""

    kind: str
    where: str
    detail: str

    def to_json(self) -> dict[str, str]:
        return dataclasses.asdict(self)


# Problems that drop a sample or a video (and that --strict turns into errors), and those that only fix a value.
SKIP_KINDS = ("broken_line", "start_after_end", "bad_sample", "missing_video", "corrupt_video", "empty_video",
              "interval_outside_video")
FIX_KINDS = ("clipped_interval",)


def check_sample(sample: Sample) -> Problem | None:
    """Structural checks that need no video; None when the sample is usable."""
    where = f"{sample.source}:{sample.uid}"

    def bad(detail: str) -> Problem:
        return Problem("bad_sample", where, detail)

    if sample.task not in TASKS:
        return bad(f"task {sample.task!r} is not one of {TASKS}")
    n = len(sample.intervals)
    if n == 0 or n > MAX_INTERVALS:
        return bad(f"{n} intervals, expected 1 to {MAX_INTERVALS}")
    for s, e in sample.intervals:
        if not (math.isfinite(s) and math.isfinite(e)) or s < 0:
            return bad(f"interval [{s}, {e}] is not a finite, non-negative time")
        if s > e:
            return Problem("start_after_end", where, f"interval [{s}, {e}] has start > end")
    if not sample.queries or any(not q.strip() for q in sample.queries):
        return bad("empty query")
    if sample.task == "tg" and n != 1:
        return bad(f"tg needs exactly one interval, got {n}")
    if sample.task == "dtg" and len(sample.queries) != n:
        return bad(f"dtg needs one interval per sentence, got {len(sample.queries)} sentences and {n} intervals")
    if sample.task == "gvqa":
        if len(sample.options) != len(OPTION_LETTERS) or not 0 <= sample.answer < len(sample.options):
            return bad(f"gvqa needs {len(OPTION_LETTERS)} options and an answer index, got "
                       f"{len(sample.options)} options and answer {sample.answer}")
    if sample.scores and len(sample.scores) != n:
        return bad(f"{len(sample.scores)} scores for {n} intervals")
    return None


def clip_to_video(sample: Sample, duration: float) -> tuple[Sample | None, Problem | None]:
    """Clips interval ends to the video's duration. Returns (sample, None) when nothing changed, (clipped sample,
    "clipped_interval") when an end moved, and (None, "interval_outside_video") when an interval starts past the end."""
    where = f"{sample.source}:{sample.uid}"
    clipped = []
    for s, e in sample.intervals:
        if s >= duration:
            return None, Problem("interval_outside_video", where,
                                 f"interval [{s}, {e}] starts at or after the video's end ({duration:.3f} s)")
        clipped.append((s, min(e, duration)))
    if all(e <= duration for _, e in sample.intervals):
        return dataclasses.replace(sample, duration=duration), None
    moved = [f"[{s}, {e}]" for s, e in sample.intervals if e > duration]
    return (dataclasses.replace(sample, intervals=tuple(clipped), duration=duration),
            Problem("clipped_interval", where, f"{', '.join(moved)} clipped to the video's end {duration:.3f} s"))
