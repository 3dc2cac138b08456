"""Benchmark metrics on the host in numpy float64, each following its benchmark's official script.

    from tempr1_jax.eval import evaluate
    metrics = evaluate("charades_sta", ["charades_sta_test.txt"], "preds.jsonl", strict=True)

Conventions and the official scripts each benchmark follows: docs/metrics.md.
"""
from tempr1_jax.eval.action_localization import activitynet_tal, load_activitynet_detection, tal_f1
from tempr1_jax.eval.grounding import (
    activitynet_captions_grounding,
    activitynet_dtg,
    charades_sta,
    load_activitynet_captions,
    load_charades_sta,
    load_tvgbench,
    tvgbench,
)
from tempr1_jax.eval.inputs import EvalError
from tempr1_jax.eval.grounded_qa import load_nextgqa, nextgqa
from tempr1_jax.eval.moment_highlight import load_qvhighlights, qvhighlights
from tempr1_jax.eval.registry import BENCHMARKS, Benchmark, evaluate, get_benchmark

__all__ = [
    "BENCHMARKS",
    "Benchmark",
    "EvalError",
    "activitynet_captions_grounding",
    "activitynet_dtg",
    "activitynet_tal",
    "charades_sta",
    "evaluate",
    "get_benchmark",
    "load_activitynet_captions",
    "load_activitynet_detection",
    "load_charades_sta",
    "load_nextgqa",
    "load_qvhighlights",
    "load_tvgbench",
    "nextgqa",
    "qvhighlights",
    "tal_f1",
    "tvgbench",
]
