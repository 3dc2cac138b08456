"""The eval stage's per-sample metrics (stages/evaluate.py) against the benchmark scorers (tempr1_jax/eval)."""
import json

import pytest

from tempr1_jax.eval import evaluate
from tempr1_jax.stages.evaluate import sample_metrics, task_metrics


@pytest.mark.parametrize("pred", [[[0, 8], [22, 30], [40, 50]], [[0, 5]], [], [[10, 0]], [[0, 10], [0, 10]]])
def test_tal_sample_mf1_is_the_scorers_mf1_of_one_query(tmp_path, pred):
    gt = [[0, 10], [20, 30]]
    ann = tmp_path / "anet.json"
    ann.write_text(json.dumps({"database": {"v": {"subset": "validation", "duration": 60.0, "annotations": [
        {"label": "Run", "segment": s} for s in gt]}}}))
    official = evaluate("tal_f1", [str(ann)], {"results": {"v": [{"label": "Run", "segment": s} for s in pred]}})
    row = {"task": "tal", "pred": pred, "gt": gt, "well_formed": True, "reward_localization": 0.0}
    assert 100 * sample_metrics(row)["mF1"] == pytest.approx(official["mF1"])
    assert task_metrics([row])["tal"]["mF1"] == pytest.approx(official["mF1"])
