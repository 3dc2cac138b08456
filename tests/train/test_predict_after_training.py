"""`predict.py` on a model the pipeline trained: what it writes and prints for a held-out mp4 is what the eval stage
wrote and parsed for that sample.

A tiny cold start (synthetic corpus -> SFT -> eval) is exported to a Hugging Face folder with its tokenizer, as a
user would hand it to predict.py; asked the eval prompt about a held-out video of each task, predict.py must give
the same greedy reply, token for token, and print the intervals the eval stage scored.
"""
import json
import os
import re
import shutil

import numpy as np
import pytest
from flax import nnx

import predict
from tempr1_jax.data.records import RecordSource
from tempr1_jax.models import save_pretrained
from tempr1_jax.stages import common, expand_workdir, run
from tempr1_jax.train.checkpoint import Checkpointer
from tiny_run import tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("cold_start"))
    c = tiny_config(root, root, stages=("prepare_synthetic", "sft", "eval"))
    c.synthetic.num_train, c.synthetic.num_eval = 48, 30
    c.sft.steps, c.sft.checkpoint_every = 120, 120
    c.sft.optimizer.learning_rate, c.sft.optimizer.warmup_steps = 5e-3, 10
    c.eval.checkpoints, c.eval.max_new_tokens, c.eval.batch_size = ("sft",), 48, 8
    run(c)
    return expand_workdir(c)


def test_predict_writes_and_parses_what_the_eval_stage_did(trained, tmp_path, capsys):
    model = common.build_model(trained, common.build_mesh(trained))
    params, _ = Checkpointer(os.path.join(trained.workdir, "sft", "checkpoints")).read_params(nnx.state(model))
    nnx.update(model, params)
    export = str(tmp_path / "export")
    save_pretrained(model, export)
    shutil.copy(trained.tokenizer, os.path.join(export, "tokenizer.json"))
    with open(os.path.join(trained.workdir, "eval", "sft", "predictions.jsonl")) as f:
        rows = {r["uid"]: r for r in map(json.loads, f)}
    v = trained.video
    asked_tasks = []
    for task in ("tg", "dtg", "vhd", "tal"):
        sample = next((s for s in RecordSource(trained.data.eval_dirs[0]).samples
                       if s.task == task and rows[s.uid]["well_formed"] and rows[s.uid]["pred"]), None)
        if sample is None:
            continue
        asked_tasks.append(task)
        asked = ["--sentences", *sample.queries] if task == "dtg" else [f"--query={sample.queries[0]}"]
        assert predict.main([
            f"--checkpoint={export}", f"--video={os.path.join(trained.workdir, 'data', 'eval_videos', sample.video)}",
            f"--task={task}", *asked, "--no-think", f"--max_new_tokens={trained.eval.max_new_tokens}",
            f"--fps={v.fps}", f"--min_pixels={v.min_pixels}", f"--max_pixels={v.max_pixels}"]) == 0
        reply, *described = capsys.readouterr().out.splitlines()
        assert reply == rows[sample.uid]["text"], task
        printed = [[float(a), float(b)] for line in described
                   for a, b in re.findall(r"([\d.]+) s -\s+([\d.]+) s", line)]
        np.testing.assert_allclose(printed, rows[sample.uid]["pred"], atol=1e-6, err_msg=task)
    # The cold start writes well-formed intervals for most tasks; fewer than three would leave the test hollow.
    assert len(asked_tasks) >= 3, asked_tasks
