#!/usr/bin/env python
"""HACS Segments -> temporal action localization (tal) records, one sample per (video, action class).

Official file: HACS_segments_v1.1.1.json, the ActivityNet detection layout (`{"database": {youtube_id: {"subset",
"duration", "annotations": [{"segment": [s, e], "label"}]}}}`), so it shares ActivityNet-1.3's parser. Videos are
looked up as `v_<youtube id>` plus any usual extension (the HACS download script's names).

    python datasets/hacs.py --annotations HACS_segments_v1.1.1.json --subset training --videos hacs_videos \\
        --out data/hacs/train
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from activitynet13 import parse_detection_database  # noqa: E402  (datasets/ is this script's folder)
from tempr1_jax.data import builder  # noqa: E402


def add_arguments(p):
    p.add_argument("--annotations", required=True, help="HACS_segments_v1.1.1.json")
    p.add_argument("--subset", default="training", choices=("training", "validation"), help="default training")


def main(argv=None) -> dict:
    return builder.main(__doc__, add_arguments, lambda a: parse_detection_database(a.annotations, a.subset, "hacs"), argv)


if __name__ == "__main__":
    main()
