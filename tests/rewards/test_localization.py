"""Localization rewards: the DP against brute force, index order and the Hungarian optimum; unions; the worked
examples of docs/rewards.md."""
import itertools
import math

import jax
import numpy as np
import pytest
import scipy.optimize

from tempr1_jax.rewards import RewardConfig, localization as loc, reference, score

rng = np.random.default_rng(0)


def random_intervals(n, scale=20.0):
    s = rng.uniform(0, scale, n)
    return np.stack([s, s + rng.uniform(0, scale / 3, n)], axis=1).round(1)


def padded(lists, size=8):
    out = np.zeros((len(lists), size, 2), np.float32)
    for k, x in enumerate(lists):
        out[k, : len(x)] = x
    return out, np.array([len(x) for x in lists], np.int32)


def ordered_match(pred, n_pred, gt, n_gt):
    return loc.dp_matching(loc.sort_by_time(pred, n_pred), n_pred, loc.sort_by_time(gt, n_gt), n_gt)


def brute_force(pred, gt):
    """Best IoU sum over order-preserving one-to-one matchings of time-sorted lists, by enumeration."""
    p, g = sorted(map(tuple, pred)), sorted(map(tuple, gt))
    best = 0.0
    for k in range(1, min(len(p), len(g)) + 1):
        for ps in itertools.combinations(range(len(p)), k):
            for gs in itertools.combinations(range(len(g)), k):
                best = max(best, sum(reference.iou(p[i], g[j]) for i, j in zip(ps, gs)))
    return best


@pytest.fixture(scope="module")
def cases():
    sizes = [(rng.integers(1, 6), rng.integers(1, 6)) for _ in range(120)]
    preds = [random_intervals(n) for n, _ in sizes]
    gts = [random_intervals(m) for _, m in sizes]
    pred, n_pred = padded(preds)
    gt, n_gt = padded(gts)
    dp = np.asarray(jax.jit(ordered_match)(pred, n_pred, gt, n_gt))
    return preds, gts, dp


def test_dp_equals_brute_force(cases):
    preds, gts, dp = cases
    np.testing.assert_allclose(dp, [brute_force(p, g) for p, g in zip(preds, gts)], atol=1e-5)


def test_dp_between_index_order_and_hungarian(cases):
    preds, gts, dp = cases
    strictly_below = 0
    for p, g, s in zip(preds, gts, dp):
        ps, gs = sorted(map(tuple, p)), sorted(map(tuple, g))
        assert s >= reference.index_match(ps, gs) - 1e-5  # index pairing is one order-preserving matching
        ious = np.array([[reference.iou(a, b) for b in gs] for a in ps])
        rows, cols = scipy.optimize.linear_sum_assignment(ious, maximize=True)
        hungarian = ious[rows, cols].sum()
        assert s <= hungarian + 1e-5
        strictly_below += s < hungarian - 1e-4
    assert strictly_below > 0  # overlapping random intervals do cross sometimes: the bound is not vacuous


def test_dp_loop_stops_at_the_largest_pair_but_stays_exact():
    # One row needs the full 8 + 8 - 1 diagonals, the other only 1; both exact.
    pred, n_pred = padded([random_intervals(8), [[0, 1]]])
    gt, n_gt = padded([random_intervals(8), [[0, 2]]])
    dp = np.asarray(ordered_match(pred, n_pred, gt, n_gt))
    np.testing.assert_allclose(dp, [brute_force(pred[0], gt[0]), 0.5], atol=1e-5)


def test_union_iou_matches_reference():
    preds = [random_intervals(rng.integers(0, 8)) for _ in range(200)]
    gts = [random_intervals(rng.integers(0, 8)) for _ in range(200)]
    pred, n_pred = padded(preds)
    gt, n_gt = padded(gts)
    union_iou = lambda p, n, g, m: loc.union_iou(loc.sort_by_time(p, n), n, loc.sort_by_time(g, m), m)
    out = np.asarray(jax.jit(union_iou)(pred, n_pred, gt, n_gt))
    np.testing.assert_allclose(out, [reference.union_iou(p, g) for p, g in zip(preds, gts)], atol=1e-5)


def test_count_term():
    n_pred, n_gt = np.array([3, 2, 4, 1, 5, 1]), np.array([3, 3, 3, 3, 10, 0])
    expected = [1, math.exp(-1 / 3), math.exp(-1 / 3), math.exp(-2 / 3), math.exp(-5 / 3), 0]
    np.testing.assert_allclose(loc.count_term(n_pred, n_gt, 1.0), expected, rtol=1e-6)
    np.testing.assert_allclose(loc.count_term(n_pred, n_gt, 2.0)[1], math.exp(-1 / 6), rtol=1e-6)


def answer(intervals):
    return "<think>ok</think><answer>" + ", ".join(f"{s} to {e}" for s, e in intervals) + "</answer>"


GT = {"intervals": [[0, 10], [20, 30], [40, 50]], "duration": 60}
WORKED_TAL = [  # prediction, localization (= count + match), from section 3
    ([[0, 10], [20, 30], [40, 50]], 2.0),
    ([[0, 10], [20, 30]], math.exp(-1 / 3) + 0.8),
    ([[0, 10], [20, 30], [40, 50], [60, 70]], math.exp(-1 / 3) + 6 / 7),
    ([[0, 50]], math.exp(-2 / 3) + 0.1),
    ([[0, 10], [40, 50], [20, 30]], 2.0),  # order-permuted: sorting then the DP recovers S = 3
]


def test_worked_examples_tal():
    out = score("tal", [answer(p) for p, _ in WORKED_TAL], [GT] * len(WORKED_TAL))
    np.testing.assert_allclose(out["localization"], [v for _, v in WORKED_TAL], atol=1e-5)
    np.testing.assert_allclose(out["localization"][:4], [2.0, 1.517, 1.574, 0.613], atol=5e-4)
    np.testing.assert_array_equal(out["format"], 1.0)
    np.testing.assert_allclose(out["total"], out["localization"] + 1, atol=1e-6)


def test_worked_example_index_order_ablation():
    # Index pairing of the permuted prediction matches one interval of three: S = 1, mean IoU 0.33.
    out = score("tal", [answer(WORKED_TAL[4][0])], [GT], RewardConfig(tal_matching="index"))
    np.testing.assert_allclose(out["localization"], [1.0 + 1 / 3], atol=1e-5)  # count 1 + F1 of P = R = 1/3


def test_worked_example_type2():
    out = score("vhd", [answer([[0, 10], [5, 12], [40, 50]])], [{"intervals": [[0, 12], [40, 45]]}])
    np.testing.assert_allclose(out["localization"], [17 / 22], atol=1e-6)
    assert round(float(out["localization"][0]), 3) == 0.773
