"""The compiled GRPO and SFT steps: a (data=2, tensor=4) CPU mesh gives the single-device result."""

import jax
import numpy as np
import pytest
from flax import nnx

from fixtures import CFG, QWEN3_CFG, batch, learner as _learner, tables
from tempr1_jax.models import make_mesh


def _params(learner):
    return [np.asarray(jax.device_get(v.get_value()))
            for _, v in nnx.to_flat_state(nnx.merge_state(learner.state.params, learner.state.frozen))]


@pytest.fixture(scope="module")
def tabs(tmp_path_factory):
    return tables(str(tmp_path_factory.mktemp("tok")))


# Qwen3-VL runs the GRPO step only: compiling both steps on both meshes costs minutes on a 2-core machine, and the
# SFT step shares the model forward that the GRPO update already checks.
@pytest.mark.parametrize("cfg,stages", [(CFG, ("grpo", "sft")), (QWEN3_CFG, ("grpo",))], ids=["qwen2_5_vl", "qwen3_vl"])
def test_mesh_steps_equal_single_device(tabs, cfg, stages):
    b = batch(2, cfg=cfg)
    single = _learner(make_mesh((1, 1, 1), jax.devices()[:1]), tabs, model_cfg=cfg)
    sharded = _learner(make_mesh((2, 1, 4)), tabs, model_cfg=cfg)
    for stage in stages:
        m1 = getattr(single, stage)(b)
        m2 = getattr(sharded, stage)(b)
        for k in m1:
            np.testing.assert_allclose(np.asarray(m2[k]), np.asarray(m1[k]), rtol=2e-4, atol=1e-6, err_msg=k)
        for a, c in zip(_params(single), _params(sharded)):
            np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-6)
    assert int(single.state.step) == int(sharded.state.step) == len(stages)
    # The last stage trained on real tokens: an empty mask would make the equalities above vacuous.
    assert float(m1["answer_tokens" if stages[-1] == "sft" else "completion_tokens"]) > 0
    q = sharded.state.params["language"]["layers"]["self_attn"]["q_proj"]["kernel"].get_value()
    assert len({tuple((i.start, i.stop) for i in s.index) for s in q.addressable_shards}) == 4  # tensor-sharded


def test_sft_step_lowers_the_loss(tabs):
    learner = _learner(make_mesh((1, 1, 1), jax.devices()[:1]), tabs)
    b = batch(2)
    losses = [float(learner.sft(b)["loss"]) for _ in range(5)]
    assert losses[-1] < losses[0] - 0.1


def test_the_update_at_a_trimmed_width_equals_the_full_width(tabs):
    """`update_widths`: rollouts no longer than a width train at that width, with the full width's result."""
    import dataclasses
    import functools

    import jax.numpy as jnp

    from tempr1_jax.rl import grpo
    from tempr1_jax.rl.global_batch import global_batch
    from tempr1_jax.models.factory import mesh_context

    learner = _learner(make_mesh((1, 1, 1), jax.devices()[:1]), tabs)
    full_cfg = learner.cfg.grpo
    T, G = full_cfg.sampling.max_new_tokens, full_cfg.group_size
    dev, layout = global_batch(batch(2), learner.mesh, learner.model_cfg, learner.cfg.slice_width)
    rng = np.random.default_rng(0)
    lengths = jnp.asarray([3, 1, 2, 3], jnp.int32)  # 2 prompts x G = 2; the longest is 3 of T = 6
    tokens = jnp.asarray(rng.integers(3, 50, (2 * G, T)) * (np.arange(T)[None] < np.asarray(lengths)[:, None]),
                         jnp.int32)
    results = {}
    for widths in ((), (2, 4), (3,)):
        cfg = dataclasses.replace(full_cfg, update_widths=widths)
        with mesh_context(learner.mesh):
            ro = jax.jit(functools.partial(grpo.score, cfg=cfg))(tokens, lengths, dev, learner.tables)
            step = jax.jit(functools.partial(grpo.update, graphdef=learner.graphdef, tx=learner.tx, cfg=cfg))
            state, out = step(learner.state, dev, layout, ro)
        results[widths] = (jax.device_get(state.params), [np.asarray(x) for x in jax.device_get(out[:3])],
                           int(out[-1]))
    assert [results[w][2] for w in ((), (2, 4), (3,))] == [T, 4, 3]  # the smallest width that holds them all
    mask = np.arange(T)[None] < np.asarray(lengths)[:, None]
    for widths in ((2, 4), (3,)):
        (loss, logp, ent), (loss0, logp0, ent0) = results[widths][1], results[()][1]
        np.testing.assert_allclose(loss, loss0, rtol=1e-5, atol=1e-6)
        for a, b in ((logp, logp0), (ent, ent0)):  # at full width; beyond a rollout's length, as its padding
            np.testing.assert_allclose(a[mask], b[mask], rtol=1e-5, atol=1e-6)
        for a, b in zip(jax.tree.leaves(results[widths][0]), jax.tree.leaves(results[()][0])):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.abs(results[()][1][1]).sum() > 0  # real log-probs: the equalities are not of zeros
