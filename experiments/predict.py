"""Ask a Qwen2.5-VL checkpoint about a video and print its answer.

    python experiments/predict.py --checkpoint=DIR --video=FILE --query="When does the red circle appear?"

DIR is a Hugging Face model folder (config.json + safetensors), such as Qwen/Qwen2.5-VL-7B-Instruct downloaded
elsewhere, or one exported by tempr1-jax. The video is decoded with PyAV at --fps (2 by default) under the
qwen-vl-utils frame and pixel budgets.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None) -> int:
    from tempr1_jax.processing.vision import VideoSampling

    d = VideoSampling()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="Hugging Face model folder")
    p.add_argument("--video", required=True, help="video file (mp4, mkv, webm, ...)")
    p.add_argument("--query", required=True, help="the question or instruction")
    p.add_argument("--fps", type=float, default=d.fps, help="frames sampled per second")
    p.add_argument("--max_frames", type=int, default=d.max_frames)
    p.add_argument("--min_pixels", type=int, default=d.min_pixels, help="per-frame pixel floor")
    p.add_argument("--max_pixels", type=int, default=d.max_pixels, help="per-frame pixel ceiling")
    p.add_argument("--total_pixels", type=int, default=d.total_pixels, help="pixel budget over all frames")
    p.add_argument("--max_visual_tokens", type=int, default=d.max_visual_tokens)
    p.add_argument("--max_new_tokens", type=int, default=256)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="compute dtype")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the checkpoint's, else the shipped one)")
    args = p.parse_args(argv)

    import jax.numpy as jnp

    from tempr1_jax.models import load_pretrained
    from tempr1_jax.processing.processor import encode_video_prompt
    from tempr1_jax.processing.tokenizer import load_tokenizer
    from tempr1_jax.processing.video_io import decode_video
    from tempr1_jax.sampling import SamplingConfig
    from tempr1_jax.sampling.answer import answer

    sampling = VideoSampling(fps=args.fps, max_frames=args.max_frames, min_pixels=args.min_pixels,
                             max_pixels=args.max_pixels, total_pixels=args.total_pixels,
                             max_visual_tokens=args.max_visual_tokens)
    video = decode_video(args.video, sampling)
    own = os.path.join(args.checkpoint, "tokenizer.json")
    tokenizer = load_tokenizer(args.tokenizer or (own if os.path.isfile(own) else None))
    t0 = time.perf_counter()
    model = load_pretrained(args.checkpoint, dtype=getattr(jnp, args.dtype))
    prompt = encode_video_prompt(tokenizer, model.cfg, video.frames_THWC, video.sample_fps, args.query)
    t1 = time.perf_counter()
    (text,) = answer(model, tokenizer, [prompt], SamplingConfig(max_new_tokens=args.max_new_tokens))
    t2 = time.perf_counter()
    T, H, W, _ = video.frames_THWC.shape
    print(f"video: {args.video} ({video.duration:.1f} s, {T} frames at {video.sample_fps:.2f} fps, {W}x{H}, "
          f"{len(prompt.ids)} prompt tokens); load {t1 - t0:.1f} s, generate {t2 - t1:.1f} s", file=sys.stderr)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
