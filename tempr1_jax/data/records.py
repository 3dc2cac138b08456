"""Pre-decoded video records on disk, and the random-access sources the pipeline reads samples from.

A prepared split is a folder:
    frames-00000.array_record   one record per video: its sampled, resized uint8 frames and their timestamps
    samples-00000.jsonl         one line per sample of those videos: {"record": i, **Sample.to_json()}
    shard-00000.json            written last: marks the shard finished (resume) and holds its bad-data entries
    report.json                 all bad data of the split, counted by kind and listed
    dataset_info.json           shards, record and sample counts, the sampling config, per-task counts

Frames are stored once per video, not once per sample: NExT-GQA asks ~6 questions per video, Charades-STA ~2.3.
A record is `MAGIC | uint32 header length | JSON header | raw frame bytes`, so reading it is a zstd decompression
(inside ArrayRecord) and a zero-copy `np.frombuffer`; no video codec runs in the training loop.

Opening a split checks every shard before any step runs: its frames file opens and holds the number of records its
shard-*.json says. A missing, corrupt or truncated shard (an interrupted copy, a full disk) is a `BadShardError`
naming the file and what is wrong, or, with `skip_bad_shards`, left out with a warning that counts the samples lost.
Corruption inside a shard that opens shows when its record is read, as an error naming the file and the record.
"""
from __future__ import annotations

import bisect
import copy
import dataclasses
import json
import os
import struct
import warnings
from typing import Iterable, Sequence

import grain
import numpy as np
from array_record.python.array_record_module import ArrayRecordReader

from tempr1_jax.data import annotations
from tempr1_jax.data.annotations import Sample
from tempr1_jax.processing import video_io, vision

MAGIC = b"T1VR"
_HEADER_LEN = struct.Struct("<I")
WRITER_OPTIONS = "group_size:1,zstd:3"  # one record per group: random access reads one video only


def encode_video_record(video: str, clip: video_io.DecodedVideo) -> bytes:
    header = {
        "video": video,
        "shape": list(clip.frames_THWC.shape),
        "timestamps": clip.timestamps_T.tolist(),
        "frame_indices": clip.frame_indices_T.tolist(),
        "sample_fps": clip.sample_fps,
        "duration": clip.duration,
        "video_fps": clip.video_fps,
        "total_frames": clip.total_frames,
        "original_hw": list(clip.original_hw),
    }
    head = json.dumps(header).encode()
    return MAGIC + _HEADER_LEN.pack(len(head)) + head + np.ascontiguousarray(clip.frames_THWC).tobytes()


def decode_video_record(data: bytes) -> video_io.DecodedVideo:
    if data[:4] != MAGIC:
        raise ValueError(f"not a tempr1 video record (magic {data[:4]!r}, expected {MAGIC!r})")
    (n,) = _HEADER_LEN.unpack_from(data, 4)
    header = json.loads(data[8: 8 + n])
    frames_THWC = np.frombuffer(data, np.uint8, offset=8 + n).reshape(header["shape"])
    return video_io.DecodedVideo(
        path=header["video"],
        frames_THWC=frames_THWC,
        timestamps_T=np.asarray(header["timestamps"], np.float64),
        frame_indices_T=np.asarray(header["frame_indices"], np.int64),
        sample_fps=header["sample_fps"],
        duration=header["duration"],
        video_fps=header["video_fps"],
        total_frames=header["total_frames"],
        original_hw=tuple(header["original_hw"]),
    )


@dataclasses.dataclass(frozen=True)
class Example:
    """What a source yields: a sample, its clip, and its index in the source (for determinism checks)."""

    index: int
    sample: Sample
    clip: video_io.DecodedVideo


def shard_name(kind: str, shard: int) -> str:
    ext = {"frames": "array_record", "samples": "jsonl", "shard": "json"}[kind]
    return f"{kind}-{shard:05d}.{ext}"


def _filter(samples: Iterable[tuple[int, Sample]], tasks: Sequence[str] | None) -> list[tuple[int, Sample]]:
    return [(r, s) for r, s in samples if tasks is None or s.task in tasks]


class BadShardError(RuntimeError):
    """A shard of a prepared split that cannot be read as its shard-*.json describes it."""


