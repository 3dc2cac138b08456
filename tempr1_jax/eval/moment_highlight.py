"""QVHighlights moment retrieval and highlight detection, as moment_detr's standalone_eval scores them.

Plus `VHD-mIoU`, TempR1's highlight measure: the IoU of the union of all predicted windows with the union
of the ground-truth windows, averaged over queries.
"""
from __future__ import annotations

import dataclasses
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from tempr1_jax.eval.inputs import (
    EvalError,
    Record,
    as_records,
    index_by_qid,
    is_number,
    parse_number,
    parse_windows,
    read_jsonl,
    require,
    windows_array,
)
from tempr1_jax.eval.intervals import hull_iou, reaches, sum_iou, union_iou
from tempr1_jax.eval.precision import detection_ap, ranking_ap

# The official script builds np.linspace(0.5, 0.95, 10) and rounds each value to 2 decimals, so 0.9 is
# 0.9 here, not linspace's 0.8999999999999999.
THRESHOLDS = tuple(float(f"{t:.2f}") for t in np.linspace(0.5, 0.95, 10))
# Ground-truth window length ranges (lo, hi] of the per-length mAPs; "full" keeps every window.
BUCKETS = {"full": None, "short": (0, 10), "middle": (10, 30), "long": (30, 150)}
MAX_PRED_WINDOWS = 10  # mAP ranks only the first 10 windows in list order, not the 10 best scored
CLIP_SECONDS = 2
SALIENCY_LEVELS = {"Fair": 2, "Good": 3, "VeryGood": 4}  # a clip is positive at saliency >= level
ANNOTATORS = 3

WINDOWS, SALIENCY = "pred_relevant_windows", "pred_saliency_scores"


@dataclasses.dataclass(frozen=True)
class Query:
    windows: np.ndarray  # (G, 2) ground-truth [start, end]
    duration: float
    record: Record  # the annotation line, for the highlight fields and error messages


@dataclasses.dataclass(frozen=True)
class Prediction:
    windows: np.ndarray  # (P, 2) in list order
    scores: np.ndarray  # (P,); windows given without scores tie, so they rank in list order


def load_qvhighlights(path: str) -> dict[int, Query]:
    """qid -> query from the official highlight_{val,test}_release.jsonl."""
    queries = {}
    for record in read_jsonl(path):
        qid = require(record, "qid")
        if qid in queries:
            raise EvalError(f"{record.where}: qid {qid!r} repeats an earlier line")
        windows = parse_windows(require(record, "relevant_windows"), f"{record.where}: key 'relevant_windows'")
        if not windows:
            raise EvalError(f"{record.where}: key 'relevant_windows' is empty")
        duration = parse_number(require(record, "duration"), f"{record.where}: key 'duration'")
        queries[qid] = Query(windows_array(windows), duration, record)
    if not queries:
        raise EvalError(f"{path}: holds no query")
    return queries


def qvhighlights(
    annotations: str, predictions: str | Sequence[Mapping[str, Any]], *, match_number: bool = True
) -> dict[str, float]:
    """Every metric of standalone_eval at full precision (the official file rounds to 2 decimals).

    `match_number` (the official default) requires a prediction for every annotated qid; without it
    only the predicted qids are scored, as the official `match_number=False`.
    """
    gt = load_qvhighlights(annotations)
    records = as_records(predictions)
    by_qid = index_by_qid(records, gt, annotations)
    missing = [qid for qid in gt if qid not in by_qid]
    if match_number and missing:
        source = predictions if isinstance(predictions, str) else "predictions"
        raise EvalError(
            f"{source}: no prediction for {len(missing)} of the {len(gt)} qids of {annotations} "
            f"(first {missing[0]!r}); the official script requires all of them (pass match_number=False "
            "to score only the predicted qids)"
        )
    if not by_qid:
        raise EvalError(f"{annotations}: no annotated qid has a prediction")
    # The official script decides from the first line which task the submission answers. Queries are
    # averaged in submission order, as the official single-process run does.
    first = records[0].data
    metrics: dict[str, float] = {}
    if isinstance(first, Mapping) and WINDOWS in first:
        pairs = [(gt[qid], _parse_prediction(record)) for qid, record in by_qid.items()]
        metrics.update(moment_retrieval(pairs))
        metrics["VHD-mIoU"] = 100 * float(np.mean([union_iou(p.windows, q.windows) for q, p in pairs]))
    if isinstance(first, Mapping) and SALIENCY in first:
        metrics.update(highlight_detection([(gt[qid], _parse_saliency(record)) for qid, record in by_qid.items()]))
    if not metrics:
        raise EvalError(f"{records[0].where}: has neither {WINDOWS!r} nor {SALIENCY!r}")
    return metrics


def _parse_prediction(record: Record) -> Prediction:
    where = f"{record.where}: key {WINDOWS!r}"
    windows = parse_windows(require(record, WINDOWS), where, with_score=True)
    if len({len(w) for w in windows}) > 1:
        raise EvalError(f"{where}: mixes windows with and without a score")
    scores = [w[2] if len(w) == 3 else 0.0 for w in windows]
    return Prediction(windows_array(windows), np.array(scores, dtype=np.float64))


def _parse_saliency(record: Record) -> np.ndarray:
    scores = require(record, SALIENCY)
    if not isinstance(scores, list) or not all(is_number(s) for s in scores):
        raise EvalError(f"{record.where}: key {SALIENCY!r} must be a list of finite numbers")
    return np.array(scores, dtype=np.float64)


