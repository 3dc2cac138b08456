"""The GRPO objective in its three aggregations, against a plain numpy computation of loss and gradient: from
log-probs, and from the logits through log-probs at the sampling temperature."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tempr1_jax.rl.logprobs import chunked_logprobs
from tempr1_jax.rl.losses import ADVANTAGES, POLICY_LOSSES, LossConfig


def _case(seed=0, R=4, T=5, far=False):
    rng = np.random.default_rng(seed)
    logp = -rng.uniform(0.1, 3.0, (R, T))
    old = logp + rng.normal(0, 0.3, (R, T))  # ratios on both sides of the clip range
    ref = logp + rng.normal(0, 0.5, (R, T))
    if far:  # tokens where the reference is far above or below the policy: the k3 clamps bind
        ref[0, :3] = logp[0, :3] + np.array([3.0, 25.0, -30.0])
    adv = rng.normal(0, 1, R)
    mask = np.ones((R, T))
    mask[1, 3:] = 0
    mask[3, 1:] = 0
    return logp, old, ref, adv, mask


def k3(ref, logp):
    """verl's clamped k3 and its derivative in logp: d = ref - logp within +-20, the value at most 10."""
    d = ref - logp
    dc = min(max(d, -20.0), 20.0)
    value = np.exp(dc) - dc - 1
    if value > 10.0:
        return 10.0, 0.0
    return value, (1 - np.exp(dc)) if abs(d) < 20.0 else 0.0


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
                    kl, dkl = k3(ref[i, t], logp[i, t])
                    total += beta * kl / n
                    grad[i, t] += beta * dkl / n
        return total / R, grad / R
    per_tok, dper = np.zeros_like(logp), np.zeros_like(logp)
    for i in range(R):
        for t in range(T):
            r = np.exp(logp[i, t] - old[i, t])
            unclipped, clipped = r * adv[i], np.clip(r, 1 - eps_lo, 1 + eps_hi) * adv[i]
            kl, dkl = k3(ref[i, t], logp[i, t])
            per_tok[i, t] = -min(unclipped, clipped) + beta * kl
            dper[i, t] = (-adv[i] * r if unclipped <= clipped else 0.0) + beta * dkl
    if mode == "grpo":  # mean over each sequence's tokens, then over sequences
        n = mask.sum(1, keepdims=True)
        return float(((per_tok * mask).sum(1) / n[:, 0]).mean()), dper * mask / n / R
    n = mask.sum()  # dapo: mean over all tokens
    return float((per_tok * mask).sum() / n), dper * mask / n


@pytest.mark.parametrize("mode", ["grpo", "dapo", "gspo"])
@pytest.mark.parametrize("beta,far", [(0.0, False), (0.04, False), (0.04, True)])
def test_loss_and_gradient_equal_numpy(mode, beta, far):
    logp, old, ref, adv, mask = _case(far=far)
    cfg = LossConfig(aggregation=mode, epsilon_low=0.2, epsilon_high=0.28, beta=beta)
    fn = lambda lp: POLICY_LOSSES[mode](lp, jnp.asarray(old), jnp.asarray(ref), jnp.asarray(adv), jnp.asarray(mask),
                                         cfg)[0]
    loss, grad = jax.value_and_grad(fn)(jnp.asarray(logp))
    want_loss, want_grad = numpy_objective(logp, old, ref, adv, mask, mode, 0.2, 0.28, beta)
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(grad), want_grad, rtol=1e-5, atol=1e-8)


def _log_softmax(x):
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("mode", ["grpo", "dapo", "gspo"])
def test_loss_and_gradient_at_the_sampling_temperature_equal_numpy(mode):
    """From hidden states through log-probs of softmax(h @ w.T / T) to the loss (one update per rollout, so the old
    log-probs are the current ones), with the reference at the same temperature, as TRL and verl compute them."""
    R, T, D, V, temp = 4, 5, 8, 50, 0.5
    rng = np.random.default_rng(3)
    h, w, w_ref = rng.standard_normal((R * T, D)), rng.standard_normal((V, D)), rng.standard_normal((V, D))
    tgt = rng.integers(0, V, R * T)
    _, _, _, adv, mask = _case(R=R, T=T)
    cfg = LossConfig(aggregation=mode, epsilon_low=0.2, epsilon_high=0.28, beta=0.04)

    def jax_loss(h):
        logp, ent = chunked_logprobs(h, jnp.asarray(w), jnp.asarray(tgt), chunk=16, temperature=temp)
        ref, _ = chunked_logprobs(jnp.asarray(h), jnp.asarray(w_ref), jnp.asarray(tgt), chunk=16, temperature=temp)
        logp, ref = logp.reshape(R, T), jax.lax.stop_gradient(ref.reshape(R, T))
        loss = POLICY_LOSSES[mode](logp, jax.lax.stop_gradient(logp), ref, jnp.asarray(adv), jnp.asarray(mask),
                                   cfg)[0]
        return loss, ent

    (loss, ent), grad = jax.value_and_grad(jax_loss, has_aux=True)(jnp.asarray(h, jnp.float32))

    logq = _log_softmax(h @ w.T / temp)  # the sampling distribution
    logp = logq[np.arange(R * T), tgt].reshape(R, T)
    ref = _log_softmax(h @ w_ref.T / temp)[np.arange(R * T), tgt].reshape(R, T)
    want_loss, dlogp = numpy_objective(logp, logp, ref, adv, mask, mode, 0.2, 0.28, 0.04)
    onehot = np.eye(V)[tgt]
    dlogits = dlogp.reshape(-1, 1) * (onehot - np.exp(logq)) / temp  # d log q(target) / d logits, scaled by 1/T
    np.testing.assert_allclose(float(loss), want_loss, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(grad), dlogits @ w, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(np.asarray(ent), -(np.exp(logq) * logq).sum(-1), rtol=1e-5, atol=2e-5)
    # At temperature 1 the same tokens give another loss: the test sees the temperature.
    at_one = numpy_objective(*(_log_softmax(h @ m.T)[np.arange(R * T), tgt].reshape(R, T) for m in (w, w, w_ref)),
                             adv, mask, mode, 0.2, 0.28, 0.04)[0]
    assert abs(at_one - want_loss) > 1e-3


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


def test_update_takes_log_probs_at_the_sampling_temperature_by_default():
    from tempr1_jax.rl.grpo import GRPOConfig
    from tempr1_jax.sampling import SamplingConfig
    assert GRPOConfig(sampling=SamplingConfig(temperature=0.5)).logprob_temperature == 0.5  # TRL, verl
    assert GRPOConfig(sampling=SamplingConfig(temperature=0.5), logprobs_at_temperature=False).logprob_temperature == 1
    assert GRPOConfig(sampling=SamplingConfig(temperature=0.0)).logprob_temperature == 1.0  # greedy: plain softmax