def shard_problem(split_dir: str, shard: int, num_records: int) -> str | None:
    """What is wrong with a shard's frames file, or None: it must open and hold the records its shard-*.json (and
    dataset_info.json) count."""
    summary_path = os.path.join(split_dir, shard_name("shard", shard))
    frames_path = os.path.join(split_dir, shard_name("frames", shard))
    if not os.path.exists(summary_path):
        return f"{shard_name('shard', shard)} is missing: the shard was never finished"
    with open(summary_path) as f:
        expected = json.load(f)["records"]
    if expected != num_records:
        return f"{shard_name('shard', shard)} counts {expected} records, dataset_info.json {num_records}"
    if not os.path.exists(frames_path):
        return "missing"
    try:
        reader = ArrayRecordReader(frames_path)
        try:
            found = reader.num_records()
        finally:
            reader.close()  # a truncated file may only complain here
    except RuntimeError as e:  # array_record's report of a corrupt file
        return f"unreadable ({e})"
    if found != expected:
        return f"holds {found} records, {shard_name('shard', shard)} says {expected} (truncated?)"
    return None


class RecordSource(grain.sources.RandomAccessDataSource):
    """Samples of one or more prepared splits (optionally only some tasks), with their frames from ArrayRecord.

    Every shard is checked when the source is built (see the module docstring); `skip_bad_shards` leaves bad ones
    out instead of raising, and lists them in `skipped` as (frames file, problem, samples lost)."""

    def __init__(self, split_dirs: str | Sequence[str], tasks: Sequence[str] | None = None,
                 skip_bad_shards: bool = False):
        split_dirs = [split_dirs] if isinstance(split_dirs, str) else list(split_dirs)
        frame_paths: list[str] = []
        self._starts: list[int] = []  # the first record number of each frame file
        self.skipped: list[tuple[str, str, int]] = []
        entries: list[tuple[int, Sample]] = []
        offset = 0  # records are numbered across all the frame files, in order
        for split_dir in split_dirs:
            info_path = os.path.join(split_dir, "dataset_info.json")
            if not os.path.exists(info_path):
                raise FileNotFoundError(f"{info_path} is missing: prepare the split with a builder in datasets/")
            with open(info_path) as f:
                info = json.load(f)
            for shard, num_records in enumerate(info["records_per_shard"]):
                frames_path = os.path.join(split_dir, shard_name("frames", shard))
                with open(os.path.join(split_dir, shard_name("samples", shard))) as f:
                    lines = [json.loads(line) for line in f]
                problem = shard_problem(split_dir, shard, num_records)
                if problem is not None:
                    if not skip_bad_shards:
                        raise BadShardError(
                            f"{frames_path}: {problem}. Delete {shard_name('shard', shard)} and rerun the split's "
                            "builder to rewrite the shard, or set data.skip_bad_shards = True to train without it")
                    lost = sum(tasks is None or d["task"] in tasks for d in lines)
                    self.skipped.append((frames_path, problem, lost))
                    continue
                frame_paths.append(frames_path)
                self._starts.append(offset)
                entries += _filter(((offset + d.pop("record"), Sample.from_json(d)) for d in lines), tasks)
                offset += num_records
        if self.skipped:
            warnings.warn(f"skipped {len(self.skipped)} bad shard(s), {sum(n for *_, n in self.skipped)} samples "
                          "lost: " + "; ".join(f"{p}: {why} ({n} samples)" for p, why, n in self.skipped))
        self._frame_paths = frame_paths
        self._frames = grain.sources.ArrayRecordDataSource(frame_paths) if frame_paths else None
        self._entries = entries
        self.split_dirs = split_dirs

    def only(self, tasks: Sequence[str]) -> "RecordSource":
        """The samples of `tasks` alone, sharing this source's (already checked) shards."""
        view = copy.copy(self)
        view._entries = _filter(self._entries, tasks)
        return view

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Example:
        record, sample = self._entries[index]
        try:
            data = self._frames[record]
        except RuntimeError as e:  # corruption inside a shard that opened
            k = bisect.bisect_right(self._starts, record) - 1
            raise BadShardError(f"{self._frame_paths[k]}: record {record - self._starts[k]} unreadable ({e})") from e
        return Example(index, sample, decode_video_record(data))

    @property
    def samples(self) -> list[Sample]:
        return [s for _, s in self._entries]

    def __repr__(self) -> str:
        return f"RecordSource({self.split_dirs}, {len(self)} samples)"


class VideoFileSource(grain.sources.RandomAccessDataSource):
    """The same examples as `RecordSource`, decoded from the mp4 files on every access (the slow path the
    benchmark compares against, and a way to evaluate on a folder without preparing it)."""

    def __init__(self, samples: Sequence[Sample], video_dir: str, sampling: vision.VideoSampling = vision.VideoSampling()):
        self._samples = list(samples)
        self._video_dir, self._sampling = video_dir, sampling

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, index: int) -> Example:
        sample = self._samples[index]
        clip = video_io.decode_video(video_io.find_video(self._video_dir, sample.video), self._sampling)
        clipped, _ = annotations.clip_to_video(sample, clip.duration)
        return Example(index, clipped or sample, clip)

    @property
    def samples(self) -> list[Sample]:
        return list(self._samples)

