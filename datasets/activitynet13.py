#!/usr/bin/env python
"""ActivityNet-1.3 -> temporal action localization (tal) records: one sample per (video, action class) holding every
instance of that class, sorted by start.

Official file: activity_net.v1-3.min.json, `{"version", "taxonomy", "database": {youtube_id: {"subset":
"training" | "validation" | "testing", "duration", "annotations": [{"segment": [s, e], "label"}], ...}}}` (seconds).
--subset picks the split (testing has no annotations). Videos are looked up as `v_<youtube id>` (the official
crawler's names) plus any usual extension. HACS Segments uses the same layout (datasets/hacs.py).

    python datasets/activitynet13.py --annotations activity_net.v1-3.min.json --subset training \\
        --videos anet_videos --out data/anet13/train
"""
import collections
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402


def parse_detection_database(annotations: str, subset: str, source: str) -> builder.Annotations:
    """The ActivityNet detection layout, shared by ActivityNet-1.3 and HACS Segments."""
    with open(annotations, encoding="utf-8") as f:
        database = json.load(f)["database"]
    parsed = builder.Annotations(source)
    for youtube_id, video in database.items():
        with parsed.entry(f"{annotations}[{youtube_id}]"):
            if video["subset"].lower() != subset:
                continue
            by_label = collections.defaultdict(list)
            for instance in video["annotations"]:
                start, end = (float(x) for x in instance["segment"])
                by_label[instance["label"]].append((start, end))
            for label, instances in by_label.items():
                parsed.add(Sample(uid=f"{source}-{youtube_id}-{label}", task="tal", video=f"v_{youtube_id}",
                                  queries=(label,), intervals=tuple(sorted(instances)),
                                  duration=float(video["duration"]), source=source))
    return parsed


def add_arguments(p):
    p.add_argument("--annotations", required=True, help="activity_net.v1-3.min.json")
    p.add_argument("--subset", default="training", choices=("training", "validation"), help="default training")


def main(argv=None) -> dict:
    return builder.main(__doc__, add_arguments, lambda a: parse_detection_database(a.annotations, a.subset, "activitynet13"), argv)


if __name__ == "__main__":
    main()
