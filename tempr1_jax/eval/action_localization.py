"""Temporal action localisation on ActivityNet v1.3: the official detection mAP and TempR1's mF1.

Both read the official ground truth (`database`, one subset) and the official detection submission
`{"results": {video id: [{"label", "score", "segment"}, ...]}}`.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping

import numpy as np

from tempr1_jax.eval.inputs import EvalError, as_document, parse_number, parse_window, read_json
from tempr1_jax.eval.intervals import sum_iou
from tempr1_jax.eval.precision import detection_ap

# Raw linspace values, as eval_detection uses them: index 8 is 0.8999999999999999, which an IoU of
# exactly 0.9 passes.
MAP_THRESHOLDS = np.linspace(0.5, 0.95, 10)
REPORTED_MAP = {"mAP@0.5": 0, "mAP@0.75": 5, "mAP@0.95": 9}
F1_THRESHOLDS = (0.1, 0.3, 0.5, 0.7)


@dataclasses.dataclass
class Instances:
    """Ground-truth or predicted segments of one class, with their videos and scores, in file order."""

    videos: list[str] = dataclasses.field(default_factory=list)
    segments: list[list[float]] = dataclasses.field(default_factory=list)
    scores: list[float] = dataclasses.field(default_factory=list)

    def add(self, video: str, segment: list[float], score: float = 0.0) -> None:
        self.videos.append(video)
        self.segments.append(segment)
        self.scores.append(score)

    def array(self) -> np.ndarray:
        return np.array(self.segments, dtype=np.float64).reshape(-1, 2)


def load_activitynet_detection(path: str, subset: str = "validation") -> dict[str, Instances]:
    """label -> ground-truth instances of `subset`, classes in first-encounter order like eval_detection."""
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise EvalError(f"{path}: missing key 'database' (the ActivityNet v1.3 ground-truth layout)")
    classes: dict[str, Instances] = {}
    for vid, video in data["database"].items():
        where = f"{path}: key database.{vid}"
        if not isinstance(video, dict) or "subset" not in video:
            raise EvalError(f"{where}: missing key 'subset'")
        if video["subset"] != subset:
            continue
        annotations = video.get("annotations")
        if not isinstance(annotations, list):
            raise EvalError(f"{where}: missing list 'annotations'")
        for i, ann in enumerate(annotations):
            at = f"{where}.annotations[{i}]"
            if not isinstance(ann, dict) or not isinstance(ann.get("label"), str):
                raise EvalError(f"{at}: missing string 'label'")
            classes.setdefault(ann["label"], Instances()).add(vid, parse_window(ann.get("segment"), f"{at}.segment"))
    if not classes:
        raise EvalError(f"{path}: no annotated segment in subset {subset!r}")
    return classes


def load_detections(
    predictions: str | Mapping[str, Any], labels: Mapping[str, Any], need_score: bool
) -> dict[str, Instances]:
    """label -> predicted instances, in submission order; a label absent from the ground truth is an error."""
    data, source = as_document(predictions)
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise EvalError(f"{source}: missing key 'results' (the ActivityNet detection submission layout)")
    by_label: dict[str, Instances] = {label: Instances() for label in labels}
    for vid, detections in data["results"].items():
        where = f"{source}: key results.{vid}"
        if not isinstance(detections, list):
            raise EvalError(f"{where}: expected a list of detections")
        for i, det in enumerate(detections):
            at = f"{where}[{i}]"
            if not isinstance(det, dict) or "label" not in det:
                raise EvalError(f"{at}: missing key 'label'")
            if det["label"] not in by_label:
                raise EvalError(f"{at}: label {det['label']!r} has no ground truth in the evaluated subset")
            if "segment" not in det:
                raise EvalError(f"{at}: missing key 'segment'")
            segment = parse_window(det["segment"], f"{at}.segment")
            if need_score and "score" not in det:
                raise EvalError(f"{at}: missing key 'score'")
            score = parse_number(det["score"], f"{at}.score") if "score" in det else 0.0
            by_label[det["label"]].add(vid, segment, score)
    return by_label


def activitynet_tal(
    annotations: str, predictions: str | Mapping[str, Any], *, subset: str = "validation"
) -> dict[str, float]:
    """Class-mean AP at IoU 0.5, 0.75 and 0.95, and its mean over np.linspace(0.5, 0.95, 10).

    Per class, detections of every video are ranked together; a detection in a video without ground
    truth of its class is a false positive, a class without detections has AP 0.
    """
    gt = load_activitynet_detection(annotations, subset)
    detections = load_detections(predictions, gt, need_score=True)
    ap = np.zeros((len(MAP_THRESHOLDS), len(gt)))
    for c, (label, truth) in enumerate(gt.items()):
        found = detections[label]
        ap[:, c] = detection_ap(
            truth.array(), truth.videos, found.array(), found.videos, np.array(found.scores, dtype=np.float64),
            MAP_THRESHOLDS, ties="reverse_order",
        )
    map_by_threshold = ap.mean(axis=1)
    metrics = {name: 100 * float(map_by_threshold[i]) for name, i in REPORTED_MAP.items()}
    metrics["mAP"] = 100 * float(map_by_threshold.mean())
    return metrics


def tal_f1(annotations: str, predictions: str | Mapping[str, Any], *, subset: str = "validation") -> dict[str, float]:
    """TempR1's mF1, in E.T. Bench's TAL style, over (video, label) queries of the ground truth.

    A query's predictions are its video's segments with its label (scores are not used). At threshold t,
    recall is the share of ground-truth segments whose best IoU with a prediction is >= t, precision the
    share of predictions whose best IoU with a ground-truth segment is >= t; F1 is their harmonic mean
    (0 when the query has no prediction or nothing reaches t), averaged over queries.
    """
    gt = load_activitynet_detection(annotations, subset)
    detections = load_detections(predictions, gt, need_score=False)
    f1 = []
    for label, truth in gt.items():
        predicted = _by_video(detections[label])
        for vid, segments in _by_video(truth).items():
            f1.append(query_f1(segments, predicted.get(vid, [])))
    by_threshold = np.mean(np.array(f1), axis=0)
    metrics = {f"F1@{t}": 100 * float(v) for t, v in zip(F1_THRESHOLDS, by_threshold)}
    metrics["mF1"] = 100 * float(np.mean(by_threshold))
    return metrics


def query_f1(gt_M2, pred_N2) -> list[float]:
    """One query's F1 at each of F1_THRESHOLDS (all 0 without predictions): the one F1 of TAL, here and in the
    eval stage's per-sample metrics."""
    gt_M2, pred_N2 = np.asarray(gt_M2, np.float64).reshape(-1, 2), np.asarray(pred_N2, np.float64).reshape(-1, 2)
    if not len(gt_M2) or not len(pred_N2):
        return [0.0] * len(F1_THRESHOLDS)
    iou = sum_iou(gt_M2, pred_N2)
    return [_f1(iou, t) for t in F1_THRESHOLDS]


def _by_video(instances: Instances) -> dict[str, list[list[float]]]:
    segments: dict[str, list[list[float]]] = {}
    for vid, segment in zip(instances.videos, instances.segments):
        segments.setdefault(vid, []).append(segment)
    return segments


def _f1(iou: np.ndarray, threshold: float) -> float:
    """F1 of a (ground truth, prediction) IoU matrix at one threshold.

    A nan IoU (two zero-length segments at one point) propagates through the maxima and then fails every
    threshold, as it does in E.T. Bench's torch code; precision + recall = 0 then gives F1 0 where that
    code would divide by zero.
    """
    if np.max(iou) < threshold:
        return 0.0
    recall = float(np.mean(np.max(iou, axis=1) >= threshold))
    precision = float(np.mean(np.max(iou, axis=0) >= threshold))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
