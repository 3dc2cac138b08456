"""A non-finite value is recorded (null in metrics.jsonl, NaN when read back), while the NaN mean of a task absent
from the batch stays out of the record."""
import json
import math

from tempr1_jax.train.metrics import MetricsWriter, read_metrics


def test_nonfinite_values_are_recorded_and_absent_tasks_left_out(tmp_path):
    writer = MetricsWriter(str(tmp_path), "sft", total_steps=1)
    writer.write(1, {"loss": math.nan, "grad_norm": math.inf, "reward/total": math.nan, "tg/sft_loss": math.nan,
                     "vhd/sft_loss": 2.5, "skipped": 1.0, "nonfinite_steps": 1.0})
    writer.close()
    text = (tmp_path / "metrics.jsonl").read_text()
    assert "NaN" not in text and "Infinity" not in text  # strict JSON
    row = json.loads(text)
    assert row["loss"] is None and row["grad_norm"] is None and row["reward/total"] is None
    assert "tg/sft_loss" not in row and row["vhd/sft_loss"] == 2.5
    assert row["nonfinite_steps"] == 1.0 and row["skipped"] == 1.0
    (back,) = read_metrics(str(tmp_path), "sft")
    assert math.isnan(back["loss"]) and math.isnan(back["grad_norm"])
