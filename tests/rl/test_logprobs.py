"""Log-probs in chunks over the vocabulary, and the shared-prefix sequence log-probs, against full computations."""
import jax
import jax.numpy as jnp
import numpy as np

from fixtures import CFG, batch
from tempr1_jax.models import init_model, make_mesh
from tempr1_jax.models.vision import vision_layout
from tempr1_jax.rl.grpo import sequence_logprobs
from tempr1_jax.rl.logprobs import chunked_logprobs


def test_chunked_logprobs_equal_full_softmax_in_value_and_gradient():
    rng = np.random.default_rng(0)
    h = jnp.asarray(rng.standard_normal((6, 16)), jnp.float32)
    w = jnp.asarray(rng.standard_normal((1000, 16)), jnp.float32)  # 1000 = 3 full chunks of 300 + a ragged one
    tgt = jnp.asarray(rng.integers(0, 1000, 6))

    def full(h, w):
        logp = jax.nn.log_softmax(h @ w.T, axis=-1)
        return jnp.take_along_axis(logp, tgt[:, None], -1)[:, 0], -(jnp.exp(logp) * logp).sum(-1)

    lp, ent = chunked_logprobs(h, w, tgt, chunk=300)
    lp_ref, ent_ref = full(h, w)
    np.testing.assert_allclose(np.asarray(lp), np.asarray(lp_ref), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(ent), np.asarray(ent_ref), rtol=1e-5, atol=1e-5)
    g = jax.grad(lambda h, w: chunked_logprobs(h, w, tgt, chunk=300)[0].sum(), argnums=(0, 1))(h, w)
    g_ref = jax.grad(lambda h, w: full(h, w)[0].sum(), argnums=(0, 1))(h, w)
    for a, b in zip(g, g_ref):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-5)


def test_shared_prefix_logprobs_equal_a_full_forward_per_completion():
    """Prompt computed once and shared by G = 3 completions == prompt + completion through the model row by row, at
    temperature 1 and at a sampling temperature of 0.5."""
    model = init_model(CFG, make_mesh((1, 1, 1), jax.devices()[:1]), seed=2)
    b = batch(2)
    layout = vision_layout(b.video_grid_thw_B3, CFG.vision, len(b.pixel_values_SP), static=True)
    G, T = 3, 5
    rng = np.random.default_rng(1)
    tokens = rng.integers(8, 1024, (2 * G, T)).astype(np.int32)
    lengths = np.array([5, 3, 1, 4, 5, 2])
    mask = np.arange(T)[None] < lengths[:, None]
    logp, _ = sequence_logprobs(model, b, layout, jnp.asarray(tokens), jnp.asarray(mask), G, chunk=256)
    logp_cold, _ = sequence_logprobs(model, b, layout, jnp.asarray(tokens), jnp.asarray(mask), G, chunk=256,
                                     temperature=0.5)  # the sampling temperature's distribution, softmax(logits / T)
    for r in range(2 * G):
        p = r // G
        real = b.input_ids_BL[p][b.attention_mask_BL[p]]
        n = lengths[r]
        ids = np.concatenate([real, tokens[r, :n]])[None]
        video = slice(0, int(b.video_grid_thw_B3[0].prod())) if p == 0 else slice(
            int(b.video_grid_thw_B3[0].prod()), int(b.video_grid_thw_B3[:2].prod(1).sum()))
        logits = np.asarray(model(input_ids=ids, pixel_values_videos=b.pixel_values_SP[video],
                                  video_grid_thw=b.video_grid_thw_B3[p:p + 1], second_per_grid_ts=[1.0]))
        for got, temperature in ((logp, 1.0), (logp_cold, 0.5)):
            ref = jax.nn.log_softmax(logits[0, len(real) - 1: len(real) - 1 + n] / temperature, -1)
            ref = np.take_along_axis(np.asarray(ref), tokens[r, :n, None], -1)[:, 0]
            np.testing.assert_allclose(np.asarray(got[r, :n]), ref, rtol=1e-4, atol=1e-4)
