"""qvhighlights: moment_detr standalone_eval conventions (spec T-QVH-MR, T-HL) and the guarded crash cases."""
import pytest

from tempr1_jax.eval import EvalError, evaluate

# Small fixtures leave length buckets empty; the one test about that warning asserts it explicitly.
pytestmark = pytest.mark.filterwarnings("ignore:qvhighlights. MR-")

THRESHOLDS = ["0.5", "0.55", "0.6", "0.65", "0.7", "0.75", "0.8", "0.85", "0.9", "0.95"]
BRIEF = [
    "MR-full-mAP", "MR-full-mAP@0.5", "MR-full-mAP@0.75", "MR-short-mAP", "MR-middle-mAP", "MR-long-mAP",
    "MR-full-R1@0.5", "MR-full-R1@0.7",
]


def gt_line(qid, windows, duration=150, **extra):
    return {"qid": qid, "query": "q", "duration": duration, "vid": f"v{qid}", "relevant_windows": windows, **extra}


T_MR_GT = [gt_line(1, [[10, 20], [40, 60]]), gt_line(2, [[0, 30]]), gt_line(3, [[100, 140]])]
T_MR_PRED = [
    {"qid": 1, "pred_relevant_windows": [[12, 20, 0.9], [40, 58, 0.8], [0, 8, 0.7]]},
    {"qid": 2, "pred_relevant_windows": [[50, 70, 0.95], [0, 24, 0.5]]},
    {"qid": 3, "pred_relevant_windows": [[100, 140, 0.6]]},
]


def test_t_qvh_mr(write_jsonl):
    m = evaluate("qvhighlights", [write_jsonl("gt.jsonl", T_MR_GT)], T_MR_PRED)
    assert set(BRIEF) <= set(m)
    expected_full = [5 / 6] * 7 + [5 / 12, 5 / 12, 1 / 3]
    for t, ap in zip(THRESHOLDS, expected_full):
        assert m[f"MR-full-mAP@{t}"] == pytest.approx(100 * ap, abs=1e-12)
    assert m["MR-full-mAP"] == pytest.approx(70.0, abs=1e-12)
    # q2's first-listed window misses even though its later, lower-scored one hits.
    assert m["MR-full-R1@0.5"] == pytest.approx(200 / 3) and m["MR-full-R1@0.7"] == pytest.approx(200 / 3)
    assert m["MR-short-mAP"] == pytest.approx(70.0, abs=1e-12)  # q1 with GT [10,20] only
    assert m["MR-middle-mAP"] == pytest.approx(40.0, abs=1e-12)  # q1 with [40,60] (AP .5 to 0.9) and q2
    assert m["MR-long-mAP"] == pytest.approx(100.0, abs=1e-12)
    assert m["MR-middle-R1@0.5"] == 0.0
    # VHD-mIoU: unions of all windows; q1 26/38, q2 24/50, q3 1.
    assert m["VHD-mIoU"] == pytest.approx(100 * (26 / 38 + 24 / 50 + 1) / 3)
    assert not any(k.startswith("HL-") for k in m)  # no pred_saliency_scores on the first line


def test_empty_length_bucket_is_left_out_with_a_warning(write_jsonl):
    with pytest.warns(UserWarning, match="MR-long"):
        m = evaluate("qvhighlights", [write_jsonl("gt.jsonl", T_MR_GT[:2])], T_MR_PRED[:2])
    assert "MR-long-mAP" not in m and not any(k.startswith("MR-long") for k in m)
    assert m["MR-short-mAP"] == pytest.approx(70.0, abs=1e-12)


def test_empty_prediction_list_scores_ap_zero_and_an_r1_miss(write_jsonl):
    gt = write_jsonl("gt.jsonl", [gt_line(1, [[10, 20]]), gt_line(2, [[0, 30]])])
    m = evaluate("qvhighlights", [gt], [
        {"qid": 1, "pred_relevant_windows": [[10, 20, 0.5]]},
        {"qid": 2, "pred_relevant_windows": []},
    ])
    assert m["MR-full-mAP"] == 50.0 and m["MR-full-R1@0.5"] == 50.0 and m["VHD-mIoU"] == 50.0


