"""Temporal grounding: one query, one ground-truth window, the first predicted window scored against it.

Covers Charades-STA, ActivityNet Captions grounding and TVGBench (R1@{0.3,0.5,0.7} and mIoU) and
ActivityNet Captions dense temporal grounding (mean over videos of the index-paired IoU).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from tempr1_jax.eval.inputs import (
    EvalError,
    as_records,
    index_by_qid,
    parse_window,
    parse_windows,
    read_json,
    require,
    windows_array,
)
from tempr1_jax.eval.intervals import hull_iou, reaches

THRESHOLDS = (0.3, 0.5, 0.7)
PREDICTED_WINDOWS = "pred_relevant_windows"

Predictions = str | Sequence[Mapping[str, Any]]


def load_charades_sta(path: str) -> dict[int, list[float]]:
    """qid (0-based line index) -> [start, end] from `VID start end##sentence` lines."""
    queries = {}
    try:
        with open(path, encoding="utf-8") as f:
            lines = list(f)
    except OSError as e:
        raise EvalError(f"{path}: cannot read file: {e.strerror}") from None
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        where = f"{path}:{index + 1}"
        head, separator, _ = line.partition("##")
        fields = head.split()
        if not separator or len(fields) != 3:
            raise EvalError(f"{where}: expected 'VIDEO start end##sentence', got {line.rstrip()!r}")
        queries[index] = parse_window([_to_float(v, where) for v in fields[1:]], where)
    return queries


def load_activitynet_captions(path: str) -> dict[str, list[list[float]]]:
    """video id -> its sentences' [start, end] windows, in sentence order, from val_2.json's layout."""
    data = read_json(path)
    if not isinstance(data, dict):
        raise EvalError(f"{path}: expected an object {{video id: {{'timestamps': ...}}}}")
    videos = {}
    for vid, entry in data.items():
        where = f"{path}: key {vid!r}"
        if not isinstance(entry, dict) or "timestamps" not in entry:
            raise EvalError(f"{where}: missing key 'timestamps'")
        videos[vid] = parse_windows(entry["timestamps"], f"{where}.timestamps")
    return videos


def load_tvgbench(path: str) -> dict[int, list[float]]:
    """qid (0-based list index) -> [start, end] parsed from the `"start-end"` answer, as Time-R1 does."""
    data = read_json(path)
    if not isinstance(data, list):
        raise EvalError(f"{path}: expected a JSON list of TVGBench items")
    queries = {}
    for index, item in enumerate(data):
        where = f"{path}: item [{index}] key 'answer'"
        if not isinstance(item, dict) or not isinstance(item.get("answer"), str):
            raise EvalError(f"{where}: expected a 'start-end' string")
        parts = item["answer"].split("-")
        if len(parts) != 2:
            raise EvalError(f"{where}: expected a 'start-end' string, got {item['answer']!r}")
        queries[index] = parse_window([_to_float(p, where) for p in parts], where)
    return queries


def _to_float(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise EvalError(f"{where}: {text!r} is not a number") from None


def recall_at_one(
    gt: Mapping[Any, Sequence[float]], predictions: Predictions, annotations: str, strict: bool
) -> dict[str, float]:
    """R1@t and mIoU of the first predicted window; a query without a prediction scores IoU 0."""
    if not gt:
        raise EvalError(f"{annotations}: holds no query")
    by_qid = index_by_qid(as_records(predictions), gt, annotations)
    iou = np.zeros(len(gt))
    for i, qid in enumerate(gt):
        record = by_qid.get(qid)
        if record is None:
            continue
        windows = parse_windows(require(record, PREDICTED_WINDOWS), f"{record.where}: key {PREDICTED_WINDOWS!r}", True)
        if windows:
            iou[i] = hull_iou(windows_array(windows[:1]), np.array([gt[qid]], dtype=np.float64))[0]
    metrics = {f"R1@{t}": 100 * float(np.mean(reaches(iou, t, strict))) for t in THRESHOLDS}
    metrics["mIoU"] = 100 * float(np.mean(iou))
    return metrics


def charades_sta(annotations: str, predictions: Predictions, *, strict: bool = False) -> dict[str, float]:
    return recall_at_one(load_charades_sta(annotations), predictions, annotations, strict)


def activitynet_captions_grounding(
    annotations: str, predictions: Predictions, *, strict: bool = False
) -> dict[str, float]:
    queries = {
        f"{vid}_{i}": window
        for vid, windows in load_activitynet_captions(annotations).items()
        for i, window in enumerate(windows)
    }
    return recall_at_one(queries, predictions, annotations, strict)


def tvgbench(annotations: str, predictions: Predictions, *, strict: bool = True) -> dict[str, float]:
    return recall_at_one(load_tvgbench(annotations), predictions, annotations, strict)


def activitynet_dtg(annotations: str, predictions: Predictions) -> dict[str, float]:
    """Mean over videos of the mean IoU of the i-th predicted window with the i-th sentence's window.

    TempR1's type-1 localisation reward in float64: sentence i is paired with window i; a sentence
    without a window scores 0, windows past the last sentence are ignored, a video without a prediction
    scores 0. Videos with no sentence have nothing to ground and are left out.
    """
    videos = {vid: windows for vid, windows in load_activitynet_captions(annotations).items() if windows}
    if not videos:
        raise EvalError(f"{annotations}: holds no video with a sentence")
    by_vid = index_by_qid(as_records(predictions), videos, annotations)
    per_video = np.zeros(len(videos))
    for v, (vid, gt) in enumerate(videos.items()):
        record = by_vid.get(vid)
        if record is None:
            continue
        windows = parse_windows(require(record, PREDICTED_WINDOWS), f"{record.where}: key {PREDICTED_WINDOWS!r}", True)
        paired = min(len(windows), len(gt))
        iou = np.zeros(len(gt))
        iou[:paired] = hull_iou(windows_array(windows[:paired]), windows_array(gt[:paired]))
        per_video[v] = np.mean(iou)
    return {"mIoU": 100 * float(np.mean(per_video))}
