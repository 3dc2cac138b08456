#!/usr/bin/env python
"""DiDeMo -> temporal grounding (tg) records.

Official files (LocalizingMoments release): {train,val,test}_data.json, a list of
`{"annotation_id", "description", "video", "times": [[s, e], ...], "num_segments", "dl_link"}`. `times` holds one
[first, last] pair of 5-second segment indices (inclusive) per annotator; the ground truth is the most frequent
pair (the first on ties), i.e. seconds [5 * first, 5 * (last + 1)]. Videos are at most 30 s, so the last segment
often runs past the end: it is clipped to the decoded duration and reported.

    python datasets/didemo.py --annotations train_data.json --videos didemo_videos --out data/didemo/train
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "didemo"
SEGMENT_SECONDS = 5.0


def parse(annotations: str) -> builder.Annotations:
    with open(annotations, encoding="utf-8") as f:
        entries = json.load(f)
    parsed = builder.Annotations(SOURCE)
    for i, entry in enumerate(entries):
        with parsed.entry(f"{annotations}[{i}]"):
            votes = collections.Counter(tuple(int(x) for x in t) for t in entry["times"])
            first, last = votes.most_common(1)[0][0]  # ties: the first seen (Counter keeps insertion order)
            parsed.add(Sample(uid=f"{SOURCE}-{entry['annotation_id']}", task="tg", video=entry["video"],
                              queries=(entry["description"].strip(),),
                              intervals=((first * SEGMENT_SECONDS, (last + 1) * SEGMENT_SECONDS),), source=SOURCE))
    return parsed


def main(argv=None) -> dict:
    return builder.annotations_main(__doc__, parse, "{train,val,test}_data.json", argv)


if __name__ == "__main__":
    main()
