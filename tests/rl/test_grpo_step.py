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
