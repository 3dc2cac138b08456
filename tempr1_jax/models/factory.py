"""Building models abstractly, then materializing them straight into their shardings.

No parameter is ever whole on one host or one device unless its sharding says so: random initialization runs under
jit with sharded outputs, and checkpoint loading fills each device's shard from its own slice on disk.
"""
from __future__ import annotations

import contextlib
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.sharding import Mesh, NamedSharding

from tempr1_jax.models.config import ModelConfig, Qwen3VLConfig
from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.models.qwen3vl import Qwen3VL
from tempr1_jax.models.vlm import VisionLanguageModel
from tempr1_jax.models.sharding import LOGICAL_AXIS_RULES, make_mesh

Path = tuple[str | int, ...]


def model_class(cfg: ModelConfig) -> type[VisionLanguageModel]:
    """The family a config builds: Qwen3-VL for a `Qwen3VLConfig`, Qwen2.5-VL otherwise."""
    return Qwen3VL if isinstance(cfg, Qwen3VLConfig) else Qwen25VL


@contextlib.contextmanager
def mesh_context(mesh: Mesh, rules=LOGICAL_AXIS_RULES):
    """The ambient mesh and logical rules under which models are built and run."""
    with jax.set_mesh(mesh), nnx.logical_axis_rules(rules):
        yield


def abstract_model(cfg: ModelConfig, mesh: Mesh, *, dtype=jnp.float32, param_dtype=jnp.float32,
                   rules=LOGICAL_AXIS_RULES) -> tuple[nnx.GraphDef, nnx.State]:
    """The model's graph and its state of ShapeDtypeStructs, each carrying its concrete NamedSharding on `mesh`."""
    with mesh_context(mesh, rules):
        abstract = nnx.eval_shape(lambda: model_class(cfg)(cfg, dtype=dtype, param_dtype=param_dtype,
                                                              rngs=nnx.Rngs(0)))
    graphdef, state = nnx.split(abstract)
    flat = []
    for path, var in nnx.to_flat_state(state):
        sds = var.get_value()
        flat.append((path, var.replace(jax.ShapeDtypeStruct(sds.shape, sds.dtype,
                                                            sharding=NamedSharding(mesh, sds.sharding.spec)))))
    return graphdef, nnx.from_flat_state(flat)


def materialize(graphdef: nnx.GraphDef, abstract_state: nnx.State,
                read: Callable[[Path, tuple[slice, ...]], np.ndarray]) -> VisionLanguageModel:
    """Fills every parameter from `read(path, index)`, called once per addressable shard with that shard's index."""
    flat = []
    for path, var in nnx.to_flat_state(abstract_state):
        s = var.get_value()
        arr = jax.make_array_from_callback(
            # A copy, not a view of the memory-mapped file: CPU devices may alias the host buffer they are given.
            s.shape, s.sharding, lambda idx, p=path, s=s: np.array(read(p, idx), dtype=s.dtype))
        flat.append((path, var.replace(arr)))
    return nnx.merge(graphdef, nnx.from_flat_state(flat))


def init_model(cfg: ModelConfig, mesh: Mesh | None = None, *, seed: int = 0, dtype=jnp.float32,
               param_dtype=jnp.float32, rules=LOGICAL_AXIS_RULES) -> VisionLanguageModel:
    """A randomly initialized model whose parameters are created sharded, under jit."""
    mesh = mesh or make_mesh()
    with mesh_context(mesh, rules):
        return nnx.jit(lambda: model_class(cfg)(cfg, dtype=dtype, param_dtype=param_dtype, rngs=nnx.Rngs(seed)))()