def ap_of(write_jsonl, windows, gt=((10, 20),)):
    path = write_jsonl("gt.jsonl", [gt_line(1, [list(g) for g in gt])])
    return evaluate("qvhighlights", [path], [{"qid": 1, "pred_relevant_windows": windows}])


def test_tied_and_missing_scores_rank_in_list_order(write_jsonl):
    assert ap_of(write_jsonl, [[0, 8, 0.5], [10, 20, 0.5]])["MR-full-mAP"] == 50.0
    assert ap_of(write_jsonl, [[0, 8], [10, 20]])["MR-full-mAP"] == 50.0
    assert ap_of(write_jsonl, [[0, 8, 0.1], [10, 20, 0.9]])["MR-full-mAP"] == 100.0


def test_duplicate_windows_are_false_positives_after_the_first(write_jsonl):
    m = ap_of(write_jsonl, [[10, 20, 0.9], [10, 20, 0.9]], gt=((10, 20), (30, 40)))
    assert m["MR-full-mAP"] == 50.0  # TP, FP: precision 1 up to recall 1/2, then nothing


def test_only_the_first_ten_listed_windows_are_ranked(write_jsonl):
    misses = [[50 + i, 51 + i, 0.1] for i in range(10)]
    assert ap_of(write_jsonl, misses + [[10, 20, 0.99]])["MR-full-mAP"] == 0.0
    assert ap_of(write_jsonl, misses[:9] + [[10, 20, 0.99]])["MR-full-mAP"] == 100.0


def test_iou_exactly_on_a_threshold_and_windows_past_the_end(write_jsonl):
    m = ap_of(write_jsonl, [[0, 7, 1.0]], gt=((0, 10),))  # IoU exactly 0.7
    assert m["MR-full-R1@0.7"] == 100.0 and m["MR-full-R1@0.75"] == 0.0
    assert m["MR-full-mAP@0.7"] == 100.0 and m["MR-full-mAP@0.75"] == 0.0
    past = ap_of(write_jsonl, [[140, 200, 1.0]], gt=((130, 150),))  # not clipped to the 150-s video
    assert past["MR-full-R1@0.5"] == 0.0 and past["VHD-mIoU"] == pytest.approx(100 * 10 / 70)


def test_reversed_window_follows_the_official_iou_formulas(write_jsonl):
    # Hull IoU (R1) of [20,10] with [10,20] is 0; the unguarded sum-union IoU (mAP) is nan, which the
    # official matching loop treats as a hit at every threshold; a reversed window covers no time (VHD).
    m = ap_of(write_jsonl, [[20, 10, 1.0]])
    assert m["MR-full-R1@0.5"] == 0.0 and m["MR-full-mAP"] == 100.0 and m["VHD-mIoU"] == 0.0
    assert ap_of(write_jsonl, [[25, 5, 1.0]])["MR-full-mAP"] == 0.0  # other reversed windows miss


def test_match_number(write_jsonl):
    gt = write_jsonl("gt.jsonl", T_MR_GT)
    with pytest.raises(EvalError, match="no prediction for 1 of the 3 qids.*first 3"):
        evaluate("qvhighlights", [gt], T_MR_PRED[:2])
    m = evaluate("qvhighlights", [gt], T_MR_PRED[:2], match_number=False)
    assert m["MR-full-mAP"] == pytest.approx(100 * (0.75 + 0.35) / 2)


T_HL_GT = [
    gt_line(1, [[2, 8]], duration=10, relevant_clip_ids=[1, 2, 3], saliency_scores=[[4, 2, 0], [3, 3, 1], [1, 4, 4]]),
    gt_line(2, [[0, 2]], duration=6, relevant_clip_ids=[0], saliency_scores=[[2, 2, 2]]),
]
T_HL_PRED = [{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.3, 0.8, 0.2]}, {"qid": 2, "pred_saliency_scores": [0.2, 0.5, 0.1]}]


