"""The blind baseline: the best answer a model can give without looking at the video, scored like a model's.

A blind model sees the prompt but not the frames: the task, the number of sentences (dtg), the duration and the
options. Its best constant answer is one interval per expected event at fixed fractions of the duration (on a 5% grid,
written with one decimal as answers are), chosen on the training split for the task's metric; for gvqa, the option
index most frequent in training. `rows` scores it on any split as `predictions.jsonl` rows, so that the report treats
it like a checkpoint.
"""
from __future__ import annotations

import collections
import dataclasses
from typing import Sequence

import numpy as np

from tempr1_jax.data.annotations import Sample
from tempr1_jax.rewards import reference
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.stages.evaluate import sample_metrics

GRID = np.linspace(0.0, 1.0, 21)
CANDIDATES = [(float(a), float(b)) for a in GRID for b in GRID if a < b]
# The metric each task's intervals are chosen for (gvqa's letter is chosen apart, by frequency).
FIT_METRIC = {"tg": "mIoU", "dtg": "mIoU", "vhd": "mIoU", "gvqa": "mIoU", "tal": "mF1"}


@dataclasses.dataclass(frozen=True)
class BlindBaseline:
    """Fractions of the duration: per task one interval; dtg one per sentence, by (sentences, index) and, for a
    count absent from training, by index alone. `letter` is the gvqa option index."""

    fractions: dict[str, tuple[float, float]]
    dtg_fractions: dict[tuple[int | None, int], tuple[float, float]]
    letter: int

    def answer(self, sample: Sample, duration: float) -> list[list[float]]:
        if sample.task == "dtg":
            n = len(sample.queries)
            fr = [self.dtg_fractions.get((n, i), self.dtg_fractions.get((None, i), (0.0, 1.0))) for i in range(n)]
        else:
            fr = [self.fractions[sample.task]]
        return [[round(a * duration, 1), round(b * duration, 1)] for a, b in fr]


def _duration(sample: Sample) -> float:
    if not sample.duration:
        raise ValueError(f"sample {sample.uid} has no duration: the blind baseline answers in fractions of it")
    return float(sample.duration)


def _row(sample: Sample, pred: list[list[float]], letter: int, cfg: RewardConfig) -> dict:
    target = {"intervals": sample.intervals, "duration": _duration(sample), "answer": sample.answer}
    return {"uid": sample.uid, "task": sample.task, "well_formed": True, "pred": pred,
            "gt": [list(iv) for iv in sample.intervals], "duration": _duration(sample),
            "reward_localization": reference.localization(sample.task, pred, target, cfg),
            "reward_classification": float(sample.task == "gvqa" and letter == sample.answer)}


def _best(samples: Sequence[Sample], score) -> tuple[float, float]:
    """The candidate fractions with the highest mean score over samples (ties: the first)."""
    means = [np.mean([score(s, (a, b)) for s in samples]) for a, b in CANDIDATES]
    return CANDIDATES[int(np.argmax(means))]


def fit(train: Sequence[Sample], cfg: RewardConfig) -> BlindBaseline:
    by_task = collections.defaultdict(list)
    for s in train:
        by_task[s.task].append(s)
    letters = collections.Counter(s.answer for s in by_task.get("gvqa", []))
    letter = letters.most_common(1)[0][0] if letters else 0

    def scale(s, ab):
        d = _duration(s)
        return [round(ab[0] * d, 1), round(ab[1] * d, 1)]

    fractions = {t: _best(ss, lambda s, ab, t=t: sample_metrics(_row(s, [scale(s, ab)], letter, cfg))[FIT_METRIC[t]])
                 for t, ss in by_task.items() if t != "dtg"}
    # dtg's one-to-one IoU is a mean over sentences, so each sentence's interval is chosen on its own.
    dtg = by_task.get("dtg", [])
    groups = collections.defaultdict(list)
    for s in dtg:
        for i in range(len(s.intervals)):
            groups[(len(s.intervals), i)].append((s, i))
            groups[(None, i)].append((s, i))
    dtg_fractions = {key: _best(pairs, lambda p, ab: reference.iou(scale(p[0], ab), p[0].intervals[p[1]]))
                     for key, pairs in groups.items()}
    return BlindBaseline(fractions, dtg_fractions, letter)


def rows(baseline: BlindBaseline, samples: Sequence[Sample], cfg: RewardConfig) -> list[dict]:
    """The baseline's answers to `samples`, as rows of an eval stage's predictions.jsonl."""
    return [_row(s, baseline.answer(s, _duration(s)), baseline.letter, cfg) for s in samples]
