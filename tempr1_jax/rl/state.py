"""The training state: what a checkpoint holds and what the jit-compiled steps take and return (donated)."""
from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


@struct.dataclass
class TrainState:
    step: jax.Array  # int32 optimizer steps taken
    params: nnx.State  # trainable parameters
    frozen: nnx.State  # parameters held fixed (the vision tower, when frozen)
    opt_state: optax.OptState
    # The reference policy's parameters (all of them, in `GRPOConfig.reference_dtype`), for the KL term. Not
    # checkpointed: it is the stage's initial policy, which a resumed run reads again from where the stage started.
    ref: nnx.State | None
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
    max_grad_norm: float = 1.0  # <= 0: no clipping (as in transformers' Trainer)


# The learning rate after warm-up: (peak, decay steps) -> schedule.
SCHEDULES = {
    "constant": lambda lr, n: optax.constant_schedule(lr),
    "cosine": optax.cosine_decay_schedule,
    "linear": lambda lr, n: optax.linear_schedule(lr, 0.0, n),
}


def make_optimizer(cfg: OptimizerConfig) -> optax.GradientTransformation:
    if cfg.schedule not in SCHEDULES:
        raise ValueError(f"optimizer schedule {cfg.schedule!r} unknown; choose from {sorted(SCHEDULES)}")
    after = SCHEDULES[cfg.schedule](cfg.learning_rate, max(cfg.total_steps - cfg.warmup_steps, 1))
    lr = optax.join_schedules([optax.linear_schedule(0.0, cfg.learning_rate, cfg.warmup_steps), after],
                              [cfg.warmup_steps]) if cfg.warmup_steps else after
    # identity() in place of the clip keeps the optimizer state's structure, so a checkpoint restores either way.
    clip = optax.clip_by_global_norm(cfg.max_grad_norm) if cfg.max_grad_norm > 0 else optax.identity()
    return optax.chain(clip, optax.adamw(lr, b1=cfg.b1, b2=cfg.b2, eps=cfg.eps, weight_decay=cfg.weight_decay))


def trainable_filter(freeze_vision: bool) -> Any:
    return nnx.All(nnx.Param, nnx.Not(nnx.PathContains("visual"))) if freeze_vision else nnx.Param


def opt_state_shardings(tx: optax.GradientTransformation, params: nnx.State, mesh: Mesh) -> Any:
    """The shardings of `tx.init(params)`: every moment as its parameter, the rest (step counts) replicated.

    Without them jit replicates the moments on every device (for 7B with AdamW: 62 GiB per chip)."""
    params_def = jax.tree.structure(params)
    like_params = lambda node: jax.tree.structure(node) == params_def
    rep = NamedSharding(mesh, P())
    return jax.tree.map(lambda node: jax.tree.map(lambda p: p.sharding, params) if like_params(node) else rep,
                        jax.eval_shape(tx.init, params), is_leaf=like_params)


def cast_floats(tree, dtype: str):
    """`tree` with its floating-point leaves in `dtype` (a copy even where they already are: inputs are donated)."""
    dt = jnp.dtype(dtype)
    return jax.tree.map(lambda x: jnp.copy(x).astype(dt) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)
