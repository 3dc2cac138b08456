"""Qwen2.5-VL and Qwen3-VL in Flax NNX."""
from tempr1_jax.models.config import (ModelConfig, Qwen3VisionConfig, Qwen3VLConfig, TextConfig, VisionConfig, preset,
                                      PRESETS)
from tempr1_jax.models.factory import abstract_model, init_model, materialize, mesh_context
from tempr1_jax.models.hf_checkpoint import load_pretrained, read_config, save_pretrained
from tempr1_jax.models.language import KVCache
from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.models.qwen3vl import Qwen3VL
from tempr1_jax.models.vlm import VisionLanguageModel, encode_vision_jit
from tempr1_jax.models.sharding import LOGICAL_AXIS_RULES, MESH_AXES, make_mesh
from tempr1_jax.models.tensor_files import CheckpointError
from tempr1_jax.models.vision import VisionLayout, vision_layout
