"""Reading annotation and prediction files, with errors that say where the input is wrong.

Every record keeps a `where` label ("preds.jsonl:12" for a line, "val_2.json: key 'v_x'" for a key,
"predictions[3]" for an in-memory record) so that a bad value is reported at its source.
"""
from __future__ import annotations

import dataclasses
import json
import math
import numbers
from typing import Any, Iterable, Mapping, Sequence

import numpy as np


class EvalError(ValueError):
    """Bad input to an evaluation: the message names the file and the line or key at fault."""


@dataclasses.dataclass(frozen=True)
class Record:
    data: Any
    where: str


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise EvalError(f"{path}: cannot read file: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise EvalError(f"{path}:{e.lineno}: not valid JSON: {e.msg}") from None


def read_jsonl(path: str) -> list[Record]:
    """One record per non-blank line; blank lines (such as a trailing newline) carry nothing."""
    records = []
    try:
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                where = f"{path}:{lineno}"
                try:
                    records.append(Record(json.loads(line), where))
                except json.JSONDecodeError as e:
                    raise EvalError(f"{where}: not valid JSON: {e.msg}") from None
    except OSError as e:
        raise EvalError(f"{path}: cannot read file: {e.strerror}") from None
    return records


def as_records(predictions: str | Sequence[Mapping[str, Any]]) -> list[Record]:
    """A JSONL path, or records already in memory (as the training loop's eval stage passes them)."""
    if isinstance(predictions, str):
        return read_jsonl(predictions)
    return [Record(d, f"predictions[{i}]") for i, d in enumerate(predictions)]


def as_document(predictions: str | Mapping[str, Any]) -> tuple[Any, str]:
    """A JSON path, or the already-parsed object; returns it with the name used in errors."""
    if isinstance(predictions, str):
        return read_json(predictions), predictions
    return predictions, "predictions"


def require(record: Record, key: str) -> Any:
    if not isinstance(record.data, Mapping):
        raise EvalError(f"{record.where}: expected a JSON object, got {type(record.data).__name__}")
    if key not in record.data:
        raise EvalError(f"{record.where}: missing key {key!r}")
    return record.data[key]


def is_number(value: Any) -> bool:
    # JSON true/false decode to bool, which Python counts as an int; a window bound is never a bool.
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def parse_number(value: Any, where: str) -> float:
    if not is_number(value):
        raise EvalError(f"{where}: expected a finite number, got {value!r}")
    return float(value)


def parse_window(value: Any, where: str, with_score: bool = False) -> list[float]:
    """[start, end] (or [start, end, score] where scores are allowed) as floats.

    Reversed, zero-length and out-of-video windows are returned as given: each metric scores them the
    way its official script does.
    """
    sizes = (2, 3) if with_score else (2,)
    if not (isinstance(value, (list, tuple)) and len(value) in sizes and all(is_number(v) for v in value)):
        shape = "[start, end] or [start, end, score]" if with_score else "a pair [start, end]"
        raise EvalError(f"{where}: window must be {shape} of finite numbers, got {value!r}")
    return [float(v) for v in value]


def parse_windows(value: Any, where: str, with_score: bool = False) -> list[list[float]]:
    if not isinstance(value, (list, tuple)):
        raise EvalError(f"{where}: expected a list of windows, got {value!r}")
    return [parse_window(w, f"{where}[{i}]", with_score) for i, w in enumerate(value)]


def windows_array(windows: Sequence[Sequence[float]]) -> np.ndarray:
    """(N, 2) float64 array of [start, end] rows (any score column dropped); (0, 2) when empty."""
    return np.array([w[:2] for w in windows], dtype=np.float64).reshape(-1, 2)


def index_by_qid(records: Iterable[Record], known: Mapping[Any, Any], annotations: str) -> dict[Any, Record]:
    """qid -> record, rejecting records without a qid, qids absent from the annotations, and repeats."""
    by_qid: dict[Any, Record] = {}
    for record in records:
        qid = require(record, "qid")
        if not isinstance(qid, (int, str)) or isinstance(qid, bool) or qid not in known:
            raise EvalError(f"{record.where}: qid {qid!r} is not in the annotations {annotations}")
        if qid in by_qid:
            raise EvalError(f"{record.where}: qid {qid!r} repeats the prediction at {by_qid[qid].where}")
        by_qid[qid] = record
    return by_qid
