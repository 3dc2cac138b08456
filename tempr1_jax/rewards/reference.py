"""Host reference of every reward: plain Python, `re` and float64, one completion at a time.

The tests use it as the oracle for the device path, and it is the readable statement of the rules for debugging.
It is written independently of the device code: explicit merges, a two-pointer intersection, a full DP table.
"""
from __future__ import annotations

import math
from typing import Mapping, Sequence

from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rewards.grammar import parse
from tempr1_jax.rewards.tasks import task_id

Interval = Sequence[float]


def iou(a: Interval, b: Interval) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull > 0 else 0.0


def merge(intervals: Sequence[Interval]) -> list[list[float]]:
    out: list[list[float]] = []
    for s, e in sorted(map(tuple, intervals)):
        if out and s <= out[-1][1]:
            out[-1][1] = max(out[-1][1], e)
        else:
            out.append([s, e])
    return out


def union_iou(pred: Sequence[Interval], gt: Sequence[Interval]) -> float:
    p, g = merge(pred), merge(gt)
    inter, i, j = 0.0, 0, 0
    while i < len(p) and j < len(g):
        inter += max(0.0, min(p[i][1], g[j][1]) - max(p[i][0], g[j][0]))
        if p[i][1] < g[j][1]:
            i += 1
        else:
            j += 1
    union = sum(e - s for s, e in p) + sum(e - s for s, e in g) - inter
    return inter / union if union > 0 else 0.0


def one_to_one(pred: Sequence[Interval], gt: Sequence[Interval], weights: Sequence[float] | None = None) -> float:
    if not gt:
        return 0.0
    pairs = list(zip(pred, gt))
    weights = weights or [1.0] * len(pairs)
    return sum(iou(p, g) * w for (p, g), w in zip(pairs, weights)) / len(gt)


def distance_weight(p: Interval, g: Interval, duration: float) -> float:
    if duration <= 0:
        return 0.0
    return max(0.0, 1 - abs(p[0] - g[0]) / duration) * max(0.0, 1 - abs(p[1] - g[1]) / duration)


def count_term(n_pred: int, n_gt: int, sigma: float) -> float:
    return math.exp(-abs(n_pred - n_gt) / (min(n_gt, 3) * sigma)) if n_gt > 0 else 0.0


def dp_match(pred: Sequence[Interval], gt: Sequence[Interval]) -> float:
    p, g = sorted(map(tuple, pred)), sorted(map(tuple, gt))
    dp = [[0.0] * (len(g) + 1) for _ in range(len(p) + 1)]
    for i in range(1, len(p) + 1):
        for j in range(1, len(g) + 1):
            dp[i][j] = max(dp[i - 1][j], dp[i][j - 1], dp[i - 1][j - 1] + iou(p[i - 1], g[j - 1]))
    return dp[len(p)][len(g)]


def index_match(pred: Sequence[Interval], gt: Sequence[Interval]) -> float:
    return sum(iou(p, g) for p, g in zip(pred, gt))


def match_f1(total: float, n_pred: int, n_gt: int) -> float:
    precision = total / n_pred if n_pred else 0.0
    recall = total / n_gt if n_gt else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def localization(task: str, pred: Sequence[Interval], target: Mapping, cfg: RewardConfig) -> float:
    task_id(task)  # validates the name
    gt = [tuple(map(float, g)) for g in target["intervals"]]
    if task == "tg" and cfg.tg_variant == "distance_weighted_iou":
        weights = [distance_weight(p, g, float(target.get("duration", 0.0))) for p, g in zip(pred, gt)]
        return one_to_one(pred, gt, weights)
    if task in ("tg", "dtg"):
        return one_to_one(pred, gt)
    if task in ("vhd", "gvqa"):
        return union_iou(pred, gt)
    matched = dp_match(pred, gt) if cfg.tal_matching == "dp" else index_match(pred, gt)
    reward = match_f1(matched, len(pred), len(gt))
    return reward + count_term(len(pred), len(gt), cfg.sigma) if cfg.tal_count else reward


def rewards(task: str, text: str | None, target: Mapping, cfg: RewardConfig = RewardConfig()) -> dict[str, float]:
    """Rewards of one completion text (None: a completion spoiled by a special token, see `vocab`)."""
    parsed = parse(task, text, cfg.think_required)
    if not parsed.well_formed:
        out = {"format": 0.0, "localization": 0.0, "classification": 0.0}
    else:
        out = {
            "format": 1.0,
            "localization": localization(task, parsed.intervals, target, cfg),
            "classification": float(task == "gvqa" and parsed.letter == int(target["answer"])),
        }
    out["total"] = (
        cfg.format_weight * out["format"]
        + cfg.localization_weight * out["localization"]
        + cfg.classification_weight * out["classification"]
    )
    out["count"] = len(parsed.intervals)
    out["letter"] = parsed.letter
    return out
