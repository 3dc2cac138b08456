"""The model on a (data=2, tensor=4) mesh of 8 CPU devices equals the single-device model, sharded as the rules say."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from hf_reference import hf_model, parity_inputs, tiny_config
from tempr1_jax.models import LOGICAL_AXIS_RULES, init_model, load_pretrained, make_mesh, mesh_context
from tempr1_jax.models.layers import remat
from tempr1_jax.models.sharding import agreed, constrain, logical_to_spec


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = tiny_config()
    path = str(tmp_path_factory.mktemp("hf"))
    hf_model(cfg, seed=7).save_pretrained(path)
    return cfg, path


@pytest.mark.parametrize("shape", [(2, 1, 4), (1, 2, 4)], ids=["data2_tensor4", "fsdp2_tensor4"])
def test_mesh_forward_equals_single_device(checkpoint, shape):
    cfg, path = checkpoint
    assert len(jax.devices()) == 8
    single = load_pretrained(path, make_mesh((1, 1, 1), jax.devices()[:1]))
    mesh = make_mesh(shape)
    sharded = load_pretrained(path, mesh)
    inputs = parity_inputs(cfg)
    ref = np.asarray(single(**inputs))
    with mesh_context(mesh):
        got = np.asarray(sharded(**inputs))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # Every parameter carries the sharding its logical names give under the rules table.
    checked = 0
    for path_, var in nnx.to_flat_state(nnx.state(sharded, nnx.Param)):
        spec = logical_to_spec(var.get_metadata()["out_sharding"], LOGICAL_AXIS_RULES)
        arr = var.get_value()
        assert arr.sharding.is_equivalent_to(jax.sharding.NamedSharding(mesh, spec), arr.ndim), path_
        checked += 1
    assert checked > 30  # layers and blocks are stacked: one variable per kind of parameter
    q = sharded.language.layers.self_attn.q_proj.kernel[...]
    assert q.sharding.is_equivalent_to(jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(None, "fsdp", "tensor")), 3)
    distinct = {tuple((i.start, i.stop) for i in s.index) for s in q.addressable_shards}
    assert len(distinct) == shape[1] * shape[2]  # really split, not replicated


def test_random_init_is_created_sharded():
    mesh = make_mesh((2, 1, 4))
    model = init_model(tiny_config(), mesh, seed=1)
    emb = model.language.embed_tokens[...]
    # vocab over tensor, embed over fsdp (of size 1 here)
    assert emb.sharding.is_equivalent_to(jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("tensor", "fsdp")), 2)
    assert emb.addressable_shards[0].data.shape == (emb.shape[0] // 4, emb.shape[1])


def test_constrain_shards_divisible_dims_and_is_a_no_op_without_a_mesh():
    x = jnp.ones((8, 3, 4))
    assert constrain(x, ("batch", "length", "act_heads")) is x
    with mesh_context(make_mesh((2, 1, 4))):
        out = jax.jit(lambda x: constrain(x, ("batch", "length", "act_heads")))(x)
        # batch 8 over data x fsdp = 2; 4 heads over tensor = 4; a batch of 3 would stay whole.
        assert out.sharding.is_equivalent_to(
            jax.sharding.NamedSharding(out.sharding.mesh, jax.sharding.PartitionSpec(("data", "fsdp"), None, "tensor")), 3)
        odd = jax.jit(lambda x: constrain(x, ("batch", "length", "act_heads")))(jnp.ones((3, 3, 4)))
        assert odd.sharding.spec[0] is None


def test_remat_policies_give_the_same_gradients_and_unknown_ones_are_named():
    w = jnp.arange(6.0).reshape(2, 3) / 10
    body = lambda x: jnp.tanh(x @ w).sum()
    grads = [jax.grad(remat(body, p))(jnp.ones((4, 2))) for p in ("none", "full", "dots")]
    for g in grads[1:]:
        np.testing.assert_allclose(np.asarray(g), np.asarray(grads[0]), rtol=1e-6)
    with pytest.raises(ValueError, match="'some'"):
        remat(body, "some")


def test_a_loop_bound_that_differs_between_devices_is_agreed_on():
    """A value declared replicated whose device copies differ (as rounding can make them) bounds a loop that runs a
    collective each step: with `agreed`, every device runs device 0's count and the program finishes (without it,
    device 5 waits in a fourth all-reduce that its peers never join)."""
    mesh = make_mesh((2, 1, 4))
    replicated = jax.sharding.NamedSharding(mesh, jax.P())
    counts = [3 + (i == 5) * 2 for i in range(8)]  # device 5 alone would loop twice more
    n = jax.make_array_from_single_device_arrays(
        (), replicated, [jax.device_put(np.int32(c), d) for c, d in zip(counts, mesh.devices.flat)])
    assert {int(s.data) for s in n.addressable_shards} == {3, 5}  # the copies really differ
    y = jax.device_put(jnp.arange(16.0), jax.sharding.NamedSharding(mesh, jax.P(("data", "tensor"))))

    def run(n, y):
        bound = agreed(n)
        return jax.lax.while_loop(lambda c: c[0] < bound, lambda c: (c[0] + 1, c[1] + c[2].sum(), c[2] + 1),
                                  (jnp.int32(0), jnp.float32(0), y))[:2]

    with mesh_context(mesh):
        steps, total = jax.jit(run)(n, y)
    assert {int(s.data) for s in steps.addressable_shards} == {3}
    # A sum over all devices at each of the three steps, so each step had to reach the collective.
    assert {float(s.data) for s in total.addressable_shards} == {120.0 + 136.0 + 152.0}
    with mesh_context(mesh):
        flag = jax.jit(agreed)(jnp.asarray(True))
    assert flag.dtype == jnp.bool_ and bool(flag)
