#!/usr/bin/env python
"""TVGBench (Time-R1's grounding benchmark, evaluation only) -> temporal grounding (tg) records.

Official file: dataset/timer1/annotations/tvgbench.json in xiaomi-research/time-r1, 800 items
`{"path": ".../tvgbench_data/<clip>.mp4", "question", "answer": "start-end", "duration", "dataset_name", ...}`
(seconds, relative to the possibly trimmed clip). The official evaluation does not clip ground truth: 27 answers end
past `duration`; records clip them to the decoded video's end and list each one in report.json, so evaluate
against the annotation file when the official numbers matter. Videos: the `tvgbench_data` folder of HF Boshenxx/TimeR1-Dataset.

    python datasets/tvgbench.py --annotations tvgbench.json --videos tvgbench_data --out data/tvgbench/test
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "tvgbench"


def parse(annotations: str) -> builder.Annotations:
    with open(annotations, encoding="utf-8") as f:
        entries = json.load(f)
    parsed = builder.Annotations(SOURCE)
    for i, entry in enumerate(entries):
        with parsed.entry(f"{annotations}[{i}]"):
            start, end = (float(x) for x in entry["answer"].split("-"))  # as the official loader: "13.4-28.1"
            parsed.add(Sample(uid=f"{SOURCE}-{i}", task="tg", video=os.path.basename(entry["path"]),
                              queries=(entry["question"].strip(),), intervals=((start, end),),
                              duration=float(entry["duration"]), source=SOURCE))
    return parsed


def main(argv=None) -> dict:
    return builder.annotations_main(__doc__, parse, "tvgbench.json", argv)


if __name__ == "__main__":
    main()
