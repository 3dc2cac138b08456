"""Group advantages and policy losses, each in a registry so a config can name the variant.

Shapes: B = prompts, G = completions per prompt, R = B * G rollout rows (prompt-major), T = completion tokens.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp

ADVANTAGES: dict[str, Callable] = {}
POLICY_LOSSES: dict[str, Callable] = {}


def _register(table, name):
    def wrap(fn):
        table[name] = fn
        return fn
    return wrap


@dataclasses.dataclass(frozen=True)
class LossConfig:
    aggregation: str = "grpo"  # grpo | dapo | gspo (POLICY_LOSSES)
    advantage: str = "grpo"  # grpo | drgrpo (ADVANTAGES)
    epsilon_low: float = 0.2
    epsilon_high: float = 0.2
    beta: float = 0.04  # KL coefficient (k3 estimator); 0 skips the reference model
    advantage_eps: float = 1e-4

    def __post_init__(self):
        if self.aggregation not in POLICY_LOSSES:
            raise ValueError(f"loss aggregation {self.aggregation!r} unknown; choose from {sorted(POLICY_LOSSES)}")
        if self.advantage not in ADVANTAGES:
            raise ValueError(f"advantage {self.advantage!r} unknown; choose from {sorted(ADVANTAGES)}")


@_register(ADVANTAGES, "grpo")
def group_normalized(rewards_R: jax.Array, group_size: int, eps: float) -> tuple[jax.Array, jax.Array]:
    """(r - mean_group) / (std_group + eps), with the unbiased std as TRL and VideoChat-R1 compute it.

    Returns the advantages and a per-group flag for zero-variance groups (all completions scored alike), whose
    advantages are exactly 0: they carry no learning signal, and their count is worth watching.
    """
    r_BG = rewards_R.reshape(-1, group_size)
    centered = r_BG - r_BG.mean(axis=1, keepdims=True)
    std = jnp.sqrt((centered**2).sum(axis=1, keepdims=True) / max(group_size - 1, 1))
    zero_var = std[:, 0] < 1e-6
    adv = jnp.where(zero_var[:, None], 0.0, centered / (std + eps))
    return adv.reshape(-1), zero_var


@_register(ADVANTAGES, "drgrpo")
def group_centered(rewards_R: jax.Array, group_size: int, eps: float) -> tuple[jax.Array, jax.Array]:
    """Dr. GRPO: mean-centred rewards without the std division, which up-weights near-uniform groups."""
    r_BG = rewards_R.reshape(-1, group_size)
    centered = r_BG - r_BG.mean(axis=1, keepdims=True)
    zero_var = jnp.abs(centered).max(axis=1) < 1e-6
    return centered.reshape(-1), zero_var


# verl's clamps of the k3 estimator ("low_var_kl"): the log-ratio to +-20, so exp never overflows into an inf * 0
# gradient, and the per-token value to 10, so one token the policy has left far behind cannot swamp the loss.
K3_LOG_RATIO_CLAMP = 20.0
K3_VALUE_CLAMP = 10.0


def k3_kl(logp_RT: jax.Array, ref_logp_RT: jax.Array) -> jax.Array:
    """exp(d) - d - 1 with d = ref - logp: the non-negative per-token KL(pi || ref) estimate, clamped as verl does
    (d to +-K3_LOG_RATIO_CLAMP, the value to at most K3_VALUE_CLAMP; no gradient where a clamp binds)."""
    d = jnp.clip(ref_logp_RT - logp_RT, -K3_LOG_RATIO_CLAMP, K3_LOG_RATIO_CLAMP)
    return jnp.minimum(jnp.exp(d) - d - 1.0, K3_VALUE_CLAMP)


def _clipped_surrogate(ratio, adv, cfg: LossConfig):
    clipped = jnp.clip(ratio, 1.0 - cfg.epsilon_low, 1.0 + cfg.epsilon_high)
    loss = -jnp.minimum(ratio * adv, clipped * adv)
    was_clipped = (ratio * adv > clipped * adv).astype(jnp.float32)
    return loss, was_clipped


def _masked_mean(x, mask, axis=None):
    return (x * mask).sum(axis) / jnp.maximum(mask.sum(axis), 1.0)


@_register(POLICY_LOSSES, "grpo")
def grpo_loss(logp_RT, old_logp_RT, ref_logp_RT, adv_R, mask_RT, cfg: LossConfig):
    """Token-level clipped surrogate + beta * KL, averaged over each sequence's tokens, then over sequences."""
    per_tok, clipped = _clipped_surrogate(jnp.exp(logp_RT - old_logp_RT), adv_R[:, None], cfg)
    if cfg.beta:
        per_tok = per_tok + cfg.beta * k3_kl(logp_RT, ref_logp_RT)
    has_tokens = (mask_RT.sum(1) > 0).astype(jnp.float32)
    loss = _masked_mean(_masked_mean(per_tok, mask_RT, axis=1), has_tokens)
    return loss, _masked_mean(clipped, mask_RT)


@_register(POLICY_LOSSES, "dapo")
def dapo_loss(logp_RT, old_logp_RT, ref_logp_RT, adv_R, mask_RT, cfg: LossConfig):
    """The same token terms, averaged over all tokens of the batch: long completions weigh more."""
    per_tok, clipped = _clipped_surrogate(jnp.exp(logp_RT - old_logp_RT), adv_R[:, None], cfg)
    if cfg.beta:
        per_tok = per_tok + cfg.beta * k3_kl(logp_RT, ref_logp_RT)
    return _masked_mean(per_tok, mask_RT), _masked_mean(clipped, mask_RT)


@_register(POLICY_LOSSES, "gspo")
def gspo_loss(logp_RT, old_logp_RT, ref_logp_RT, adv_R, mask_RT, cfg: LossConfig):
    """GSPO: one length-normalized sequence ratio exp(mean_t(logp - old)) per completion, clipped per sequence."""
    ratio_R = jnp.exp(_masked_mean(logp_RT - old_logp_RT, mask_RT, axis=1))
    per_seq, clipped = _clipped_surrogate(ratio_R, adv_R, cfg)
    if cfg.beta:
        per_seq = per_seq + cfg.beta * _masked_mean(k3_kl(logp_RT, ref_logp_RT), mask_RT, axis=1)
    has_tokens = (mask_RT.sum(1) > 0).astype(jnp.float32)
    return _masked_mean(per_seq, has_tokens), _masked_mean(clipped, has_tokens)
