"""Hugging Face Qwen2.5-VL and Qwen3-VL folders (config.json + single or sharded safetensors): load, stream, export.

config.json's `model_type` picks the family. Both key layouts are accepted: Qwen2.5-VL's hub layout (`visual.*`,
`model.layers.*`) and the one of Qwen3-VL's hub files and newer transformers releases (`model.visual.*`,
`model.language_model.*`). Exports use each family's hub layout, which transformers 4.5x and 5.x both read.
"""
from __future__ import annotations

import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import Mesh

from tempr1_jax.models.config import ModelConfig, config_from_hf_dict
from tempr1_jax.models.factory import Path, abstract_model, materialize
from tempr1_jax.models.vlm import VisionLanguageModel
from tempr1_jax.models.sharding import LOGICAL_AXIS_RULES, make_mesh
from tempr1_jax.models.tensor_files import CheckpointError, SafetensorsFile, write_safetensors

# How a parameter is stored on disk: as is, transposed (torch Linear [out, in]), or the Conv3d patch kernel.
AS_IS, TRANSPOSED, CONV3D = "as_is", "transposed", "conv3d"


def hf_key(path: Path) -> tuple[str, str]:
    """Our parameter path -> (hub key, storage kind)."""
    name = ".".join(str(p) for p in path)
    if name in ("visual.patch_embed", "visual.patch_embed.proj.kernel"):  # Qwen2.5-VL's has no bias, Qwen3-VL's has
        return "visual.patch_embed.proj.weight", CONV3D
    if name == "visual.pos_embed":
        return "visual.pos_embed.weight", AS_IS
    if name == "language.embed_tokens":
        return "model.embed_tokens.weight", AS_IS
    name = re.sub(r"^language\.lm_head\.", "lm_head.", name)
    name = re.sub(r"^language\.", "model.", name)
    name = re.sub(r"\.mlp_(\d)\.", r".mlp.\1.", name)
    if name.endswith(".kernel"):
        return name[: -len("kernel")] + "weight", TRANSPOSED
    if name.endswith(".scale"):
        return name[: -len("scale")] + "weight", AS_IS
    return name, AS_IS


# Module lists whose parameters are stacked [n, ...] for a scan, and the hub's per-index keys under them.
STACKED = (("language", "layers"), ("visual", "blocks"))


def layer_paths(path: Path, n_layers: int) -> list[Path] | None:
    """The per-layer paths (as the hub numbers them) of a stacked parameter, or None for an ordinary one."""
    if tuple(path[:2]) not in STACKED or isinstance(path[2], int):  # an unstacked list numbers its entries itself
        return None
    return [(*path[:2], i, *path[2:]) for i in range(n_layers)]


def _canonical(key: str) -> str:
    key = re.sub(r"^model\.visual\.", "visual.", key)
    return re.sub(r"^model\.language_model\.", "model.", key)


def _hub_key(key: str, family: str) -> str:
    """A canonical key as the family's hub checkpoints spell it."""
    if family != "qwen3_vl":
        return key
    return re.sub(r"^visual\.", "model.visual.", re.sub(r"^model\.", "model.language_model.", key))


def _read_slice(arr: np.ndarray, kind: str, idx: tuple[slice, ...]) -> np.ndarray:
    if kind == TRANSPOSED:
        return np.asarray(arr[idx[1], idx[0]]).T
    if kind == CONV3D:  # [D, C, T, P, P] -> kernel [C*T*P*P, D]
        rows = np.asarray(arr[idx[1]])
        return rows.reshape(rows.shape[0], -1).T[idx[0]]
    return np.asarray(arr[idx])


def _disk_shape(shape: tuple[int, ...], kind: str, disk: tuple[int, ...]) -> bool:
    if kind == TRANSPOSED:
        return disk == shape[::-1]
    if kind == CONV3D:
        return len(disk) == 5 and disk[0] == shape[1] and int(np.prod(disk[1:])) == shape[0]
    return disk == shape


def read_config(path: str) -> ModelConfig:
    cfg_path = os.path.join(path, "config.json")
    if not os.path.isfile(cfg_path):
        raise CheckpointError(f"{path}: no config.json (expected a Hugging Face model folder)")
    with open(cfg_path) as fh:
        try:
            d = json.load(fh)
        except json.JSONDecodeError as e:
            raise CheckpointError(f"{cfg_path}: invalid JSON ({e})") from None
    try:
        return config_from_hf_dict(d)
    except (KeyError, ValueError) as e:
        raise CheckpointError(f"{cfg_path}: {e.args[0]}") from None


