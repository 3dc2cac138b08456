"""The learner: a model, its optimizer and reference policy on a mesh, with compiled SFT and GRPO steps.

    learner = Learner(model, mesh, LearnerConfig(...), tables)
    metrics = learner.grpo(batch)        # batch: a host `Batch` from the data pipeline (this process's rows)
    metrics = learner.sft(batch)
    metrics["skipped"]                   # 1 when the update was not applied (non-finite, or a gradient spike)

Parameters live in `learner.state` (a `TrainState`), which the compiled steps take as an argument and donate.
Batches arrive per process and become global arrays with `global_batch.global_batch`. Evaluation needs no optimizer:
see `policy.Policy`.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import jax
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from tempr1_jax.data.batch import Batch
from tempr1_jax.models.factory import mesh_context
from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.rewards.parser import TokenTables
from tempr1_jax.rl.global_batch import global_batch, replicate
from tempr1_jax.rl.grpo import GRPOConfig, grpo_step, sft_step
from tempr1_jax.rl.state import (OptimizerConfig, TrainState, cast_floats, make_optimizer, opt_state_shardings,
                                 trainable_filter)


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    optimizer: OptimizerConfig = OptimizerConfig()
    grpo: GRPOConfig = GRPOConfig()
    freeze_vision: bool = False
    seed: int = 0
    # The vision tower's full-attention row width in patches (`VideoSampling.max_slice_patches` of the data);
    # None: the widest slice any config allows.
    slice_width: int | None = None


class Learner:
    def __init__(self, model: Qwen25VL, mesh: Mesh, cfg: LearnerConfig, tables: TokenTables):
        self.mesh, self.cfg, self.model_cfg = mesh, cfg, model.cfg
        self.tx = make_optimizer(cfg.optimizer)
        graphdef, params, frozen = nnx.split(model, trainable_filter(cfg.freeze_vision), ...)
        self.graphdef = graphdef
        self.tables = replicate(tables, mesh)
        with mesh_context(mesh):
            opt_state = jax.jit(self.tx.init, out_shardings=opt_state_shardings(self.tx, params, mesh))(params)
            ref = self._reference(nnx.state(model, nnx.Param)) if cfg.grpo.loss.beta else None
        # Scalars live on the mesh too, so that a restored checkpoint puts them back where the step expects them.
        self.state = TrainState(step=replicate(np.zeros((), np.int32), mesh), params=params, frozen=frozen,
                                opt_state=opt_state, ref=ref,
                                rng=jax.random.wrap_key_data(replicate(jax.random.key_data(jax.random.key(cfg.seed)),
                                                                       mesh)))
        self._grpo = jax.jit(functools.partial(grpo_step, graphdef=graphdef, tx=self.tx, cfg=cfg.grpo),
                             donate_argnums=(0,))
        self._sft = jax.jit(functools.partial(sft_step, graphdef=graphdef, tx=self.tx,
                                              chunk=cfg.grpo.logprob_chunk), donate_argnums=(0,))

    # ---- steps ------------------------------------------------------------------------------------------------
    # `grad_norm_limit`: skip the update when the gradient norm exceeds it (the spike guard; inf: off).
    def grpo(self, batch: Batch, grad_norm_limit: float = math.inf) -> dict[str, float]:
        dev, layout = global_batch(batch, self.mesh, self.model_cfg, self.cfg.slice_width, split_rows=True)
        with mesh_context(self.mesh):
            self.state, metrics = self._grpo(self.state, dev, layout, self.tables,
                                             replicate(np.float32(grad_norm_limit), self.mesh))
        return metrics

    def sft(self, batch: Batch, grad_norm_limit: float = math.inf) -> dict[str, float]:
        dev, layout = global_batch(batch, self.mesh, self.model_cfg, self.cfg.slice_width, split_rows=True)
        with mesh_context(self.mesh):
            self.state, metrics = self._sft(self.state, dev, layout, replicate(np.float32(grad_norm_limit), self.mesh))
        return metrics

    def load_params(self, params: nnx.State, reset_reference: bool = False):
        """Replaces the policy's parameters (a full model state); `reset_reference` makes them the reference too."""
        filt = trainable_filter(self.cfg.freeze_vision)
        trainable, frozen = nnx.split_state(params, filt, ...)
        self.state = self.state.replace(params=trainable, frozen=frozen)
        if reset_reference and self.state.ref is not None:
            self.state = self.state.replace(ref=self._reference(params))

    def _reference(self, params: nnx.State) -> nnx.State:
        # A copy even in the policy's dtype: the policy's buffers are donated to every step.
        with mesh_context(self.mesh):
            return jax.jit(functools.partial(cast_floats, dtype=self.cfg.grpo.reference_dtype))(params)

    def model_state(self) -> nnx.State:
        """The policy's whole model state (trainable and frozen parts), as checkpoints hold it."""
        return nnx.merge_state(self.state.params, self.state.frozen)

    def model(self) -> Qwen25VL:
        """The current policy as a model (sharing the state's buffers; copy before the next donated step)."""
        return nnx.merge(self.graphdef, self.state.params, self.state.frozen)

