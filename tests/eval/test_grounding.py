"""charades_sta, activitynet_captions_grounding, tvgbench and activitynet_dtg (spec T-TVG and edge cases)."""
import pytest

from tempr1_jax.eval import evaluate

# T-TVG: GT and top-1 predictions of 4 queries, hull IoUs 2/3, 1/3, 0 and exactly 0.7.
T_TVG_GT = [(10, 20), (0, 10), (30, 40), (5, 15)]
T_TVG_PRED = [[12, 22], [5, 15], [0, 5], [5, 12]]


@pytest.fixture
def charades(write_text):
    lines = "".join(f"VID{i} {s} {e}##query {i}.\n" for i, (s, e) in enumerate(T_TVG_GT))
    return write_text("charades_sta_test.txt", lines)


def preds(windows_by_qid):
    return [{"qid": q, "pred_relevant_windows": w} for q, w in windows_by_qid.items()]


def test_t_tvg_inclusive(charades):
    m = evaluate("charades_sta", [charades], preds(dict(enumerate([[p] for p in T_TVG_PRED]))))
    assert list(m) == ["R1@0.3", "R1@0.5", "R1@0.7", "mIoU"]
    assert m["R1@0.3"] == 75.0 and m["R1@0.5"] == 50.0 and m["R1@0.7"] == 25.0
    assert m["mIoU"] == pytest.approx(42.5, abs=1e-12)


def test_t_tvg_strict(charades):
    m = evaluate("charades_sta", [charades], preds(dict(enumerate([[p] for p in T_TVG_PRED]))), strict=True)
    assert (m["R1@0.3"], m["R1@0.5"], m["R1@0.7"]) == (75.0, 50.0, 0.0)  # IoU exactly 0.7 is not > 0.7
    assert m["mIoU"] == pytest.approx(42.5, abs=1e-12)
    assert (m["mIoU"] + m["R1@0.3"] + m["R1@0.5"] + m["R1@0.7"]) / 4 == pytest.approx(41.875)  # Time-R1 "avg"


def test_only_the_first_window_counts_and_missing_queries_score_zero(charades):
    # q0 lists a miss before a perfect hit; q1 duplicates its window; q2 and q3 have no prediction.
    m = evaluate("charades_sta", [charades], preds({0: [[50, 60], [10, 20]], 1: [[0, 10, 0.9], [0, 10, 0.9]]}))
    assert m == {"R1@0.3": 25.0, "R1@0.5": 25.0, "R1@0.7": 25.0, "mIoU": 25.0}


def test_empty_predictions_and_empty_window_lists_score_zero(charades):
    zero = {"R1@0.3": 0.0, "R1@0.5": 0.0, "R1@0.7": 0.0, "mIoU": 0.0}
    assert evaluate("charades_sta", [charades], []) == zero
    assert evaluate("charades_sta", [charades], preds({0: [], 1: []})) == zero


def test_reversed_and_past_end_windows_are_scored_not_rejected(charades):
    # Reversed [20,10] on GT [10,20] has no intersection; [35,90] runs past any video end and is not clipped.
    m = evaluate("charades_sta", [charades], preds({0: [[20, 10]], 2: [[35, 90]]}))
    assert m["mIoU"] == pytest.approx(100 * (5 / 60) / 4)
    assert m["R1@0.3"] == 0.0


def test_activitynet_captions_qids_name_video_and_sentence(write_json):
    ann = write_json("val_2.json", {
        "v_a_b": {"duration": 30.0, "timestamps": [[0, 10], [10, 30]], "sentences": [" one.", " two."]},
        "v_c": {"duration": 55.15, "timestamps": [[0.28, 55.15]], "sentences": ["three."]},
    })
    m = evaluate("activitynet_captions_grounding", [ann], preds({"v_a_b_1": [[10, 30]], "v_c_0": [[0.28, 60]]}))
    assert m["R1@0.7"] == pytest.approx(200 / 3)
    assert m["mIoU"] == pytest.approx(100 * (1 + 54.87 / 59.72) / 3)


def test_tvgbench_parses_answers_and_defaults_to_strict(write_json):
    items = [{"answer": f"{s}-{e}", "question": "q", "duration": 30.12} for s, e in T_TVG_GT]
    ann = write_json("tvgbench.json", items)
    windows = dict(enumerate([[p] for p in T_TVG_PRED]))
    assert evaluate("tvgbench", [ann], preds(windows))["R1@0.7"] == 0.0
    assert evaluate("tvgbench", [ann], preds(windows), strict=False)["R1@0.7"] == 25.0


def test_activitynet_dtg_pairs_windows_with_sentences_by_index(write_json):
    ann = write_json("val_2.json", {
        "v1": {"duration": 40, "timestamps": [[0, 10], [10, 20], [20, 40]], "sentences": ["a", "b", "c"]},
        "v2": {"duration": 20, "timestamps": [[0, 20]], "sentences": ["d"]},
        "v3": {"duration": 20, "timestamps": [[5, 15]], "sentences": ["e"]},
    })
    # v1: [0,10] perfect, [12,20] -> 0.8, third sentence unanswered -> 0; v2: an extra window is ignored;
    # v3: no prediction -> 0.
    m = evaluate("activitynet_dtg", [ann], [
        {"qid": "v1", "pred_relevant_windows": [[0, 10], [12, 20]]},
        {"qid": "v2", "pred_relevant_windows": [[0, 10], [0, 20]]},
    ])
    assert m == {"mIoU": pytest.approx(100 * ((1 + 0.8 + 0) / 3 + 0.5 + 0) / 3)}
    # Order matters: the same windows permuted are paired with the wrong sentences.
    swapped = evaluate("activitynet_dtg", [ann], [{"qid": "v1", "pred_relevant_windows": [[10, 20], [0, 10], [20, 40]]}])
    assert swapped == {"mIoU": pytest.approx(100 * (1 / 3) / 3)}


def test_every_grounding_benchmark_scores_empty_predictions_as_zero(write_json):
    anet = write_json("val_2.json", {"v1": {"duration": 40, "timestamps": [[0, 10], [10, 20]], "sentences": ["a", "b"]}})
    tvg = write_json("tvgbench.json", [{"answer": "0.0-10.0"}])
    zero = {"R1@0.3": 0.0, "R1@0.5": 0.0, "R1@0.7": 0.0, "mIoU": 0.0}
    assert evaluate("activitynet_captions_grounding", [anet], []) == zero
    assert evaluate("tvgbench", [tvg], []) == zero
    assert evaluate("activitynet_dtg", [anet], []) == {"mIoU": 0.0}
    assert evaluate("activitynet_dtg", [anet], [{"qid": "v1", "pred_relevant_windows": []}]) == {"mIoU": 0.0}


def test_dtg_duplicate_reversed_and_past_end_windows(write_json):
    anet = write_json("val_2.json", {"v1": {"duration": 40, "timestamps": [[0, 10], [10, 20]], "sentences": ["a", "b"]}})

    def dtg(*windows):
        return evaluate("activitynet_dtg", [anet], [{"qid": "v1", "pred_relevant_windows": list(windows)}])["mIoU"]

    assert dtg([0, 10], [0, 10]) == 50.0  # the duplicate is paired with the second sentence and misses
    assert dtg([10, 0], [20, 10]) == 0.0  # reversed windows have no intersection
    assert dtg([0, 10], [10, 60]) == pytest.approx(100 * (1 + 10 / 50) / 2)  # past the 40-s end, not clipped
