"""Temporal IoU variants in float64 and the threshold test.

The official scripts disagree on the union: "hull" (max end - min start) or "sum" (len1 + len2 - inter).
The two are equal on overlapping intervals but round differently in float64 and differ on reversed ones,
and a boundary exactly on a threshold then flips a hit, so each metric names the variant its script uses.
"""
from __future__ import annotations

import numpy as np


def hull_iou(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Paired IoU of (N, 2) arrays with a hull union; a zero union gives 0 instead of a division by zero.

    This is moment_detr's paired IoU (QVHighlights R1) and the grounding scripts' IoU (TimeChat, Time-R1,
    2D-TAN). A reversed interval has no intersection, hence IoU 0.
    """
    inter = np.maximum(0.0, np.minimum(pred[:, 1], gt[:, 1]) - np.maximum(pred[:, 0], gt[:, 0]))
    union = np.maximum(pred[:, 1], gt[:, 1]) - np.minimum(pred[:, 0], gt[:, 0])
    return np.divide(inter, union, out=np.zeros_like(inter), where=union != 0)


def sum_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of every row of `a` against every row of `b`, union = len_a + len_b - inter.

    Unguarded, like ActivityNet's segment_iou, moment_detr's cross IoU and nncore's temporal_iou: a zero
    union (two zero-length intervals at one point, or a reversed interval as long as the other) gives nan,
    and the callers compare nan exactly as the official code does.
    """
    inter = np.clip(np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def merge(windows: np.ndarray) -> list[tuple[float, float]]:
    """Disjoint sorted intervals covering the same time as `windows`.

    Zero-length and reversed windows cover no time and are dropped; touching intervals are joined.
    """
    kept = sorted((float(s), float(e)) for s, e in windows if e > s)
    merged: list[tuple[float, float]] = []
    for s, e in kept:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def union_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of the time covered by all predicted windows and the time covered by all ground-truth windows.

    TempR1's type-2 localisation measure (VHD, GVQA), as VideoChat-R1 computes it: merge each side, then
    intersect the two sorted lists with two pointers. When neither side covers any time the IoU is 1, as
    in VideoChat-R1; when only one side does, it is 0.
    """
    a, b = merge(pred), merge(gt)
    inter, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo < hi:
            inter += hi - lo
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    union = sum(e - s for s, e in a) + sum(e - s for s, e in b) - inter
    return 1.0 if union == 0 else inter / union


def reaches(iou: np.ndarray, threshold: float, strict: bool = False) -> np.ndarray:
    """IoU >= threshold, or IoU > threshold for the strict scripts (Time-R1, 2D-TAN)."""
    return iou > threshold if strict else iou >= threshold
