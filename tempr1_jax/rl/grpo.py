"""The multi-task GRPO step and the supervised cold-start step, each one jit-compiled program.

GRPO step, inside one compiled function: sample G completions per prompt (the prompt's video encoded and its prefix
prefilled once), score them on device with the temporal rewards, normalize advantages within each group, and take
`mu` clipped policy-gradient updates with a k3 KL to the frozen reference. Shapes: B prompts, G per group,
R = B * G rows (prompt-major), L prompt length, T completion length, D model width.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import nnx, struct

from tempr1_jax.data.batch import Batch
from tempr1_jax.models.language import KVCache
from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.models.sharding import agreed
from tempr1_jax.models.vision import VisionLayout
from tempr1_jax.rewards.compute import compute_rewards
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rewards.parser import TokenTables
from tempr1_jax.rewards.tasks import TASKS
from tempr1_jax.rl.logprobs import chunked_logprobs
from tempr1_jax.rl.losses import ADVANTAGES, POLICY_LOSSES, LossConfig, k3_kl
from tempr1_jax.rl.state import TrainState, cast_floats
from tempr1_jax.sampling.sampler import SamplingConfig, sample


@dataclasses.dataclass(frozen=True)
class GRPOConfig:
    group_size: int = 8
    mu: int = 1  # policy updates per rollout batch
    loss: LossConfig = LossConfig()
    sampling: SamplingConfig = SamplingConfig(max_new_tokens=256, temperature=1.0)
    rewards: RewardConfig = RewardConfig()
    logprob_chunk: int = 8192
    # Log-probs for the ratio, the KL and the entropy of softmax(logits / T) at the sampling temperature T, the
    # distribution the completions were drawn from (as TRL and verl compute them); False: of softmax(logits).
    logprobs_at_temperature: bool = True
    # The frozen reference's parameters, and the cast of the fp32 master weights the rollouts decode with: bfloat16
    # halves what they hold (the model computes in bfloat16 either way); float32 keeps them exact, for tests that
    # compare with a float32 computation.
    reference_dtype: str = "float32"
    rollout_dtype: str = "float32"
    # Completion widths the update may run at: it takes the smallest one that holds the longest rollout of the batch
    # (a `lax.switch`, so the step stays one program), since its cost grows with the width while rollouts are often
    # far shorter than max_new_tokens. () = always max_new_tokens; widths >= max_new_tokens are unused.
    update_widths: tuple[int, ...] = ()

    @property
    def logprob_temperature(self) -> float:
        t = self.sampling.temperature
        return t if self.logprobs_at_temperature and t > 0 else 1.0


def prompt_inputs(batch: Batch, layout: VisionLayout) -> dict:
    return dict(input_ids_BL=batch.input_ids_BL, positions_3BL=batch.positions_3BL,
                attention_mask_BL=batch.attention_mask_BL, pixel_values_videos=batch.pixel_values_SP,
                video_layout=layout)


def sequence_logprobs(model: Qwen25VL, batch: Batch, layout: VisionLayout, tokens_RT, mask_RT, group: int,
                      chunk: int, temperature: float = 1.0):
    """log p and entropy [R, T] of `tokens_RT` following each prompt under softmax(logits / temperature), rows
    prompt-major in groups of `group`.

    The prompt is computed once per prompt, not once per completion: its vision tower pass and its decoder pass fill a
    KV cache, which the group's completions then attend to (gradients flow back through the cached keys and
    values), without repeating that cache per completion. With prompts of thousands of video tokens and completions of a few hundred, this divides the update's
    cost by nearly G, and it equals the full forward over prompt + completion exactly.
    """
    B, L = batch.input_ids_BL.shape
    R, T = tokens_RT.shape
    cache = KVCache.init(model.cfg.text, B, L, model.language.dtype)
    h_BLD, cache = model.hidden_states(**prompt_inputs(batch, layout), cache=cache)
    comp_pos_RT = jnp.repeat(cache.next_position_B, group)[:, None] + jnp.arange(T)[None]
    # The group's completions read the B-row prompt cache side by side (`LanguageModel`'s prefix), never G copies.
    h_RTD, _ = model.language(model.language.embed(tokens_RT), jnp.broadcast_to(comp_pos_RT, (3, R, T)), mask_RT,
                              prefix=cache, group=group)
    # Token t is predicted by the hidden state before it: the prompt's last one for t = 0.
    h_RTD = jnp.concatenate([jnp.repeat(h_BLD[:, L - 1:], group, axis=0), h_RTD[:, :-1]], axis=1)
    D = h_RTD.shape[-1]
    logp, ent = chunked_logprobs(h_RTD.reshape(-1, D), model.language.head_VD(), tokens_RT.reshape(-1), chunk,
                                 temperature)
    return logp.reshape(R, T), ent.reshape(R, T)


def _per_task(x_R: jax.Array, task_R: jax.Array, prefix: str) -> dict[str, jax.Array]:
    """Means of x over the rows of each task (NaN where a task is absent from the batch)."""
    out = {}
    for k, name in enumerate(TASKS):
        m = (task_R == k).astype(jnp.float32)
        out[f"{name}/{prefix}"] = jnp.where(m.sum() > 0, (x_R * m).sum() / jnp.maximum(m.sum(), 1.0), jnp.nan)
    return out


def _floats(tree) -> list[jax.Array]:
    return [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]


def _all_finite(tree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in _floats(tree)]))


def _update(state: TrainState, loss, grads, tx, grad_norm_limit) -> tuple[TrainState, dict]:
    """One optimizer update, applied only when it is sound; else parameters and optimizer state stay as they were.

    Skipped: a non-finite loss or gradient norm; an update that leaves a non-finite optimizer moment, or parameters
    whose global norm is not finite (a sum of squares: it overflows past ~1e19, weights with which no forward pass
    stays finite, so such an update counts as non-finite before it can poison the next step); and, with the spike
    guard on, a gradient norm above `grad_norm_limit`. The decision is a global reduction inside the compiled step,
    so every host takes the same one. `step` counts every step, skipped or not; the optimizer's own count (the
    schedule's position) does not advance on a skipped one.
    """
    grad_norm = optax.global_norm(_floats(grads))
    updates, opt_state = tx.update(grads, state.opt_state, state.params)
    params = optax.apply_updates(state.params, updates)
    bad = {"nonfinite_loss": ~jnp.isfinite(loss), "nonfinite_grad_norm": ~jnp.isfinite(grad_norm),
           "nonfinite_update": ~(jnp.isfinite(optax.global_norm(_floats(params))) & _all_finite(opt_state))}
    nonfinite = bad["nonfinite_loss"] | bad["nonfinite_grad_norm"] | bad["nonfinite_update"]
    spike = ~nonfinite & (grad_norm > grad_norm_limit)
    skip = nonfinite | spike
    keep = lambda new, old: jax.tree.map(lambda n, o: jnp.where(skip, o, n), new, old)
    state = state.replace(params=keep(params, state.params), opt_state=keep(opt_state, state.opt_state),
                          step=state.step + 1)
    return state, {"grad_norm": grad_norm, "skipped": skip, "grad_norm_spike": spike, **bad}


@struct.dataclass
class Rollout:
    """G sampled completions per prompt, scored: R = B * G rows, prompt-major."""

    tokens_RT: jax.Array
    lengths_R: jax.Array
    mask_RT: jax.Array
    task_R: jax.Array
    rewards: dict
    advantages_R: jax.Array
    zero_variance_B: jax.Array


def rollout(state: TrainState, batch: Batch, layout: VisionLayout, rng, *, graphdef, cfg: GRPOConfig):
    """Phase 1: sample G completions per prompt from the current policy (tokens, lengths)."""
    policy = nnx.merge(graphdef, *cast_floats((state.params, state.frozen), cfg.rollout_dtype))
    out = sample(policy, prompt_inputs(batch, layout), cfg.sampling, rng, num_samples=cfg.group_size)
    return jax.lax.stop_gradient(out.tokens_BT), out.lengths_B


def score(tokens_RT, lengths_R, batch: Batch, tables: TokenTables, *, cfg: GRPOConfig) -> Rollout:
    """Phase 2: rewards on device from the token ids, then group-normalized advantages."""
    G = cfg.group_size
    rep = lambda x: jnp.repeat(x, G, axis=0)
    task_R = rep(batch.task_B)
    rewards = compute_rewards(tables, tokens_RT, lengths_R, task_R, rep(batch.gt_intervals_BN2),
                              rep(batch.gt_counts_B), rep(batch.duration_B), rep(batch.answer_B), cfg.rewards)
    adv_R, zero_var_B = ADVANTAGES[cfg.loss.advantage](rewards["total"], G, cfg.loss.advantage_eps)
    mask_RT = jnp.arange(tokens_RT.shape[1])[None] < lengths_R[:, None]
    return Rollout(tokens_RT, lengths_R, mask_RT, task_R, rewards, adv_R, zero_var_B)


def update(state: TrainState, batch: Batch, layout: VisionLayout, ro: Rollout, grad_norm_limit=jnp.inf, *, graphdef,
           tx: optax.GradientTransformation, cfg: GRPOConfig):
    """Phase 3: reference log-probs, then `cfg.mu` clipped policy-gradient steps with the k3 KL (each skipped when
    unsound, see `_update`), over the completions cut to the smallest of `cfg.update_widths` that holds them all.
    Returns (state, (loss, logp_RT, ent_RT, clip fraction, health, ref_logp_RT, width)), the arrays at full width."""
    T = ro.tokens_RT.shape[1]
    widths = sorted({w for w in cfg.update_widths if 0 < w < T}) + [T]
    branches = [functools.partial(_update_at_width, w, batch=batch, layout=layout, grad_norm_limit=grad_norm_limit,
                                  graphdef=graphdef, tx=tx, cfg=cfg) for w in widths]
    if len(branches) == 1:
        return branches[0](state, ro)
    index = agreed(jnp.searchsorted(jnp.asarray(widths), ro.lengths_R.max()))  # the first width >= the longest rollout
    return jax.lax.switch(index, branches, state, ro)


def _update_at_width(width: int, state: TrainState, ro: Rollout, *, batch, layout, grad_norm_limit, graphdef, tx,
                     cfg: GRPOConfig):
    G, T = cfg.group_size, ro.tokens_RT.shape[1]
    tokens_RT, mask_RT = ro.tokens_RT[:, :width], ro.mask_RT[:, :width]  # causal: the first tokens' log-probs stay
    temp = cfg.logprob_temperature
    logp_fn = lambda model: sequence_logprobs(model, batch, layout, tokens_RT, mask_RT, G, cfg.logprob_chunk,
                                              temp)[0]
    ref_logp = (jax.lax.stop_gradient(logp_fn(nnx.merge(graphdef, state.ref)))
                if cfg.loss.beta else jnp.zeros_like(tokens_RT, jnp.float32))
    old_logp = None if cfg.mu == 1 else jax.lax.stop_gradient(
        logp_fn(nnx.merge(graphdef, state.params, state.frozen)))

    def loss_fn(params):
        model = nnx.merge(graphdef, params, state.frozen)
        logp, ent = sequence_logprobs(model, batch, layout, tokens_RT, mask_RT, G, cfg.logprob_chunk, temp)
        # With one update per rollout the ratio is 1 in value; stop_gradient(logp) gives it its exact gradient.
        old = jax.lax.stop_gradient(logp) if old_logp is None else old_logp
        loss, clip_frac = POLICY_LOSSES[cfg.loss.aggregation](logp, old, ref_logp, ro.advantages_R, mask_RT,
                                                               cfg.loss)
        return loss, (logp, ent, clip_frac)

    def one_update(state, _):
        (loss, (logp, ent, clip_frac)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        state, health = _update(state, loss, grads, tx, grad_norm_limit)
        return state, (loss, logp, ent, clip_frac, health)

    state, (loss, logp, ent, clip_frac, health) = jax.lax.scan(one_update, state, None, length=cfg.mu)
    # The last update's gradient norm; a flag is raised if any of the `mu` updates raised it.
    health = {k: v[-1] if k == "grad_norm" else v.any() for k, v in health.items()}
    full = lambda x_RW: jnp.pad(x_RW, ((0, 0), (0, T - width)))  # masked columns, as the rollout's padding
    return state, (loss[-1], full(logp[0]), full(ent[0]), clip_frac.mean(), health, full(ref_logp),
                   jnp.asarray(width, jnp.int32))


def grpo_step(state: TrainState, batch: Batch, layout: VisionLayout, tables: TokenTables, grad_norm_limit=jnp.inf,
              *, graphdef, tx: optax.GradientTransformation, cfg: GRPOConfig):
    """One rollout batch, as one compiled program: rollout, score, update. Returns (state, metrics).

    `grad_norm_limit`: the spike guard's threshold (inf: off)."""
    rng, sample_rng = jax.random.split(state.rng)
    tokens_RT, lengths_R = rollout(state, batch, layout, sample_rng, graphdef=graphdef, cfg=cfg)
    ro = score(tokens_RT, lengths_R, batch, tables, cfg=cfg)
    state, (loss, logp, ent, clip_frac, health, ref_logp, width) = update(
        state, batch, layout, ro, grad_norm_limit, graphdef=graphdef, tx=tx, cfg=cfg)
    state = state.replace(rng=rng)
    m = ro.mask_RT.astype(jnp.float32)  # logp and ent: the first update's view, i.e. the rollout policy itself
    tok_mean = lambda x: (x * m).sum() / jnp.maximum(m.sum(), 1.0)
    seq_kl = ((k3_kl(logp, ref_logp) * m).sum(1) / jnp.maximum(m.sum(1), 1.0)) if cfg.loss.beta else jnp.zeros(
        tokens_RT.shape[0])
    metrics = {
        "loss": loss, **health, "clip_fraction": clip_frac,
        "kl": seq_kl.mean(), "entropy": tok_mean(ent), "completion_length": lengths_R.mean(),
        "zero_variance_groups": ro.zero_variance_B.sum(), "completion_tokens": m.sum(),
        "update_width": width,
    }
    for key in ("total", "format", "localization", "classification"):
        metrics[f"reward/{key}"] = ro.rewards[key].mean()
        metrics.update(_per_task(ro.rewards[key], ro.task_R, f"reward_{key}"))
    metrics.update(_per_task(seq_kl, ro.task_R, "kl"))
    metrics.update(_per_task(lengths_R.astype(jnp.float32), ro.task_R, "completion_length"))
    return state, metrics


def sft_step(state: TrainState, batch: Batch, layout: VisionLayout, grad_norm_limit=jnp.inf, *, graphdef,
             tx: optax.GradientTransformation, chunk: int = 8192):
    """Supervised cold start: token-mean cross-entropy of the reference answers given their prompts (the update
    skipped when unsound, see `_update`)."""
    mask = batch.answer_mask_BA

    def loss_fn(params):
        model = nnx.merge(graphdef, params, state.frozen)
        logp, _ = sequence_logprobs(model, batch, layout, batch.answer_ids_BA, mask, 1, chunk)
        m = mask.astype(jnp.float32)
        nll = -(logp * m).sum() / jnp.maximum(m.sum(), 1.0)
        per_row = -(logp * m).sum(1) / jnp.maximum(m.sum(1), 1.0)
        return nll, per_row

    (loss, per_row), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
    state, health = _update(state, loss, grads, tx, grad_norm_limit)
    metrics = {"loss": loss, **health, "answer_tokens": mask.sum()}
    metrics.update(_per_task(per_row, batch.task_B, "sft_loss"))
    return state, metrics
