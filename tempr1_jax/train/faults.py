"""The training loop's fault policy: count skipped steps, stop a run that keeps producing them, guard against spikes.

The compiled steps skip an unsound update themselves (`rl/grpo.py`, `_update`: parameters and optimizer state stay
as they were) and say why in their metrics: `skipped`, and the flags `nonfinite_loss`, `nonfinite_grad_norm`,
`nonfinite_update`, `grad_norm_spike`. On the host, `FaultTracker` turns the flags into counts (`nonfinite_steps`,
and `spike_steps` with the spike guard on, in every metrics record), and decides, the same on every host since the
flags are replicated values:

- up to `max_nonfinite_steps` skipped steps in a row are tolerated; one more stops the run with `TrainingStopped`,
  whose message names the stage, the steps, what was not finite and the last good checkpoint;
- the spike guard (`spike_factor` > 0) asks the step to skip an update whose gradient norm exceeds `spike_factor`
  times the median of the last `spike_window` applied steps;
- no checkpoint is written while the last step was skipped (the loop asks `healthy`), so rotation never removes the
  last good one during a bad streak. When every step of the streak had a non-finite loss and the latest checkpoint
  holds exactly the weights the streak started from, those weights are what fails: the stop moves that checkpoint
  out of the way (to `<stage>/diverged/`), so that rerunning the stage resumes from the one before.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import os
from typing import Mapping

import jax
import ml_collections
import numpy as np

from tempr1_jax.train.checkpoint import Checkpointer

# The compiled steps' flags, and what each says was not finite.
NONFINITE = {"nonfinite_loss": "loss", "nonfinite_grad_norm": "gradient norm",
             "nonfinite_update": "updated parameters or optimizer state"}
SPIKE = "grad_norm_spike"


class TrainingStopped(RuntimeError):
    """A run stopped by its fault policy; the message says where, why, and what is left to resume from."""


@dataclasses.dataclass(frozen=True)
class FaultPolicy:
    max_nonfinite_steps: int = 3  # skipped steps in a row tolerated; one more stops the run (0: stop at the first)
    spike_factor: float = 0.0  # > 1: skip a step whose gradient norm exceeds this x the recent median; 0: off
    spike_window: int = 20  # applied steps the median is taken over; the guard starts once it has that many

    def __post_init__(self):
        if not (isinstance(self.max_nonfinite_steps, int) and self.max_nonfinite_steps >= 0):
            raise ValueError(f"config.faults.max_nonfinite_steps = {self.max_nonfinite_steps!r}: expected an "
                             "integer >= 0")
        if not (self.spike_factor == 0 or self.spike_factor > 1):
            raise ValueError(f"config.faults.spike_factor = {self.spike_factor!r}: expected 0 (off) or a factor > 1")
        if not (isinstance(self.spike_window, int) and self.spike_window >= 3):
            raise ValueError(f"config.faults.spike_window = {self.spike_window!r}: expected an integer >= 3")

    @classmethod
    def from_config(cls, config: ml_collections.ConfigDict) -> "FaultPolicy":
        """`config.faults`, any of whose keys may be left out (the defaults above are the safe ones)."""
        given = dict(config.get("faults") or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ValueError(f"config.faults has unknown key(s) {unknown}; known: {sorted(known)}")
        return cls(**given)


class FaultTracker:
    def __init__(self, policy: FaultPolicy, stage: str, saved: Mapping | None = None):
        """`saved`: what `saved()` returned, from the checkpoint a run resumes from."""
        saved = saved or {}
        self.policy, self.stage = policy, stage
        self.nonfinite_steps = int(saved.get("nonfinite_steps", 0))
        self.spike_steps = int(saved.get("spike_steps", 0))
        self.recent = collections.deque(saved.get("recent_grad_norms", []), maxlen=policy.spike_window)
        self.streak: list[tuple[int, str, bool]] = []  # (step, what went wrong, loss non-finite) of skipped steps

    def grad_norm_limit(self) -> float:
        """The spike guard's threshold for the next step (inf: off, or too few applied steps yet)."""
        if self.policy.spike_factor <= 0 or len(self.recent) < self.policy.spike_window:
            return math.inf
        return self.policy.spike_factor * float(np.median(self.recent))

    def observe(self, step: int, metrics: dict, grad_norm_limit: float = math.inf) -> str | None:
        """Takes the step's flags out of `metrics` and adds the counts to it; returns a console note if the step was
        skipped."""
        flags = {k: bool(metrics.pop(k, 0.0)) for k in (*NONFINITE, SPIKE)}
        metrics["skipped"] = float(bool(metrics.get("skipped", 0.0)))
        if not metrics["skipped"]:
            self.streak.clear()
            self.recent.append(metrics["grad_norm"])
        elif any(flags[k] for k in NONFINITE):
            self.nonfinite_steps += 1
            what = "non-finite " + " and ".join(v for k, v in NONFINITE.items() if flags[k])
            self.streak.append((step, what, flags["nonfinite_loss"]))
        else:
            self.spike_steps += 1
            what = (f"gradient norm {metrics['grad_norm']:.3g} above the spike guard's {grad_norm_limit:.3g} "
                    f"({self.policy.spike_factor:g} x the median of the last {self.policy.spike_window} steps)")
            self.streak.append((step, what, False))
        metrics["nonfinite_steps"] = float(self.nonfinite_steps)
        if self.policy.spike_factor > 0:
            metrics["spike_steps"] = float(self.spike_steps)
        if metrics["skipped"]:
            return (f"{self.stage} step {step}: update skipped, {self.streak[-1][1]}; {len(self.streak)} in a row "
                    f"(faults.max_nonfinite_steps = {self.policy.max_nonfinite_steps})")
        return None

    @property
    def healthy(self) -> bool:
        """Whether the last step was applied (checkpoints are written only then)."""
        return not self.streak

    @property
    def must_stop(self) -> bool:
        return len(self.streak) > self.policy.max_nonfinite_steps

    def saved(self) -> dict:
        """The counts and the guard's history, for a checkpoint's metadata (JSON)."""
        return {"nonfinite_steps": self.nonfinite_steps, "spike_steps": self.spike_steps,
                "recent_grad_norms": [float(x) for x in self.recent]}

    def stop(self, ckpt: Checkpointer, updates_per_step: int = 1) -> TrainingStopped:
        """The error that ends the run; sets aside a checkpoint that holds the failing weights (see the module
        docstring). Checkpoints are numbered in optimizer updates, `updates_per_step` to a step."""
        ckpt.wait()
        first, last = self.streak[0][0], self.streak[-1][0]
        kinds = collections.Counter(what for _, what, _ in self.streak)
        whats = "; ".join(f"{n} x {what}" if n > 1 else what for what, n in kinds.items())
        msg = (f"{self.stage} stopped at step {last}: {len(self.streak)} steps in a row skipped (steps {first}-{last}; "
               f"faults.max_nonfinite_steps = {self.policy.max_nonfinite_steps}): {whats}. Parameters and optimizer "
               f"state are those after step {first - 1}; nothing was saved after it.")
        steps = sorted(ckpt.manager.all_steps())
        if steps and steps[-1] == (first - 1) * updates_per_step and all(loss for _, _, loss in self.streak):
            aside = os.path.join(os.path.dirname(ckpt.directory), "diverged")
            if jax.process_index() == 0:
                ckpt.set_aside(steps[-1], aside)
            msg += (f" The checkpoint of step {first - 1} holds exactly the weights whose loss was non-finite on "
                    f"every one of these batches: it was moved to {aside}.")
            steps = steps[:-1]
        if steps:
            msg += (f" Last good checkpoint: step {steps[-1] // updates_per_step} in {ckpt.directory}; rerunning the "
                    "stage resumes from it (lower the learning rate first if it caused this).")
        else:
            msg += f" No checkpoint is left in {ckpt.directory}: rerunning the stage starts it over."
        return TrainingStopped(msg)
