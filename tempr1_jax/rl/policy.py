"""A policy to evaluate: a model's parameters on a mesh, answering greedily, with the answers parsed and scored on
device. It holds no optimizer state and no reference copy, so a 7B model evaluates in the memory of its weights.

    policy = Policy(model, mesh, tables, sampling, rewards)
    policy.load_params(Checkpointer(path).read_params(policy.params)[0])
    out = policy.evaluate(batch)      # tokens, lengths, parsed intervals/count/letter, rewards: host numpy arrays
    nll = policy.reference_nll(batch) # the reference answers' nats: given the video, blank and reversed frames
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh

from tempr1_jax.data.batch import Batch
from tempr1_jax.models.factory import mesh_context
from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.models.vision import VisionLayout
from tempr1_jax.rewards.compute import compute_rewards
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rewards.parser import TokenTables, interval_logprob, parse_ids
from tempr1_jax.rl.global_batch import global_batch, host_values, replicate
from tempr1_jax.rl.grpo import GRPOConfig, prompt_inputs, sequence_logprobs
from tempr1_jax.sampling.sampler import SamplingConfig, sample


class Policy:
    def __init__(self, model: Qwen25VL, mesh: Mesh, tables: TokenTables, sampling: SamplingConfig,
                 rewards: RewardConfig, slice_width: int | None = None):
        self.mesh, self.model_cfg, self.slice_width = mesh, model.cfg, slice_width
        self.graphdef, self.params = nnx.split(model)
        self.tables = replicate(tables, mesh)
        self._answer = jax.jit(functools.partial(answer_and_score, graphdef=self.graphdef,
                                                 sampling=dataclasses.replace(sampling, temperature=0.0),
                                                 rewards=rewards))
        self._reference_nll = jax.jit(functools.partial(reference_nll, graphdef=self.graphdef))

    def load_params(self, params: nnx.State):
        """Replaces the weights (a whole model state, sharded as `self.params`)."""
        self.params = params

    def model(self) -> Qwen25VL:
        """The policy as a model (for export with `save_pretrained`), sharing the weights' buffers."""
        return nnx.merge(self.graphdef, self.params)

    def evaluate(self, batch: Batch) -> dict[str, np.ndarray]:
        """Greedy answers of the whole global batch (this process gives its rows): tokens [B, T], lengths, parsed
        intervals with each one's mean token log-prob, count, letter and well_formed, and the reward components, as
        host numpy arrays."""
        dev, layout = global_batch(batch, self.mesh, self.model_cfg, self.slice_width)
        with mesh_context(self.mesh):
            return host_values(self._answer(self.params, dev, layout, self.tables))

    def reference_nll(self, batch: Batch) -> dict[str, np.ndarray]:
        """Each row's reference answer (`answer_ids_BA`), teacher-forced: its negative log-likelihood in nats, summed
        over its tokens, given the row's video (`reference_nll`), given blank frames of the same shape
        (`reference_nll_blank`: every patch at the normalization mean, a uniform grey video) and given its own frame
        groups in reverse order (`reference_nll_reversed`: the same content at mirrored times). A model that ignores
        the frames scores all three alike; one that reads *when* things happen finds its reference answers
        unlikelier when time runs backwards. Blank frames are far from any training video, so their gap also counts
        what the frames do for the answer's form; the reversed ones change only the times."""
        variants = {"reference_nll": batch.pixel_values_SP,
                    "reference_nll_blank": np.zeros_like(batch.pixel_values_SP),
                    "reference_nll_reversed": reversed_frame_groups(batch)}
        out = {}
        for name, pixels_SP in variants.items():
            dev, layout = global_batch(dataclasses.replace(batch, pixel_values_SP=pixels_SP), self.mesh,
                                       self.model_cfg, self.slice_width)
            with mesh_context(self.mesh):
                out[name] = host_values(self._reference_nll(self.params, dev, layout))
        return out


def answer_and_score(params: nnx.State, batch: Batch, layout: VisionLayout, tables: TokenTables, *, graphdef,
                     sampling: SamplingConfig, rewards: RewardConfig) -> dict[str, jax.Array]:
    out = sample(nnx.merge(graphdef, params), prompt_inputs(batch, layout), sampling, jax.random.key(0))
    scores = compute_rewards(tables, out.tokens_BT, out.lengths_B, batch.task_B, batch.gt_intervals_BN2,
                             batch.gt_counts_B, batch.duration_B, batch.answer_B, rewards)
    parsed = parse_ids(tables, out.tokens_BT, out.lengths_B, batch.task_B, rewards.think_required)
    return {"tokens": out.tokens_BT, "lengths": out.lengths_B, "intervals": parsed.intervals,
            "interval_logprob": interval_logprob(parsed, out.logprobs_BT),
            "count": parsed.count, "letter": parsed.letter, "well_formed": parsed.well_formed,
            **{f"reward_{k}": scores[k] for k in ("total", "format", "localization", "classification")}}


def reference_nll(params: nnx.State, batch: Batch, layout: VisionLayout, *, graphdef) -> jax.Array:
    """[B] nats of each row's reference answer given its prompt."""
    model = nnx.merge(graphdef, params)
    logp_BA, _ = sequence_logprobs(model, batch, layout, batch.answer_ids_BA, batch.answer_mask_BA, 1,
                                   GRPOConfig.logprob_chunk)
    return -jnp.where(batch.answer_mask_BA, logp_BA, 0.0).sum(axis=1)


def reversed_frame_groups(batch: Batch) -> np.ndarray:
    """`pixel_values_SP` with each row's temporal patches (frame groups) in reverse order; patches are laid out
    group-major per row (`Batch`), padding after the last row."""
    out = np.array(batch.pixel_values_SP, copy=True)
    start = 0
    for t, h, w in np.asarray(batch.video_grid_thw_B3):
        n = int(t * h * w)
        out[start:start + n] = out[start:start + n].reshape(t, h * w, -1)[::-1].reshape(n, -1)
        start += n
    return out
