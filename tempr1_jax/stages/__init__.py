"""Run stages named by an experiment config: `config.stages = ("answer",)`, and later sft, grpo and eval."""
from __future__ import annotations

from typing import Callable

import ml_collections

STAGES: dict[str, Callable[[ml_collections.ConfigDict], dict]] = {}


def register_stage(name: str):
    def wrap(fn):
        STAGES[name] = fn
        return fn
    return wrap


def run(config: ml_collections.ConfigDict) -> dict[str, dict]:
    """Runs `config.stages` in order; returns each stage's summary."""
    from tempr1_jax.stages import answer, benchmark, evaluate, prepare, report, train  # noqa: F401  (registering)

    unknown = [s for s in config.stages if s not in STAGES]
    if unknown:
        raise KeyError(f"config.stages names unknown stage(s) {unknown}; known stages: {sorted(STAGES)}")
    return {name: STAGES[name](config) for name in config.stages}
