"""Every builder in datasets/ on tiny fixtures in its official format, bad data included, with the report checked.

The same eight cases go into every format: a good sample, an end past the video's end (clipped), start > end, a
broken entry, a corrupt, an empty and a missing video, and an interval that starts after the video's end.
"""
import csv
import dataclasses
import importlib.util
import json
import os
import sys

import numpy as np
import pytest

from tempr1_jax.data import builder, records
from tempr1_jax.processing import video_io, vision

DATASETS = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "datasets")
SMALL = ["--fps", "2", "--min-pixels", str(4 * 28 * 28), "--max-pixels", str(4 * 28 * 28), "--no-progress"]
DURATIONS = {"vidA": 12.0, "vidB": 3.0, "vidC": 3.0}
GOOD, CLIPPED = ("vidA", 0.5, 2.0), ("vidA", 1.0, 13.5)
REVERSED, OUTSIDE = ("vidB", 2.5, 1.0), ("vidC", 3.5, 6.0)
BAD_VIDEOS = [("bad", 0.0, 1.0), ("empty", 0.0, 1.0), ("gone", 0.0, 1.0)]
CASES = [GOOD, CLIPPED, REVERSED, *BAD_VIDEOS, OUTSIDE]
EXPECTED_COUNTS = {"clipped_interval": 1, "start_after_end": 1, "broken_line": 1, "corrupt_video": 1,
                   "empty_video": 1, "missing_video": 1, "interval_outside_video": 1}