def open_tensors(path: str) -> dict[str, tuple[SafetensorsFile, str]]:
    """Canonical key -> (file, key in that file), over model.safetensors or the sharded index."""
    index = os.path.join(path, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as fh:
            weight_map = json.load(fh)["weight_map"]
        files = sorted(set(weight_map.values()))
    else:
        files = sorted(f for f in os.listdir(path) if f.endswith(".safetensors"))
    if not files:
        raise CheckpointError(f"{path}: no .safetensors files")
    table = {}
    for f in files:
        full = os.path.join(path, f)
        if not os.path.isfile(full):
            raise CheckpointError(f"{index}: lists {f}, which is missing")
        st = SafetensorsFile(full)
        for k in st.keys():
            table[_canonical(k)] = (st, k)
    return table


def load_pretrained(path: str, mesh: Mesh | None = None, *, dtype=jnp.float32, param_dtype=jnp.float32,
                    rules=LOGICAL_AXIS_RULES, config: ModelConfig | None = None) -> VisionLanguageModel:
    """Loads a Hugging Face Qwen2.5-VL or Qwen3-VL folder, streaming each tensor slice into its device shard.

    Computation runs in `dtype` (float32 by default) and parameters are stored in `param_dtype`.
    """
    cfg = config or read_config(path)
    mesh = mesh or make_mesh()
    tensors = open_tensors(path)
    graphdef, state = abstract_model(cfg, mesh, dtype=dtype, param_dtype=param_dtype, rules=rules)
    wanted = {}  # path -> (hub key per layer, or one key; storage kind; shape of one layer's tensor)
    for p, var in nnx.to_flat_state(state):
        shape = var.get_value().shape
        per_layer = layer_paths(p, shape[0])
        if per_layer is not None:
            keys = [hf_key(q)[0] for q in per_layer]
            wanted[p] = (keys, hf_key(per_layer[0])[1], shape[1:])
            continue
        key, kind = hf_key(p)
        if key == "lm_head.weight" and key not in tensors and cfg.text.tie_word_embeddings:
            key = "model.embed_tokens.weight"
        wanted[p] = ([key], kind, shape)
    missing = sorted(k for keys, _, _ in wanted.values() for k in keys if k not in tensors)
    used = {k for keys, _, _ in wanted.values() for k in keys}
    unexpected = sorted(k for k in tensors if k not in used and not (k == "lm_head.weight" and cfg.text.tie_word_embeddings))
    if missing or unexpected:
        raise CheckpointError(f"{path}: checkpoint keys do not match the config: missing {missing[:10]}"
                              f"{' ...' if len(missing) > 10 else ''}, unexpected {unexpected[:10]}"
                              f"{' ...' if len(unexpected) > 10 else ''}")
    for p, (keys, kind, shape) in wanted.items():
        for key in keys:
            st, k = tensors[key]
            if not _disk_shape(shape, kind, st.shape(k)):
                raise CheckpointError(f"{st.path}: tensor {k!r} has shape {list(st.shape(k))}, the config needs "
                                      f"{list(shape[::-1]) if kind == TRANSPOSED else list(shape)}")

    def read(p, idx):
        keys, kind, shape = wanted[p]
        if len(idx) == len(shape):
            st, k = tensors[keys[0]]
            return _read_slice(st[k], kind, idx)
        # A stacked parameter: this shard's layers, each read from its own hub tensor, one at a time.
        return np.stack([_read_slice(tensors[keys[i]][0][tensors[keys[i]][1]], kind, idx[1:])
                         for i in range(len(keys))[idx[0]]])

    return materialize(graphdef, state, read)


def save_pretrained(model: VisionLanguageModel, path: str, *, dtype=None, max_shard_bytes: int = 4 << 30):
    """Writes config.json and hub-layout safetensors (sharded past `max_shard_bytes`) that transformers loads.

    `dtype` (e.g. jnp.bfloat16) converts on the way out; by default tensors keep their parameter dtype. On several
    hosts every process calls it alike (parameters that span hosts are gathered) and process 0 writes the folder.
    """
    os.makedirs(path, exist_ok=True)
    tensors: dict[str, np.ndarray] = {}
    def put(p: Path, arr: np.ndarray):
        key, kind = hf_key(p)
        if dtype is not None:
            arr = arr.astype(dtype)
        if kind == TRANSPOSED:
            arr = arr.T
        elif kind == CONV3D:
            v = model.cfg.vision
            arr = arr.T.reshape(-1, v.in_channels, v.temporal_patch_size, v.patch_size, v.patch_size)
        tensors[_hub_key(key, model.cfg.family)] = np.ascontiguousarray(arr)

    writer = jax.process_index() == 0
    for p, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        value = var.get_value()
        # A parameter sharded over several hosts is gathered by all of them (a collective); process 0 writes.
        arr = np.asarray(value if value.is_fully_addressable else multihost_utils.process_allgather(value, tiled=True))
        if not writer:
            continue
        per_layer = layer_paths(p, arr.shape[0])
        for q, a in ([(p, arr)] if per_layer is None else zip(per_layer, arr)):
            put(q, a)
    if not writer:
        return
    shards, current, size = [], {}, 0
    for k, a in tensors.items():
        if current and size + a.nbytes > max_shard_bytes:
            shards.append(current)
            current, size = {}, 0
        current[k], size = a, size + a.nbytes
    shards.append(current)
    cfg = model.cfg.to_hf_dict()
    cfg["torch_dtype"] = {np.dtype("float32"): "float32", np.dtype("float16"): "float16"}.get(
        next(iter(tensors.values())).dtype, "bfloat16")
    with open(os.path.join(path, "config.json"), "w") as fh:
        json.dump(cfg, fh, indent=2)
    if len(shards) == 1:
        write_safetensors(os.path.join(path, "model.safetensors"), shards[0], {"format": "pt"})
        return
    weight_map = {}
    for i, shard in enumerate(shards):
        name = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        write_safetensors(os.path.join(path, name), shard, {"format": "pt"})
        weight_map.update({k: name for k in shard})
    with open(os.path.join(path, "model.safetensors.index.json"), "w") as fh:
        json.dump({"metadata": {"total_size": sum(a.nbytes for a in tensors.values())}, "weight_map": weight_map},
                  fh, indent=2)
