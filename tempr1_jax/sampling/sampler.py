"""Prefill once, then decode token by token inside one compiled `lax.while_loop`.

Greedy when temperature == 0; otherwise temperature, then top-k, then top-p (nucleus) filtering. Rows stop at any
EOS id; finished rows keep stepping (shapes are static) but feed pad tokens and record nothing.
"""
from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
from flax import nnx, struct

from tempr1_jax.models.language import KVCache
from tempr1_jax.models.sharding import agreed
from tempr1_jax.models.qwen25vl import Qwen25VL


@dataclasses.dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 128
    temperature: float = 0.0  # 0: greedy
    top_k: int = 0  # 0: off
    top_p: float = 1.0  # 1: off
    eos_ids: tuple[int, ...] = (151645, 151643)  # <|im_end|>, <|endoftext|>
    pad_id: int = 151643
    cache_dtype: str | None = None  # None: the model's compute dtype


@struct.dataclass
class GenerationOutput:
    tokens_BT: jax.Array  # int32, pad_id after each row's end
    logprobs_BT: jax.Array  # float32 log-prob of each sampled token under the sampling distribution's source logits
    lengths_B: jax.Array  # int32 tokens generated, EOS included


def filter_logits(logits_BV: jax.Array, cfg: SamplingConfig) -> jax.Array:
    """Temperature-scaled logits with everything outside top-k / top-p set to -inf."""
    logits = logits_BV.astype(jnp.float32) / cfg.temperature
    neg = jnp.finfo(jnp.float32).min
    if cfg.top_k > 0:
        kth = jax.lax.top_k(logits, cfg.top_k)[0][:, -1:]
        logits = jnp.where(logits < kth, neg, logits)
    if cfg.top_p < 1.0:
        sorted_desc = jnp.sort(logits, axis=-1)[:, ::-1]
        probs = jax.nn.softmax(sorted_desc, axis=-1)
        # Keep the smallest prefix whose mass reaches top_p: a token stays if the mass before it is < top_p.
        mass_before = jnp.cumsum(probs, axis=-1) - probs
        cutoff = jnp.min(jnp.where(mass_before < cfg.top_p, sorted_desc, jnp.inf), axis=-1, keepdims=True)
        logits = jnp.where(logits < cutoff, neg, logits)
    return logits


def _pick(logits_BV, rng, cfg: SamplingConfig):
    if cfg.temperature == 0.0:
        tok = jnp.argmax(logits_BV, axis=-1)
    else:
        tok = jax.random.categorical(rng, filter_logits(logits_BV, cfg), axis=-1)
    # The picked token's log-prob from one logsumexp: a full [B, V] log_softmax per decode step would be written
    # out only to read B entries of it.
    logits_BV = logits_BV.astype(jnp.float32)
    picked_B = jnp.take_along_axis(logits_BV, tok[:, None], axis=-1)[:, 0]
    return tok.astype(jnp.int32), picked_B - jax.nn.logsumexp(logits_BV, axis=-1)


def generate(model: Qwen25VL, inputs: dict, cfg: SamplingConfig, rng: jax.Array | None = None,
             num_samples: int = 1) -> GenerationOutput:
    """`inputs` are the keyword arrays of `Qwen25VL.hidden_states` (see `Qwen25VL.prepare_inputs`).

    With `num_samples` = G > 1, each prompt's video is encoded once and its prefix prefilled once; the KV cache is
    then shared by its G completions, which are rows b * G ... b * G + G - 1 of the output.
    """
    graphdef, params = nnx.split(model)
    rng = jax.random.key(0) if rng is None else rng
    return _generate(graphdef, params, inputs, rng, cfg, num_samples)


@functools.partial(jax.jit, static_argnames=("graphdef", "cfg", "num_samples"))
def _generate(graphdef, params, inputs, rng, cfg: SamplingConfig, num_samples: int) -> GenerationOutput:
    return sample(nnx.merge(graphdef, params), inputs, cfg, rng, num_samples)


def sample(model: Qwen25VL, inputs: dict, cfg: SamplingConfig, rng: jax.Array, num_samples: int = 1
           ) -> GenerationOutput:
    """The traceable body of `generate`, for use inside other jit-compiled steps."""
    P, L = inputs["input_ids_BL"].shape
    T, G = cfg.max_new_tokens, num_samples
    cache_dtype = jnp.dtype(cfg.cache_dtype) if cfg.cache_dtype else model.language.dtype
    prompt = KVCache.init(model.cfg.text, P, L, cache_dtype)
    h_PLD, prompt = model.hidden_states(**inputs, cache=prompt)
    # The last real prompt token of each row, for left and right padding alike.
    mask_PL = inputs["attention_mask_BL"].astype(bool)
    last_P = L - 1 - jnp.argmax(mask_PL[:, ::-1], axis=1)
    logits_BV = jnp.repeat(model.logits(jnp.take_along_axis(h_PLD, last_P[:, None, None], axis=1)[:, 0]), G, axis=0)
    # The G completions of a prompt read its cache side by side (the decoder's prefix); their own cache holds only
    # the T new slots, so the prompt's keys and values are never copied G times.
    B = P * G
    cache = KVCache.init(model.cfg.text, B, T, cache_dtype).replace(
        next_position_B=jnp.repeat(prompt.next_position_B, G))
    eos = jnp.asarray(cfg.eos_ids, jnp.int32)

    def cond(state):
        step, _, _, done_B, *_ = state
        return (step < T) & ~agreed(jnp.all(done_B))

    def body(state):
        step, tokens, logprobs, done_B, logits_BV, cache, rng = state
        rng, sub = jax.random.split(rng)
        tok_B, logp_B = _pick(logits_BV, sub, cfg)
        tok_B = jnp.where(done_B, cfg.pad_id, tok_B)
        tokens = tokens.at[:, step].set(tok_B)
        logprobs = logprobs.at[:, step].set(jnp.where(done_B, 0.0, logp_B))
        done_B = done_B | jnp.isin(tok_B, eos)
        logits_BV, cache = model.decode_step(tok_B, cache, prefix=prompt, group=G)
        return step + 1, tokens, logprobs, done_B, logits_BV, cache, rng

    state = (jnp.int32(0), jnp.full((B, T), cfg.pad_id, jnp.int32), jnp.zeros((B, T), jnp.float32),
             jnp.zeros((B,), bool), logits_BV, cache, rng)
    _, tokens, logprobs, _, _, _, _ = jax.lax.while_loop(cond, body, state)
    is_eos = jnp.isin(tokens, eos)
    first_eos = jnp.where(is_eos.any(1), jnp.argmax(is_eos, axis=1) + 1, T)
    return GenerationOutput(tokens, logprobs, first_eos.astype(jnp.int32))
