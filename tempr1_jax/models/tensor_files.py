"""Reading and writing the safetensors format with numpy memory maps.

We parse the format ourselves (an 8-byte little-endian header length, a JSON header, then raw little-endian bytes)
so that bf16 tensors read without torch, slices stream straight from disk into device shards, and a damaged file
fails with an error that names it and says what is wrong.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Mapping

import ml_dtypes
import numpy as np

_DTYPES = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype(ml_dtypes.bfloat16),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
    "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
_NAMES = {v: k for k, v in _DTYPES.items()}


class CheckpointError(ValueError):
    """A checkpoint file or folder that cannot be used as it is."""


class SafetensorsFile:
    """Lazy, memory-mapped view of one .safetensors file: `f[key]` is a numpy memmap; slicing it reads only that."""

    def __init__(self, path: str):
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
                raw = fh.read(8)
                if len(raw) < 8:
                    raise CheckpointError(f"{path}: not a safetensors file (shorter than its 8-byte header length)")
                (n,) = struct.unpack("<Q", raw)
                if n > size - 8:
                    raise CheckpointError(f"{path}: corrupt safetensors file (header of {n} bytes in a {size}-byte file)")
                header = json.loads(fh.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise CheckpointError(f"{path}: corrupt safetensors header ({e})") from None
        self.metadata = header.pop("__metadata__", {}) or {}
        self._entries = header
        self._data_start = 8 + n
        self._size = size
        for key, e in header.items():
            begin, end = e["data_offsets"]
            if e["dtype"] not in _DTYPES:
                raise CheckpointError(f"{path}: tensor {key!r} has unsupported dtype {e['dtype']}")
            expected = int(np.prod(e["shape"], dtype=np.int64)) * _DTYPES[e["dtype"]].itemsize
            if end - begin != expected or self._data_start + end > size:
                raise CheckpointError(f"{path}: tensor {key!r} is truncated or its offsets are corrupt")

    def keys(self) -> list[str]:
        return list(self._entries)

    def shape(self, key: str) -> tuple[int, ...]:
        return tuple(self._entries[key]["shape"])

    def __getitem__(self, key: str) -> np.ndarray:
        e = self._entries[key]
        begin, _ = e["data_offsets"]
        dtype, shape = _DTYPES[e["dtype"]], tuple(e["shape"])
        if not shape or 0 in shape:
            return np.zeros(shape, dtype)
        return np.memmap(self.path, dtype=dtype, mode="r", offset=self._data_start + begin, shape=shape)


def write_safetensors(path: str, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, str] | None = None):
    header, offset = {}, 0
    for key, arr in tensors.items():
        arr = np.asarray(arr)
        if arr.dtype not in _NAMES:
            raise TypeError(f"tensor {key!r}: dtype {arr.dtype} has no safetensors name")
        header[key] = {"dtype": _NAMES[arr.dtype], "shape": list(arr.shape),
                       "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    if metadata:
        header["__metadata__"] = dict(metadata)
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the format aligns the data section to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for arr in tensors.values():
            fh.write(np.ascontiguousarray(arr).tobytes())
    os.replace(tmp, path)
