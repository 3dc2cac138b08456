#!/usr/bin/env python
"""QVHighlights -> video highlight detection (vhd) records: a query and all of its relevant windows.

Official files (jayleicn/moment_detr data/): highlight_{train,val}_release.jsonl, one query a line:
`{"qid", "query", "duration", "vid", "relevant_windows": [[s, e], ...], "relevant_clip_ids": [...],
"saliency_scores": [[a, b, c], ...]}`; clip i covers [2i, 2i + 2) seconds and has one 0-4 score per annotator.
Each window's score is the mean saliency of the clips inside it (over the three annotators). Test-release rows have
no windows and are reported as broken lines. Videos: `<vid>.mp4` from qvhilights_videos.tar.gz.

    python datasets/qvhighlights.py --annotations highlight_train_release.jsonl --videos qvh_videos \\
        --out data/qvhighlights/train
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # runnable from a checkout
from tempr1_jax.data import builder  # noqa: E402
from tempr1_jax.data.annotations import Sample  # noqa: E402

SOURCE = "qvhighlights"
CLIP_SECONDS = 2.0


def window_scores(windows, clip_ids, saliency) -> tuple[float, ...]:
    """Mean saliency (0-4) of the clips whose start lies inside each window; 0 for a window with no scored clip."""
    if len(clip_ids) != len(saliency):
        raise ValueError(f"{len(clip_ids)} relevant_clip_ids for {len(saliency)} saliency_scores")
    starts = np.asarray(clip_ids, np.float64) * CLIP_SECONDS
    per_clip = np.asarray(saliency, np.float64).reshape(len(clip_ids), -1).mean(axis=1)
    scores = []
    for s, e in windows:
        inside = (starts >= s) & (starts < e)
        scores.append(float(per_clip[inside].mean()) if inside.any() else 0.0)
    return tuple(scores)


def parse(annotations: str) -> builder.Annotations:
    parsed = builder.Annotations(SOURCE)
    with open(annotations, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            with parsed.entry(f"{annotations}:{lineno}"):
                row = json.loads(line)
                windows = tuple((float(s), float(e)) for s, e in row["relevant_windows"])
                parsed.add(Sample(uid=f"{SOURCE}-{row['qid']}", task="vhd", video=row["vid"],
                                  queries=(row["query"].strip(),), intervals=windows,
                                  duration=float(row["duration"]),
                                  scores=window_scores(windows, row["relevant_clip_ids"], row["saliency_scores"]),
                                  source=SOURCE))
    return parsed


def main(argv=None) -> dict:
    return builder.annotations_main(__doc__, parse, "highlight_{train,val}_release.jsonl", argv)


if __name__ == "__main__":
    main()
