"""Per-token log-probabilities and entropies without materializing [tokens, vocab] logits.

The vocabulary (151,936 entries for Qwen2.5-VL) is swept in chunks with an online log-sum-exp; each chunk body is
rematerialized in the backward pass, so neither direction ever holds more than [tokens, chunk] float32 logits.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

_NEG = -1e30  # finite, so that exp(m_old - m_new) never sees inf - inf


def chunked_logprobs(h_ND: jax.Array, w_VD: jax.Array, targets_N: jax.Array, chunk: int = 8192,
                     temperature: float = 1.0):
    """(log p(target), entropy) per row of softmax(h @ w.T / temperature), both float32 [N]."""
    V, D = w_VD.shape
    chunk = min(chunk, V)
    n_chunks = -(-V // chunk)
    w_CKD = jnp.pad(w_VD, ((0, n_chunks * chunk - V), (0, 0))).reshape(n_chunks, chunk, D)
    bases = jnp.arange(n_chunks, dtype=jnp.int32) * chunk

    @jax.checkpoint
    def body(carry, xs):
        m, s, pl, tgt = carry
        w_KD, base = xs
        vocab_K = base + jnp.arange(chunk, dtype=jnp.int32)
        logits = jnp.einsum("nd,kd->nk", h_ND, w_KD, preferred_element_type=jnp.float32)
        if temperature != 1.0:
            logits = logits / temperature
        logits = jnp.where(vocab_K < V, logits, _NEG)
        m_new = jnp.maximum(m, logits.max(-1))
        scale = jnp.exp(m - m_new)
        p = jnp.exp(logits - m_new[:, None])
        s = s * scale + p.sum(-1)
        pl = pl * scale + (p * jnp.where(vocab_K < V, logits, 0.0)).sum(-1)
        tgt = tgt + jnp.where(vocab_K[None] == targets_N[:, None], logits, 0.0).sum(-1)
        return (m_new, s, pl, tgt), None

    N = h_ND.shape[0]
    zeros = jnp.zeros((N,), jnp.float32)
    (m, s, pl, tgt), _ = jax.lax.scan(body, (jnp.full((N,), _NEG, jnp.float32), zeros, zeros, zeros), (w_CKD, bases))
    lse = m + jnp.log(s)
    return tgt - lse, jax.lax.stop_gradient(lse - pl / s)
