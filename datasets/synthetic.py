#!/usr/bin/env python
"""The synthetic five-task corpus -> records: renders the mp4 files (tempr1_jax/data/synthetic.py), writes their
annotations as JSON lines (`<videos>/annotations.jsonl`, one Sample each), then prepares them like any dataset, through
the same decode path. Deterministic for a seed; rerunning keeps finished videos and shards.

    python datasets/synthetic.py --num-samples 2000 --seed 0 --videos data/synthetic/videos --out data/synthetic/train
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder, synthetic  # noqa: E402
from tempr1_jax.data.annotations import TASKS  # noqa: E402


def corpus_config(args) -> synthetic.SyntheticConfig:
    height, width = (int(x) for x in args.resolution.lower().split("x"))
    weights = {t: float(w) for t, w in (kv.split("=") for kv in args.task_weights.split(","))}
    return synthetic.SyntheticConfig(num_samples=args.num_samples, seed=args.seed,
                                     duration=(args.min_duration, args.max_duration), fps=args.render_fps,
                                     resolution=(height, width), task_weights=weights, time_step=args.time_step,
                                     max_distractors=args.max_distractors)


def parse(args) -> builder.Annotations:
    path = os.path.join(args.videos, "annotations.jsonl")
    synthetic.write_corpus(corpus_config(args), args.videos, path, progress=not args.no_progress)
    return builder.read_samples_jsonl(path, "synthetic")


def add_arguments(p):
    d = synthetic.SyntheticConfig()
    p.add_argument("--num-samples", type=int, default=d.num_samples, help=f"default {d.num_samples}")
    p.add_argument("--seed", type=int, default=d.seed, help=f"default {d.seed}")
    p.add_argument("--min-duration", type=float, default=d.duration[0], help=f"seconds (default {d.duration[0]})")
    p.add_argument("--max-duration", type=float, default=d.duration[1], help=f"seconds (default {d.duration[1]})")
    p.add_argument("--render-fps", type=float, default=d.fps, help=f"fps of the rendered mp4 (default {d.fps})")
    p.add_argument("--resolution", default=f"{d.resolution[0]}x{d.resolution[1]}", help="HxW of the rendered mp4")
    p.add_argument("--task-weights", default=",".join(f"{t}=1" for t in TASKS),
                   help="task mix, e.g. tg=2,tal=1 (default: all five tasks equally)")
    p.add_argument("--time-step", type=float, default=d.time_step,
                   help=f"seconds; interval bounds are multiples of it (default {d.time_step})")
    p.add_argument("--max-distractors", type=int, default=d.max_distractors,
                   help=f"objects besides those asked about, at most (default {d.max_distractors})")


def main(argv=None) -> dict:
    return builder.main(__doc__, add_arguments, parse, argv)


if __name__ == "__main__":
    main()
