"""The decoder of both families, with a static-size KV cache: Qwen2 (Qwen2.5-VL: q/k/v biases, sectioned M-RoPE) and
Qwen3 (Qwen3-VL: QK-norm, no biases, interleaved M-RoPE, DeepStack visual features added after the first layers)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from tempr1_jax.models.config import TextConfig
from tempr1_jax.models.attention import attention, merge_partials
from tempr1_jax.models.layers import Linear, RMSNorm, SwiGLU, apply_rope, param, remat, stacked
from tempr1_jax.models.sharding import constrain


@struct.dataclass
class KVCache:
    """Keys and values for every layer in one static buffer; slots fill left to right for the whole batch.

    `index` is the next free slot. `valid_BS` marks slots that hold a real token (prompt padding stays False), and
    `next_position_B` is the M-RoPE position (all three rows agree after the prompt) of each row's next token.
    """

    k_LBSKH: jax.Array
    v_LBSKH: jax.Array
    valid_BS: jax.Array
    index: jax.Array
    next_position_B: jax.Array

    @classmethod
    def init(cls, cfg: TextConfig, batch: int, max_length: int, dtype=jnp.float32) -> "KVCache":
        shape = (cfg.num_hidden_layers, batch, max_length, cfg.num_key_value_heads, cfg.head_dim)
        return cls(jnp.zeros(shape, dtype), jnp.zeros(shape, dtype), jnp.zeros((batch, max_length), bool),
                   jnp.zeros((), jnp.int32), jnp.zeros((batch,), jnp.int32))

    @property
    def max_length(self) -> int:
        return self.k_LBSKH.shape[2]


def mrope_rows(cfg: TextConfig) -> np.ndarray:
    """The position row (0 = t, 1 = h, 2 = w) of each rotary frequency.

    Sectioned (Qwen2.5-VL): `mrope_section` contiguous runs t | h | w. Interleaved (Qwen3-VL): frequency j takes h when
    j % 3 == 1 and j < 3 * sections[1], w when j % 3 == 2 and j < 3 * sections[2], t otherwise, so every axis spans
    low and high frequencies.
    """
    half = cfg.head_dim // 2
    if not cfg.mrope_interleaved:
        return np.repeat(np.arange(3), cfg.mrope_section)[:half]
    j = np.arange(half)
    rows = np.zeros(half, np.int64)
    for row in (1, 2):
        rows[(j % 3 == row) & (j < 3 * cfg.mrope_section[row])] = row
    return rows


def mrope_cos_sin(positions_3BL: jax.Array, cfg: TextConfig, dtype) -> tuple[jax.Array, jax.Array]:
    """cos/sin [B, L, head_dim]; frequency j takes its position from row t, h or w by `mrope_rows`."""
    inv_freq = 1.0 / (cfg.rope_theta ** (jnp.arange(0, cfg.head_dim, 2, dtype=jnp.float32) / cfg.head_dim))
    row_of_freq = mrope_rows(cfg)
    pos_BLF = jnp.moveaxis(positions_3BL.astype(jnp.float32), 0, -1)[..., row_of_freq]  # [B, L, half]
    freqs = pos_BLF * inv_freq
    emb = jnp.concatenate([freqs, freqs], axis=-1)
    return jnp.cos(emb).astype(dtype), jnp.sin(emb).astype(dtype)


class Attention(nnx.Module):
    def __init__(self, cfg: TextConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        d, hd = cfg.hidden_size, cfg.head_dim
        self.n_heads, self.n_kv, self.head_dim = cfg.num_attention_heads, cfg.num_key_value_heads, hd
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.q_proj = Linear(d, self.n_heads * hd, ("embed", "q_heads"), use_bias=cfg.qkv_bias, **kw)
        self.k_proj = Linear(d, self.n_kv * hd, ("embed", "kv_heads"), use_bias=cfg.qkv_bias, **kw)
        self.v_proj = Linear(d, self.n_kv * hd, ("embed", "kv_heads"), use_bias=cfg.qkv_bias, **kw)
        self.o_proj = Linear(self.n_heads * hd, d, ("q_heads", "embed"), use_bias=cfg.o_bias, **kw)
        norm = lambda: RMSNorm(hd, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.q_norm, self.k_norm = (norm(), norm()) if cfg.qk_norm else (None, None)
        self.implementation, self.block_kv = cfg.attention, cfg.attention_block_kv

    def __call__(self, x_BLD, cos_BLH, sin_BLH, key_valid_BS, query_slot_L, cache=None, prefix=None):
        """Self-attention under the mask rule of `models.attention`. With `cache = (k_BSKH, v_BSKH, index)` (this
        layer's buffer) the new keys/values sit at `index` for this call and are returned, [B, L, K, H] each, for the
        caller to write into the stacked cache once. With `prefix = (k_PSKH, v_PSKH, valid_PS, group)` the B rows
        are P = B / group prompts' continuations, prompt-major, that also see every valid slot of their prompt's
        keys: the prompt is attended by the group's queries side by side instead of being copied per row."""
        B, L, _ = x_BLD.shape
        g = self.n_heads // self.n_kv
        q = self.q_proj(x_BLD).reshape(B, L, self.n_kv, g, self.head_dim)
        k = self.k_proj(x_BLD).reshape(B, L, self.n_kv, self.head_dim)
        v = self.v_proj(x_BLD).reshape(B, L, self.n_kv, self.head_dim)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        q = constrain(apply_rope(q, cos_BLH[:, :, None, None], sin_BLH[:, :, None, None]),
                      ("batch", "length", "act_heads", None, None))
        k = constrain(apply_rope(k, cos_BLH[:, :, None], sin_BLH[:, :, None]), ("batch", "length", "act_heads", None))
        v = constrain(v, ("batch", "length", "act_heads", None))
        new_kv = None
        if cache is not None:
            k_BSKH, v_BSKH, index = cache
            new_kv = (k.astype(k_BSKH.dtype), v.astype(v_BSKH.dtype))
            k = jax.lax.dynamic_update_slice_in_dim(k_BSKH, new_kv[0], index, axis=1)
            v = jax.lax.dynamic_update_slice_in_dim(v_BSKH, new_kv[1], index, axis=1)
        kw = dict(scale=self.head_dim**-0.5, implementation=self.implementation, block_kv=self.block_kv)
        if prefix is None:
            out = attention(q, k, v, key_valid_BS, query_slot_L, **kw)
            return self.o_proj(out.reshape(B, L, -1)), new_kv
        k_PSKH, v_PSKH, valid_PS, group = prefix
        P, S = valid_PS.shape
        own, own_lse = attention(q, k, v, key_valid_BS, query_slot_L, return_lse=True, **kw)
        q_PQKGH = q.reshape(P, group * L, self.n_kv, g, self.head_dim)
        shared, shared_lse = attention(q_PQKGH, k_PSKH, v_PSKH, valid_PS, jnp.full((group * L,), S), return_lse=True,
                                       **kw)
        out = merge_partials(own, own_lse, shared.reshape(own.shape), shared_lse.reshape(own_lse.shape))
        return self.o_proj(out.reshape(B, L, -1)), new_kv


class DecoderLayer(nnx.Module):
    def __init__(self, cfg: TextConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.self_attn = Attention(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size, "embed", "mlp", use_bias=False, dtype=dtype,
                          param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x_BLD, cos, sin, key_valid_BS, query_slot_L, cache=None, prefix=None):
        h, cache = self.self_attn(self.input_layernorm(x_BLD), cos, sin, key_valid_BS, query_slot_L, cache, prefix)
        x_BLD = x_BLD + h
        return x_BLD + self.mlp(self.post_attention_layernorm(x_BLD)), cache


class LanguageModel(nnx.Module):
    def __init__(self, cfg: TextConfig, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.cfg, self.dtype = cfg, dtype
        self.embed_tokens = param(rngs, nnx.initializers.normal(0.02), (cfg.vocab_size, cfg.hidden_size),
                                  ("vocab", "embed"), param_dtype)
        self.layers = stacked(lambda r: DecoderLayer(cfg, dtype=dtype, param_dtype=param_dtype, rngs=r),
                              cfg.num_hidden_layers, rngs)
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.lm_head = None if cfg.tie_word_embeddings else Linear(
            cfg.hidden_size, cfg.vocab_size, ("embed", "vocab"), use_bias=False, dtype=dtype,
            param_dtype=param_dtype, rngs=rngs)

    def embed(self, input_ids_BL: jax.Array) -> jax.Array:
        return jnp.take(self.embed_tokens[...], input_ids_BL, axis=0).astype(self.dtype)

    def head_VD(self) -> jax.Array:
        """The output projection as [vocab, D] (the embedding when tied), for chunked log-probs."""
        w = self.embed_tokens[...] if self.lm_head is None else self.lm_head.kernel[...].T
        return w.astype(self.dtype)

    def logits(self, h_BLD: jax.Array) -> jax.Array:
        if self.lm_head is None:
            # Contract on the embedding's own layout: a transposed copy of a 150k-row table costs more than the dot.
            return jnp.einsum("...d,vd->...v", h_BLD, self.embed_tokens[...].astype(self.dtype))
        return self.lm_head(h_BLD)

    def __call__(self, x_BLD, positions_3BL, attention_mask_BL, cache: KVCache | None = None,
                 deepstack_KBLD: jax.Array | None = None, prefix: KVCache | None = None, group: int = 1):
        """Runs the decoder on embeddings; returns (final normed hidden states [B, L, D], updated cache).

        The layers run as one `lax.scan` over their stacked parameters, each rematerialized by `TextConfig.remat`.
        Without a cache the mask is causal plus padding. With one, the L new tokens are written at `cache.index` and
        attend to every valid earlier slot and causally among themselves. `deepstack_KBLD` (Qwen3-VL) adds level k of
        the DeepStack features (zero away from vision tokens) to the output of layer k.
        `prefix`: a filled cache of B / `group` prompts that row b continues (rows prompt-major); row b then attends
        to its prompt's valid slots and causally to its own valid tokens (and, with a cache, to its own earlier
        slots there), as if appended to a copy of the prompt's cache, without making one.
        """
        L = x_BLD.shape[1]
        levels = 0 if deepstack_KBLD is None else deepstack_KBLD.shape[0]
        cos, sin = mrope_cos_sin(positions_3BL, self.cfg, self.dtype)
        new_valid = attention_mask_BL.astype(bool)
        if cache is None:
            key_valid_BS, query_slot_L, index, kv = new_valid, jnp.arange(L), None, None
        else:
            key_valid_BS = jax.lax.dynamic_update_slice_in_dim(cache.valid_BS, new_valid, cache.index, axis=1)
            query_slot_L, index, kv = cache.index + jnp.arange(L), cache.index, (cache.k_LBSKH, cache.v_LBSKH)
        if prefix is not None and prefix.valid_BS.shape[0] * group != x_BLD.shape[0]:
            raise ValueError(f"{x_BLD.shape[0]} rows are not {prefix.valid_BS.shape[0]} prompts x group {group}")
        shared = None if prefix is None else (prefix.k_LBSKH, prefix.v_LBSKH)
        graphdef, params = nnx.split(self.layers)

        def body(x_BLD, xs):
            i, layer_params, layer_kv, layer_prefix = xs
            layer = nnx.merge(graphdef, layer_params)
            x_BLD = constrain(x_BLD, ("batch", "length", "act_embed"))
            x_BLD, new_kv = layer(x_BLD, cos, sin, key_valid_BS, query_slot_L,
                                  None if layer_kv is None else (*layer_kv, index),
                                  None if layer_prefix is None else (*layer_prefix, prefix.valid_BS, group))
            if levels:  # DeepStack: level i's features join the output of layer i, for the first `levels` layers
                level_BLD = deepstack_KBLD[jnp.minimum(i, levels - 1)].astype(x_BLD.dtype)
                x_BLD = x_BLD + jnp.where(i < levels, level_BLD, jnp.zeros_like(level_BLD))
            return x_BLD, new_kv

        x_BLD, new_kv = jax.lax.scan(remat(body, self.cfg.remat), x_BLD,
                                     (jnp.arange(self.cfg.num_hidden_layers), params, kv, shared))
        if cache is None:
            return self.norm(x_BLD), None
        # One write of every layer's new slots into the (donated) stacked buffers, instead of a copy per layer.
        at = (0, 0, cache.index, 0, 0)
        new_cache = KVCache(jax.lax.dynamic_update_slice(cache.k_LBSKH, new_kv[0], at),
                            jax.lax.dynamic_update_slice(cache.v_LBSKH, new_kv[1], at), key_valid_BS,
                            cache.index + L,
                            jnp.max(jnp.where(new_valid, positions_3BL.max(0), -1), axis=1).astype(jnp.int32) + 1)
        return self.norm(x_BLD), new_cache