def test_t_hl_one_query(write_jsonl):
    m = evaluate("qvhighlights", [write_jsonl("gt.jsonl", T_HL_GT[:1])], T_HL_PRED[:1])
    assert m["HL-min-VeryGood-mAP"] == pytest.approx(200 / 3) and m["HL-min-VeryGood-Hit1"] == 100.0
    assert m["HL-min-Good-mAP"] == pytest.approx(200 / 3) and m["HL-min-Good-Hit1"] == 100.0
    assert m["HL-min-Fair-mAP"] == pytest.approx(100 * (5 / 6 + 1 + 0.5) / 3) and m["HL-min-Fair-Hit1"] == 100.0
    assert not any(k.startswith("MR-") for k in m) and "VHD-mIoU" not in m


def test_t_hl_two_queries(write_jsonl):
    m = evaluate("qvhighlights", [write_jsonl("gt.jsonl", T_HL_GT)], T_HL_PRED)
    assert m["HL-min-VeryGood-mAP"] == pytest.approx(100 / 3) and m["HL-min-VeryGood-Hit1"] == 50.0
    assert m["HL-min-Good-mAP"] == pytest.approx(100 / 3) and m["HL-min-Good-Hit1"] == 50.0
    assert m["HL-min-Fair-mAP"] == pytest.approx(100 * (5 / 6 + 1 + 0.5 + 1.5) / 6) and m["HL-min-Fair-Hit1"] == 50.0


def test_saliency_lists_are_cut_or_padded_and_an_empty_one_is_a_miss(write_jsonl):
    gt = write_jsonl("gt.jsonl", T_HL_GT[:1])
    long = evaluate("qvhighlights", [gt], [{"qid": 1, "pred_saliency_scores": [0.1, 0.9, 0.3, 0.8, 0.2, 5.0]}])
    assert long["HL-min-VeryGood-Hit1"] == 0.0  # the best score is on a clip past the video
    assert long["HL-min-VeryGood-mAP"] == pytest.approx(200 / 3)  # AP on the first 5 clips
    empty = evaluate("qvhighlights", [gt], [{"qid": 1, "pred_saliency_scores": []}])
    assert empty["HL-min-Fair-Hit1"] == 0.0
    # Zero-padded: one tied operating point, precision = share of positives per annotator.
    assert empty["HL-min-Fair-mAP"] == pytest.approx(100 * (2 / 5 + 2 / 5 + 2 / 5) / 3)


def test_hit1_takes_the_first_of_tied_best_clips(write_jsonl):
    gt = write_jsonl("gt.jsonl", T_HL_GT[:1])  # clip 0 unrated, clip 1 rated [4, 2, 0]
    assert evaluate("qvhighlights", [gt], [{"qid": 1, "pred_saliency_scores": [0.9, 0.9, 0, 0, 0]}])["HL-min-VeryGood-Hit1"] == 0.0
    assert evaluate("qvhighlights", [gt], [{"qid": 1, "pred_saliency_scores": [0, 0.9, 0.9, 0, 0]}])["HL-min-VeryGood-Hit1"] == 100.0


def test_no_prediction_at_all(write_jsonl):
    gt = write_jsonl("gt.jsonl", T_MR_GT)
    with pytest.raises(EvalError, match="no prediction for 3 of the 3 qids"):
        evaluate("qvhighlights", [gt], [])
    with pytest.raises(EvalError, match="no annotated qid has a prediction"):
        evaluate("qvhighlights", [gt], [], match_number=False)


def test_both_tasks_in_one_submission(write_jsonl):
    pred = [{**T_HL_PRED[0], "pred_relevant_windows": [[2, 8, 1.0]]}, {**T_HL_PRED[1], "pred_relevant_windows": [[0, 2, 1.0]]}]
    m = evaluate("qvhighlights", [write_jsonl("gt.jsonl", T_HL_GT)], pred)
    assert m["MR-full-mAP"] == 100.0 and m["VHD-mIoU"] == 100.0 and m["HL-min-VeryGood-Hit1"] == 50.0
