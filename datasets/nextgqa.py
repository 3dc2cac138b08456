#!/usr/bin/env python
"""NExT-GQA -> grounded video QA (gvqa) records: a 5-option question, its answer and its evidence segments.

Official files (doc-doc/NExT-GQA datasets/nextgqa/): {val,test}.csv with columns `video_id, frame_count, width,
height, question, answer, qid, type, a0..a4` (answer = the correct option's text) and gsub_{val,test}.json,
`{video_id: {"duration", "location": {qid: [[s, e], ...]}, "fps"}}` (seconds). Questions without a grounding label
(train.csv has none) are reported as broken lines. Videos are NExT-QA/VidOR files: pass map_vid_vidorID.json as
--video-map to look them up as `<mapped path>.mp4`, else they are looked up as `<video_id>.mp4`.

    python datasets/nextgqa.py --questions val.csv --grounding gsub_val.json --video-map map_vid_vidorID.json \\
        --videos NExTVideo --out data/nextgqa/val
"""
import csv
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "nextgqa"


def parse(questions: str, grounding: str, video_map: str | None = None) -> builder.Annotations:
    with open(grounding, encoding="utf-8") as f:
        locations = json.load(f)
    paths = {}
    if video_map:
        with open(video_map, encoding="utf-8") as f:
            paths = json.load(f)
    parsed = builder.Annotations(SOURCE)
    with open(questions, newline="", encoding="utf-8") as f:
        for lineno, row in enumerate(csv.DictReader(f), 2):  # line 1 is the header
            with parsed.entry(f"{questions}:{lineno}"):
                video_id = row["video_id"]
                options = tuple(row[f"a{i}"].strip() for i in range(5))
                answer = options.index(row["answer"].strip())
                video = locations[video_id]
                evidence = tuple((float(s), float(e)) for s, e in video["location"][row["qid"]])
                parsed.add(Sample(uid=f"{SOURCE}-{video_id}-{row['qid']}", task="gvqa",
                                  video=str(paths.get(video_id, video_id)), queries=(row["question"].strip(),),
                                  intervals=evidence, duration=float(video["duration"]), options=options,
                                  answer=answer, source=SOURCE))
    return parsed


def add_arguments(p):
    p.add_argument("--questions", required=True, help="{val,test}.csv")
    p.add_argument("--grounding", required=True, help="gsub_{val,test}.json")
    p.add_argument("--video-map", help="map_vid_vidorID.json (video_id -> VidOR path); optional")


def main(argv=None) -> dict:
    return builder.main(__doc__, add_arguments, lambda a: parse(a.questions, a.grounding, a.video_map), argv)


if __name__ == "__main__":
    main()
