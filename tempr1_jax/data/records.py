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
"""
from __future__ import annotations

import dataclasses
import json
import os
import struct
from typing import Iterable, Sequence

import grain
import numpy as np

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


class RecordSource(grain.sources.RandomAccessDataSource):
    """Samples of one or more prepared splits (optionally only some tasks), with their frames from ArrayRecord."""

    def __init__(self, split_dirs: str | Sequence[str], tasks: Sequence[str] | None = None):
        split_dirs = [split_dirs] if isinstance(split_dirs, str) else list(split_dirs)
        frame_paths: list[str] = []
        entries: list[tuple[int, Sample]] = []
        offset = 0  # records are numbered across all the frame files, in order
        for split_dir in split_dirs:
            info_path = os.path.join(split_dir, "dataset_info.json")
            if not os.path.exists(info_path):
                raise FileNotFoundError(f"{info_path} is missing: prepare the split with a builder in datasets/")
            with open(info_path) as f:
                info = json.load(f)
            for shard, num_records in enumerate(info["records_per_shard"]):
                frame_paths.append(os.path.join(split_dir, shard_name("frames", shard)))
                with open(os.path.join(split_dir, shard_name("samples", shard))) as f:
                    lines = [json.loads(line) for line in f]
                entries += _filter(((offset + d.pop("record"), Sample.from_json(d)) for d in lines), tasks)
                offset += num_records
        self._frames = grain.sources.ArrayRecordDataSource(frame_paths) if frame_paths else None
        self._entries = entries
        self.split_dirs = split_dirs

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, index: int) -> Example:
        record, sample = self._entries[index]
        return Example(index, sample, decode_video_record(self._frames[record]))

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

