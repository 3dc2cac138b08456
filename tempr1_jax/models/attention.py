"""The decoder's attention: one entry point, three implementations chosen by backend or by `TextConfig.attention`.

Every decoder mask (training forward, prefill, cached decode, the update's prompt cache) is one rule: query `l` at
cache slot `query_slot_L[l]` sees key slot `s` when `key_valid_BS[b, s]` and `s <= query_slot_L[l]`. Passing that
rule instead of a [B, L, S] mask lets the blockwise path build each key block's mask on the fly.

- "dense": scores [B, K, G, L, S] in one einsum; cheapest for short sequences.
- "blockwise": an online (running log-sum-exp) softmax over key blocks of `block_kv` slots, float32 accumulation;
  peak memory is one block's scores. Its backward pass is FlashAttention-2's: it keeps only the output and the
  log-sum-exp and recomputes each block's probabilities, instead of a running state per block.
- "cudnn": `jax.nn.dot_product_attention(implementation="cudnn")`, the fused GPU kernel, for bf16/fp16 inputs.

"auto" takes cudnn on GPU for half-precision inputs, otherwise dense when S <= block_kv and blockwise beyond.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

IMPLEMENTATIONS = ("auto", "dense", "blockwise", "cudnn")
_MASKED = jnp.finfo(jnp.float32).min  # not -inf: a row with no valid key stays finite (uniform), as the dense path


def _pick(implementation: str, dtype, S: int, block_kv: int) -> str:
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"attention implementation {implementation!r} is not one of {IMPLEMENTATIONS}")
    if implementation != "auto":
        return implementation
    if jax.default_backend() == "gpu" and jnp.dtype(dtype) in (jnp.bfloat16, jnp.float16):
        return "cudnn"
    return "dense" if S <= block_kv else "blockwise"


def _mask_BLS(key_valid_BS, query_slot_L, slot_S):
    return key_valid_BS[:, None, :] & (slot_S[None, None, :] <= query_slot_L[None, :, None])


def _dense(q_BLKGH, k_BSKH, v_BSKH, mask_BLS, scale):
    scores_BKGLS = jnp.einsum("blkgh,bskh->bkgls", q_BLKGH, k_BSKH, preferred_element_type=jnp.float32) * scale
    scores_BKGLS = jnp.where(mask_BLS[:, None, None], scores_BKGLS, _MASKED)
    probs_BKGLS = jax.nn.softmax(scores_BKGLS, axis=-1).astype(v_BSKH.dtype)
    lse_BLKG = jnp.moveaxis(jax.nn.logsumexp(scores_BKGLS, axis=-1), 3, 1)
    return jnp.einsum("bkgls,bskh->blkgh", probs_BKGLS, v_BSKH), lse_BLKG


def _key_blocks(k_BSKH, v_BSKH, key_valid_BS, block_kv):
    """Keys, values and validity as [N, B, C, ...] blocks of C = `block_kv` slots, with each block's first slot.
    Padded slots are invalid keys, so they add exactly zero weight to any row with a real key."""
    B, S, K, H = k_BSKH.shape
    n_blocks = -(-S // block_kv)
    pad = n_blocks * block_kv - S
    if pad:
        k_BSKH = jnp.pad(k_BSKH, ((0, 0), (0, pad), (0, 0), (0, 0)))
        v_BSKH = jnp.pad(v_BSKH, ((0, 0), (0, pad), (0, 0), (0, 0)))
        key_valid_BS = jnp.pad(key_valid_BS, ((0, 0), (0, pad)))
    blocks = lambda x: jnp.moveaxis(x.reshape(B, n_blocks, block_kv, *x.shape[2:]), 1, 0)
    return blocks(k_BSKH), blocks(v_BSKH), blocks(key_valid_BS), jnp.arange(n_blocks) * block_kv


def _block_scores(q_BLKGH, k_BCKH, valid_BC, start, query_slot_L, scale):
    """One key block's scaled scores [B, K, G, L, C] (masked slots at `_MASKED`) and its mask [B, L, C]."""
    mask_BLC = _mask_BLS(valid_BC, query_slot_L, start + jnp.arange(k_BCKH.shape[1]))
    s_BKGLC = jnp.einsum("blkgh,bckh->bkglc", q_BLKGH, k_BCKH, preferred_element_type=jnp.float32) * scale
    return jnp.where(mask_BLC[:, None, None], s_BKGLC, _MASKED), mask_BLC


