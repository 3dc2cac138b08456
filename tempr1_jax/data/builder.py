"""The shared builder core: parsed annotations + a video folder -> a prepared split (see records.py for the layout).

Every script in datasets/ is an annotation parser plus a call to `main` (or `build_split`). The core does the rest:
- decode each video once (video_io.decode_video) and write its frames to ArrayRecord, in shards of N videos;
- bad data is never silently dropped: missing, empty, too short or corrupt videos, broken annotation lines,
  start > end and intervals that start past the video's end skip the sample; ends past the video's end are clipped.
  All of it is counted and listed in report.json; `strict=True` (--strict) turns every skip into an error;
- a shard is finished when its shard-XXXXX.json exists (written last, after atomic renames), and a rerun skips
  finished shards whose inputs and settings are unchanged (a fingerprint), so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import itertools
import json
import multiprocessing
import os
from typing import Callable, Iterator, Sequence

from array_record.python.array_record_module import ArrayRecordWriter
from tqdm import tqdm

from tempr1_jax.data import annotations, records
from tempr1_jax.data.annotations import Problem, Sample
from tempr1_jax.processing import video_io, vision

_DECODE_KIND = {"missing": "missing_video", "empty": "empty_video", "too_short": "empty_video",
                "unreadable": "corrupt_video", "corrupt": "corrupt_video"}


class BadDataError(RuntimeError):
    """Raised in strict mode at the first piece of bad data that would otherwise be skipped."""


@dataclasses.dataclass
class Annotations:
    """What a parser returns: the usable samples and the problems found while reading the files."""

    source: str
    samples: list[Sample] = dataclasses.field(default_factory=list)
    problems: list[Problem] = dataclasses.field(default_factory=list)

    def add(self, sample: Sample) -> None:
        """Keeps the sample if it passes `annotations.check_sample`, else records why not."""
        problem = annotations.check_sample(sample)
        if problem is None:
            self.samples.append(sample)
        else:
            self.problems.append(problem)

    @contextlib.contextmanager
    def entry(self, where: str) -> Iterator[None]:
        """Parses one line/entry: a malformed one (missing field, bad number, wrong type) becomes a broken_line."""
        try:
            yield
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as e:
            self.problems.append(Problem("broken_line", where, f"{type(e).__name__}: {e}"))


def read_samples_jsonl(path: str, source: str) -> Annotations:
    """Annotations already in the `Sample` schema, one JSON object a line (the synthetic corpus' format)."""
    parsed = Annotations(source)
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if line.strip():
                with parsed.entry(f"{path}:{lineno}"):
                    parsed.add(Sample.from_json(json.loads(line)))
    return parsed


def _fingerprint(videos: Sequence[tuple[str, list[Sample]]], sampling: vision.VideoSampling) -> str:
    payload = json.dumps([dataclasses.asdict(sampling), records.WRITER_OPTIONS,
                          [(v, [s.to_json() for s in ss]) for v, ss in videos]], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _write_atomic(path: str, text: str) -> None:
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def _build_shard(out_dir: str, shard: int, videos, video_dir: str, sampling, strict: bool, fingerprint: str, bar,
                 pool: concurrent.futures.Executor | None) -> dict:
    problems: list[Problem] = []

    def skip(problem: Problem) -> None:
        if strict:
            raise BadDataError(f"{problem.kind} at {problem.where}: {problem.detail}")
        problems.append(problem)

    frames_path = os.path.join(out_dir, records.shard_name("frames", shard))
    writer = ArrayRecordWriter(frames_path + ".tmp", records.WRITER_OPTIONS)
    lines: list[str] = []
    num_records = 0
    paths = [video_io.find_video(video_dir, video) for video, _ in videos]
    # In order either way, so shards are deterministic; workers import only video_io, which starts fast.
    decoded = (pool.map(video_io.try_decode_video, paths, itertools.repeat(sampling)) if pool
               else (video_io.try_decode_video(p, sampling) for p in paths))
    try:
        for (video, samples), (clip, error) in zip(videos, decoded):
            bar.update(1)
            if error is not None:
                skip(Problem(_DECODE_KIND[error.reason], video, f"{error} ({len(samples)} sample(s) skipped)"))
                continue
            kept = []
            for sample in samples:
                clipped, problem = annotations.clip_to_video(sample, clip.duration)
                if problem is not None:
                    (problems.append if problem.kind in annotations.FIX_KINDS else skip)(problem)
                if clipped is not None:
                    kept.append(clipped)
            if not kept:
                continue
            writer.write(records.encode_video_record(video, clip))
            lines += [json.dumps({"record": num_records, **s.to_json()}) for s in kept]
            num_records += 1
    finally:
        writer.close()
    os.replace(frames_path + ".tmp", frames_path)
    _write_atomic(os.path.join(out_dir, records.shard_name("samples", shard)), "".join(l + "\n" for l in lines))
    summary = {"fingerprint": fingerprint, "records": num_records, "samples": len(lines),
               "problems": [p.to_json() for p in problems]}
    _write_atomic(os.path.join(out_dir, records.shard_name("shard", shard)), json.dumps(summary))
    return summary


def _finished(out_dir: str, shard: int, fingerprint: str) -> dict | None:
    path = os.path.join(out_dir, records.shard_name("shard", shard))
    if not os.path.exists(path):
        return None
    with open(path) as f:
        summary = json.load(f)
    return summary if summary["fingerprint"] == fingerprint else None


def build_split(
    parsed: Annotations,
    video_dir: str,
    out_dir: str,
    sampling: vision.VideoSampling = vision.VideoSampling(),
    videos_per_shard: int = 64,
    strict: bool = False,
    progress: bool = True,
    workers: int = 0,
) -> dict:
    """Writes the split and its report; returns dataset_info (also written as dataset_info.json). `workers` > 0
    decodes videos in that many processes (spawned, so no state of the parent's threads is inherited)."""
    if strict and parsed.problems:
        p = parsed.problems[0]
        raise BadDataError(f"{len(parsed.problems)} bad annotation(s); first: {p.kind} at {p.where}: {p.detail}")
    os.makedirs(out_dir, exist_ok=True)
    by_video: dict[str, list[Sample]] = collections.defaultdict(list)
    for sample in parsed.samples:  # dicts keep first-appearance order: shards are deterministic
        by_video[sample.video].append(sample)
    videos = list(by_video.items())
    shards = [videos[i: i + videos_per_shard] for i in range(0, len(videos), videos_per_shard)]
    summaries, resumed = [], 0
    pool = (concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            if workers > 0 else None)
    with tqdm(total=len(videos), desc=f"{parsed.source} -> {out_dir}", unit="video", disable=not progress) as bar, \
            pool or contextlib.nullcontext():
        for shard, shard_videos in enumerate(shards):
            fingerprint = _fingerprint(shard_videos, sampling)
            summary = _finished(out_dir, shard, fingerprint)
            if summary is not None:
                skipped = [p for p in summary["problems"] if p["kind"] in annotations.SKIP_KINDS]
                if strict and skipped:  # finished by an earlier, lenient run
                    p = skipped[0]
                    raise BadDataError(f"{p['kind']} at {p['where']}: {p['detail']} (shard {shard}, built earlier)")
                resumed += 1
                bar.update(len(shard_videos))
            else:
                summary = _build_shard(out_dir, shard, shard_videos, video_dir, sampling, strict, fingerprint, bar,
                                       pool)
            summaries.append(summary)

    problems = [p.to_json() for p in parsed.problems] + [p for s in summaries for p in s["problems"]]
    task_counts = collections.Counter()
    for shard in range(len(shards)):
        with open(os.path.join(out_dir, records.shard_name("samples", shard))) as f:
            task_counts.update(json.loads(line)["task"] for line in f)
    report = {
        "source": parsed.source,
        "samples_parsed": len(parsed.samples),
        "samples_written": sum(s["samples"] for s in summaries),
        "videos_written": sum(s["records"] for s in summaries),
        "counts": dict(collections.Counter(p["kind"] for p in problems)),
        "problems": problems,
    }
    _write_atomic(os.path.join(out_dir, "report.json"), json.dumps(report, indent=1))
    info = {
        "source": parsed.source,
        "num_shards": len(shards),
        "records_per_shard": [s["records"] for s in summaries],
        "num_samples": report["samples_written"],
        "num_videos": report["videos_written"],
        "task_counts": dict(task_counts),
        "sampling": dataclasses.asdict(sampling),
        "writer_options": records.WRITER_OPTIONS,
        "resumed_shards": resumed,
    }
    _write_atomic(os.path.join(out_dir, "dataset_info.json"), json.dumps(info, indent=1))
    if progress:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(report["counts"].items())) or "none"
        print(f"{parsed.source}: {info['num_samples']} samples from {info['num_videos']} videos in {len(shards)} shards "
              f"({resumed} resumed); bad data: {counts}; see {os.path.join(out_dir, 'report.json')}")
    return info


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    d = vision.VideoSampling()
    g = parser.add_argument_group("output and bad data")
    g.add_argument("--videos", required=True, help="folder holding the video files (names as in the annotations; "
                   f"a missing extension is searched among {', '.join(video_io.VIDEO_EXTENSIONS)})")
    g.add_argument("--out", required=True, help="output folder of the prepared split (created; reruns resume)")
    g.add_argument("--strict", action="store_true", help="fail on the first piece of bad data instead of skipping it")
    g.add_argument("--videos-per-shard", type=int, default=64, help="videos per ArrayRecord shard (default 64)")
    g.add_argument("--workers", type=int, default=0, help="decode in this many processes (default 0: in this one)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar or summary line")
    g = parser.add_argument_group("frame sampling (qwen-vl-utils rules; defaults are TempR1's)")
    g.add_argument("--fps", type=float, default=d.fps, help=f"frames per second to sample (default {d.fps})")
    g.add_argument("--max-frames", type=int, default=d.max_frames, help=f"default {d.max_frames}")
    g.add_argument("--max-visual-tokens", type=int, default=d.max_visual_tokens, help=f"default {d.max_visual_tokens}")
    g.add_argument("--min-pixels", type=int, default=d.min_pixels, help=f"per frame (default {d.min_pixels})")
    g.add_argument("--max-pixels", type=int, default=d.max_pixels, help=f"per frame (default {d.max_pixels})")


def sampling_from_args(args: argparse.Namespace) -> vision.VideoSampling:
    return dataclasses.replace(vision.VideoSampling(), fps=args.fps, max_frames=args.max_frames,
                               max_visual_tokens=args.max_visual_tokens, min_pixels=args.min_pixels,
                               max_pixels=args.max_pixels)


def main(
    description: str,
    add_arguments: Callable[[argparse.ArgumentParser], None],
    parse: Callable[[argparse.Namespace], Annotations],
    argv: Sequence[str] | None = None,
) -> dict:
    """The command line of every builder: its own annotation flags, the common ones, then parse + build_split."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    add_common_arguments(parser)
    args = parser.parse_args(argv)
    return build_split(parse(args), args.videos, args.out, sampling_from_args(args), args.videos_per_shard,
                       args.strict, not args.no_progress, args.workers)


def annotations_main(description: str, parse: Callable[[str], Annotations], annotations_help: str,
                     argv: Sequence[str] | None = None) -> dict:
    """`main` for a builder whose one own flag is `--annotations`, the official file its `parse` reads."""
    add = lambda p: p.add_argument("--annotations", required=True, help=annotations_help)
    return main(description, add, lambda a: parse(a.annotations), argv)
