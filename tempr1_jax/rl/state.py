"""The training state: what a checkpoint holds and what the jit-compiled steps take and return (donated)."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import optax
from flax import nnx, struct


@struct.dataclass
class TrainState:
    step: jax.Array  # int32 optimizer steps taken
    params: nnx.State  # trainable parameters
    frozen: nnx.State  # parameters held fixed (the vision tower, when frozen)
    opt_state: optax.OptState
    ref: nnx.State | None  # the reference policy's parameters (all of them), for the KL term
    rng: jax.Array  # typed PRNG key


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
    learning_rate: float = 1e-6
    warmup_steps: int = 0
    total_steps: int = 1  # for the schedule's decay
    schedule: str = "constant"  # constant | cosine | linear (after warm-up)
    weight_decay: float = 0.0
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-8
    max_grad_norm: float = 1.0


def make_optimizer(cfg: OptimizerConfig) -> optax.GradientTransformation:
    decay_steps = max(cfg.total_steps - cfg.warmup_steps, 1)
    after = {
        "constant": optax.constant_schedule(cfg.learning_rate),
        "cosine": optax.cosine_decay_schedule(cfg.learning_rate, decay_steps),
        "linear": optax.linear_schedule(cfg.learning_rate, 0.0, decay_steps),
    }
    if cfg.schedule not in after:
        raise ValueError(f"optimizer schedule {cfg.schedule!r} unknown; choose from {sorted(after)}")
    lr = optax.join_schedules([optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps), after[cfg.schedule]],
                              [cfg.warmup_steps]) if cfg.warmup_steps else after[cfg.schedule]
    return optax.chain(optax.clip_by_global_norm(cfg.max_grad_norm),
                       optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay))


def trainable_filter(freeze_vision: bool) -> Any:
    return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("visual"))) if freeze_vision else nnx.Param
