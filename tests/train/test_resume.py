"""A run stopped after step k and resumed equals one that was never stopped: metrics, parameters and data order."""
import json
import os

import jax
import numpy as np

from tempr1_jax.stages import run
from tiny_run import tiny_config


def _rows(workdir, stage):
    with open(os.path.join(workdir, stage, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    return {r["step"]: {k: v for k, v in r.items() if k not in ("step_time", "tokens_per_s")} for r in rows}


def _final_params(workdir, stage):
    import orbax.checkpoint as ocp
    path = os.path.join(workdir, stage, "checkpoints")
    mngr = ocp.CheckpointManager(path)
    state = mngr.restore(mngr.latest_step(), args=ocp.args.Composite(params=ocp.args.StandardRestore()))
    mngr.close()
    return jax.tree.leaves(jax.device_get(state.params))


def test_stop_and_resume_equals_uninterrupted(prepared, tmp_path, capsys):
    straight = str(tmp_path / "straight")
    run(tiny_config(prepared, straight))
    assert "sft: 4 steps of 4 prompts; one epoch (weighted mix) = 6 steps over 24 samples (" in capsys.readouterr().out

    resumed = str(tmp_path / "resumed")
    c = tiny_config(prepared, resumed)
    c.sft.steps_per_run, c.grpo.steps_per_run = 2, 1
    c.stages = ("sft",)
    run(c)  # steps 1-2, checkpoint, stop
    assert sorted(_rows(resumed, "sft")) == [1, 2]
    run(c)  # resumes: steps 3-4
    c.stages = ("grpo",)
    run(c)  # grpo step 1 from the sft checkpoint
    run(c)  # resumes: grpo step 2

    for stage, steps in (("sft", [1, 2, 3, 4]), ("grpo", [1, 2])):
        a, b = _rows(straight, stage), _rows(resumed, stage)
        assert sorted(a) == sorted(b) == steps
        for step in steps:
            for k, v in a[step].items():
                assert b[step][k] == v or (np.isnan(v) and np.isnan(b[step][k])), (stage, step, k)
        for x, y in zip(_final_params(straight, stage), _final_params(resumed, stage)):
            np.testing.assert_array_equal(x, y)
    assert _rows(straight, "sft")[4]["loss"] < _rows(straight, "sft")[1]["loss"]