def _blockwise_forward(q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, scale, block_kv):
    B, L, K, G, H = q_BLKGH.shape

    def block(carry, xs):
        acc_BKGLH, max_BKGL, sum_BKGL = carry
        k_BCKH, v_BCKH, valid_BC, start = xs
        s_BKGLC, _ = _block_scores(q_BLKGH, k_BCKH, valid_BC, start, query_slot_L, scale)
        new_max = jnp.maximum(max_BKGL, s_BKGLC.max(-1))
        p_BKGLC = jnp.exp(s_BKGLC - new_max[..., None])
        rescale = jnp.exp(max_BKGL - new_max)
        pv_BKGLH = jnp.einsum("bkglc,bckh->bkglh", p_BKGLC.astype(v_BCKH.dtype), v_BCKH,
                              preferred_element_type=jnp.float32)
        return (acc_BKGLH * rescale[..., None] + pv_BKGLH, new_max, sum_BKGL * rescale + p_BKGLC.sum(-1)), None

    init = (jnp.zeros((B, K, G, L, H), jnp.float32), jnp.full((B, K, G, L), _MASKED, jnp.float32),
            jnp.zeros((B, K, G, L), jnp.float32))
    (acc_BKGLH, max_BKGL, sum_BKGL), _ = jax.lax.scan(block, init, _key_blocks(k_BSKH, v_BSKH, key_valid_BS,
                                                                               block_kv))
    out_BKGLH = acc_BKGLH / sum_BKGL[..., None]
    lse_BLKG = jnp.moveaxis(max_BKGL + jnp.log(sum_BKGL), 3, 1)
    return jnp.moveaxis(out_BKGLH, 3, 1).astype(q_BLKGH.dtype), lse_BLKG  # [B, L, K, G, H], [B, L, K, G]


@functools.partial(jax.custom_vjp, nondiff_argnums=(5, 6))
def _blockwise(q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, scale, block_kv):
    return _blockwise_forward(q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, scale, block_kv)


def _blockwise_fwd(q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, scale, block_kv):
    out = _blockwise_forward(q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, scale, block_kv)
    return out, (q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, *out)


def _blockwise_bwd(scale, block_kv, residuals, cotangents):
    """The FlashAttention-2 backward pass: each key block's probabilities are recomputed from the saved
    log-sum-exp, so nothing per block outlives its step. With P = softmax(S), dS = P * (dO . V - rowsum(dO * O) +
    d lse): the last term is the gradient that reaches the log-sum-exp through `merge_partials`."""
    q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, out_BLKGH, lse_BLKG = residuals
    d_out_BLKGH, d_lse_BLKG = cotangents
    S, dtype = k_BSKH.shape[1], q_BLKGH.dtype
    d_out_BLKGH = d_out_BLKGH.astype(dtype)
    lse_BKGL = jnp.moveaxis(lse_BLKG, 1, 3)
    # rowsum(dO * O) - d lse: the per-query term subtracted from dO . V
    delta_BKGL = jnp.moveaxis(jnp.einsum("blkgh,blkgh->blkg", d_out_BLKGH, out_BLKGH.astype(dtype),
                                         preferred_element_type=jnp.float32) - d_lse_BLKG, 1, 3)

    def block(dq_BLKGH, xs):
        k_BCKH, v_BCKH, valid_BC, start = xs
        s_BKGLC, mask_BLC = _block_scores(q_BLKGH, k_BCKH, valid_BC, start, query_slot_L, scale)
        p_BKGLC = jnp.where(mask_BLC[:, None, None], jnp.exp(s_BKGLC - lse_BKGL[..., None]), 0.0)
        dv_BCKH = jnp.einsum("bkglc,blkgh->bckh", p_BKGLC.astype(dtype), d_out_BLKGH,
                             preferred_element_type=jnp.float32)
        dp_BKGLC = jnp.einsum("blkgh,bckh->bkglc", d_out_BLKGH, v_BCKH, preferred_element_type=jnp.float32)
        ds_BKGLC = (p_BKGLC * (dp_BKGLC - delta_BKGL[..., None]) * scale).astype(dtype)
        dq_BLKGH = dq_BLKGH + jnp.einsum("bkglc,bckh->blkgh", ds_BKGLC, k_BCKH, preferred_element_type=jnp.float32)
        dk_BCKH = jnp.einsum("bkglc,blkgh->bckh", ds_BKGLC, q_BLKGH, preferred_element_type=jnp.float32)
        return dq_BLKGH, (dk_BCKH, dv_BCKH)

    dq_BLKGH, (dk_NBCKH, dv_NBCKH) = jax.lax.scan(block, jnp.zeros(q_BLKGH.shape, jnp.float32),
                                                  _key_blocks(k_BSKH, v_BSKH, key_valid_BS, block_kv))
    unblock = lambda x_NBCKH: jnp.moveaxis(x_NBCKH, 0, 1).reshape(x_NBCKH.shape[1], -1, *x_NBCKH.shape[3:])[:, :S]
    return (dq_BLKGH.astype(dtype), unblock(dk_NBCKH).astype(k_BSKH.dtype), unblock(dv_NBCKH).astype(v_BSKH.dtype),
            None, None)


