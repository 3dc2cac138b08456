"""The device mesh and the one table that maps logical axis names to mesh axes.

Every parameter is annotated with logical names (see `layers.py`); this table alone decides the physical layout.
Mesh axes: `data` (pure data parallelism), `fsdp` (data parallel with parameters and optimizer state sharded),
`tensor` (Megatron-style model parallelism over heads and MLP columns).
"""
from __future__ import annotations

import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax.core import spmd
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

MESH_AXES = ("data", "fsdp", "tensor")

LOGICAL_AXIS_RULES: tuple[tuple[str, str | tuple[str, ...] | None], ...] = (
    # activations
    ("batch", ("data", "fsdp")),
    ("length", None),
    ("act_embed", None),
    ("act_heads", "tensor"),
    # the stacked axis of scanned layers and blocks: each device holds every layer's shard
    ("layers", None),
    # language model parameters
    ("vocab", "tensor"),
    ("embed", "fsdp"),
    ("q_heads", "tensor"),
    ("kv_heads", "tensor"),
    ("mlp", "tensor"),
    ("norm", None),
    # vision tower parameters
    ("patch", None),
    ("vision_pos", None),  # Qwen3-VL's learned position table, gathered by every patch
    ("vision_embed", "fsdp"),
    ("vision_qkv", "tensor"),
    ("vision_heads", "tensor"),
    ("vision_mlp", "tensor"),
    ("merger_in", "fsdp"),
    ("merger_mlp", "tensor"),
)


def make_mesh(shape: Sequence[int] = (1, -1, 1), devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A (data, fsdp, tensor) mesh; one entry may be -1 to take the remaining devices."""
    devices = list(jax.devices() if devices is None else devices)
    shape = list(shape)
    if len(shape) != len(MESH_AXES):
        raise ValueError(f"mesh shape {tuple(shape)} must have {len(MESH_AXES)} entries for axes {MESH_AXES}")
    if shape.count(-1) > 1:
        raise ValueError(f"mesh shape {tuple(shape)} has more than one -1")
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if len(devices) % rest:
            raise ValueError(f"mesh shape {tuple(shape)} does not divide {len(devices)} devices")
        shape[shape.index(-1)] = len(devices) // rest
    if math.prod(shape) != len(devices):
        raise ValueError(f"mesh shape {tuple(shape)} needs {math.prod(shape)} devices, {len(devices)} are present")
    # Auto axes: the compiler propagates shardings; Explicit axes would demand out_sharding on every contraction.
    return Mesh(np.asarray(devices).reshape(shape), MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def logical_to_spec(names: Sequence[str | None], rules=LOGICAL_AXIS_RULES) -> PartitionSpec:
    table = dict(rules)
    return PartitionSpec(*(None if n is None else table.get(n) for n in names))


def _as_tuple(axes) -> tuple[str, ...]:
    """A PartitionSpec entry (None, one mesh axis or several) as a tuple of mesh axes."""
    return (axes,) if isinstance(axes, str) else tuple(axes or ())


def constrain(x: jax.Array, names: Sequence[str | None]) -> jax.Array:
    """Pins a large activation to the layout its logical names give under the ambient rules (`mesh_context`), so
    the compiler cannot leave it replicated; a no-op outside a mesh. A dimension its mesh axes do not divide (a batch
    of one prompt on eight devices) stays unsharded rather than failing."""
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty:
        return x
    rules = spmd.get_logical_axis_rules() or LOGICAL_AXIS_RULES
    spec = []
    for size, axes in zip(x.shape, logical_to_spec(names, rules)):
        group = _as_tuple(axes)
        spec.append(axes if size % math.prod(mesh.shape[a] for a in group) == 0 else None)
    return jax.lax.with_sharding_constraint(x, PartitionSpec(*spec))


def shard_map_axes(shards: int):
    """The mesh axes that a leading shard axis of `shards` entries lies on: the batch axes of the ambient mesh when
    it spans them exactly (a training batch's shards, one per device group), else None (one shard, or no mesh)."""
    mesh = jax.sharding.get_abstract_mesh()
    if shards == 1 or mesh.empty:
        return None
    axes = logical_to_spec(("batch",), spmd.get_logical_axis_rules() or LOGICAL_AXIS_RULES)[0]
    group = _as_tuple(axes)
    return group if group and math.prod(mesh.shape[a] for a in group) == shards else None


def logical_sharding(mesh: Mesh, names: Sequence[str | None], rules=LOGICAL_AXIS_RULES) -> NamedSharding:
    return NamedSharding(mesh, logical_to_spec(names, rules))


def agreed(x: jax.Array) -> jax.Array:
    """`x` as the mesh's first device holds it, on every device of the ambient mesh; `x` itself outside a mesh.

    For values that decide control flow (a decode loop's stop test, a switch index): every device must take the same
    branch, or each waits in a collective the others never reach, until XLA aborts the process. A value the compiler
    treats as replicated is computed separately on each device, and kernels that are not bitwise deterministic (such
    as XLA:CPU's threaded contractions) need not round alike on each, so a replicated predicate can differ. The sum
    below depends on the device index, so no pass can prove it redundant and drop it.
    """
    mesh = jax.sharding.get_abstract_mesh()
    if mesh.empty or mesh.size == 1:
        return x
    axes = tuple(mesh.axis_names)

    def from_first(v):
        first = jax.lax.axis_index(axes) == 0
        return jax.lax.psum(jnp.where(first, v, jnp.zeros_like(v)), axes)

    as_int = x.astype(jnp.int32) if x.dtype == jnp.bool_ else x
    out = jax.shard_map(from_first, mesh=mesh, in_specs=PartitionSpec(), out_specs=PartitionSpec(),
                        check_vma=False)(as_int)
    return out.astype(x.dtype)
