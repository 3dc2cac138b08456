"""Training faults as a user meets them: a diverging run stops with exit status 1 and a message naming the step,
writes no checkpoint from bad weights, and rerunning at a sane learning rate resumes from the last good one and
trains; a checkpoint holding weights that fail is set aside; bad settings are named before anything runs."""
import math
import os
import re
import subprocess
import sys

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from tempr1_jax.stages import run
from tempr1_jax.train.metrics import read_metrics
from tiny_run import ROOT, tiny_config


def _checkpoint_params(stage_dir):
    """{step: parameter leaves} of every checkpoint in the stage's folder."""
    mngr = ocp.CheckpointManager(os.path.join(stage_dir, "checkpoints"))
    out = {step: jax.tree.leaves(jax.device_get(mngr.restore(
        step, args=ocp.args.Composite(params=ocp.args.StandardRestore())).params)) for step in mngr.all_steps()}
    mngr.close()
    return out


def test_diverging_run_stops_and_a_rerun_resumes_from_good_weights(prepared, tmp_path):
    workdir = str(tmp_path / "run")
    c = tiny_config(prepared, workdir, stages=("sft",))
    c.sft.steps, c.sft.checkpoint_every, c.sft.steps_per_run = 8, 2, 4
    run(c)  # four good steps, checkpoints at 2 and 4
    stage_dir = os.path.join(workdir, "sft")
    good = _checkpoint_params(stage_dir)[4]

    # The same workdir at a learning rate that overflows, from the command line as a user runs it.
    config_file = tmp_path / "config.py"
    config_file.write_text(
        f"import sys\nsys.path.insert(0, {os.path.join(ROOT, 'tests', 'train')!r})\nfrom tiny_run import tiny_config\n"
        f"def get_config():\n    c = tiny_config({prepared!r}, {workdir!r}, stages=('sft',))\n"
        "    c.sft.steps, c.sft.checkpoint_every = 8, 2\n    return c\n")
    r = subprocess.run([sys.executable, "experiments/run.py", f"--config={config_file}",
                        "--config.sft.optimizer.learning_rate=1e36"],
                       cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert r.returncode == 1, r.stderr[-3000:]
    assert "error: sft stopped at step 8: 4 steps in a row skipped (steps 5-8" in r.stderr, r.stderr[-3000:]
    assert "Last good checkpoint: step 4" in r.stderr
    assert "sft step 5: update skipped, non-finite updated parameters or optimizer state; 1 in a row" in r.stderr
    assert "Traceback" not in r.stderr
    ckpts = _checkpoint_params(stage_dir)
    assert sorted(ckpts) == [2, 4]  # nothing written from the bad steps, nothing rotated away
    assert all(np.isfinite(x).all() for leaves in ckpts.values() for x in leaves)
    rows = read_metrics(stage_dir, "sft")
    bad = [r for r in rows if r["step"] > 4]
    assert [r["step"] for r in bad] == [5, 6, 7, 8]
    assert [r["skipped"] for r in bad] == [1.0] * 4 and [r["nonfinite_steps"] for r in bad] == [1.0, 2.0, 3.0, 4.0]
    assert all(r["nonfinite_steps"] == 0.0 for r in rows if r["step"] <= 4)  # in every record

    # Rerun at the sane learning rate: resumes from step 4 and trains.
    c.sft.steps_per_run = 0
    run(c)
    resumed = read_metrics(stage_dir, "sft")[len(rows):]
    assert [r["step"] for r in resumed] == [5, 6, 7, 8]
    assert all(r["skipped"] == 0.0 and math.isfinite(r["loss"]) and r["nonfinite_steps"] == 0.0 for r in resumed)
    assert resumed[-1]["loss"] < rows[0]["loss"]
    ckpts = _checkpoint_params(stage_dir)
    assert sorted(ckpts) == [6, 8] and all(np.isfinite(x).all() for x in ckpts[8])
    assert any(not np.array_equal(a, b) for a, b in zip(good, ckpts[8]))


@pytest.mark.parametrize("loss_failed", [True, False])
def test_a_stop_sets_aside_a_checkpoint_whose_weights_fail(prepared, tmp_path, loss_failed):
    """When every skipped step had a non-finite loss from the weights of the latest checkpoint, those weights are
    what fails: the checkpoint moves to diverged/ and the one before is named. A failing update (finite loss) leaves
    the weights trusted."""
    from tempr1_jax.models import init_model, make_mesh, preset
    from tempr1_jax.processing.tokenizer import load_tokenizer
    from tempr1_jax.rl.global_batch import replicate
    from tempr1_jax.rl.learner import Learner, LearnerConfig
    from tempr1_jax.stages.common import token_tables
    from tempr1_jax.train.checkpoint import Checkpointer
    from tempr1_jax.train.faults import FaultPolicy, FaultTracker

    mesh = make_mesh((1, 1, 1), jax.devices()[:1])
    model = init_model(preset("tiny_small"), mesh, seed=0)
    tables = token_tables(load_tokenizer(os.path.join(prepared, "data/tokenizer.json")), model.cfg.text.vocab_size)
    learner = Learner(model, mesh, LearnerConfig(), tables)
    ckpt = Checkpointer(str(tmp_path / "sft" / "checkpoints"), max_to_keep=3)
    for step in (4, 5):
        learner.state = learner.state.replace(step=replicate(np.int32(step), mesh))
        ckpt.save(learner, {}, {"stage": "sft"})
    tracker = FaultTracker(FaultPolicy(max_nonfinite_steps=2), "sft")
    flag = "nonfinite_loss" if loss_failed else "nonfinite_update"
    for step in (6, 7, 8):
        note = tracker.observe(step, {"loss": math.nan if loss_failed else 1.0, "grad_norm": 1.0, "skipped": 1.0,
                                      flag: 1.0})
        assert note.startswith(f"sft step {step}: update skipped")
    assert tracker.must_stop
    message = str(tracker.stop(ckpt))
    ckpt.close()
    assert message.startswith("sft stopped at step 8: 3 steps in a row skipped (steps 6-8")
    if loss_failed:
        assert "3 x non-finite loss" in message and "Last good checkpoint: step 4" in message
        assert os.path.isdir(tmp_path / "sft" / "diverged" / "5")
        assert Checkpointer(str(tmp_path / "sft" / "checkpoints")).latest_step() == 4
    else:
        assert "non-finite updated parameters" in message and "Last good checkpoint: step 5" in message
        assert not os.path.exists(tmp_path / "sft" / "diverged")


def test_the_spike_guard_follows_the_median_of_applied_steps():
    from tempr1_jax.train.faults import FaultPolicy, FaultTracker

    tracker = FaultTracker(FaultPolicy(spike_factor=2.0, spike_window=3), "grpo")
    for step, norm in enumerate((1.0, 3.0, 2.0), 1):
        assert tracker.grad_norm_limit() == math.inf  # too few applied steps yet
        tracker.observe(step, {"grad_norm": norm, "skipped": 0.0})
    assert tracker.grad_norm_limit() == 4.0  # 2 x median(1, 3, 2)
    m = {"grad_norm": 9.0, "skipped": 1.0, "grad_norm_spike": 1.0}
    note = tracker.observe(4, m, 4.0)
    assert "gradient norm 9 above the spike guard's 4" in note and "grad_norm_spike" not in m
    assert (m["spike_steps"], m["nonfinite_steps"]) == (1.0, 0.0) and not tracker.healthy
    assert tracker.grad_norm_limit() == 4.0  # a skipped step does not move the median
    tracker.observe(5, {"grad_norm": 6.0, "skipped": 0.0})
    assert tracker.healthy and tracker.grad_norm_limit() == 6.0  # median(3, 2, 6)
    resumed = FaultTracker(tracker.policy, "grpo", tracker.saved())
    assert resumed.grad_norm_limit() == 6.0 and resumed.spike_steps == 1


@pytest.mark.parametrize("key,value,expected", [
    ("sft.optimizer.learning_rate", 0.0, "a finite number > 0"),
    ("sft.optimizer.b2", 1.5, "in [0, 1)"),
    ("sft.optimizer.warmup_steps", 4, "fewer than the stage's 4 optimizer steps"),
    ("grpo.group_size", 1, "an integer >= 2"),
    ("grpo.update_widths", (16, 0), "integers >= 1"),
    ("faults.max_nonfinite_steps", -1, "an integer >= 0"),
])
def test_bad_settings_are_named_before_any_stage_runs(tmp_path, key, value, expected):
    c = tiny_config(str(tmp_path / "nothing_prepared"), stages=("sft", "grpo"))
    *parents, leaf = key.split(".")
    node = c
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(ValueError, match=re.escape(f"config.{key} = {value!r}: expected") + ".*" + re.escape(expected)):
        run(c)
