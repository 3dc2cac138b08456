"""Metrics sinks: a JSONL log, TensorBoard event files and a console progress bar, written together.

A non-finite value is recorded, never dropped: `null` in the JSONL (read back as NaN), NaN or inf in TensorBoard,
`nan` on the bar. The one exception is a per-task mean (`<task>/...`) that is NaN: the task was absent from the
batch, and the key is left out of that record.
"""
from __future__ import annotations

import json
import math
import os
import sys
from typing import Mapping

import jax
import numpy as np
from tqdm import tqdm

from tempr1_jax.rewards.tasks import TASKS

# What the progress bar shows, when present, in this order (`nonfinite_steps` and `spike_steps` once above 0).
_BAR_KEYS = ("loss", "reward/total", "reward/localization", "reward/format", "kl", "step_time")
_SKIP_KEYS = ("nonfinite_steps", "spike_steps")


def _absent_task(key: str, value: float) -> bool:
    return key.split("/", 1)[0] in TASKS and math.isnan(value)


def to_host(metrics: Mapping) -> dict[str, float]:
    return {k: float(np.asarray(v)) for k, v in jax.device_get(dict(metrics)).items()}


class MetricsWriter:
    """Writes on process 0 only; other processes get a silent writer, so every host can call it alike."""

    def __init__(self, workdir: str, stage: str, total_steps: int, initial_step: int = 0):
        self.enabled = jax.process_index() == 0
        self.stage = stage
        self.path = os.path.join(workdir, "metrics.jsonl")
        if not self.enabled:
            return
        os.makedirs(workdir, exist_ok=True)
        from tensorboardX import SummaryWriter

        self.tb = SummaryWriter(os.path.join(workdir, "tensorboard", stage))
        self.bar = tqdm(total=total_steps, initial=initial_step, desc=stage, unit="step", dynamic_ncols=True)

    def write(self, step: int, metrics: Mapping[str, float]):
        if not self.enabled:
            return
        kept = {k: float(v) for k, v in metrics.items() if not _absent_task(k, float(v))}
        record = {k: v if math.isfinite(v) else None for k, v in kept.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps({"stage": self.stage, "step": step, **record}) + "\n")
        for k, v in kept.items():
            self.tb.add_scalar(f"{self.stage}/{k}", v, step)
        shown = [k for k in _BAR_KEYS if k in kept] + [k for k in _SKIP_KEYS if kept.get(k, 0) > 0]
        self.bar.set_postfix({k: f"{kept[k]:.3g}" for k in shown}, refresh=False)
        self.bar.update(step - self.bar.n)

    def note(self, message: str):
        """A line on the console above the progress bar (process 0)."""
        if self.enabled:
            # The bar's own stream (stderr): tqdm.write defaults to stdout, which a redirected log would split off.
            tqdm.write(message, file=sys.stderr)

    def close(self):
        if self.enabled:
            self.tb.close()
            self.bar.close()


def read_metrics(workdir: str, stage: str | None = None) -> list[dict]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:  # null: a non-finite value
        rows = [{k: math.nan if v is None else v for k, v in json.loads(line).items()} for line in f]
    return [r for r in rows if stage is None or r["stage"] == stage]
