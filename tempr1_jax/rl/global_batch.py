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


def batch_devices(mesh: Mesh) -> int:
    """Devices along the batch axes: the groups a training batch's rows split into."""
    return int(np.prod([mesh.shape[a] for a in BATCH_AXES]))


def check_rows_split(rows: int, mesh: Mesh):
    n_batch = batch_devices(mesh)
    if rows % n_batch:
        raise ValueError(
            f"a batch of {rows} rows does not split over the mesh's batch axes {dict(mesh.shape)} "
            f"({' x '.join(BATCH_AXES)} = {n_batch} devices): make the stage's batch_size a multiple of {n_batch}, "
            f"or move devices to the tensor axis (mesh.shape)")


def vision_shards(rows: int, mesh: Mesh) -> int:
    """How many patch shards a global batch of `rows` gets: one per device group of the batch axes when the rows
    split over them (and each process holds whole groups), else one."""
    n_batch = batch_devices(mesh)
    return n_batch if n_batch > 1 and rows % n_batch == 0 and n_batch % jax.process_count() == 0 else 1


def shard_patch_count(grids_B3: np.ndarray, shards: int, even: int) -> int:
    """Patch rows per shard for `shards` equal groups of the rows of `grids_B3`: the smallest multiple of `even` (the
    patch bucket's even share) by a power of two that holds the fullest group, so that a run compiles at most
    ceil(log2(shards)) + 1 programs per patch bucket however its long and short videos fall."""
    fullest = max(int(np.prod(g, axis=1).sum()) for g in np.split(np.asarray(grids_B3).reshape(-1, 3), shards))
    size = max(even, 1)
    while size < fullest:
        size *= 2
    return size


def pack_patches(pixels_SP: np.ndarray, grids_B3: np.ndarray, shards: int, per_shard: int,
                 starts: np.ndarray | None = None) -> np.ndarray:
    """[shards * per_shard, P]: the patches of each consecutive group of rows, packed from the start of their own
    block (`VisionLayout`). Row b's patches are read from `starts[b]` (default: packed one after another)."""
    sizes = np.prod(np.asarray(grids_B3).reshape(-1, 3), axis=1)
    starts = np.cumsum(sizes) - sizes if starts is None else np.asarray(starts)
    out = np.zeros((shards * per_shard,) + pixels_SP.shape[1:], pixels_SP.dtype)
    for g, rows in enumerate(np.split(np.arange(len(sizes)), shards)):
        at = g * per_shard
        for b in rows:
            out[at:at + sizes[b]] = pixels_SP[starts[b]:starts[b] + sizes[b]]
            at += sizes[b]
    return out


def global_batch(batch: Batch, mesh: Mesh, model_cfg: ModelConfig, slice_width: int | None = None,
                 split_rows: bool = False) -> tuple[Batch, VisionLayout]:
    """Global arrays from this process's rows, and the vision layout of the whole global batch (`slice_width`: its
    full-attention row width, `models.vision.vision_layout`).

    When the rows split over the batch axes, so do the videos: one shard of patches per device group, each holding
    its own rows' videos (`VisionLayout`), so that every device encodes only those; otherwise one replicated shard."""
    n_proc = jax.process_count()
    n_batch = batch_devices(mesh)
    B_local = batch.input_ids_BL.shape[0]
    if split_rows:
        check_rows_split(B_local * n_proc, mesh)
    S_local = batch.pixel_values_SP.shape[0]
    grids = np.asarray(batch.video_grid_thw_B3)
    if n_proc > 1:
        shapes = np.asarray(multihost_utils.process_allgather(
            np.array([batch.input_ids_BL.shape[1], S_local], np.int64))).reshape(n_proc, 2)
        L, S_local = (int(v) for v in shapes.max(axis=0))
        batch = pad_batch(batch, L, S_local, model_cfg.pad_token_id)
        grids = np.asarray(multihost_utils.process_allgather(grids)).reshape(-1, 3)
    shards = vision_shards(B_local * n_proc, mesh)
    pixels = np.asarray(batch.pixel_values_SP)
    if shards > 1:
        per_shard = shard_patch_count(grids, shards, S_local * n_proc // shards)
        local = shards // n_proc  # this process's rows are the groups of its own devices
        mine = grids.reshape(n_proc, -1, 3)[jax.process_index()]
        pixels = jax.make_array_from_process_local_data(layout_sharding(shards, mesh),
                                                        pack_patches(pixels, mine, local, per_shard))
    else:
        if n_proc > 1:  # every process's patches, each block followed by its own padding
            pixels = np.concatenate(list(multihost_utils.process_allgather(pixels)), axis=0)
            sizes = np.prod(grids, axis=1).reshape(n_proc, -1)
            starts = (np.arange(n_proc)[:, None] * S_local + np.cumsum(sizes, axis=1) - sizes).reshape(-1)
            pixels = pack_patches(pixels, grids, 1, S_local * n_proc, starts)
        per_shard = S_local * n_proc
        pixels = replicate(pixels, mesh)
    fields = {}
    for f in dataclasses.fields(batch):
        if f.name == "pixel_values_SP":
            fields[f.name] = pixels
            continue
        local = np.asarray(getattr(batch, f.name))
        global_shape = list(local.shape)
        axis = _batch_axis(f.name)
        if local.ndim > axis:
            global_shape[axis] *= n_proc
        spec = _batch_spec(f.name, tuple(global_shape), n_batch)
        if spec == P() and n_proc > 1:
            local = np.concatenate(list(multihost_utils.process_allgather(local)), axis=axis)
        fields[f.name] = jax.make_array_from_process_local_data(NamedSharding(mesh, spec), local)
    layout = vision_layout(grids, model_cfg.vision, num_patches=per_shard, static=True, slice_width=slice_width,
                           shards=shards)
    return Batch(**fields), shard_layout(layout, mesh)


def shard_layout(layout: VisionLayout, mesh: Mesh) -> VisionLayout:
    """A host layout on the mesh: its shard axis over the batch axes when it has one shard per device group, else
    replicated (every process computes the same tables from every process's grids)."""
    sharding = layout_sharding(layout.shards, mesh)
    return jax.tree.map(lambda x: jax.make_array_from_callback(x.shape, sharding, lambda idx, x=x: x[idx]), layout)


def layout_sharding(shards: int, mesh: Mesh) -> NamedSharding:
    """Where a layout's (and the patch axis's) shards lie: over the batch axes, or replicated for one shard."""
    return NamedSharding(mesh, P(BATCH_AXES) if shards > 1 else P())


def host_values(tree) -> dict:
    """Global device arrays -> host numpy arrays, gathered from every process."""
    if jax.process_count() > 1:
        return jax.tree.map(lambda v: np.asarray(multihost_utils.process_allgather(v, tiled=True)), tree)
    return jax.tree.map(np.asarray, tree)
