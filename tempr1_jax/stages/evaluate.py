"""The `eval` stage: greedy answers on the held-out split for each checkpoint in `config.eval.checkpoints`.

For every checkpoint (a stage name such as "sft" or "grpo", or "init" for the starting weights) it writes
`<workdir>/eval/<name>/predictions.jsonl` (each sample's text, parsed intervals and rewards) and `metrics.json`: per
task the format rate, the mean localization reward, and the task's metric (mIoU for tg and dtg, union IoU for vhd,
accuracy and evidence union IoU for gvqa, mF1 over IoU 0.1/0.3/0.5/0.7 for tal, as E.T.Bench defines it).
With `config.eval.reference_nll`, each row also carries its reference answer's negative log-likelihood (nats, summed
over its tokens) given the video and given blank frames (`Policy.reference_nll`): how much the model reads the video.
"""
from __future__ import annotations

import json
import os

import grain
import jax
import ml_collections
import numpy as np
from tqdm import tqdm

from tempr1_jax.data import pipeline, records
from tempr1_jax.data.batch import Buckets, collate
from tempr1_jax.eval.action_localization import query_f1
from tempr1_jax.rewards.tasks import TASKS
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.stages import common, register_stage
from tempr1_jax.train.checkpoint import Checkpointer


def sample_metrics(row: dict) -> dict[str, float]:
    """One predictions.jsonl row's share of its task's metrics (the metric is 100 x the mean over samples): the
    localization reward for tg, dtg (one-to-one IoU) and vhd (VHD-mIoU: the union IoU), accuracy and the evidence's
    union IoU for gvqa, the mean F1 over IoU 0.1/0.3/0.5/0.7 for tal."""
    task = row["task"]
    if task in ("tg", "dtg", "vhd"):
        return {"mIoU": row["reward_localization"]}
    if task == "gvqa":
        return {"accuracy": row["reward_classification"], "mIoU": row["reward_localization"]}
    return {"mF1": float(np.mean(query_f1(row["gt"], row["pred"])))}


def task_metrics(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per-task aggregates of the per-sample rows written to predictions.jsonl."""
    out = {}
    for task in TASKS:
        rs = [r for r in rows if r["task"] == task]
        if not rs:
            continue
        m = {"samples": len(rs), "format_rate": 100 * np.mean([r["well_formed"] for r in rs]),
             "localization": float(np.mean([r["reward_localization"] for r in rs]))}
        per = [sample_metrics(r) for r in rs]
        m.update({k: 100 * float(np.mean([p[k] for p in per])) for k in per[0]})
        out[task] = m
    return out


def eval_batches(config: ml_collections.ConfigDict, model_cfg, tokenizer):
    """Every held-out sample exactly once, in order (the last batch may be smaller)."""
    d = config.data
    source = records.RecordSource(list(d.eval_dirs))
    buckets = Buckets(text=tuple(d.buckets.text), patches=tuple(d.buckets.patches), answer=d.buckets.answer)
    ds = grain.MapDataset.source(source).map(pipeline.EncodeSample(model_cfg, tokenizer, d.think))
    ds = ds.batch(config.eval.batch_size, drop_remainder=False,
                  batch_fn=lambda f: collate(f, buckets, tokenizer.pad_id, pipeline.rope_for(model_cfg)))
    return source, ds


def evaluate_checkpoint(config: ml_collections.ConfigDict, name: str) -> dict:
    mesh = common.build_mesh(config)
    model = common.build_model(config, mesh)
    tokenizer = common.build_tokenizer(config)
    policy = common.build_policy(model, mesh, tokenizer, config.eval.max_new_tokens,
                                 RewardConfig(**config.grpo.rewards.to_dict()), common.vision_slice_width(config))
    if name != "init":
        src = os.path.join(config.workdir, name, "checkpoints")
        if not os.path.isdir(src):
            raise FileNotFoundError(f"config.eval.checkpoints names {name!r}, but {src} does not exist")
        policy.load_params(Checkpointer(src).read_params(policy.params)[0])
    source, ds = eval_batches(config, model.cfg, tokenizer)
    rows = []
    for batch in tqdm(ds, desc=f"eval {name}", unit="batch", disable=jax.process_index() != 0):
        out = policy.evaluate(batch)
        if config.eval.get("reference_nll", False):
            out.update(policy.reference_nll(batch))
        for b in range(len(batch.task_B)):
            sample = source.samples[int(batch.source_index_B[b])]
            n = int(out["count"][b])
            rows.append({
                "uid": sample.uid, "task": TASKS[int(batch.task_B[b])], "video": sample.video,
                "text": tokenizer.decode(out["tokens"][b, : out["lengths"][b]]),
                "well_formed": bool(out["well_formed"][b]),
                "pred": out["intervals"][b, :n].tolist() if out["well_formed"][b] else [],
                "gt": [list(iv) for iv in sample.intervals], "duration": float(batch.duration_B[b]),
                **{k: float(out[k][b]) for k in out if k.startswith(("reward_", "reference_nll"))},
            })
    metrics = task_metrics(rows)
    outdir = os.path.join(config.workdir, "eval", name)
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "predictions.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(os.path.join(outdir, "metrics.json"), "w") as f:
        json.dump(metrics, f, indent=1)
    return metrics


@register_stage("eval")
def run_eval(config: ml_collections.ConfigDict) -> dict:
    results = {name: evaluate_checkpoint(config, name) for name in config.eval.checkpoints}
    for name, metrics in results.items():
        print(f"eval {name}: " + "; ".join(f"{t} loc {m['localization']:.3f} fmt {m['format_rate']:.0f}%"
                                           for t, m in metrics.items()))
    return results
