"""IoU variants and AP variants shared by the benchmarks (spec sections 1.1, 1.2 and test vector T-HL-3)."""
import numpy as np
import pytest

from tempr1_jax.eval.intervals import hull_iou, merge, reaches, sum_iou, union_iou
from tempr1_jax.eval.precision import detection_ap, interpolated_ap, ranking_ap


def w(*pairs):
    return np.array(pairs, dtype=np.float64).reshape(-1, 2)


def test_hull_iou_values_and_guards():
    iou = hull_iou(w([12, 22], [5, 15], [0, 5], [5, 12], [20, 10], [3, 3]), w([10, 20], [0, 10], [30, 40], [5, 15], [10, 20], [3, 3]))
    np.testing.assert_allclose(iou[:3], [8 / 12, 5 / 15, 0.0])
    assert iou[3] == 0.7  # 7/10 rounds to the literal 0.7: a hit at >= 0.7, a miss at > 0.7
    assert iou[4] == 0.0  # reversed: no intersection
    assert iou[5] == 0.0  # zero union is guarded


def test_sum_iou_is_unguarded_like_the_official_scripts():
    iou = sum_iou(w([20, 10], [3, 3], [12, 18]), w([10, 20], [0, 30]))
    assert np.isnan(iou[0, 0])  # reversed and as long as the GT: union 0, the spec's table says 0 here
    assert iou[0, 1] == 0.0
    assert np.isnan(sum_iou(w([3, 3]), w([3, 3]))[0, 0])
    assert iou[1, 1] == 0.0
    assert iou[2, 0] == pytest.approx(0.6)


def test_merge_drops_empty_and_reversed_windows_and_joins_touching_ones():
    assert merge(w([5, 12], [0, 10], [40, 50], [12, 14], [30, 20], [60, 60])) == [(0.0, 14.0), (40.0, 50.0)]


def test_union_iou_worked_example_and_edge_values():
    # TempR1 notes, type-2 example: unions [0,12]+[40,50] and [0,12]+[40,45] -> 17 / 22.
    assert union_iou(w([0, 10], [5, 12], [40, 50]), w([0, 12], [40, 45])) == pytest.approx(17 / 22)
    assert union_iou(w(), w([0, 10])) == 0.0
    assert union_iou(w([20, 10]), w([0, 10])) == 0.0  # a reversed window covers no time
    assert union_iou(w(), w()) == 1.0
    assert union_iou(w([0, 10], [0, 10]), w([0, 10])) == 1.0  # duplicates change nothing


def test_reaches_switches_between_ge_and_gt():
    iou = np.array([0.3, 0.5, 0.7])
    assert reaches(iou, 0.5).tolist() == [False, True, True]
    assert reaches(iou, 0.5, strict=True).tolist() == [False, False, True]


def test_interpolated_ap_is_the_area_under_the_monotone_curve():
    # TP, FP, TP over 2 GT: precision [1, .5, 2/3], recall [.5, .5, 1] -> .5 * 1 + .5 * 2/3.
    assert interpolated_ap(np.array([1, 0.5, 2 / 3]), np.array([0.5, 0.5, 1.0])) == pytest.approx(0.5 + 1 / 3)
    assert interpolated_ap(np.array([0.0]), np.array([0.0])) == 0.0


@pytest.mark.parametrize(
    "labels, scores, expected",
    [
        ([1, 0, 1, 1], [0.9, 0.8, 0.5, 0.5], 0.875),  # ties spanning two positives: area-based AP is 0.8333
        ([1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1], 5 / 6),
        ([1, 0, 1], [0.5, 0.5, 0.2], 2 / 3),
        ([0, 0, 1], [0.3, 0.3, 0.3], 1 / 3),
        ([0, 0, 0], [0.3, 0.2, 0.1], 0.0),  # all negative
        ([1, 1], [0.1, 0.9], 1.0),  # all positive
        ([], [], 0.0),  # no clip at all: all negative
    ],
)
def test_ranking_ap_vectors(labels, scores, expected):
    assert ranking_ap(np.array(labels, dtype=bool), np.array(scores, dtype=np.float64)) == pytest.approx(expected, abs=1e-15)


T_TAL_GT = w([10, 20], [30, 40], [0, 10])
T_TAL_GT_VIDEOS = ["v1", "v1", "v2"]
T_TAL_PRED = w([11, 21], [10, 19], [2, 8], [50, 60], [0, 10])
T_TAL_PRED_VIDEOS = ["v1", "v1", "v2", "v1", "v2"]
T_TAL_SCORES = np.array([0.9, 0.8, 0.7, 0.6, 0.5])


def test_detection_ap_t_tal_on_thumos_and_activitynet_thresholds():
    thumos = detection_ap(T_TAL_GT, T_TAL_GT_VIDEOS, T_TAL_PRED, T_TAL_PRED_VIDEOS, T_TAL_SCORES, np.linspace(0.3, 0.7, 5), "reverse_order")
    np.testing.assert_allclose(thumos, [5 / 9] * 4 + [7 / 15], rtol=1e-12)
    assert thumos.mean() == pytest.approx(0.537778, abs=1e-6)
    anet = detection_ap(T_TAL_GT, T_TAL_GT_VIDEOS, T_TAL_PRED, T_TAL_PRED_VIDEOS, T_TAL_SCORES, np.linspace(0.5, 0.95, 10), "reverse_order")
    # At 0.85 and 0.9 the 0.8-score detection (IoU exactly 0.9) takes GT [10,20]: 0.9 passes linspace's
    # 0.8999999999999999.
    np.testing.assert_allclose(anet, [5 / 9] * 3 + [7 / 15] * 4 + [0.3, 0.3, 1 / 15], rtol=1e-12)
    assert anet.mean() == pytest.approx(0.42, abs=1e-12)


def test_detection_ap_duplicates_empty_and_tie_orders():
    gt = w([0, 10])
    # A duplicate of the matched detection is a false positive: precision [1, .5], recall [1, 1].
    assert detection_ap(gt, [0], w([0, 10], [0, 10]), [0, 0], np.array([0.9, 0.9]), [0.5], "keep_order")[0] == 1.0
    assert detection_ap(gt, [0], w(), [], np.array([]), [0.5, 0.7], "keep_order").tolist() == [0.0, 0.0]
    # Tied scores: keep_order ranks the miss (listed first) first, reverse_order ranks the hit first.
    pred, scores = w([50, 60], [0, 10]), np.array([0.5, 0.5])
    assert detection_ap(gt, [0], pred, [0, 0], scores, [0.5], "keep_order")[0] == 0.5
    assert detection_ap(gt, [0], pred, [0, 0], scores, [0.5], "reverse_order")[0] == 1.0
    # A detection in a video without ground truth is a false positive.
    assert detection_ap(gt, ["a"], w([0, 10], [0, 10]), ["b", "a"], np.array([0.9, 0.8]), [0.5], "keep_order")[0] == 0.5


def test_detection_ap_iou_exactly_on_threshold_and_nan_quirk():
    gt = w([0, 10])
    assert detection_ap(gt, [0], w([0, 5]), [0], np.array([1.0]), [0.5, 0.55], "keep_order").tolist() == [1.0, 0.0]
    # Reversed and as long as the GT: the official sum-union IoU is nan, and nan is "not below" any
    # threshold, so the official loop counts it as a true positive.
    assert detection_ap(w([10, 20]), [0], w([20, 10]), [0], np.array([1.0]), [0.5, 0.95], "keep_order").tolist() == [1.0, 1.0]
