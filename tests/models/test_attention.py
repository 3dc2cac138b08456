"""The blockwise and dense decoder attention agree, and both match the explicit [B, L, S] masked softmax."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tempr1_jax.models.attention import attention


def _inputs(B=2, L=7, S=13, K=2, G=3, H=8, seed=0):
    rng = np.random.default_rng(seed)
    q = jnp.asarray(rng.normal(size=(B, L, K, G, H)), jnp.float32)
    k = jnp.asarray(rng.normal(size=(B, S, K, H)), jnp.float32)
    v = jnp.asarray(rng.normal(size=(B, S, K, H)), jnp.float32)
    return q, k, v


def _reference(q, k, v, valid_BS, query_slot_L, scale):
    S = k.shape[1]
    mask_BLS = valid_BS[:, None, :] & (np.arange(S)[None, None, :] <= np.asarray(query_slot_L)[None, :, None])
    scores = np.einsum("blkgh,bskh->bkgls", q, k) * scale
    scores = np.where(mask_BLS[:, None, None], scores, -np.inf)
    p = np.exp(scores - scores.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    return np.einsum("bkgls,bskh->blkgh", p, v)


@pytest.mark.parametrize("block_kv", [1, 4, 5, 13, 64])
def test_blockwise_equals_dense_with_padding_causal_and_cache_offset(block_kv):
    q, k, v = _inputs()
    # Row 0 left-padded by two slots, row 1 with a hole and unwritten tail slots; queries start at cache slot 5.
    valid = np.ones((2, 13), bool)
    valid[0, :2] = False
    valid[1, 3] = False
    valid[1, 12] = False
    query_slot = 5 + jnp.arange(7)
    dense = attention(q, k, v, jnp.asarray(valid), query_slot, scale=0.3, implementation="dense")
    block = attention(q, k, v, jnp.asarray(valid), query_slot, scale=0.3, implementation="blockwise",
                      block_kv=block_kv)
    ref = _reference(*map(np.asarray, (q, k, v)), valid, query_slot, 0.3)
    np.testing.assert_allclose(np.asarray(dense), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(block), ref, rtol=1e-5, atol=1e-5)


def test_blockwise_gradients_equal_dense():
    q, k, v = _inputs(L=6, S=6)
    valid = jnp.asarray(np.array([[False, True, True, True, True, True], [True] * 6]))
    slot = jnp.arange(6)

    w = jnp.asarray(np.random.default_rng(1).normal(size=(2, 6, 2, 3)), jnp.float32)

    def loss(impl):
        def f(q, k, v):
            out, lse = attention(q, k, v, valid, slot, scale=0.5, implementation=impl, block_kv=4, return_lse=True)
            # Row 0's first query sees no key; the log-sum-exp carries a gradient of its own (`merge_partials`).
            return jnp.sum(out[0, 1:] ** 2) + jnp.sum(out[1] ** 2) + jnp.sum(lse[0, 1:] * w[0, 1:]) + jnp.sum(
                lse[1] * w[1])
        return jax.grad(f, argnums=(0, 1, 2))(q, k, v)

    for a, b in zip(loss("dense"), loss("blockwise")):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_row_without_keys_stays_finite_in_both_paths():
    q, k, v = _inputs(B=1, L=2, S=5)
    valid = jnp.zeros((1, 5), bool)
    for impl in ("dense", "blockwise"):
        out = attention(q, k, v, valid, jnp.arange(2), scale=1.0, implementation=impl, block_kv=2)
        assert np.isfinite(np.asarray(out)).all(), impl


def test_blockwise_backward_keeps_no_state_per_key_block():
    """The backward pass recomputes each block from the output and log-sum-exp: no [blocks, ..., L, H] stack of
    running outputs is saved between the passes, whatever the number of key blocks."""
    q, k, v = _inputs(B=1, L=64, S=256, K=1, G=1, H=4)
    f = lambda q, k, v: attention(q, k, v, jnp.ones((1, 256), bool), 192 + jnp.arange(64), scale=1.0,
                                  implementation="blockwise", block_kv=16).sum()
    _, vjp = jax.vjp(f, q, k, v)
    saved = [x.shape for x in jax.tree.leaves(vjp) if hasattr(x, "shape")]
    assert saved and not any(len(s) and s[0] == 16 and 64 in s for s in saved), saved


def test_blockwise_never_builds_the_full_score_matrix():
    q, k, v = _inputs(B=1, L=64, S=64, K=1, G=1, H=4)
    f = lambda q, k, v: attention(q, k, v, jnp.ones((1, 64), bool), jnp.arange(64), scale=1.0,
                                  implementation="blockwise", block_kv=16)
    text = jax.jit(jax.grad(lambda *a: f(*a).sum(), argnums=(0, 1, 2))).lower(q, k, v).as_text()
    assert "64x64xf32" not in text and "1x1x1x64x64" not in text


def test_unknown_implementation_is_named():
    q, k, v = _inputs()
    with pytest.raises(ValueError, match="'flash'"):
        attention(q, k, v, jnp.ones((2, 13), bool), jnp.arange(7), scale=1.0, implementation="flash")


def _tiny_decoder():
    from tempr1_jax.models.config import tiny
    from tempr1_jax.models.factory import init_model
    from tempr1_jax.models.sharding import make_mesh
    return init_model(tiny(vocab_size=256), make_mesh((1, 1, 1), jax.devices()[:1]), seed=3).language


def test_prefix_group_equals_attending_a_repeated_cache():
    from tempr1_jax.models.language import KVCache
    lm = _tiny_decoder()
    P, G, L, T = 2, 3, 5, 4
    rng = np.random.default_rng(1)
    prompt_mask = jnp.asarray(np.array([[0, 1, 1, 1, 1], [1, 1, 1, 1, 1]], bool))
    pos_3PL = jnp.broadcast_to(jnp.cumsum(prompt_mask, 1) - 1, (3, P, L))
    x_PLD = jnp.asarray(rng.normal(size=(P, L, lm.cfg.hidden_size)), jnp.float32)
    x_RTD = jnp.asarray(rng.normal(size=(P * G, T, lm.cfg.hidden_size)), jnp.float32)
    mask_RT = jnp.asarray(rng.random((P * G, T)) > 0.3)
    _, prompt = lm(x_PLD, pos_3PL, prompt_mask, KVCache.init(lm.cfg, P, L))
    pos_3RT = jnp.broadcast_to(jnp.repeat(prompt.next_position_B, G)[:, None] + jnp.arange(T), (3, P * G, T))
    shared, _ = lm(x_RTD, pos_3RT, mask_RT, prefix=prompt, group=G)
    # The old way: a longer cache, repeated per completion, extended by the completions.
    _, long = lm(x_PLD, pos_3PL, prompt_mask, KVCache.init(lm.cfg, P, L + T))
    rep = lambda a, axis=0: jnp.repeat(a, G, axis=axis)
    copies = KVCache(rep(long.k_LBSKH, 1), rep(long.v_LBSKH, 1), rep(long.valid_BS), long.index,
                     rep(long.next_position_B))
    repeated, _ = lm(x_RTD, pos_3RT, mask_RT, copies)
    np.testing.assert_allclose(np.asarray(shared), np.asarray(repeated), rtol=2e-5, atol=2e-5)
    with pytest.raises(ValueError, match="6 rows are not 2 prompts x group 2"):
        lm(x_RTD, pos_3RT, mask_RT, prefix=prompt, group=2)
    # Under autodiff no [layers, R, prompt, K, H] copy of the cache exists, only the P-row one.
    cfg = lm.cfg
    f = lambda k: lm(x_RTD, pos_3RT, mask_RT, prefix=prompt.replace(k_LBSKH=k), group=G)[0].sum()
    text = jax.jit(jax.grad(f)).lower(prompt.k_LBSKH).as_text()
    per_row = f"x{L}x{cfg.num_key_value_heads}x{cfg.head_dim}x"
    assert f"{cfg.num_hidden_layers}x{P}{per_row}" in text
    assert f"{cfg.num_hidden_layers}x{P * G}{per_row}" not in text and f"{P * G}{per_row}" not in text
