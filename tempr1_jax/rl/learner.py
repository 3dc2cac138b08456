"""The learner: a model, its optimizer and reference policy on a mesh, with compiled SFT, GRPO and eval steps.

    learner = Learner(model, mesh, LearnerConfig(...), tables)
    metrics = learner.grpo(batch)        # batch: a host `Batch` from the data pipeline (this process's rows)
    metrics = learner.sft(batch)
    scores = learner.evaluate(batch)     # greedy answers, parsed and scored on device

Parameters live in `learner.state` (a `TrainState`), which the compiled steps take as an argument and donate.
Batches arrive per process; their rows are laid out along the mesh's batch axes (`data`, `fsdp`).
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from tempr1_jax.data.batch import Batch, pad_batch
from tempr1_jax.models.factory import mesh_context
from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.models.vision import VisionLayout, vision_layout
from tempr1_jax.rewards.compute import compute_rewards
from tempr1_jax.rewards.parser import TokenTables, parse_ids
from tempr1_jax.rl.grpo import GRPOConfig, grpo_step, prompt_inputs, sft_step
from tempr1_jax.rl.state import OptimizerConfig, TrainState, make_optimizer, trainable_filter
from tempr1_jax.sampling.sampler import sample

BATCH_AXES = ("data", "fsdp")


@dataclasses.dataclass(frozen=True)
class LearnerConfig:
    optimizer: OptimizerConfig = OptimizerConfig()
    grpo: GRPOConfig = GRPOConfig()
    freeze_vision: bool = False
    seed: int = 0
    eval_max_new_tokens: int = 256


def replicate(tree, mesh: Mesh):
    """Host values -> arrays replicated over the whole mesh, on one host or many (device_put cannot reach the
    devices of other processes)."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda x: jax.make_array_from_callback(np.shape(x), sharding,
                                                               lambda idx, x=np.asarray(x): x[idx]), tree)


def _batch_spec(name: str, shape: tuple[int, ...], n_batch: int) -> P:
    axis = 1 if name.endswith("_3BL") else 0
    if len(shape) <= axis or shape[axis] % n_batch:
        return P()
    return P(*([None] * axis), BATCH_AXES)