def load(name):
    if DATASETS not in sys.path:
        sys.path.insert(0, DATASETS)  # hacs.py imports its parser from activitynet13.py, as when run as a script
    spec = importlib.util.spec_from_file_location(f"builder_{name}", os.path.join(DATASETS, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    for name, seconds in DURATIONS.items():
        frames = rng.integers(0, 255, (int(seconds * 8), 48, 64, 3), np.uint8)
        video_io.write_video(root / f"{name}.mp4", frames, 8)
    (root / "bad.mp4").write_text("this is not a video\n" * 20)
    (root / "empty.mp4").write_bytes(b"")
    return str(root)


def run(module, argv, tmp_path, videos, extra=()):
    out = str(tmp_path / "out")
    info = module.main([*argv, "--videos", videos, "--out", out, *SMALL, *extra])
    with open(os.path.join(out, "report.json")) as f:
        return info, json.load(f), out


def check(report, info, out, written, counts=EXPECTED_COUNTS, task=None):
    assert report["counts"] == counts, report["problems"]
    assert report["samples_written"] == info["num_samples"] == written
    kinds = {p["kind"] for p in report["problems"]}
    assert kinds == set(counts)
    for p in report["problems"]:
        assert p["where"] and p["detail"]
    src = records.RecordSource(out)
    assert len(src) == written
    for i in range(len(src)):
        ex = src[i]
        assert ex.sample.task == task
        assert ex.clip.duration == DURATIONS[os.path.splitext(ex.sample.video)[0].removeprefix("v_")]
        assert ex.sample.duration == ex.clip.duration
        assert all(0 <= s <= e <= ex.clip.duration for s, e in ex.sample.intervals)
        assert ex.clip.frames_THWC.shape[1:] == (56, 56, 3) and len(ex.clip.frames_THWC) % 2 == 0
    return src


def test_charades_sta(tmp_path, videos):
    txt = tmp_path / "charades_sta_train.txt"
    lines = [f"{v} {s} {e}##person does thing {i}." for i, (v, s, e) in enumerate(CASES)]
    txt.write_text("\n".join(lines[:3] + ["vidB this line is broken"] + lines[3:]) + "\n")
    durations = tmp_path / "Charades_v1_train.csv"
    with open(durations, "w", newline="") as f:
        w = csv.DictWriter(f, ["id", "subject", "length"])
        w.writeheader()
        w.writerows({"id": v, "subject": "x", "length": d + 0.2} for v, d in DURATIONS.items())
    mod = load("charades_sta")
    assert mod.parse(str(txt), str(durations)).samples[0].duration == 12.2
    info, report, out = run(mod, ["--annotations", str(txt), "--durations", str(durations)], tmp_path, videos)
    src = check(report, info, out, written=2, task="tg")
    assert [ex.sample.intervals for ex in (src[0], src[1])] == [((0.5, 2.0),), ((1.0, 12.0),)]
    assert src[0].sample.queries == ("person does thing 0.",)
    assert any("charades_sta_train.txt:4" in p["where"] for p in report["problems"])


def test_didemo(tmp_path, videos):
    seg = {GOOD: [[0, 0], [0, 0], [1, 1], [1, 1]], CLIPPED: [[1, 2]], REVERSED: [[3, 1]], OUTSIDE: [[1, 1]]}
    entries = [{"annotation_id": i, "description": f"moment {i}", "video": f"{v}.m4v",
                "times": seg.get((v, s, e), [[0, 0]]), "num_segments": 6, "dl_link": ""}
               for i, (v, s, e) in enumerate(CASES)]
    entries.insert(2, {"annotation_id": 99, "video": "vidA.m4v", "times": [[0, 0]]})  # no description
    path = tmp_path / "train_data.json"
    path.write_text(json.dumps(entries))
    info, report, out = run(load("didemo"), ["--annotations", str(path)], tmp_path, videos)
    src = check(report, info, out, written=2, task="tg")
    # Votes tie between [0,0] and [1,1]: the first seen wins. Files are .mp4 though the annotations say .m4v.
    assert [ex.sample.intervals for ex in (src[0], src[1])] == [((0.0, 5.0),), ((5.0, 12.0),)]


def test_timerft(tmp_path, videos):
    entries = [{"video": f"./dataset/timer1/videos/timerft_data/{v}.mp4", "duration": DURATIONS.get(v, 5.0),
                "timestamp": [s, e], "sentence": f"s{i}", "qid": f"q{i}", "video_start": None, "video_end": None}
               for i, (v, s, e) in enumerate(CASES)]
    entries.insert(1, {"video": "vidA.mp4", "duration": 12.0, "timestamp": [1.0], "sentence": "one number"})
    path = tmp_path / "train_2k5.json"
    path.write_text(json.dumps(entries))
    info, report, out = run(load("timerft"), ["--annotations", str(path)], tmp_path, videos)
    check(report, info, out, written=2, task="tg")


def test_tvgbench(tmp_path, videos):
    entries = [{"path": f"./dataset/timer1/videos/tvgbench_data/{v}.mp4", "question": f"q{i}", "answer": f"{s}-{e}",
                "start": None, "end": None, "duration": 12.0, "dataset_name": "charades"}
               for i, (v, s, e) in enumerate(CASES)]
    entries.insert(0, {"path": "vidA.mp4", "question": "bad answer", "answer": "about 3 s", "duration": 12.0})
    path = tmp_path / "tvgbench.json"
    path.write_text(json.dumps(entries))
    info, report, out = run(load("tvgbench"), ["--annotations", str(path)], tmp_path, videos)
    check(report, info, out, written=2, task="tg")


def test_activitynet_captions(tmp_path, videos):
    paragraphs = {"vidA": [GOOD, CLIPPED], "vidB": [REVERSED], "vidC": [OUTSIDE],
                  **{v: [(v, s, e)] for v, s, e in BAD_VIDEOS}}
    data = {v: {"duration": DURATIONS.get(v, 5.0), "timestamps": [[s, e] for _, s, e in evs],
                "sentences": [f" sentence {j}." for j in range(len(evs))]} for v, evs in paragraphs.items()}
    data["vidX"] = {"duration": 5.0, "timestamps": [[0, 1], [1, 2]], "sentences": ["only one"]}  # broken
    path = tmp_path / "train.json"
    path.write_text(json.dumps(data))
    info, report, out = run(load("activitynet_captions"), ["--annotations", str(path)], tmp_path, videos)
    src = check(report, info, out, written=1, task="dtg")
    assert src[0].sample.queries == ("sentence 0.", "sentence 1.")
    assert src[0].sample.intervals == ((0.5, 2.0), (1.0, 12.0))


def test_qvhighlights(tmp_path, videos):
    rows = [{"qid": i, "query": f"query {i}", "duration": 150, "vid": v, "relevant_windows": [[s, e]],
             "relevant_clip_ids": [0, 1], "saliency_scores": [[4, 4, 1], [2, 2, 2]]} for i, (v, s, e) in enumerate(CASES)]
    rows[0]["relevant_windows"] = [[0.0, 2.0], [2.0, 6.0]]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, '{"qid": 77, "query": "test-release row, no windows", "duration": 150, "vid": "vidA"}')
    path = tmp_path / "highlight_train_release.jsonl"
    path.write_text("\n".join(lines) + "\n")
    info, report, out = run(load("qvhighlights"), ["--annotations", str(path)], tmp_path, videos)
    src = check(report, info, out, written=2, task="vhd")
    assert src[0].sample.intervals == ((0.0, 2.0), (2.0, 6.0))
    assert src[0].sample.scores == (3.0, 2.0)  # clip 0 mean of (4, 4, 1); clip 1 of (2, 2, 2)


def test_nextgqa(tmp_path, videos):
    csv_path, gsub = tmp_path / "val.csv", tmp_path / "gsub_val.json"
    fields = ["video_id", "frame_count", "width", "height", "question", "answer", "qid", "type",
              "a0", "a1", "a2", "a3", "a4"]
    locations = {}
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for i, (v, s, e) in enumerate(CASES):
            w.writerow({"video_id": f"id_{v}", "frame_count": 1, "width": 64, "height": 48, "question": f"why {i}?",
                        "answer": "opt c", "qid": i, "type": "CW", **{f"a{j}": f"opt {'abcde'[j]}" for j in range(5)}})
            locations.setdefault(f"id_{v}", {"duration": DURATIONS.get(v, 5.0), "fps": 29.97, "location": {}})
            locations[f"id_{v}"]["location"][str(i)] = [[s, e]]
        w.writerow({"video_id": "id_vidA", "question": "no grounding", "answer": "opt a", "qid": 50,
                    **{f"a{j}": f"opt {'abcde'[j]}" for j in range(5)}})
    gsub.write_text(json.dumps(locations))
    vmap = tmp_path / "map_vid_vidorID.json"
    vmap.write_text(json.dumps({f"id_{v}": v for v in [*DURATIONS, "bad", "empty", "gone"]}))
    info, report, out = run(load("nextgqa"), ["--questions", str(csv_path), "--grounding", str(gsub),
                                               "--video-map", str(vmap)], tmp_path, videos)
    src = check(report, info, out, written=2, task="gvqa")
    assert src[0].sample.answer == 2 and src[0].sample.options[2] == "opt c"


@pytest.mark.parametrize("name", ["activitynet13", "hacs"])
def test_activity_detection(tmp_path, videos, name):
    groups = {("vidA", "jump"): [CLIPPED, GOOD], ("vidB", "run"): [REVERSED], ("vidC", "run"): [OUTSIDE],
              **{(v, "swim"): [(v, s, e)] for v, s, e in BAD_VIDEOS}}
    database = {}
    for (v, label), evs in groups.items():
        entry = database.setdefault(v, {"subset": "training", "duration": DURATIONS.get(v, 5.0), "annotations": []})
        entry["annotations"] += [{"segment": [s, e], "label": label} for _, s, e in evs]
    database["vidA"]["annotations"].append({"label": "jump", "segment": [3.0, 4.0]})  # second jump instance
    database["vidZ"] = {"subset": "training", "duration": 5.0, "annotations": [{"label": "run"}]}  # broken
    database["vidV"] = {"subset": "validation", "duration": 5.0, "annotations": [{"segment": [0, 1], "label": "x"}]}
    path = tmp_path / "db.json"
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    for v in DURATIONS:  # the official crawlers name files v_<youtube id>
        if not os.path.exists(os.path.join(videos, f"v_{v}.mp4")):
            os.link(os.path.join(videos, f"{v}.mp4"), os.path.join(videos, f"v_{v}.mp4"))
    for v in ("bad", "empty"):
        if not os.path.exists(os.path.join(videos, f"v_{v}.mp4")):
            os.link(os.path.join(videos, f"{v}.mp4"), os.path.join(videos, f"v_{v}.mp4"))
    info, report, out = run(load(name), ["--annotations", str(path), "--subset", "training"], tmp_path, videos)
    src = check(report, info, out, written=1, task="tal")
    assert src[0].sample.queries == ("jump",)
    assert src[0].sample.intervals == ((0.5, 2.0), (1.0, 12.0), (3.0, 4.0))  # every instance, sorted by start


def test_synthetic_builder(tmp_path):
    mod = load("synthetic")
    vid_dir = str(tmp_path / "videos")
    argv = ["--num-samples", "6", "--seed", "1", "--min-duration", "6", "--max-duration", "8",
            "--resolution", "48x64", "--task-weights", "tg=1,tal=1"]
    info = mod.main([*argv, "--videos", vid_dir, "--out", str(tmp_path / "out"), *SMALL])
    assert info["num_samples"] == 6 and set(info["task_counts"]) <= {"tg", "tal"}
    with open(tmp_path / "out" / "report.json") as f:
        assert json.load(f)["counts"] == {}
    with pytest.raises(ValueError, match="another config"):
        mod.main([*argv[:-1], "tg=1", "--videos", vid_dir, "--out", str(tmp_path / "out2"), *SMALL])


def test_strict_turns_skips_into_errors(tmp_path, videos):
    mod = load("charades_sta")
    txt = tmp_path / "a.txt"
    txt.write_text("vidA 0.5 2.0##fine.\nvidB 2.5 1.0##reversed.\n")
    with pytest.raises(builder.BadDataError, match="start_after_end"):
        run(mod, ["--annotations", str(txt)], tmp_path, videos, ["--strict"])
    txt.write_text("vidA 0.5 2.0##fine.\ngone 0.0 1.0##missing video.\n")
    with pytest.raises(builder.BadDataError, match="missing_video.*gone"):
        run(mod, ["--annotations", str(txt)], tmp_path, videos, ["--strict"])
    txt.write_text("vidA 0.5 2.0##fine.\ngone 0.0 1.0##missing video.\n")
    run(mod, ["--annotations", str(txt)], tmp_path, videos)  # a lenient run finishes the shard ...
    with pytest.raises(builder.BadDataError, match="missing_video.*built earlier"):
        run(mod, ["--annotations", str(txt)], tmp_path, videos, ["--strict"])  # ... which strict still refuses
    txt.write_text("vidA 1.0 13.5##clipping is a fix, not a skip.\n")
    info, report, _ = run(mod, ["--annotations", str(txt)], tmp_path, videos, ["--strict"])
    assert report["counts"] == {"clipped_interval": 1} and info["num_samples"] == 1


def test_resume_skips_finished_shards(tmp_path, videos):
    mod = load("charades_sta")
    txt = tmp_path / "a.txt"
    txt.write_text("vidA 0.5 2.0##a.\nvidB 0.5 1.0##b.\nvidC 1.0 2.0##c.\nvidA 3.0 4.0##d.\n")
    args = ["--annotations", str(txt)]
    first, _, out = run(mod, args, tmp_path, videos, ["--videos-per-shard", "1"])
    assert first["num_shards"] == 3 and first["resumed_shards"] == 0 and first["records_per_shard"] == [1, 1, 1]
    again, _, _ = run(mod, args, tmp_path, videos, ["--videos-per-shard", "1"])
    assert again["resumed_shards"] == 3
    os.remove(os.path.join(out, records.shard_name("shard", 1)))  # as if interrupted while writing shard 1
    mtime = os.path.getmtime(os.path.join(out, records.shard_name("frames", 0)))
    partial, _, _ = run(mod, args, tmp_path, videos, ["--videos-per-shard", "1"])
    assert partial["resumed_shards"] == 2
    assert os.path.getmtime(os.path.join(out, records.shard_name("frames", 0))) == mtime
    changed, _, _ = run(mod, args, tmp_path, videos, ["--videos-per-shard", "1", "--fps", "1"])
    assert changed["resumed_shards"] == 0  # new sampling settings: every shard is rebuilt
    src = records.RecordSource(out)
    assert [ex.sample.queries[0] for ex in (src[i] for i in range(len(src)))] == ["a.", "d.", "b.", "c."]
    np.testing.assert_array_equal(src[1].clip.frames_THWC, src[0].clip.frames_THWC)  # one record per video


def test_worker_processes_write_the_same_records(tmp_path, videos):
    mod = load("charades_sta")
    txt = tmp_path / "a.txt"
    txt.write_text("vidA 0.5 2.0##a.\nbad 0.0 1.0##b.\nvidB 0.5 1.0##c.\nvidC 1.0 2.0##d.\n")
    outs = []
    for workers in ("0", "2"):
        (tmp_path / workers).mkdir()
        info, report, out = run(mod, ["--annotations", str(txt)], tmp_path / workers, videos, ["--workers", workers])
        outs.append((info, report, records.RecordSource(out)))
    (info0, report0, src0), (info2, report2, src2) = outs
    assert report0["counts"] == report2["counts"] == {"corrupt_video": 1}
    assert info0["records_per_shard"] == info2["records_per_shard"] and len(src0) == len(src2) == 3
    for i in range(len(src0)):
        assert src0[i].sample == src2[i].sample
        np.testing.assert_array_equal(src0[i].clip.frames_THWC, src2[i].clip.frames_THWC)


def test_file_source_equals_records(tmp_path, videos):
    """Decoding the mp4 on the fly gives the very examples the records hold (the benchmark's two paths)."""
    txt = tmp_path / "a.txt"
    txt.write_text("vidA 0.5 13.0##clipped on the fly too.\nvidB 0.5 1.0##b.\n")
    _, _, out = run(load("charades_sta"), ["--annotations", str(txt)], tmp_path, videos)
    from_records = records.RecordSource(out)
    sampling = dataclasses.replace(vision.VideoSampling(), min_pixels=4 * 28 * 28, max_pixels=4 * 28 * 28)
    from_files = records.VideoFileSource(load("charades_sta").parse(str(txt)).samples, videos, sampling)
    assert len(from_files) == len(from_records) == 2
    for i in range(2):
        a, b = from_records[i], from_files[i]
        assert a.sample == b.sample and a.sample.intervals[0][1] <= a.clip.duration
        np.testing.assert_array_equal(a.clip.frames_THWC, b.clip.frames_THWC)
        np.testing.assert_array_equal(a.clip.timestamps_T, b.clip.timestamps_T)


def test_record_roundtrip(videos):
    sampling = dataclasses.replace(vision.VideoSampling(), min_pixels=4 * 28 * 28, max_pixels=4 * 28 * 28)
    clip = video_io.decode_video(os.path.join(videos, "vidB.mp4"), sampling)
    back = records.decode_video_record(records.encode_video_record("vidB.mp4", clip))
    assert back.path == "vidB.mp4"
    np.testing.assert_array_equal(back.frames_THWC, clip.frames_THWC)
    np.testing.assert_array_equal(back.timestamps_T, clip.timestamps_T)
    np.testing.assert_array_equal(back.frame_indices_T, clip.frame_indices_T)
    assert (back.sample_fps, back.duration, back.video_fps, back.total_frames, back.original_hw) == (
        clip.sample_fps, clip.duration, clip.video_fps, clip.total_frames, clip.original_hw)
    with pytest.raises(ValueError, match="not a tempr1 video record"):
        records.decode_video_record(b"nope" + bytes(10))
