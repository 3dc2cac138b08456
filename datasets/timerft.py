#!/usr/bin/env python
"""TimeRFT (Time-R1's 2.5K RL training set) -> temporal grounding (tg) records.

Official file: dataset/timer1/annotations/train_2k5.json in xiaomi-research/time-r1, a list of
`{"video": ".../timerft_data/<clip>.mp4", "duration", "timestamp": [s, e], "sentence", "qid", "video_start",
"video_end", ...}`. The clips are already trimmed (timestamps are relative to the clip), so only the file name of
`video` is used, under --videos (the `timerft_data` folder of HF Boshenxx/TimeR1-Dataset).

    python datasets/timerft.py --annotations train_2k5.json --videos timerft_data --out data/timerft/train
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "timerft"


def parse(annotations: str) -> builder.Annotations:
    with open(annotations, encoding="utf-8") as f:
        entries = json.load(f)
    parsed = builder.Annotations(SOURCE)
    for i, entry in enumerate(entries):
        with parsed.entry(f"{annotations}[{i}]"):
            start, end = (float(x) for x in entry["timestamp"])
            parsed.add(Sample(uid=f"{SOURCE}-{i}", task="tg", video=os.path.basename(entry["video"]),
                              queries=(entry["sentence"].strip(),), intervals=((start, end),),
                              duration=float(entry["duration"]), source=SOURCE))
    return parsed


def main(argv=None) -> dict:
    return builder.annotations_main(__doc__, parse, "train_2k5.json", argv)


if __name__ == "__main__":
    main()
