"""Pieces every stage builds from its config: the mesh, the model, the tokenizer, the video sampling and the policy
to evaluate."""
from __future__ import annotations

import dataclasses
import os

import jax
import jax.numpy as jnp
import ml_collections

from tempr1_jax.models import VisionLanguageModel, init_model, load_pretrained, make_mesh, preset, read_config
from tempr1_jax.models.config import ModelConfig
from tempr1_jax.processing import qwen3vl_processor
from tempr1_jax.processing.tokenizer import Tokenizer, tokenizer_for
from tempr1_jax.processing.vision import VideoSampling
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rewards.parser import TokenTables, build_token_tables
from tempr1_jax.rewards.vocab import Vocab, vocab_from_tokenizer
from tempr1_jax.rl.policy import Policy
from tempr1_jax.sampling import SamplingConfig

_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}


def _dtype(name: str, field: str):
    if name not in _DTYPES:
        raise ValueError(f"config.{field} = {name!r}: expected one of {sorted(_DTYPES)}")
    return _DTYPES[name]


def build_mesh(config: ml_collections.ConfigDict) -> jax.sharding.Mesh:
    use_compilation_cache(config)  # every stage builds its mesh once, before its first compile
    return make_mesh(tuple(config.mesh.shape))


def use_compilation_cache(config: ml_collections.ConfigDict) -> str:
    """Points JAX's persistent compilation cache at `config.compilation_cache_dir` ("": <workdir>/compilation_cache),
    so that a resumed or repeated run loads its step programs instead of compiling them again (minutes at 7B). The
    first stage of a process sets it; JAX reads the setting once."""
    path = config.get("compilation_cache_dir", "") or os.path.join(config.workdir, "compilation_cache")
    if not isinstance(path, str):
        raise ValueError(f"config.compilation_cache_dir = {path!r}: expected a folder path (\"\": under the workdir)")
    if not jax.config.jax_compilation_cache_dir:
        jax.config.update("jax_compilation_cache_dir", os.path.abspath(path))
    return jax.config.jax_compilation_cache_dir


FAMILIES = ("qwen2_5_vl", "qwen3_vl")


def build_model(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh) -> VisionLanguageModel:
    """`config.model.checkpoint` (a Hugging Face folder, whose config.json says whether it reads textual timestamps)
    if set, else the preset with random weights and `config.model.text_timestamps`.

    The family (Qwen2.5-VL or Qwen3-VL) is the checkpoint's config.json `model_type`, or the preset's;
    `config.model.family`, when set, must agree with it, so that a config never trains the family it does not name.
    """
    m = config.model
    dtype, param_dtype = _dtype(m.dtype, "model.dtype"), _dtype(m.param_dtype, "model.param_dtype")
    cfg = _model_config(config)
    family = m.get("family") or cfg.family
    if family not in FAMILIES:
        raise ValueError(f"config.model.family = {family!r}: expected one of {FAMILIES}")
    if family != cfg.family:
        source = f"checkpoint {m.checkpoint}" if m.checkpoint else f"preset {m.preset!r}"
        raise ValueError(f"config.model.family is {family!r} but the {source} is {cfg.family!r}")
    if m.checkpoint:
        return load_pretrained(m.checkpoint, mesh, dtype=dtype, param_dtype=param_dtype, config=cfg)
    if m.get("text_timestamps", False):
        cfg = dataclasses.replace(cfg, text_timestamps=True, timestamp_position=m.get("timestamp_position", "before"))
    return init_model(cfg, mesh, seed=config.seed, dtype=dtype, param_dtype=param_dtype)


def _model_config(config: ml_collections.ConfigDict) -> ModelConfig:
    m = config.model
    return read_config(m.checkpoint) if m.checkpoint else preset(m.preset)


def vision_slice_width(config: ml_collections.ConfigDict) -> int | None:
    """The vision tower's full-attention row width that the data needs: `VideoSampling.max_slice_patches` of
    `config.video` for Qwen2.5-VL, whose frames are sized by those budgets, and for Qwen3-VL the widest frame its
    processor makes of such records (`qwen3vl_processor.max_slice_patches`). None (rows as wide as the widest
    slice any config allows) for configs without `video` (the benchmark's: its records were sized when they were
    built)."""
    if "video" not in config:
        return None
    cfg = _model_config(config)
    if cfg.family == "qwen3_vl":
        return qwen3vl_processor.max_slice_patches(qwen3vl_processor.sampling_for(cfg), build_sampling(config))
    return build_sampling(config).max_slice_patches


def build_tokenizer(config: ml_collections.ConfigDict) -> Tokenizer:
    """`config.tokenizer` if set, else `config.model.checkpoint`'s own tokenizer.json, else Qwen2.5-VL's
    (Qwen3-VL's for that family; `processing.tokenizer.tokenizer_for`, which predict.py uses too), checked against
    the model's embedding."""
    m = config.model
    cfg = _model_config(config)
    return tokenizer_for(cfg.text.vocab_size, config.get("tokenizer") or "", m.checkpoint, cfg.family)


def token_tables(tokenizer: Tokenizer, vocab_size: int) -> TokenTables:
    """Reward-parser tables over the model's whole output vocabulary: embedding rows past the tokenizer's ids are
    padding, and a completion that samples one is malformed rather than silently shorter."""
    v = vocab_from_tokenizer(tokenizer)
    if vocab_size > len(v):
        extra = range(len(v), vocab_size)
        v = Vocab(v.token_bytes + (b"",) * len(extra), v.end_ids, v.special_ids | frozenset(extra))
    return build_token_tables(v)


def build_sampling(config: ml_collections.ConfigDict) -> VideoSampling:
    return VideoSampling(**config.video.to_dict())


def build_policy(model: VisionLanguageModel, mesh: jax.sharding.Mesh, tokenizer: Tokenizer, max_new_tokens: int,
                 rewards: RewardConfig, slice_width: int | None = None) -> Policy:
    """Greedy answers of up to `max_new_tokens`, ending at the tokenizer's own end tokens (`slice_width`:
    `vision_slice_width`)."""
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, eos_ids=(tokenizer.eos_id, tokenizer.pad_id),
                              pad_id=tokenizer.pad_id)
    return Policy(model, mesh, token_tables(tokenizer, model.cfg.text.vocab_size), sampling, rewards, slice_width)
