"""experiments/evaluate.py end to end, in a subprocess."""
import json
import os
import subprocess
import sys

import pytest

from tempr1_jax.eval import BENCHMARKS

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "..", "experiments", "evaluate.py")


def run(*args, cwd=None):
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_help_lists_every_benchmark():
    out = run("--help")
    assert out.returncode == 0
    for benchmark in BENCHMARKS.values():
        assert benchmark.name in out.stdout and benchmark.description in out.stdout


def test_scores_a_file_writes_json_and_prints_a_table(tmp_path, write_text, write_jsonl):
    ann = write_text("charades_sta_test.txt", "AAA 10 20##a.\nBBB 0 10##b.\nCCC 30 40##c.\nDDD 5 15##d.\n")
    preds = write_jsonl("preds.jsonl", [
        {"qid": 0, "pred_relevant_windows": [[12, 22]]}, {"qid": 1, "pred_relevant_windows": [[5, 15]]},
        {"qid": 2, "pred_relevant_windows": [[0, 5]]}, {"qid": 3, "pred_relevant_windows": [[5, 12]]},
    ])
    output = tmp_path / "metrics.json"
    args = ["--benchmark=charades_sta", f"--annotations={ann}", f"--predictions={preds}", f"--output={output}"]
    out = run(*args, cwd=tmp_path)  # from outside the repository: no install, no dependence on the cwd
    assert out.returncode == 0, out.stderr
    metrics = json.loads(output.read_text())
    assert list(metrics) == ["R1@0.3", "R1@0.5", "R1@0.7", "mIoU"]
    assert metrics["R1@0.7"] == 25.0 and metrics["mIoU"] == pytest.approx(42.5, abs=1e-12)
    assert "R1@0.7" in out.stdout and "25.0000" in out.stdout and "42.5000" in out.stdout
    strict = run(*args, "--strict")
    assert strict.returncode == 0 and json.loads(output.read_text())["R1@0.7"] == 0.0


def test_two_annotation_files_comma_separated(tmp_path, write_json, write_text, write_jsonl):
    gsub = write_json("gsub_test.json", {"9": {"duration": 10, "location": {"0": [[0, 5]]}}})
    csv = write_text("test.csv", "video_id,qid,answer,a0,a1,a2,a3,a4\n9,0,b,a,b,c,d,e\n")
    preds = write_jsonl("preds.jsonl", [{"qid": "9_0", "answer": 1, "pred_relevant_windows": [[0, 5]]}])
    output = tmp_path / "m.json"
    out = run("--benchmark=nextgqa", f"--annotations={gsub},{csv}", f"--predictions={preds}", f"--output={output}")
    assert out.returncode == 0, out.stderr
    assert json.loads(output.read_text())["Acc@GQA"] == 100.0


def test_bad_input_exits_with_the_located_message(tmp_path, write_text):
    ann = write_text("c.txt", "AAA 10 20##a.\n")
    preds = write_text("p.jsonl", '{"qid": 3, "pred_relevant_windows": []}\n')
    output = tmp_path / "m.json"
    out = run("--benchmark=charades_sta", f"--annotations={ann}", f"--predictions={preds}", f"--output={output}")
    assert out.returncode == 2 and "p.jsonl:1: qid 3 is not in the annotations" in out.stderr
    assert not output.exists()
    out = run("--benchmark=nope", f"--annotations={ann}", f"--predictions={preds}", f"--output={output}")
    assert out.returncode == 2 and "unknown benchmark 'nope'" in out.stderr
