#!/usr/bin/env python
"""Charades-STA -> temporal grounding (tg) records.

Official files (TALL release): charades_sta_{train,test}.txt, one query a line, `VIDEO_ID start end##sentence`
(seconds). Durations are not in the txt; pass Charades_v1_{train,test}.csv (column `length`, keyed by `id`) to keep
them in the samples; the records always store each video's decoded duration, which ends are clipped to.

    python datasets/charades_sta.py --annotations charades_sta_train.txt --durations Charades_v1_train.csv \\
        --videos Charades_v1_480 --out data/charades_sta/train
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "charades_sta"


def parse(annotations: str, durations: str | None = None) -> builder.Annotations:
    lengths = {}
    if durations:
        with open(durations, newline="", encoding="utf-8") as f:
            lengths = {row["id"]: float(row["length"]) for row in csv.DictReader(f) if row.get("length")}
    parsed = builder.Annotations(SOURCE)
    with open(annotations, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            with parsed.entry(f"{annotations}:{lineno}"):
                head, sentence = line.rstrip("\r\n").split("##", 1)
                video, start, end = head.split()
                parsed.add(Sample(uid=f"{SOURCE}-{lineno}", task="tg", video=video, queries=(sentence.strip(),),
                                  intervals=((float(start), float(end)),), duration=lengths.get(video),
                                  source=SOURCE))
    return parsed


def add_arguments(p):
    p.add_argument("--annotations", required=True, help="charades_sta_{train,test}.txt")
    p.add_argument("--durations", help="Charades_v1_{train,test}.csv (optional; gives the annotated durations)")


def main(argv=None) -> dict:
    return builder.main(__doc__, add_arguments, lambda a: parse(a.annotations, a.durations), argv)


if __name__ == "__main__":
    main()
