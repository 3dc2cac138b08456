"""Host batches -> global arrays on a mesh: each process gives its own rows, every step sees the whole batch.

    batch_dev, layout = global_batch(host_batch, mesh, model_cfg)

Rows are laid out along the mesh's batch axes (`data`, `fsdp`). A training batch must split over them
(`split_rows=True`, a ValueError otherwise: a replicated batch makes every device compute every row); evaluation and
inference batches that do not split are replicated. On several
hosts each process pads its rows to its own buckets, so here all of them move up to the largest text and patch bucket
of any process, and the vision layout learns where each process's patches begin in the global patch axis.
"""
from __future__ import annotations

import dataclasses

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from tempr1_jax.data.batch import Batch, pad_batch
from tempr1_jax.models.config import ModelConfig
from tempr1_jax.models.vision import VisionLayout, vision_layout

BATCH_AXES = ("data", "fsdp")


def replicate(tree, mesh: Mesh):
    """Host values -> arrays replicated over the whole mesh, on one host or many (device_put cannot reach the
    devices of other processes)."""
    sharding = NamedSharding(mesh, P())
    return jax.tree.map(lambda x: jax.make_array_from_callback(np.shape(x), sharding,
                                                               lambda idx, x=np.asarray(x): x[idx]), tree)


def _batch_axis(name: str) -> int:
    """The axis of a `Batch` field that runs over its rows (M-RoPE positions lead with their 3 components)."""
    return 1 if name.endswith("_3BL") else 0


def _batch_spec(name: str, shape: tuple[int, ...], n_batch: int) -> P:
    axis = _batch_axis(name)
    if len(shape) <= axis or shape[axis] % n_batch:
        return P()
    return P(*([None] * axis), BATCH_AXES)


def check_rows_split(rows: int, mesh: Mesh):
    n_batch = int(np.prod([mesh.shape[a] for a in BATCH_AXES]))
    if rows % n_batch:
        raise ValueError(
            f"a batch of {rows} rows does not split over the mesh's batch axes {dict(mesh.shape)} "
            f"({' x '.join(BATCH_AXES)} = {n_batch} devices): make the stage's batch_size a multiple of {n_batch}, "
            f"or move devices to the tensor axis (mesh.shape)")


def global_batch(batch: Batch, mesh: Mesh, model_cfg: ModelConfig, slice_width: int | None = None,
                 split_rows: bool = False) -> tuple[Batch, VisionLayout]:
    """Global arrays from this process's rows, and the (replicated) vision layout of the whole global batch
    (`slice_width`: its full-attention row width, `models.vision.vision_layout`)."""
    n_proc = jax.process_count()
    n_batch = int(np.prod([mesh.shape[a] for a in BATCH_AXES]))
    if split_rows:
        check_rows_split(batch.input_ids_BL.shape[0] * n_proc, mesh)
    S_local = batch.pixel_values_SP.shape[0]
    grids = np.asarray(batch.video_grid_thw_B3)
    starts = None
    if n_proc > 1:
        shapes = np.asarray(multihost_utils.process_allgather(
            np.array([batch.input_ids_BL.shape[1], S_local], np.int64))).reshape(n_proc, 2)
        L, S_local = (int(v) for v in shapes.max(axis=0))
        batch = pad_batch(batch, L, S_local, model_cfg.pad_token_id)
        grids = np.asarray(multihost_utils.process_allgather(grids)).reshape(n_proc, -1, 3)
        sizes = np.prod(grids, axis=2)
        starts = (np.arange(n_proc)[:, None] * S_local + np.cumsum(sizes, axis=1) - sizes).reshape(-1)
        grids = grids.reshape(-1, 3)
    fields = {}
    for f in dataclasses.fields(batch):
        local = np.asarray(getattr(batch, f.name))
        global_shape = list(local.shape)
        axis = _batch_axis(f.name)
        if local.ndim > axis:
            global_shape[axis] *= n_proc
        spec = _batch_spec(f.name, tuple(global_shape), n_batch)
        if spec == P() and n_proc > 1:
            local = np.concatenate(list(multihost_utils.process_allgather(local)), axis=axis)
        fields[f.name] = jax.make_array_from_process_local_data(NamedSharding(mesh, spec), local)
    layout = vision_layout(grids, model_cfg.vision, num_patches=S_local * n_proc, static=True, starts=starts,
                           slice_width=slice_width)
    return Batch(**fields), replicate(layout, mesh)


def host_values(tree) -> dict:
    """Global device arrays -> host numpy arrays, gathered from every process."""
    if jax.process_count() > 1:
        return jax.tree.map(lambda v: np.asarray(multihost_utils.process_allgather(v, tiled=True)), tree)
    return jax.tree.map(np.asarray, tree)
