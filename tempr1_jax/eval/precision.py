"""Average precision: the detection AP of ActivityNet and QVHighlights MR, and QVHighlights' highlight AP."""
from __future__ import annotations

from typing import Hashable, Literal, Sequence

import numpy as np

from tempr1_jax.eval.intervals import sum_iou

# How detections with equal scores are ranked. moment_detr sorts a Python list by -score (stable: ties keep
# submission order). ActivityNet reverses numpy's ascending argsort; that sort is not stable in general
# (it is platform dependent), but for small inputs it leaves ties in reverse submission order, which is
# what "reverse_order" reproduces deterministically.
TieOrder = Literal["keep_order", "reverse_order"]


def interpolated_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-point interpolated AP (VOC 2011): area under the PR curve made monotone from the right."""
    p = np.concatenate([[0.0], precision, [0.0]])
    r = np.concatenate([[0.0], recall, [1.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]
    changed = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[changed] - r[changed - 1]) * p[changed]))


def rank(scores: np.ndarray, ties: TieOrder) -> np.ndarray:
    if ties == "keep_order":
        return np.argsort(-scores, kind="stable")
    return np.argsort(scores, kind="stable")[::-1]


def detection_ap(
    gt: np.ndarray,
    gt_groups: Sequence[Hashable],
    pred: np.ndarray,
    pred_groups: Sequence[Hashable],
    scores: np.ndarray,
    thresholds: Sequence[float],
    ties: TieOrder,
) -> np.ndarray:
    """AP at each IoU threshold of scored detections against ground truth, matched greedily.

    A group is a video (ActivityNet, one class at a time) or a query (QVHighlights). Detections are visited
    by descending score; each takes, independently per threshold, the unmatched ground truth of its group
    with the highest sum-union IoU, provided that IoU is not below the threshold. A detection whose best
    candidates are all taken, or whose group has no ground truth, is a false positive, so a duplicate of a
    matched detection counts as one. No detections gives AP 0.
    """
    ap = np.zeros(len(thresholds))
    if len(pred) == 0:
        return ap
    members: dict[Hashable, list[int]] = {}
    for index, group in enumerate(gt_groups):
        members.setdefault(group, []).append(index)
    locked = np.full((len(thresholds), len(gt)), False)
    tp = np.zeros((len(thresholds), len(pred)))
    fp = np.zeros((len(thresholds), len(pred)))
    for k, i in enumerate(rank(scores, ties)):
        candidates = members.get(pred_groups[i])
        if candidates is None:
            fp[:, k] = 1
            continue
        iou = sum_iou(pred[i : i + 1], gt[candidates])[0]
        # Best IoU first; equal IoUs in reverse order, as the reversed argsort of both official scripts.
        visit = np.argsort(iou, kind="stable")[::-1]
        for t, threshold in enumerate(thresholds):
            for j in visit:
                # Written as "not below" so that a nan IoU passes, as it does in the official loop.
                if iou[j] < threshold:
                    break
                if not locked[t, candidates[j]]:
                    locked[t, candidates[j]] = True
                    tp[t, k] = 1
                    break
            fp[t, k] = 1 - tp[t, k]
    tp_cum, fp_cum = np.cumsum(tp, axis=1), np.cumsum(fp, axis=1)
    recall = tp_cum / len(gt)
    precision = tp_cum / (tp_cum + fp_cum)
    for t in range(len(thresholds)):
        ap[t] = interpolated_ap(precision[t], recall[t])
    return ap


def ranking_ap(labels: np.ndarray, scores: np.ndarray) -> float:
    """QVHighlights' highlight AP (`get_ap`): mean interpolated precision at each point where recall rises.

    Operating points are the distinct score values (tied scores form one point, as in scikit-learn's
    precision_recall_curve); precision at a point is the best precision at that recall or beyond. It is not
    the area under the curve: with ties spanning several positives it is larger. All-negative labels give 0
    and all-positive labels give 1, as in the official code.
    """
    if not labels.any():
        return 0.0
    if labels.all():
        return 1.0
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    tps = np.cumsum(sorted_labels)[last_of_tie]
    precision = tps / (last_of_tie + 1)
    # float32 recall, as in the official code: the change points are found after that cast.
    recall = (tps / tps[-1]).astype(np.float32)
    best_beyond = np.maximum.accumulate(precision[::-1])[::-1]
    rises = np.flatnonzero(np.diff(np.r_[np.float32(0), recall]))
    # Averaged from the full-recall end, the official order, so the float64 sum matches to the last bit.
    return float(np.mean(best_beyond[rises][::-1]))
