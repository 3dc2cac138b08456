"""paper_table.py over benchmark-stage and synthetic eval-stage outputs: the table, its CSV and its chart."""
import csv
import json
import os
import sys

import pytest

from tempr1_jax.stages.evaluate import task_metrics

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import paper_table  # noqa: E402  (experiments/ is a folder of scripts)


def _benchmark_outputs(directory, scores):
    """The `benchmark` stage's layout: <weights>/<benchmark>/metrics.json with {"scores": {scorer: metrics}}."""
    for benchmark, by_scorer in scores.items():
        os.makedirs(directory / benchmark)
        (directory / benchmark / "metrics.json").write_text(json.dumps({"benchmark": benchmark, "scores": by_scorer}))


def _eval_outputs(directory):
    """The demo `eval` stage's metrics.json, from its own aggregation of per-sample rows."""
    rows = [{"task": "tg", "well_formed": True, "reward_localization": 0.5, "pred": [[0, 1]], "gt": [[0, 2]]},
            {"task": "gvqa", "well_formed": True, "reward_localization": 0.25, "reward_classification": 1.0,
             "pred": [[0, 1]], "gt": [[0, 4]]}]
    os.makedirs(directory)
    (directory / "metrics.json").write_text(json.dumps(task_metrics(rows)))


def test_table_from_both_kinds_of_output(tmp_path):
    _benchmark_outputs(tmp_path / "benchmark" / "grpo", {
        "charades_sta": {"charades_sta": {"mIoU": 55.04, "R1@0.5": 50.0}},
        "nextgqa": {"nextgqa": {"Acc@QA": 71.0, "GVQA-mIoU": 30.0}},
        "activitynet_tal": {"activitynet_tal": {"mAP": 10.0}, "tal_f1": {"mF1": 60.0}}})
    _eval_outputs(tmp_path / "eval" / "grpo")
    out = tmp_path / "table"
    assert paper_table.main([f"--results={tmp_path / 'benchmark' / 'grpo'}",
                             f"--results=demo={tmp_path / 'eval' / 'grpo'}", f"--out={out}"]) == 0
    rows = list(csv.reader(open(out / "paper_table.csv")))
    assert rows[0] == ["task", "benchmark", "metric", "TempR1 (paper)", "prior best (paper)", "grpo", "grpo − TempR1",
                       "demo (synthetic)", "demo − TempR1"]
    by_metric = {(r[0], r[2]): r[3:] for r in rows[1:]}
    assert by_metric["TG", "mIoU"] == ["61.4", "60.8 VideoChat-R1", "55.0", "-6.4", "50.0", "-11.4"]
    assert by_metric["VHD", "mIoU"] == ["71.1", "65.9 TAR-TVG", "—", "—", "—", "—"]
    assert by_metric["GVQA", "Acc"][2:] == ["71.0", "+0.9", "100.0", "+29.9"]
    assert by_metric["GVQA", "mIoU"][2:] == ["30.0", "-9.2", "25.0", "-14.2"]
    assert by_metric["TAL", "mF1"][2:] == ["60.0", "-11.0", "—", "—"]  # the E.T. Bench mF1, not the detection mAP
    assert by_metric["DTG", "mIoU"][1] == "—"  # the paper quotes no prior best
    md = open(out / "paper_table.md").read()
    assert md.count("\n| ") == 6 and "not comparable with the paper's benchmarks" in md
    assert os.path.getsize(out / "paper_table.png") > 10_000


def test_a_folder_without_outputs_is_named(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit):
        paper_table.main([f"--results={tmp_path / 'empty'}", f"--out={tmp_path / 'out'}"])
    assert "has neither metrics.json" in capsys.readouterr().err
