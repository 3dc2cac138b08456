"""The training state a learner builds: optimizer moments sharded like their parameters, the reference's dtype."""
import dataclasses

import jax
import jax.numpy as jnp
import pytest
from flax import nnx

from fixtures import learner as _learner, tables
from tempr1_jax.models import make_mesh
from tempr1_jax.rl.learner import Learner


@pytest.fixture(scope="module")
def tabs(tmp_path_factory):
    return tables(str(tmp_path_factory.mktemp("tok")))


def _moments(opt_state, params_def):
    like = lambda node: jax.tree.structure(node) == params_def
    return [node for node in jax.tree.leaves(opt_state, is_leaf=like) if like(node)]


def test_adam_moments_are_sharded_like_their_parameters(tabs):
    learner = _learner(make_mesh((2, 1, 4)), tabs)
    params = learner.state.params
    moments = _moments(learner.state.opt_state, jax.tree.structure(params))
    assert len(moments) == 2  # AdamW's mu and nu
    sharded = 0
    for moment in moments:
        for p, m in zip(jax.tree.leaves(params), jax.tree.leaves(moment)):
            assert m.sharding.is_equivalent_to(p.sharding, p.ndim), (p.sharding, m.sharding)
            sharded += not p.sharding.is_fully_replicated
    assert sharded > 0  # the check above would hold trivially on a replicated model


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_reference_takes_its_configured_dtype_and_starts_as_the_policy(tabs, dtype):
    base = _learner(make_mesh((2, 1, 4)), tabs)
    cfg = dataclasses.replace(base.cfg, grpo=dataclasses.replace(base.cfg.grpo, reference_dtype=dtype))
    learner = Learner(base.model(), base.mesh, cfg, base.tables)
    policy = nnx.to_flat_state(learner.model_state())
    ref = dict(nnx.to_flat_state(learner.state.ref))
    assert len(ref) == len(policy)
    for path, var in policy:
        r, p = ref[path].get_value(), var.get_value()
        assert r.dtype == jnp.dtype(dtype) and r.sharding.is_equivalent_to(p.sharding, p.ndim)
        assert jnp.array_equal(r, p.astype(dtype))
