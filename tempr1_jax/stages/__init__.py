"""Run stages named by an experiment config: `config.stages = ("answer",)`, and later sft, grpo and eval.

Paths in a config may start from `{workdir}` (for example `"{workdir}/data/train"`): they are expanded when the
stages run, so that `--config.workdir=...` moves the corpus, the tokenizer and every output together.
"""
from __future__ import annotations

from typing import Callable

import ml_collections

STAGES: dict[str, Callable[[ml_collections.ConfigDict], dict]] = {}
# A stage's settings check, run for every stage named in the config before the first one starts.
CHECKS: dict[str, Callable[[ml_collections.ConfigDict], None]] = {}


def register_stage(name: str, check: Callable[[ml_collections.ConfigDict], None] | None = None):
    def wrap(fn):
        STAGES[name] = fn
        if check is not None:
            CHECKS[name] = check
        return fn
    return wrap


def expand_workdir(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `config` with `{workdir}` in every string (also inside tuples and lists) replaced by
    `config.workdir`."""
    def expand(value):
        if isinstance(value, str):
            return value.replace("{workdir}", config.workdir)
        if isinstance(value, (tuple, list)):
            return type(value)(expand(v) for v in value)
        if isinstance(value, dict):
            return {k: expand(v) for k, v in value.items()}
        return value

    if "{workdir}" in config.workdir:
        raise ValueError(f"config.workdir = {config.workdir!r} cannot itself refer to {{workdir}}")
    return ml_collections.ConfigDict(expand(config.to_dict()))


def run(config: ml_collections.ConfigDict) -> dict[str, dict]:
    """Runs `config.stages` in order; returns each stage's summary."""
    config = expand_workdir(config)
    from tempr1_jax.stages import answer, benchmark, evaluate, prepare, report, train  # noqa: F401  (registering)

    unknown = [s for s in config.stages if s not in STAGES]
    if unknown:
        raise KeyError(f"config.stages names unknown stage(s) {unknown}; known stages: {sorted(STAGES)}")
    for name in config.stages:  # a bad setting of a late stage fails now, not hours later
        CHECKS.get(name, lambda c: None)(config)
    return {name: STAGES[name](config) for name in config.stages}
