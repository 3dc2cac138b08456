#!/usr/bin/env python
"""ActivityNet Captions -> dense temporal grounding (dtg) records: each video's paragraph becomes one sample whose
sentence i is answered by interval i, in the annotation's order.

Official files (captions.zip of the Stanford densevid page): train.json, val_1.json, val_2.json, a dict
`"v_<youtube id>": {"duration", "timestamps": [[s, e], ...], "sentences": [...]}` (seconds). Videos are looked up
as `v_<youtube id>` plus any usual extension under --videos. A paragraph with more than 32 sentences, or with an
event whose start > end (2 in train), is skipped and reported.

    python datasets/activitynet_captions.py --annotations train.json --videos anet_videos --out data/anet_captions/train
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "activitynet_captions"


def parse(annotations: str) -> builder.Annotations:
    with open(annotations, encoding="utf-8") as f:
        videos = json.load(f)
    parsed = builder.Annotations(SOURCE)
    for video, entry in videos.items():
        with parsed.entry(f"{annotations}[{video}]"):
            if len(entry["timestamps"]) != len(entry["sentences"]):
                raise ValueError(f"{len(entry['timestamps'])} timestamps for {len(entry['sentences'])} sentences")
            parsed.add(Sample(uid=f"{SOURCE}-{video}", task="dtg", video=video,
                              queries=tuple(s.strip() for s in entry["sentences"]),
                              intervals=tuple((float(s), float(e)) for s, e in entry["timestamps"]),
                              duration=float(entry["duration"]), source=SOURCE))
    return parsed


def main(argv=None) -> dict:
    return builder.annotations_main(__doc__, parse, "train.json, val_1.json or val_2.json", argv)


if __name__ == "__main__":
    main()
