"""Ask a Qwen2.5-VL checkpoint about a video: a free question, or one of TempR1's five tasks in its training prompt.

    python experiments/predict.py --checkpoint=DIR --video=FILE --query="When does the red circle appear?"
    python experiments/predict.py --checkpoint=DIR --video=FILE --task=tg --query="a person opens the door" \\
        --plot=timeline.png
    ... --task=dtg --sentences "A man walks in." "He sits down."     (dense grounding: one interval per sentence)
    ... --task=vhd --query="the dog catches the ball"                (highlights: every matching segment)
    ... --task=gvqa --query="Why does the man stop?" --options "a" "b" "c" "d" "e"   (answer + evidence)
    ... --task=tal --query="high jump"                               (every instance of the action)

DIR is a Hugging Face model folder (config.json + safetensors), such as Qwen/Qwen2.5-VL-7B-Instruct downloaded
elsewhere, or one exported by tempr1-jax. The video is decoded with PyAV at --fps (2 by default) under the
qwen-vl-utils frame and pixel budgets. With --task the prompt is the one the task was trained with
(tempr1_jax/data/prompts.py), the answer is parsed by the rewards' grammar, and its intervals are printed in seconds
and mm:ss; --plot draws them on a timeline under thumbnails of the video's frames.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tempr1_jax.rewards.tasks import TASKS  # noqa: E402

TASK_NAMES = {"tg": "temporal grounding", "dtg": "dense temporal grounding", "vhd": "video highlight detection",
              "gvqa": "grounded video QA", "tal": "temporal action localization"}


def task_sample(task: str, query: str | None = None, sentences=(), options=()):
    """The question as a `Sample` without ground truth, which `prompts.prompt_text` turns into the task's prompt."""
    from tempr1_jax.data.annotations import OPTION_LETTERS, Sample

    if task == "dtg":
        if not sentences:
            raise ValueError("--task=dtg needs --sentences, the sentences to find, in order")
        queries = tuple(sentences)
    else:
        if not query:
            what = {"tg": "the moment's description", "vhd": "the highlight query", "gvqa": "the question",
                    "tal": "the action's name"}
            raise ValueError(f"--task={task} needs --query, {what[task]}")
        queries = (query,)
    if task == "gvqa" and len(options) != len(OPTION_LETTERS):
        raise ValueError(f"--task=gvqa needs --options with {len(OPTION_LETTERS)} answers, got {len(options)}")
    return Sample(uid="predict", task=task, video="", queries=queries, intervals=(), options=tuple(options))


def clock(seconds: float) -> str:
    """mm:ss.s (h:mm:ss.s past an hour)."""
    m, s = divmod(seconds, 60)
    h, m = divmod(int(m), 60)
    return f"{h}:{m:02d}:{s:04.1f}" if h else f"{m:02d}:{s:04.1f}"


def describe(sample, parsed) -> list[str]:
    """The parsed answer, one line per interval (labelled by its sentence for dtg), in seconds and mm:ss."""
    from tempr1_jax.data.annotations import OPTION_LETTERS

    if not parsed.well_formed:
        return [f"the answer is not in the {sample.task} format, so it has no intervals"]
    lines = []
    if sample.task == "gvqa":
        lines.append(f"answer   ({OPTION_LETTERS[parsed.letter]}) {sample.options[parsed.letter]}")
    for i, (s, e) in enumerate(parsed.intervals):
        label = f'"{sample.queries[i]}"' if sample.task == "dtg" and i < len(sample.queries) else ""
        lines.append(f"{i + 1:>3}. {s:8.1f} s - {e:8.1f} s   {clock(s)} - {clock(e)}   {label}".rstrip())
    return lines