def moment_retrieval(pairs: Sequence[tuple[Query, Prediction]]) -> dict[str, float]:
    """MR-{bucket}-mAP (mean over thresholds), MR-{bucket}-mAP@t and MR-{bucket}-R1@t.

    Averaged per query, not pooled. In a length bucket each query keeps only its ground-truth windows in
    the range and is left out if none remain. A query whose prediction list is empty scores AP 0 and an
    R1 miss (the official script crashes on it). A bucket with no query at all is left out with a
    warning (the official script crashes on it too).
    """
    metrics: dict[str, float] = {}
    for bucket, length_range in BUCKETS.items():
        ap_rows, top1_iou = [], []
        for query, prediction in pairs:
            gt = _windows_in(query.windows, length_range)
            if len(gt) == 0:
                continue
            ranked = prediction.windows[:MAX_PRED_WINDOWS]
            scores = prediction.scores[:MAX_PRED_WINDOWS]
            ap_rows.append(detection_ap(gt, [0] * len(gt), ranked, [0] * len(ranked), scores, THRESHOLDS, "keep_order"))
            top1_iou.append(_top1_iou(prediction.windows, gt))
        if not ap_rows:
            lo, hi = length_range
            warnings.warn(f"qvhighlights: MR-{bucket}-* left out: no ground-truth window has a length in ({lo}, {hi}]")
            continue
        # Same reduction shapes as the official script: (queries, thresholds) -> thresholds -> scalar.
        ap_by_threshold = np.array(ap_rows).mean(axis=0)
        metrics[f"MR-{bucket}-mAP"] = 100 * float(np.mean(ap_by_threshold))
        for t, ap in zip(THRESHOLDS, ap_by_threshold):
            metrics[f"MR-{bucket}-mAP@{t}"] = 100 * float(ap)
        for t in THRESHOLDS:
            metrics[f"MR-{bucket}-R1@{t}"] = 100 * float(np.mean(reaches(np.array(top1_iou), t)))
    return metrics


def _windows_in(windows: np.ndarray, length_range: tuple[int, int] | None) -> np.ndarray:
    """The windows whose length lies in (lo, hi]; all of them for the full bucket."""
    if length_range is None:
        return windows
    lo, hi = length_range
    lengths = windows[:, 1] - windows[:, 0]
    return windows[(lengths > lo) & (lengths <= hi)]


def _top1_iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Hull IoU of the first-listed window (whatever its score) with the ground truth it overlaps most.

    The official code picks that ground truth by sum-union IoU (first maximum) and then scores the pair
    with the hull formula; the two formulas round differently, so both are kept.
    """
    if len(pred) == 0:
        return 0.0
    best = int(np.argmax(sum_iou(pred[:1], gt)[0]))
    return float(hull_iou(pred[:1], gt[best : best + 1])[0])


def highlight_detection(pairs: Sequence[tuple[Query, np.ndarray]]) -> dict[str, float]:
    """HL-min-{level}-mAP and HL-min-{level}-Hit1 from per-clip saliency predictions.

    Clips are 2 s; the ground truth has int(duration / 2) clips, unannotated ones at saliency 0. AP is per
    query and annotator, with the prediction cut or zero-padded to the clip count. Hit1 takes the clip of
    the highest predicted score (first on ties) and counts a hit if any annotator rates it at the level;
    an empty score list (the official script crashes on it) is a miss.
    """
    ratings = [_clip_ratings(query) for query, _ in pairs]
    metrics = {}
    for name, level in SALIENCY_LEVELS.items():
        ap = np.zeros((len(pairs), ANNOTATORS))
        hit = np.zeros(len(pairs))
        for i, ((_, scores), rating) in enumerate(zip(pairs, ratings)):
            positive = rating >= level
            fitted = np.zeros(len(rating))
            fitted[: min(len(scores), len(rating))] = scores[: len(rating)]
            for a in range(ANNOTATORS):
                ap[i, a] = ranking_ap(positive[:, a], fitted)
            if len(scores):
                top = int(np.argmax(scores))
                hit[i] = float(top < len(rating) and positive[top].any())
        metrics[f"HL-min-{name}-mAP"] = 100 * float(np.mean(ap))
        metrics[f"HL-min-{name}-Hit1"] = 100 * float(np.mean(hit))
    return metrics


def _clip_ratings(query: Query) -> np.ndarray:
    """(clips, annotators) saliency of every 2-s clip of the video."""
    record = query.record
    clip_ids, saliency = require(record, "relevant_clip_ids"), require(record, "saliency_scores")
    ratings = np.zeros((int(query.duration / CLIP_SECONDS), ANNOTATORS))
    valid_ids = isinstance(clip_ids, list) and all(
        isinstance(c, int) and not isinstance(c, bool) and 0 <= c < len(ratings) for c in clip_ids
    )
    if not valid_ids:
        raise EvalError(
            f"{record.where}: key 'relevant_clip_ids' must list clip indices below {len(ratings)} (2-s clips of the video)"
        )
    valid_saliency = (
        isinstance(saliency, list)
        and len(saliency) == len(clip_ids)
        and all(isinstance(row, list) and len(row) == ANNOTATORS and all(is_number(v) for v in row) for row in saliency)
    )
    if not valid_saliency:
        raise EvalError(f"{record.where}: key 'saliency_scores' must hold {ANNOTATORS} numbers per relevant clip")
    if clip_ids:
        ratings[clip_ids] = saliency
    return ratings
