"""The report's blind baseline (stages/blind.py) and bootstrap intervals (stages/report.py)."""
import numpy as np
import pytest

from tempr1_jax.data.annotations import Sample
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.stages import blind, report

CFG = RewardConfig()


def _sample(i, task, fractions, duration, queries=1, answer=-1):
    intervals = tuple((round(a * duration, 1), round(b * duration, 1)) for a, b in fractions)
    return Sample(uid=f"{task}-{i}", task=task, video=f"{i}.mp4", queries=("q",) * queries, intervals=intervals,
                  duration=duration, options=("a", "b", "c", "d", "e") if task == "gvqa" else (), answer=answer)


def test_the_best_constant_answer_is_found_on_training_and_scored_on_held_out():
    rng = np.random.default_rng(0)
    train = [_sample(i, "tg", [(0.2, 0.6)], float(rng.integers(8, 13))) for i in range(20)]
    train += [_sample(i, "dtg", [(0.0, 0.25), (0.5, 0.75)], 10.0, queries=2) for i in range(5)]
    train += [_sample(i, "gvqa", [(0.1, 0.3)], 10.0, answer=[3, 3, 1][i % 3]) for i in range(6)]
    baseline = blind.fit(train, CFG)
    assert baseline.fractions["tg"] == pytest.approx((0.2, 0.6))
    assert baseline.dtg_fractions[(2, 0)] == pytest.approx((0.0, 0.25))
    assert baseline.dtg_fractions[(2, 1)] == pytest.approx((0.5, 0.75)) == baseline.dtg_fractions[(None, 1)]
    assert baseline.letter == 3
    held_out = [_sample(0, "tg", [(0.2, 0.6)], 20.0), _sample(1, "tg", [(0.6, 1.0)], 10.0),
                _sample(2, "dtg", [(0.0, 0.25), (0.5, 0.75), (0.8, 0.9)], 10.0, queries=3),
                _sample(3, "gvqa", [(0.1, 0.3)], 10.0, answer=1)]
    rows = blind.rows(baseline, held_out, CFG)
    assert rows[0]["pred"] == [[4.0, 12.0]] and rows[0]["reward_localization"] == pytest.approx(1.0)
    assert rows[1]["reward_localization"] == 0.0  # it answers blindly: the same fractions for every video
    assert len(rows[2]["pred"]) == 3  # a count unseen in training falls back to the per-index fit
    assert rows[3]["reward_classification"] == 0.0 and rows[3]["reward_localization"] == pytest.approx(1.0)


def test_bootstrap_intervals_cover_the_mean_narrow_with_samples_and_pair_differences():
    rng = np.random.default_rng(1)
    small, large = rng.uniform(size=(50, 1)), rng.uniform(size=(2000, 1))
    lo, hi = np.percentile(report.bootstrap(small)[:, 0], [2.5, 97.5])
    assert lo < small.mean() < hi
    lo2, hi2 = np.percentile(report.bootstrap(large)[:, 0], [2.5, 97.5])
    assert hi2 - lo2 < (hi - lo) / 3
    shifted = np.concatenate([small, small + 0.01], 1)  # paired: the difference is exact whatever the resample
    means = report.bootstrap(shifted)
    np.testing.assert_allclose(means[:, 1] - means[:, 0], 0.01, atol=1e-12)


def test_results_put_the_blind_baseline_beside_each_model():
    gt = [[[1.0, 3.0]], [[5.0, 9.0]]]
    rows = {name: [{"uid": f"u{i}", "task": "tg", "well_formed": True, "pred": p, "gt": g, "duration": 10.0,
                    "reward_localization": r} for i, (p, g, r) in enumerate(zip(preds, gt, rewards))]
            for name, preds, rewards in (("blind", [[[2.0, 6.0]]] * 2, [0.2, 0.125]),
                                         ("sft", gt, [1.0, 1.0]), ("grpo", gt, [1.0, 0.5]))}
    res = report.results(rows)
    e = res["tg mIoU"]
    assert e["samples"] == 2 and e["mean"] == pytest.approx({"blind": 16.25, "sft": 100.0, "grpo": 75.0})
    assert e["diff"]["of"] == ["grpo", "sft"] and e["diff"]["mean"] == pytest.approx(-25.0)
    md, table = report.results_table(res, list(rows))
    assert table[0][3:6] == ["blind [95% CI]", "sft [95% CI]", "grpo [95% CI]"] and "16.2 [" in md


def test_the_video_gain_is_how_much_likelier_each_models_reference_answers_are_with_the_frames():
    rng = np.random.default_rng(0)
    real = rng.uniform(2, 4, 40)
    rows = {"blind": [{"uid": f"u{i}", "task": "tg"} for i in range(40)],  # the baseline reads no video
            "sft": [{"uid": f"u{i}", "task": "tg", "reference_nll": r, "reference_nll_blank": r,
                     "reference_nll_reversed": r} for i, r in enumerate(real)],
            "grpo": [{"uid": f"u{i}", "task": "tg", "reference_nll": r, "reference_nll_blank": r + 1.5 + 0.1 * (i % 3),
                      "reference_nll_reversed": r + 0.5} for i, r in enumerate(real)]}
    gain = report.video_gain(rows)
    assert set(gain["tg"]) == {"sft", "grpo"}
    sft = gain["tg"]["sft"]
    assert sft["gain_blank"] == sft["gain_reversed"] == 0.0 and sft["gain_blank_ci95"] == [0.0, 0.0]
    g = gain["tg"]["grpo"]
    assert g["gain_blank"] == pytest.approx(1.5 + 0.1 * np.mean(np.arange(40) % 3))
    assert 1.5 <= g["gain_blank_ci95"][0] < g["gain_blank"] < g["gain_blank_ci95"][1] <= 1.7
    assert g["gain_reversed"] == pytest.approx(0.5) and g["gain_reversed_ci95"] == pytest.approx([0.5, 0.5])
    assert g["nll_video"] == pytest.approx(real.mean()) and g["nll_blank"] == pytest.approx(real.mean() + g["gain_blank"])
    md = report.video_gain_table(gain)
    assert "| tg | grpo |" in md and f"{g['gain_blank']:+.2f}" in md and "+0.50 [+0.50, +0.50]" in md