class Learner:
    def __init__(self, model: Qwen25VL, mesh: Mesh, cfg: LearnerConfig, tables: TokenTables):
        self.mesh, self.cfg, self.model_cfg = mesh, cfg, model.cfg
        self.tx = make_optimizer(cfg.optimizer)
        graphdef, params, frozen = nnx.split(model, trainable_filter(cfg.freeze_vision), ...)
        self.graphdef = graphdef
        self.tables = replicate(tables, mesh)
        with mesh_context(mesh):
            opt_state = jax.jit(self.tx.init)(params)
            # The reference is a copy: the policy's buffers are donated to every step.
            ref = jax.jit(lambda s: jax.tree.map(jnp.copy, s))(nnx.state(model, nnx.Param)) \
                if cfg.grpo.loss.beta else None
        # Scalars live on the mesh too, so that a restored checkpoint puts them back where the step expects them.
        self.state = TrainState(step=replicate(np.zeros((), np.int32), mesh), params=params, frozen=frozen,
                                opt_state=opt_state, ref=ref,
                                rng=jax.random.wrap_key_data(replicate(jax.random.key_data(jax.random.key(cfg.seed)),
                                                                       mesh)))
        self._n_batch = int(np.prod([mesh.shape[a] for a in BATCH_AXES]))
        self._grpo = jax.jit(functools.partial(grpo_step, graphdef=graphdef, tx=self.tx, cfg=cfg.grpo),
                             donate_argnums=(0,))
        self._sft = jax.jit(functools.partial(sft_step, graphdef=graphdef, tx=self.tx,
                                              chunk=cfg.grpo.logprob_chunk), donate_argnums=(0,))
        self._eval = jax.jit(functools.partial(_eval_step, graphdef=graphdef, cfg=cfg))

    # ---- host -> device ---------------------------------------------------------------------------------------
    def device_batch(self, batch: Batch) -> tuple[Batch, VisionLayout]:
        """Global arrays from this process's rows, and the vision layout of the whole global batch.

        On several hosts each process pads its rows to its own buckets; here all of them move up to the largest
        text and patch bucket of any process, and the layout learns where each process's patches begin.
        """
        n_proc = jax.process_count()
        S_local = batch.pixel_values_SP.shape[0]
        grids = np.asarray(batch.video_grid_thw_B3)
        starts = None
        if n_proc > 1:
            shapes = np.asarray(multihost_utils.process_allgather(
                np.array([batch.input_ids_BL.shape[1], S_local], np.int64))).reshape(n_proc, 2)
            L, S_local = (int(v) for v in shapes.max(axis=0))
            batch = pad_batch(batch, L, S_local, self.model_cfg.pad_token_id)
            grids = np.asarray(multihost_utils.process_allgather(grids)).reshape(n_proc, -1, 3)
            sizes = np.prod(grids, axis=2)
            starts = (np.arange(n_proc)[:, None] * S_local + np.cumsum(sizes, axis=1) - sizes).reshape(-1)
            grids = grids.reshape(-1, 3)
        fields = {}
        for f in dataclasses.fields(batch):
            local = np.asarray(getattr(batch, f.name))
            global_shape = list(local.shape)
            axis = 1 if f.name.endswith("_3BL") else 0
            if local.ndim > axis:
                global_shape[axis] *= n_proc
            spec = _batch_spec(f.name, tuple(global_shape), self._n_batch)
            if spec == P() and n_proc > 1:
                local = np.concatenate(list(multihost_utils.process_allgather(local)), axis=axis)
            fields[f.name] = jax.make_array_from_process_local_data(NamedSharding(self.mesh, spec), local)
        layout = vision_layout(grids, self.model_cfg.vision, num_patches=S_local * n_proc, static=True,
                               starts=starts)
        return Batch(**fields), replicate(layout, self.mesh)

    # ---- steps ------------------------------------------------------------------------------------------------
    def grpo(self, batch: Batch) -> dict[str, float]:
        dev, layout = self.device_batch(batch)
        with mesh_context(self.mesh):
            self.state, metrics = self._grpo(self.state, dev, layout, self.tables)
        return metrics

    def sft(self, batch: Batch) -> dict[str, float]:
        dev, layout = self.device_batch(batch)
        with mesh_context(self.mesh):
            self.state, metrics = self._sft(self.state, dev, layout)
        return metrics

    def evaluate(self, batch: Batch) -> dict[str, np.ndarray]:
        """Greedy answers: tokens [B, T], lengths, parsed intervals and the rewards, as host numpy arrays."""
        dev, layout = self.device_batch(batch)
        with mesh_context(self.mesh):
            out = self._eval(self.state.params, self.state.frozen, dev, layout, self.tables)
        return {k: np.asarray(multihost_utils.process_allgather(v, tiled=True)) if jax.process_count() > 1
                else np.asarray(v) for k, v in out.items()}

    def load_params(self, params: nnx.State, reset_reference: bool = False):
        """Replaces the policy's parameters (a full model state); `reset_reference` makes them the reference too."""
        filt = trainable_filter(self.cfg.freeze_vision)
        trainable, frozen = nnx.split_state(params, filt, ...)
        self.state = self.state.replace(params=trainable, frozen=frozen)
        if reset_reference and self.state.ref is not None:
            with mesh_context(self.mesh):
                self.state = self.state.replace(ref=jax.jit(lambda s: jax.tree.map(jnp.copy, s))(params))

    def model(self) -> Qwen25VL:
        """The current policy as a model (sharing the state's buffers; copy before the next donated step)."""
        return nnx.merge(self.graphdef, self.state.params, self.state.frozen)


def _eval_step(params, frozen, batch: Batch, layout: VisionLayout, tables: TokenTables, *, graphdef,
               cfg: LearnerConfig):
    model = nnx.merge(graphdef, params, frozen)
    scfg = dataclasses.replace(cfg.grpo.sampling, temperature=0.0, max_new_tokens=cfg.eval_max_new_tokens)
    out = sample(model, prompt_inputs(batch, layout), scfg, jax.random.key(0))
    rewards = compute_rewards(tables, out.tokens_BT, out.lengths_B, batch.task_B, batch.gt_intervals_BN2,
                              batch.gt_counts_B, batch.duration_B, batch.answer_B, cfg.grpo.rewards)
    parsed = parse_ids(tables, out.tokens_BT, out.lengths_B, batch.task_B, cfg.grpo.rewards.think_required)
    return {"tokens": out.tokens_BT, "lengths": out.lengths_B, "intervals": parsed.intervals,
            "count": parsed.count, "letter": parsed.letter, "well_formed": parsed.well_formed,
            **{f"reward_{k}": rewards[k] for k in ("total", "format", "localization", "classification")}}
