"""activitynet_tal (ActivityNet eval_detection, spec T-TAL) and tal_f1 (E.T. Bench TAL style, spec T-ET)."""
import pytest

from tempr1_jax.eval import EvalError, evaluate


def database(videos, subset="validation"):
    return {"version": "VERSION 1.3", "taxonomy": [], "database": {
        vid: {"subset": subset, "duration": 100.0, "annotations": [{"label": label, "segment": seg} for label, seg in anns]}
        for vid, anns in videos.items()
    }}


def results(detections):
    by_video = {}
    for vid, label, segment, score in detections:
        by_video.setdefault(vid, []).append({"label": label, "segment": segment, "score": score})
    return {"version": "VERSION 1.3", "results": by_video, "external_data": {}}


T_TAL_GT = {"v1": [("Run", [10, 20]), ("Run", [30, 40])], "v2": [("Run", [0, 10])]}
T_TAL_PRED = [
    ("v1", "Run", [11, 21], 0.9), ("v1", "Run", [10, 19], 0.8), ("v2", "Run", [2, 8], 0.7),
    ("v1", "Run", [50, 60], 0.6), ("v2", "Run", [0, 10], 0.5),
]


def test_t_tal(write_json):
    m = evaluate("activitynet_tal", [write_json("anet.json", database(T_TAL_GT))], results(T_TAL_PRED))
    assert list(m) == ["mAP@0.5", "mAP@0.75", "mAP@0.95", "mAP"]
    assert m["mAP@0.5"] == pytest.approx(500 / 9) and m["mAP@0.75"] == pytest.approx(700 / 15)
    assert m["mAP@0.95"] == pytest.approx(100 / 15)
    assert m["mAP"] == pytest.approx(42.0, abs=1e-12)


def test_class_without_predictions_has_ap_zero(write_json):
    gt = {**T_TAL_GT, "v3": [("Jump", [0, 5])]}
    m = evaluate("activitynet_tal", [write_json("anet.json", database(gt))], results(T_TAL_PRED))
    assert m["mAP@0.5"] == pytest.approx(100 * (5 / 9) / 2)


def test_other_subsets_are_ignored_and_detections_in_them_are_false_positives(write_json, tmp_path):
    data = database(T_TAL_GT)
    data["database"]["train1"] = {"subset": "training", "annotations": [{"label": "Run", "segment": [0, 10]}]}
    ann = write_json("anet.json", data)
    # A perfect detection ranked first in a training video is a false positive in the validation subset.
    m = evaluate("activitynet_tal", [ann], results([("train1", "Run", [0, 10], 1.0)] + T_TAL_PRED))
    assert m["mAP@0.5"] < 500 / 9
    assert evaluate("activitynet_tal", [ann], results(T_TAL_PRED))["mAP@0.5"] == pytest.approx(500 / 9)
    assert evaluate("activitynet_tal", [ann], results([("train1", "Run", [0, 10], 1.0)]), subset="training")["mAP"] == 100.0


def test_empty_submission_duplicates_ties_reversed_and_past_end(write_json):
    ann = write_json("anet.json", database({"v1": [("Run", [10, 20])]}))
    assert evaluate("activitynet_tal", [ann], results([])) == {"mAP@0.5": 0.0, "mAP@0.75": 0.0, "mAP@0.95": 0.0, "mAP": 0.0}
    dup = evaluate("activitynet_tal", [ann], results([("v1", "Run", [10, 20], 0.9)] * 2))
    assert dup["mAP"] == 100.0  # the copy is a false positive ranked after the hit
    # Equal scores: ActivityNet's reversed argsort ranks the later-listed detection first.
    tie = results([("v1", "Run", [10, 20], 0.5), ("v1", "Run", [50, 60], 0.5)])
    assert evaluate("activitynet_tal", [ann], tie)["mAP"] == 50.0
    assert evaluate("activitynet_tal", [ann], results([("v1", "Run", [15, 90], 0.5)]))["mAP"] == 0.0
    # Reversed and as long as the GT: nan sum-union IoU, which eval_detection counts as a hit.
    assert evaluate("activitynet_tal", [ann], results([("v1", "Run", [20, 10], 0.5)]))["mAP"] == 100.0


def test_iou_exactly_on_a_threshold(write_json):
    ann = write_json("anet.json", database({"v1": [("Run", [0, 10])]}))
    m = evaluate("activitynet_tal", [ann], results([("v1", "Run", [0, 7.5], 0.5)]))  # IoU 0.75
    assert m["mAP@0.75"] == 100.0 and m["mAP@0.95"] == 0.0 and m["mAP"] == pytest.approx(60.0)


def test_unknown_label_is_an_error(write_json):
    ann = write_json("anet.json", database(T_TAL_GT))
    with pytest.raises(EvalError, match=r"results\.v1\[0\]: label 'Swim'"):
        evaluate("activitynet_tal", [ann], results([("v1", "Swim", [0, 1], 0.5)]))


def test_t_et_tal_f1(write_json):
    ann = write_json("anet.json", database({"v1": [("Run", [0, 10]), ("Run", [20, 30])]}))
    pred = results([("v1", "Run", s, 0.1) for s in ([0, 8], [22, 30], [40, 50])])
    m = evaluate("tal_f1", [ann], pred)
    assert m == pytest.approx({"F1@0.1": 80.0, "F1@0.3": 80.0, "F1@0.5": 80.0, "F1@0.7": 80.0, "mF1": 80.0})
    # A second query with no prediction scores 0 and halves the mean, like the unparsable sample.
    ann2 = write_json("anet2.json", database({"v1": [("Run", [0, 10]), ("Run", [20, 30])], "v2": [("Jump", [0, 5])]}))
    assert evaluate("tal_f1", [ann2], pred)["mF1"] == pytest.approx(40.0)


def test_tal_f1_queries_are_video_label_pairs(write_json):
    ann = write_json("anet.json", database({"v1": [("Run", [0, 10]), ("Jump", [20, 30])]}))
    # Each label is a separate query: the Jump prediction does not count for Run and vice versa.
    only_run = evaluate("tal_f1", [ann], results([("v1", "Run", [0, 10], 0.1)]))
    assert only_run["mF1"] == pytest.approx(50.0)
    crossed = evaluate("tal_f1", [ann], results([("v1", "Jump", [0, 10], 0.1), ("v1", "Run", [20, 30], 0.1)]))
    assert crossed["mF1"] == 0.0


def test_tal_f1_thresholds_duplicates_and_empty(write_json):
    ann = write_json("anet.json", database({"v1": [("Run", [0, 10])]}))
    m = evaluate("tal_f1", [ann], results([("v1", "Run", [0, 5], 0.1)]))  # IoU exactly 0.5
    assert (m["F1@0.5"], m["F1@0.7"], m["mF1"]) == (100.0, 0.0, 75.0)
    # A duplicate also reaches the threshold, so precision stays 1 (unlike AP's one-to-one matching).
    assert evaluate("tal_f1", [ann], results([("v1", "Run", [0, 10], 0.1)] * 2))["mF1"] == 100.0
    assert evaluate("tal_f1", [ann], results([]))["mF1"] == 0.0
    # Scores are optional here: TempR1's localisations carry none.
    assert evaluate("tal_f1", [ann], {"results": {"v1": [{"label": "Run", "segment": [0, 10]}]}})["mF1"] == 100.0
    # Reversed [20,10]-style nan IoU fails every threshold instead of dividing by zero.
    assert evaluate("tal_f1", [ann], results([("v1", "Run", [10, 0], 0.1)]))["mF1"] == 0.0
