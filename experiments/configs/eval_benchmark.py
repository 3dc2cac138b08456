"""Evaluate a checkpoint on TempR1's benchmarks: the `benchmark` stage (tempr1_jax/stages/benchmark.py).

    python experiments/run.py --config=experiments/configs/eval_benchmark.py:charades_sta,nextgqa \\
        --config.model.checkpoint=/ckpt/TempR1-7B

The parameter after `:` lists the benchmarks to run (all six by default): charades_sta, qvhighlights,
activitynet_dtg, nextgqa, activitynet_tal (mAP and mF1) and tvgbench. Each needs its split prepared by its builder in
datasets/ (docs/data.md) and its official annotation files; the defaults below follow docs/data.md's layout under
data/, and `--config.benchmark.<name>.split=...` / `.annotations=...` point elsewhere.

A run's own checkpoints (the demo's, for instance): the stage's name and the run's model settings,
    --config.workdir=runs/demo --config.benchmark.checkpoint=grpo --config.model.preset=demo \\
    --config.model.dtype=float32 --config.tokenizer=runs/demo/data/tokenizer.json --config.benchmark.think=False
"""
import inspect

import ml_collections

from tempr1_jax.eval import BENCHMARKS
from tempr1_jax.stages.benchmark import SPECS

SPLITS = {  # name: (prepared split, official annotation files in the scorers' order)
    "charades_sta": ("data/charades_sta/test", ("data/charades_sta/charades_sta_test.txt",)),
    "qvhighlights": ("data/qvhighlights/val", ("data/qvhighlights/highlight_val_release.jsonl",)),
    "activitynet_dtg": ("data/anet_captions/val_2", ("data/anet_captions/val_2.json",)),
    "nextgqa": ("data/nextgqa/test", ("data/nextgqa/gsub_test.json", "data/nextgqa/test.csv")),
    "activitynet_tal": ("data/anet13/val", ("data/anet13/activity_net.v1-3.min.json",)),
    "tvgbench": ("data/tvgbench/test", ("data/tvgbench/tvgbench.json",)),
}


def _options(scorer: str) -> ml_collections.ConfigDict:
    """The scorer's convention switches at its own defaults (e.g. charades_sta strict=False), so each can be set."""
    params = inspect.signature(BENCHMARKS[scorer].score).parameters
    return ml_collections.ConfigDict({o: params[o].default for o in BENCHMARKS[scorer].options})


def get_config(run: str = ",".join(SPLITS)) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.stages = ("benchmark",)
    c.workdir = "runs/benchmark"
    c.seed = 0
    c.tokenizer = ""  # "" = the shipped Qwen2 tokenizer
    c.mesh = ml_collections.ConfigDict(dict(shape=(1, -1, 1)))  # (data, fsdp, tensor); -1 = remaining devices

    c.model = ml_collections.ConfigDict()
    c.model.preset = "qwen2_5_vl_7b"
    c.model.checkpoint = ""  # a Hugging Face folder; "" = the preset with random weights
    c.model.text_timestamps = False  # a preset's prompt layout; a checkpoint's config.json says its own
    c.model.dtype = "bfloat16"
    c.model.param_dtype = "bfloat16"

    c.benchmark = ml_collections.ConfigDict()
    c.benchmark.run = tuple(name for name in run.split(",") if name)
    c.benchmark.checkpoint = ""  # a stage of the workdir ("grpo") or an Orbax checkpoints folder; "" = config.model
    c.benchmark.batch_size = 8  # a multiple of the mesh's data x fsdp devices shards the rows
    c.benchmark.max_new_tokens = 1024  # the paper configs' training budget: a longer thought is not cut and failed
    c.benchmark.think = True  # ask for a <think> block before the answer, as in training
    # TempR1 caps a video at 3584 visual tokens = 14336 patches; prompts of long paragraphs need the 8192 text bucket.
    c.benchmark.buckets = ml_collections.ConfigDict(dict(text=(4096, 8192), patches=(14336,), answer=2048))
    for name, (split, annotations) in SPLITS.items():
        c.benchmark[name] = ml_collections.ConfigDict(dict(
            split=split, annotations=annotations,
            options=ml_collections.ConfigDict({s: _options(s) for s in SPECS[name].scorers})))
    return c