_blockwise.defvjp(_blockwise_fwd, _blockwise_bwd)


def _cudnn(q_BLKGH, k_BSKH, v_BSKH, mask_BLS, scale):
    B, L, K, G, H = q_BLKGH.shape
    out_BLNH = jax.nn.dot_product_attention(q_BLKGH.reshape(B, L, K * G, H), k_BSKH, v_BSKH,
                                            mask=mask_BLS[:, None], scale=scale, implementation="cudnn")
    return out_BLNH.reshape(B, L, K, G, H)


def attention(q_BLKGH: jax.Array, k_BSKH: jax.Array, v_BSKH: jax.Array, key_valid_BS: jax.Array,
              query_slot_L: jax.Array, *, scale: float, implementation: str = "auto", block_kv: int = 512,
              return_lse: bool = False):
    """GQA attention of q [B, L, K, G, H] over keys/values [B, S, K, H] at slots 0..S-1, masked by the rule in the
    module docstring; returns [B, L, K, G, H] (and, with `return_lse`, the float32 log-sum-exp of the scaled scores
    [B, L, K, G], for `merge_partials`). Rows with no valid key get uniform weights; callers discard them."""
    if block_kv < 1:
        raise ValueError(f"attention block_kv must be positive, got {block_kv}")
    S = k_BSKH.shape[1]
    if key_valid_BS.shape != (k_BSKH.shape[0], S):
        raise ValueError(f"key_valid_BS shape {key_valid_BS.shape} does not match keys {k_BSKH.shape[:2]}")
    k_BSKH, v_BSKH = k_BSKH.astype(q_BLKGH.dtype), v_BSKH.astype(q_BLKGH.dtype)
    impl = _pick(implementation, q_BLKGH.dtype, S, block_kv)
    if impl == "cudnn" and return_lse:  # the fused kernel does not hand back its log-sum-exp
        impl = "dense" if S <= block_kv else "blockwise"
    if impl == "blockwise":
        out = _blockwise(q_BLKGH, k_BSKH, v_BSKH, key_valid_BS, query_slot_L, scale, block_kv)
    else:
        mask_BLS = _mask_BLS(key_valid_BS, query_slot_L, jnp.arange(S))
        if impl == "cudnn":
            return _cudnn(q_BLKGH, k_BSKH, v_BSKH, mask_BLS, scale)
        out = _dense(q_BLKGH, k_BSKH, v_BSKH, mask_BLS, scale)
    return out if return_lse else out[0]


def merge_partials(out_a, lse_a, out_b, lse_b):
    """The attention over the union of two disjoint key sets from each set's own output and log-sum-exp: each
    partial softmax is reweighted by its share of the total mass."""
    lse = jnp.logaddexp(lse_a, lse_b)
    w_a, w_b = jnp.exp(lse_a - lse)[..., None], jnp.exp(lse_b - lse)[..., None]
    return (out_a.astype(jnp.float32) * w_a + out_b.astype(jnp.float32) * w_b).astype(out_a.dtype)
