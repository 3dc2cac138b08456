"""Samples per second from pre-decoded records against decoding the same mp4 files on the fly, same output.

Renders a synthetic corpus at a realistic size (default 640x360, 24 fps, ~16 s clips), prepares it into records,
then encodes every sample (read, patchify, prompt, tokenize) from both sources with TempR1's sampling (2 fps, at most
3584 visual tokens) and checks that both give identical features. Prints samples/s, the ratio, and each path's
per-sample host cost against a GRPO step's budget per prompt (~6.8 s per prompt group for Qwen2.5-VL-7B on one H100
at 40% MFU: about 2.7 PFLOP per group of 8 completions of a 3.75k-token prompt, update with remat included).

    python experiments/bench/data_throughput.py            # ~2 min on 2 cores, most of it rendering (cached)
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
from tempr1_jax.data import builder, pipeline, records, synthetic  # noqa: E402
from tempr1_jax.models.config import qwen2_5_vl_7b  # noqa: E402
from tempr1_jax.processing import vision  # noqa: E402
from tempr1_jax.processing.tokenizer import load_tokenizer  # noqa: E402


def encode_all(source, encode) -> tuple[list, float]:
    encode.map(source[0])  # warm-up: tokenizer and allocator, outside the timing
    start = time.perf_counter()
    features = [encode.map(source[i]) for i in range(len(source))]
    return features, time.perf_counter() - start


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--videos", type=int, default=12, help="corpus size (default 12)")
    p.add_argument("--resolution", default="360x640", help="HxW of the rendered mp4 (default 360x640)")
    p.add_argument("--render-fps", type=float, default=24.0)
    p.add_argument("--duration", type=float, nargs=2, default=(12.0, 20.0), help="clip length range, seconds")
    p.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "tempr1_data_bench"))
    p.add_argument("--step-seconds-per-prompt", type=float, default=6.8,
                   help="GRPO step budget per prompt group and accelerator (default 6.8 s: 7B on one H100 at 40% MFU)")
    args = p.parse_args()

    height, width = (int(x) for x in args.resolution.split("x"))
    cfg = synthetic.SyntheticConfig(num_samples=args.videos, seed=0, duration=tuple(args.duration),
                                    fps=args.render_fps, resolution=(height, width))
    tag = f"{height}x{width}_{args.render_fps:g}fps_{args.duration[0]:g}-{args.duration[1]:g}s"
    video_dir = os.path.join(args.workdir, f"videos_{tag}")
    ann = os.path.join(video_dir, "annotations.jsonl")
    split = os.path.join(args.workdir, f"records_{tag}")
    sampling = vision.VideoSampling()

    t0 = time.perf_counter()
    synthetic.write_corpus(cfg, video_dir, ann)
    t1 = time.perf_counter()
    builder.build_split(builder.read_samples_jsonl(ann, "synthetic"), video_dir, split, sampling)
    t2 = time.perf_counter()

    from_records = records.RecordSource(split)
    from_files = records.VideoFileSource(from_records.samples, video_dir, sampling)
    encode = pipeline.EncodeSample(qwen2_5_vl_7b(), load_tokenizer(), think=True)
    feats_r, secs_r = encode_all(from_records, encode)
    feats_f, secs_f = encode_all(from_files, encode)
    for a, b in zip(feats_r, feats_f):
        for field in dataclasses.fields(a):
            x, y = getattr(a, field.name), getattr(b, field.name)
            if not np.array_equal(x, y):
                raise AssertionError(f"records and on-the-fly decode differ in {field.name}")

    batch_size = 4
    by_task = pipeline.task_sources([split])
    ds = pipeline.make_dataset(by_task, pipeline.PipelineConfig(batch_size=batch_size,
                                                                task_weights={t: 1.0 for t in by_task}))
    start = time.perf_counter()
    num_batches = sum(1 for _ in ds)
    secs_b = time.perf_counter() - start

    n = len(from_records)
    clip = from_records[0].clip
    tokens = np.mean([len(f.pixel_values_SP) // 4 for f in feats_r])
    size_mb = sum(os.path.getsize(os.path.join(split, f)) for f in os.listdir(split) if f.endswith("array_record"))
    print(f"\ncorpus: {n} samples, {height}x{width} @ {args.render_fps:g} fps, {args.duration[0]:g}-"
          f"{args.duration[1]:g} s; sampled to {clip.frames_THWC.shape[1]}x{clip.frames_THWC.shape[2]} at 2 fps, "
          f"{tokens:.0f} visual tokens per sample on average")
    print(f"render {t1 - t0:.1f} s, prepare records {t2 - t1:.1f} s (both cached after the first run); records "
          f"{size_mb / 2**20:.1f} MiB ({size_mb / n / 2**20:.2f} MiB per video, zstd)")
    print("identical features from both sources: yes")
    print(f"{'path':<28}{'samples/s':>10}{'ms/sample':>11}{'of step budget':>16}")
    budget = args.step_seconds_per_prompt
    for name, secs in (("pre-decoded records", secs_r), ("mp4 decoded on the fly", secs_f)):
        print(f"{name:<28}{n / secs:>10.1f}{1000 * secs / n:>11.1f}{100 * secs / n / budget:>15.2f}%")
    print(f"{'records, batched (B=4)':<28}{num_batches * batch_size / secs_b:>10.1f}"
          f"{1000 * secs_b / (num_batches * batch_size):>11.1f}"
          f"{100 * secs_b / (num_batches * batch_size) / budget:>15.2f}%   (+ bucket padding, M-RoPE positions)")
    print(f"ratio records / on-the-fly: {secs_f / secs_r:.1f}x faster (one host core per process; budget = "
          f"{budget:g} s per prompt group per accelerator)")


if __name__ == "__main__":
    main()
