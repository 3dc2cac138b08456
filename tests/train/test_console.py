"""`experiments/run.py` keeps the console to progress bars and warnings: libraries' INFO lines (Orbax writes dozens
per checkpoint) only with `--verbosity=0`."""
import os
import re
import subprocess
import sys

from tiny_run import ROOT


def test_run_prints_progress_bars_without_library_info_lines(prepared, tmp_path):
    data = os.path.join(prepared, "data")
    args = [sys.executable, "experiments/run.py", "--config=experiments/configs/demo.py", "--config.stages=('sft',)",
            f"--config.workdir={tmp_path}", f"--config.tokenizer={data}/tokenizer.json",
            f"--config.data.train_dirs=('{data}/train',)", "--config.model.preset=tiny_small",
            "--config.sft.batch_size=4", "--config.sft.steps=2", "--config.sft.checkpoint_every=1",
            "--config.sft.optimizer.warmup_steps=0",
            "--config.data.buckets.text=(384,)", "--config.data.buckets.patches=(320,)",
            "--config.data.buckets.answer=64"]
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert os.listdir(os.path.join(tmp_path, "sft", "checkpoints"))  # Orbax did write (and would have logged)
    assert "sft: 100%" in r.stderr and "2/2" in r.stderr  # the progress bar
    info = re.findall(r"^I\d{4} .*$", r.stderr, re.M)
    assert not info, info[:5]
