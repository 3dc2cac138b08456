"""Building blocks shared by the vision tower and the language model.

Parameters are created with logical axis names (`out_sharding=`); `sharding.LOGICAL_AXIS_RULES` maps them to the mesh.
Computation runs in `dtype` (activations) with parameters stored in `param_dtype`.
"""
from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from flax import nnx

Initializer = Callable[..., jax.Array]
normal = nnx.initializers.normal(stddev=0.02)


def param(rngs: nnx.Rngs, init: Initializer, shape: tuple[int, ...], axes: tuple[str | None, ...], dtype) -> nnx.Param:
    assert len(shape) == len(axes), (shape, axes)
    return nnx.Param(init(rngs.params(), shape, dtype), out_sharding=axes)


class Linear(nnx.Module):
    """y = x @ kernel (+ bias), kernel [in, out]: the transpose of a torch Linear weight."""

    def __init__(self, d_in: int, d_out: int, axes: tuple[str | None, str | None], *, use_bias: bool,
                 dtype, param_dtype, rngs: nnx.Rngs):
        self.kernel = param(rngs, normal, (d_in, d_out), axes, param_dtype)
        self.bias = param(rngs, nnx.initializers.zeros_init(), (d_out,), (axes[1],), param_dtype) if use_bias else None
        self.dtype = dtype

    def __call__(self, x: jax.Array) -> jax.Array:
        y = jnp.dot(x.astype(self.dtype), self.kernel[...].astype(self.dtype))
        if self.bias is not None:
            y = y + self.bias[...].astype(self.dtype)
        return y


class RMSNorm(nnx.Module):
    """Qwen2 RMSNorm: normalize in float32, cast back to the input dtype, then scale (no 1 + w offset)."""

    def __init__(self, dim: int, eps: float, *, param_dtype, rngs: nnx.Rngs):
        self.scale = param(rngs, nnx.initializers.ones_init(), (dim,), ("norm",), param_dtype)
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        normed = x32 * jax.lax.rsqrt(jnp.mean(x32 * x32, axis=-1, keepdims=True) + self.eps)
        return normed.astype(x.dtype) * self.scale[...].astype(x.dtype)


class LayerNorm(nnx.Module):
    """LayerNorm with scale and bias, normalized in float32 (the Qwen3-VL vision tower's)."""

    def __init__(self, dim: int, eps: float, *, param_dtype, rngs: nnx.Rngs):
        self.scale = param(rngs, nnx.initializers.ones_init(), (dim,), ("norm",), param_dtype)
        self.bias = param(rngs, nnx.initializers.zeros_init(), (dim,), ("norm",), param_dtype)
        self.eps = eps

    def __call__(self, x: jax.Array) -> jax.Array:
        x32 = x.astype(jnp.float32)
        centered = x32 - jnp.mean(x32, axis=-1, keepdims=True)
        normed = centered * jax.lax.rsqrt(jnp.mean(centered * centered, axis=-1, keepdims=True) + self.eps)
        return (normed * self.scale[...].astype(jnp.float32) + self.bias[...].astype(jnp.float32)).astype(x.dtype)


class SwiGLU(nnx.Module):
    """down(silu(gate(x)) * up(x))."""

    def __init__(self, dim: int, hidden: int, embed_axis: str, mlp_axis: str, *, use_bias: bool, dtype, param_dtype,
                 rngs: nnx.Rngs):
        kw = dict(use_bias=use_bias, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.gate_proj = Linear(dim, hidden, (embed_axis, mlp_axis), **kw)
        self.up_proj = Linear(dim, hidden, (embed_axis, mlp_axis), **kw)
        self.down_proj = Linear(hidden, dim, (mlp_axis, embed_axis), **kw)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.down_proj(jax.nn.silu(self.gate_proj(x)) * self.up_proj(x))


class GeluMLP(nnx.Module):
    """linear_fc2(gelu(linear_fc1(x))), exact or tanh-approximated GELU (the Qwen3-VL vision MLP and mergers)."""

    def __init__(self, d_in: int, hidden: int, d_out: int, axes: tuple[str, str, str], *, approximate: bool, dtype,
                 param_dtype, rngs: nnx.Rngs):
        kw = dict(use_bias=True, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.linear_fc1 = Linear(d_in, hidden, (axes[0], axes[1]), **kw)
        self.linear_fc2 = Linear(hidden, d_out, (axes[1], axes[2]), **kw)
        self.approximate = approximate

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear_fc2(jax.nn.gelu(self.linear_fc1(x), approximate=self.approximate))


def rotate_half(x: jax.Array) -> jax.Array:
    """NeoX-style rotation: pairs (i, i + d/2)."""
    x1, x2 = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([-x2, x1], axis=-1)


def apply_rope(x: jax.Array, cos: jax.Array, sin: jax.Array) -> jax.Array:
    return x * cos + rotate_half(x) * sin


def masked_softmax_attention(q, k, v, mask, scale: float):
    """Attention with GQA grouping, float32 softmax.

    q [..., Lq, K, G, H], k/v [..., Lk, K, H], mask broadcastable to [..., K, G, Lq, Lk] (True = attend).
    Rows with no valid key get uniform weights over masked keys; callers discard them.
    """
    scores = jnp.einsum("...qkgh,...skh->...kgqs", q, k).astype(jnp.float32) * scale
    scores = jnp.where(mask, scores, jnp.finfo(jnp.float32).min)
    probs = jax.nn.softmax(scores, axis=-1).astype(v.dtype)
    return jnp.einsum("...kgqs,...skh->...qkgh", probs, v)


def stacked(make: Callable[[nnx.Rngs], nnx.Module], n: int, rngs: nnx.Rngs) -> nnx.Module:
    """`n` copies of a module with every parameter stacked on a leading "layers" axis, each copy with its own keys,
    so a `lax.scan` over the axis compiles the module's body once instead of n times."""

    @nnx.split_rngs(splits=n)
    @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
    def build(r: nnx.Rngs) -> nnx.Module:
        return make(r)

    return build(rngs)


REMAT_POLICIES = {
    "none": None,
    "full": jax.checkpoint_policies.nothing_saveable,
    "dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


def remat(body: Callable, policy: str) -> Callable:
    """`body` rematerialized under a named policy: "none" keeps every activation for the backward pass, "full" keeps
    only the scan carry (each layer is recomputed), "dots" keeps the weight matmuls' outputs."""
    if policy not in REMAT_POLICIES:
        raise ValueError(f"remat policy {policy!r} is not one of {tuple(REMAT_POLICIES)}")
    if policy == "none":
        return body
    # prevent_cse=False: inside a scan the loop already stops XLA from merging the recomputation into the forward.
    return jax.checkpoint(body, policy=REMAT_POLICIES[policy], prevent_cse=False)


def scan_stacked(stack: nnx.Module, step: Callable[[nnx.Module, jax.Array, jax.Array], jax.Array], x: jax.Array,
                 start: int, stop: int, policy: str = "full") -> jax.Array:
    """Runs `x = step(entry_i, i, x)` for entries start..stop-1 of a `stacked` module as one rematerialized scan.
    Each entry is sliced inside the loop, so running a stack in several segments copies no parameters."""
    graphdef, params = nnx.split(stack)

    def body(x, i):
        entry = nnx.merge(graphdef, jax.tree.map(lambda p: jax.lax.dynamic_index_in_dim(p, i, keepdims=False), params))
        return step(entry, i, x), None

    return jax.lax.scan(remat(body, policy), x, jnp.arange(start, stop))[0]
