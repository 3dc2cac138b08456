"""NExT-GQA grounded video QA, as the official eval_ground.py and eval_next.py score it.

Plus `GVQA-mIoU`, TempR1's evidence measure: the IoU of the union of all predicted windows with the union
of the ground-truth segments.
"""
from __future__ import annotations

import csv
import dataclasses
import warnings
from typing import Any, Mapping, Sequence

import numpy as np

from tempr1_jax.eval.inputs import (
    EvalError,
    as_records,
    index_by_qid,
    parse_windows,
    read_json,
    require,
    windows_array,
)
from tempr1_jax.eval.intervals import union_iou

OPTIONS = ("a0", "a1", "a2", "a3", "a4")
CSV_COLUMNS = ("video_id", "qid", "answer", *OPTIONS)
WINDOWS = "pred_relevant_windows"


@dataclasses.dataclass(frozen=True)
class Annotations:
    answers: dict[str, int]  # "{video_id}_{qid}" -> index of the correct option, in test.csv order
    segments: dict[str, np.ndarray]  # "{video_id}_{qid}" -> (G, 2) evidence, in gsub order


def load_nextgqa(gsub_path: str, csv_path: str) -> Annotations:
    """The official gsub_{val,test}.json (evidence segments) and {val,test}.csv (questions, options)."""
    answers = {}
    try:
        with open(csv_path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            absent = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
            if absent:
                raise EvalError(f"{csv_path}:1: header lacks column(s) {', '.join(absent)}")
            for row in reader:
                where = f"{csv_path}:{reader.line_num}"
                # The CSV gives the answer as text; the first option with that text (surrounding spaces
                # ignored, as the dataset builder does) is the correct index.
                options = [(row[o] or "").strip() for o in OPTIONS]
                answer = (row["answer"] or "").strip()
                if answer not in options:
                    raise EvalError(f"{where}: answer {row['answer']!r} is none of the options a0..a4")
                answers[f"{row['video_id']}_{row['qid']}"] = options.index(answer)
    except OSError as e:
        raise EvalError(f"{csv_path}: cannot read file: {e.strerror}") from None
    data = read_json(gsub_path)
    if not isinstance(data, dict):
        raise EvalError(f"{gsub_path}: expected an object {{video_id: {{'location': ...}}}}")
    segments = {}
    for vid, video in data.items():
        if not isinstance(video, dict) or not isinstance(video.get("location"), dict):
            raise EvalError(f"{gsub_path}: key {vid!r}: missing object 'location'")
        for qid, locs in video["location"].items():
            where = f"{gsub_path}: key {vid}.location.{qid}"
            segments[f"{vid}_{qid}"] = windows_array(parse_windows(locs, where))
    return Annotations(answers, segments)


def nextgqa(gsub_path: str, csv_path: str, predictions: str | Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Acc@QA, the grounding metrics of the first predicted window, Acc@GQA, and GVQA-mIoU.

    Questions without a prediction are skipped from every denominator, as in the official code;
    Acc@QA counts every predicted question, the grounding metrics those that also have evidence
    annotated and at least one predicted window.
    """
    gt = load_nextgqa(gsub_path, csv_path)
    by_qid = index_by_qid(as_records(predictions), gt.answers, csv_path)
    if not by_qid:
        raise EvalError(f"{csv_path}: no annotated question has a prediction")
    correct, windows = {}, {}
    for key, record in by_qid.items():
        answer = require(record, "answer")
        if not isinstance(answer, int) or isinstance(answer, bool):
            raise EvalError(f"{record.where}: key 'answer' must be an option index (int), got {answer!r}")
        correct[key] = answer == gt.answers[key]
        windows[key] = windows_array(parse_windows(require(record, WINDOWS), f"{record.where}: key {WINDOWS!r}", True))
    # eval_next.py's expression order, so the float matches the official print before its rounding.
    metrics = {"Acc@QA": sum(correct.values()) * 100.0 / len(correct)}

    grounded = [key for key in gt.segments if key in windows and len(windows[key])]
    if not grounded:
        warnings.warn("nextgqa: grounding metrics left out: no predicted question has a window and annotated evidence")
        return metrics
    best = [_best_iou_iop(gt.segments[key], windows[key][0]) for key in grounded]
    iou, iop = [b[0] for b in best], [b[1] for b in best]
    count = len(grounded)
    metrics["mIoP"] = sum(iop) / count * 100
    metrics["IoP@0.3"] = sum(p >= 0.3 for p in iop) * 1.0 / count * 100
    metrics["IoP@0.5"] = sum(p >= 0.5 for p in iop) * 1.0 / count * 100
    metrics["mIoU"] = sum(iou) / count * 100
    metrics["IoU@0.3"] = sum(u >= 0.3 for u in iou) * 1.0 / count * 100
    metrics["IoU@0.5"] = sum(u >= 0.5 for u in iou) * 1.0 / count * 100
    metrics["Acc@GQA"] = sum(p >= 0.5 and correct[k] for k, p in zip(grounded, iop)) * 1.0 / count * 100
    metrics["GVQA-mIoU"] = 100 * float(np.mean([union_iou(windows[k], gt.segments[k]) for k in grounded]))
    return metrics


def _best_iou_iop(segments: np.ndarray, window: np.ndarray) -> tuple[float, float]:
    """Best IoU and best IoP (intersection over prediction) of one window over the evidence segments.

    As eval_ground.py: the intersection is not clamped, so a disjoint or reversed window gives a negative
    value, which the running maxima (starting at 0) discard. A zero-length window has IoU 0 and IoP 1 if
    it lies inside a segment (ends included).
    """
    start, end = float(window[0]), float(window[1])
    best_iou = best_iop = 0.0
    for gt_start, gt_end in segments.tolist():
        if start == end:
            iou, iop = 0.0, float(gt_start <= start <= gt_end)
        else:
            inter = min(gt_end, end) - max(gt_start, start)
            hull = max(gt_end, end) - min(gt_start, start)
            iou = inter / hull if hull > 0 else 0.0
            iop = inter / (end - start) if end > start else 0.0
        best_iou, best_iop = max(best_iou, iou), max(best_iop, iop)
    return best_iou, best_iop
