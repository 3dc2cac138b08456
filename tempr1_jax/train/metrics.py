"""Metrics sinks: a JSONL log, TensorBoard event files and a console progress bar, written together."""
from __future__ import annotations

import json
import math
import os
from typing import Mapping

import jax
import numpy as np
from tqdm import tqdm

# What the progress bar shows, when present, in this order.
_BAR_KEYS = ("loss", "reward/total", "reward/localization", "reward/format", "kl", "step_time")


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
        finite = {k: v for k, v in metrics.items() if not (isinstance(v, float) and math.isnan(v))}
        with open(self.path, "a") as f:
            f.write(json.dumps({"stage": self.stage, "step": step, **finite}) + "\n")
        for k, v in finite.items():
            self.tb.add_scalar(f"{self.stage}/{k}", v, step)
        self.bar.set_postfix({k: f"{finite[k]:.3g}" for k in _BAR_KEYS if k in finite}, refresh=False)
        self.bar.update(step - self.bar.n)

    def close(self):
        if self.enabled:
            self.tb.close()
            self.bar.close()


def read_metrics(workdir: str, stage: str | None = None) -> list[dict]:
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        rows = [json.loads(line) for line in f]
    return [r for r in rows if stage is None or r["stage"] == stage]
