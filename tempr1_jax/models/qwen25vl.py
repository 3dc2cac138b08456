"""Qwen2.5-VL: the vision tower and the Qwen2 language model, fused at the image and video placeholder tokens.

The public contract (`model(input_ids=..., pixel_values_videos=..., video_grid_thw=..., second_per_grid_ts=...)`
-> logits) is `vlm.VisionLanguageModel`'s; this family adds absolute temporal positions (`second_per_grid_ts`).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from flax import nnx

from tempr1_jax.models.config import ModelConfig
from tempr1_jax.models.language import LanguageModel
from tempr1_jax.models.vision import VisionTower
from tempr1_jax.models.vlm import VisionLanguageModel, scatter_rows
from tempr1_jax.processing.rope_index import get_rope_index


class Qwen25VL(VisionLanguageModel):
    def __init__(self, cfg: ModelConfig, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.cfg = cfg
        self.visual = VisionTower(cfg.vision, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.language = LanguageModel(cfg.text, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def embed(self, input_ids_BL, pixel_values=None, image_layout=None, pixel_values_videos=None, video_layout=None):
        x_BLD = self.language.embed(input_ids_BL)
        if pixel_values is not None:
            x_BLD = scatter_rows(x_BLD, input_ids_BL, self.cfg.image_token_id, self.encode(pixel_values, image_layout))
        if pixel_values_videos is not None:
            x_BLD = scatter_rows(x_BLD, input_ids_BL, self.cfg.video_token_id,
                                 self.encode(pixel_values_videos, video_layout))
        return x_BLD, None

    def rope_index(self, input_ids, attention_mask=None, image_grid_thw=None, video_grid_thw=None,
                   second_per_grid_ts=None):
        c = self.cfg
        return get_rope_index(np.asarray(input_ids), None if attention_mask is None else np.asarray(attention_mask),
                              image_grid_thw, video_grid_thw, second_per_grid_ts,
                              spatial_merge_size=c.vision.spatial_merge_size,
                              tokens_per_second=c.vision.tokens_per_second, image_token_id=c.image_token_id,
                              video_token_id=c.video_token_id, vision_start_token_id=c.vision_start_token_id,
                              text_timestamps=c.text_timestamps)
