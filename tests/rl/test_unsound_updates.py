"""Unsound updates are skipped inside the compiled steps: parameters and optimizer state stay bit for bit, the step
says why; `max_grad_norm = 0` means no clipping."""
import dataclasses

import jax
import numpy as np
import pytest

from fixtures import batch, learner as make_learner, tables
from tempr1_jax.models import make_mesh


@pytest.fixture(scope="module")
def tabs(tmp_path_factory):
    return tables(str(tmp_path_factory.mktemp("tok")))


def _snapshot(learner):
    return [np.array(x) for x in jax.device_get(jax.tree.leaves((learner.state.params, learner.state.opt_state)))]


def _same(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.parametrize("stage", ["sft", "grpo"])
def test_a_nan_batch_is_skipped_and_the_next_one_applied(tabs, stage):
    learner = make_learner(make_mesh((1, 1, 1), jax.devices()[:1]), tabs)
    good = batch(2)
    if stage == "grpo":
        # A random model's rollouts all score 0 (no advantage), and at the reference the KL has no gradient: one
        # supervised step first moves the policy off the reference, so the good GRPO step below has a gradient.
        learner.sft(good)
    poisoned = dataclasses.replace(good, pixel_values_SP=np.full_like(good.pixel_values_SP, np.nan))
    before = _snapshot(learner)
    steps = int(learner.state.step)
    m = {k: float(v) for k, v in getattr(learner, stage)(poisoned).items()}
    assert m["skipped"] == 1.0 and m["nonfinite_loss"] == 1.0 and np.isnan(m["loss"])
    assert m["grad_norm_spike"] == 0.0
    assert _same(_snapshot(learner), before)  # parameters and Adam moments (and its count) untouched
    assert int(learner.state.step) == steps + 1  # the step itself is counted
    params = [np.array(x) for x in jax.device_get(jax.tree.leaves(learner.state.params))]
    m = {k: float(v) for k, v in getattr(learner, stage)(good).items()}
    assert m["skipped"] == 0.0 and np.isfinite(m["loss"]) and m["grad_norm"] > 1e-4
    assert not _same([np.array(x) for x in jax.device_get(jax.tree.leaves(learner.state.params))], params)
    assert all(np.isfinite(x).all() for x in _snapshot(learner))


def test_the_spike_guard_skips_a_step_above_its_limit(tabs):
    learner = make_learner(make_mesh((1, 1, 1), jax.devices()[:1]), tabs)
    before = _snapshot(learner)
    m = {k: float(v) for k, v in learner.sft(batch(2), grad_norm_limit=1e-6).items()}
    assert m["skipped"] == 1.0 and m["grad_norm_spike"] == 1.0 and m["nonfinite_loss"] == 0.0
    assert _same(_snapshot(learner), before)


def test_max_grad_norm_zero_trains_unclipped(tabs):
    # With clip_by_global_norm(0) every gradient was scaled to 0 and the model never moved.
    learner = make_learner(make_mesh((1, 1, 1), jax.devices()[:1]), tabs, max_grad_norm=0.0)
    b = batch(2)
    metrics = [learner.sft(b) for _ in range(5)]
    losses = [float(m["loss"]) for m in metrics]
    assert losses[-1] < losses[0] - 0.1
    assert all(float(m["skipped"]) == 0.0 for m in metrics)
