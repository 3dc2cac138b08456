"""The GRPO objective in its three aggregations, against a plain numpy computation of loss and gradient."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tempr1_jax.rl.losses import ADVANTAGES, POLICY_LOSSES, LossConfig


def _case(seed=0, R=4, T=5):
    rng = np.random.default_rng(seed)
    logp = -rng.uniform(0.1, 3.0, (R, T))
    old = logp + rng.normal(0, 0.3, (R, T))  # ratios on both sides of the clip range
    ref = logp + rng.normal(0, 0.5, (R, T))
    adv = rng.normal(0, 1, R)
    mask = np.ones((R, T))
    mask[1, 3:] = 0
    mask[3, 1:] = 0
    return logp, old, ref, adv, mask


def numpy_objective(logp, old, ref, adv, mask, mode, eps_lo, eps_hi, beta):
    """Loss and d loss / d logp, written out term by term."""
    R, T = logp.shape
    grad = np.zeros_like(logp)
    if mode == "gspo":
        total = 0.0
        for i in range(R):
            n = mask[i].sum()
            s = np.exp(sum(logp[i, t] - old[i, t] for t in range(T) if mask[i, t]) / n)
            unclipped, clipped = s * adv[i], np.clip(s, 1 - eps_lo, 1 + eps_hi) * adv[i]
            total += -min(unclipped, clipped)
            for t in range(T):
                if mask[i, t]:
                    if unclipped <= clipped:  # the unclipped branch is the active minimum
                        grad[i, t] += -adv[i] * s / n
                    d = ref[i, t] - logp[i, t]
                    total += beta * (np.exp(d) - d - 1) / n
                    grad[i, t] += beta * (1 - np.exp(d)) / n
        return total / R, grad / R
    per_tok, dper = np.zeros_like(logp), np.zeros_like(logp)
    for i in range(R):
        for t in range(T):
            r = np.exp(logp[i, t] - old[i, t])
            unclipped, clipped = r * adv[i], np.clip(r, 1 - eps_lo, 1 + eps_hi) * adv[i]
            d = ref[i, t] - logp[i, t]
            per_tok[i, t] = -min(unclipped, clipped) + beta * (np.exp(d) - d - 1)
            dper[i, t] = (-adv[i] * r if unclipped <= clipped else 0.0) + beta * (1 - np.exp(d))
    if mode == "grpo":  # mean over each sequence's tokens, then over sequences
        n = mask.sum(1, keepdims=True)
        return float(((per_tok * mask).sum(1) / n[:, 0]).mean()), dper * mask / n / R
    n = mask.sum()  # dapo: mean over all tokens
    return float((per_tok * mask).sum() / n), dper * mask / n


@pytest.mark.parametrize("mode", ["grpo", "dapo", "gspo"])
@pytest.mark.parametrize("beta", [0.0, 0.04])
def test_loss_and_gradient_equal_numpy(mode, beta):
    logp, old, ref, adv, mask = _case()
    cfg = LossConfig(aggregation=mode, epsilon_low=0.2, epsilon_high=0.28, beta=beta)
    fn = lambda lp: POLICY_LOSSES[mode](lp, jnp.asarray(old), jnp.asarray(ref), jnp.asarray(adv), jnp.asarray(mask),
                                         cfg)[0]
    loss, grad = jax.value_and_grad(fn)(jnp.asarray(logp))
    want_loss, want_grad = numpy_objective(logp, old, ref, adv, mask, mode, 0.2, 0.28, beta)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-5, atol=1e-8)


def test_aggregations_differ_where_lengths_differ():
    logp, old, ref, adv, mask = _case(seed=1)
    cfg = lambda m: LossConfig(aggregation=m, beta=0.04)
    vals = {m: float(POLICY_LOSSES[m](logp, old, ref, adv, mask, cfg(m))[0]) for m in ("grpo", "dapo", "gspo")}
    assert len({round(v, 6) for v in vals.values()}) == 3


def test_group_advantages_and_zero_variance_groups():
    r = jnp.array([1.0, 0.0, 0.5, 0.5,  2.0, 2.0, 2.0, 2.0])
    adv, zero = ADVANTAGES["grpo"](r, 4, 1e-4)
    g = np.array([1.0, 0.0, 0.5, 0.5])
    want = (g - g.mean()) / (g.std(ddof=1) + 1e-4)
    np.testing.assert_allclose(np.asarray(adv[:4]), want, rtol=1e-6)
    assert np.all(np.asarray(adv[4:]) == 0) and np.asarray(zero).tolist() == [False, True]
    adv, zero = ADVANTAGES["drgrpo"](r, 4, 1e-4)
    np.testing.assert_allclose(np.asarray(adv[:4]), g - g.mean(), rtol=1e-6)


def test_unknown_variants_are_named():
    with pytest.raises(ValueError, match="loss aggregation 'ppo' unknown"):
        LossConfig(aggregation="ppo")
    with pytest.raises(ValueError, match="advantage 'rloo' unknown"):
        LossConfig(advantage="rloo")