def plot_timeline(video, sample, parsed, path: str, truth=None, thumbnails: int = 8) -> None:
    """The answer's intervals (and the ground truth's, if given) on the video's time axis, under thumbnails of evenly
    spaced sampled frames, each spanning the stretch of time nearest to its frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    frames, times, duration = video.frames_THWC, video.timestamps_T, video.duration
    picks = np.unique(np.linspace(0, len(frames) - 1, min(thumbnails, len(frames))).round().astype(int))
    edges = np.concatenate([[0.0], (times[picks][1:] + times[picks][:-1]) / 2, [duration]])
    lanes = [f"{i + 1}. {q[:28]}" for i, q in enumerate(sample.queries)] if sample.task == "dtg" else [sample.task]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 1.8 + 0.45 * len(lanes)), sharex=True,
                                      gridspec_kw={"height_ratios": [1.6, 0.45 * len(lanes) + 0.3]})
    for k, i in enumerate(picks):
        pad = 0.02 * (edges[k + 1] - edges[k])
        top.imshow(frames[i], extent=(edges[k] + pad, edges[k + 1] - pad, 0, 1), aspect="auto")
        top.annotate(clock(float(times[i])), ((edges[k] + edges[k + 1]) / 2, 0), xytext=(0, -9),
                     textcoords="offset points", ha="center", fontsize=7)
    top.set(xlim=(0, duration), ylim=(0, 1), yticks=[])
    top.set_title(f"{TASK_NAMES[sample.task]}: {' / '.join(sample.queries)[:110]}", fontsize=9, loc="left")
    # Each lane: the answer on its upper half, the ground truth on its lower half. dtg has one lane per sentence.
    for intervals, y0, color, label in ((parsed.intervals, 0.5, "tab:orange", "answer"),
                                        (truth or (), 0.1, "tab:green", "ground truth")):
        for i, (s, e) in enumerate(intervals):
            y = len(lanes) - 1 - (i if sample.task == "dtg" else 0) + y0
            bottom.broken_barh([(s, max(e - s, duration / 400))], (y, 0.4), color=color,
                               label=label if i == 0 else None)
            bottom.text(s, y + 0.2, f" {clock(s)}-{clock(e)}", va="center", fontsize=7)
    bottom.set_yticks(np.arange(len(lanes)) + 0.5, list(reversed(lanes)), fontsize=8)
    bottom.set(ylim=(0, len(lanes)), xlabel="seconds")
    if parsed.intervals or truth:
        bottom.legend(fontsize=7, loc="upper right")
    if not parsed.well_formed:
        bottom.text(duration / 2, len(lanes) / 2, "answer not in the task's format", ha="center", va="center",
                    color="tab:red")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> int:
    from tempr1_jax.processing.vision import VideoSampling

    d = VideoSampling()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True, help="Hugging Face model folder")
    p.add_argument("--video", required=True, help="video file (mp4, mkv, webm, ...)")
    p.add_argument("--task", choices=TASKS, help="ask in the task's trained prompt and parse the answer's intervals")
    p.add_argument("--query", help="the question (no --task), the description (tg), highlight query (vhd), "
                                   "question (gvqa) or action (tal)")
    p.add_argument("--sentences", nargs="+", default=(), help="dtg: the sentences to find, in order")
    p.add_argument("--options", nargs="+", default=(), help="gvqa: the five answer options, A to E")
    p.add_argument("--think", action=argparse.BooleanOptionalAction, default=True,
                   help="with --task: ask for a <think> block first, as TempR1 trains (--no-think for the demo)")
    p.add_argument("--plot", help="with --task: write a timeline of the answer over the video's frames (PNG)")
    p.add_argument("--fps", type=float, default=d.fps, help="frames sampled per second")
    p.add_argument("--max_frames", type=int, default=d.max_frames)
    p.add_argument("--min_pixels", type=int, default=d.min_pixels, help="per-frame pixel floor")
    p.add_argument("--max_pixels", type=int, default=d.max_pixels, help="per-frame pixel ceiling")
    p.add_argument("--total_pixels", type=int, default=d.total_pixels, help="pixel budget over all frames")
    p.add_argument("--max_visual_tokens", type=int, default=d.max_visual_tokens)
    p.add_argument("--max_new_tokens", type=int, default=256)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"], help="compute dtype")
    p.add_argument("--tokenizer", default=None, help="tokenizer.json (default: the checkpoint folder's own)")
    args = p.parse_args(argv)
    try:
        sample = task_sample(args.task, args.query, args.sentences, args.options) if args.task else None
    except ValueError as e:
        p.error(str(e))
    if not args.task and (not args.query or args.plot):
        p.error("without --task, --query is required and --plot is not available (a free answer has no intervals)")

    import jax.numpy as jnp

    from tempr1_jax.data.prompts import prompt_text
    from tempr1_jax.models import load_pretrained, read_config
    from tempr1_jax.processing.processor import encode_video_prompt
    from tempr1_jax.processing.tokenizer import tokenizer_for
    from tempr1_jax.processing.video_io import decode_video
    from tempr1_jax.rewards.grammar import parse
    from tempr1_jax.sampling import SamplingConfig
    from tempr1_jax.sampling.answer import answer

    sampling = VideoSampling(fps=args.fps, max_frames=args.max_frames, min_pixels=args.min_pixels,
                             max_pixels=args.max_pixels, total_pixels=args.total_pixels,
                             max_visual_tokens=args.max_visual_tokens)
    video = decode_video(args.video, sampling)
    tokenizer = tokenizer_for(read_config(args.checkpoint).text.vocab_size, args.tokenizer or "", args.checkpoint)
    t0 = time.perf_counter()
    model = load_pretrained(args.checkpoint, dtype=getattr(jnp, args.dtype))
    text = prompt_text(sample, video.duration, args.think) if sample else args.query
    prompt = encode_video_prompt(tokenizer, model.cfg, video.frames_THWC, video.sample_fps, text)
    t1 = time.perf_counter()
    (reply,) = answer(model, tokenizer, [prompt], SamplingConfig(max_new_tokens=args.max_new_tokens))
    t2 = time.perf_counter()
    T, H, W, _ = video.frames_THWC.shape
    print(f"video: {args.video} ({video.duration:.1f} s, {T} frames at {video.sample_fps:.2f} fps, {W}x{H}, "
          f"{len(prompt.ids)} prompt tokens); load {t1 - t0:.1f} s, generate {t2 - t1:.1f} s", file=sys.stderr)
    print(reply)
    if sample:
        parsed = parse(args.task, reply)
        print("\n".join(describe(sample, parsed)))
        if args.plot:
            plot_timeline(video, sample, parsed, args.plot)
            print(f"timeline written to {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
