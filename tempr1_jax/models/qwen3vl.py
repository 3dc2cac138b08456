"""Qwen3-VL (dense): a plain ViT with a learned, interpolated position table and DeepStack, and the Qwen3 decoder.

Where it differs from Qwen2.5-VL:
- vision: patch embedding with a bias; a learned square position table bilinearly resampled (align_corners) to each
  grid and added to the patch embeddings; LayerNorm and a GELU-tanh MLP in the blocks; attention within each frame
  (no windows); the merger normalizes with LayerNorm;
- DeepStack: after some vision blocks, extra mergers (LayerNorm over the 2x2-concatenated patches) give features that
  are added to the decoder's hidden states at the vision tokens after decoder layers 0, 1, 2, ...;
- text: QK-norm, no attention biases, head_dim apart from hidden / heads, interleaved M-RoPE;
- time: text timestamps before each frame (`processing.qwen3vl_processor`), so temporal positions carry no seconds.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from tempr1_jax.models.config import Qwen3VisionConfig, Qwen3VLConfig
from tempr1_jax.models.language import LanguageModel
from tempr1_jax.models.layers import GeluMLP, LayerNorm, Linear, normal, param, scan_stacked, stacked
from tempr1_jax.models.vision import VisionAttention, VisionBlock, VisionLayout, rotary_2d
from tempr1_jax.models.vlm import VisionLanguageModel, scatter_rows
from tempr1_jax.processing.qwen3vl_rope_index import get_rope_index


class Qwen3VisionBlock(VisionBlock):
    def __init__(self, cfg: Qwen3VisionConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.norm1 = LayerNorm(cfg.hidden_size, cfg.layer_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.norm2 = LayerNorm(cfg.hidden_size, cfg.layer_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.attn = VisionAttention(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mlp = GeluMLP(cfg.hidden_size, cfg.intermediate_size, cfg.hidden_size,
                           ("vision_embed", "vision_mlp", "vision_embed"), approximate=True, dtype=dtype,
                           param_dtype=param_dtype, rngs=rngs)


class Qwen3PatchMerger(GeluMLP):
    """LayerNorm, concatenate each 2x2 merge unit, Linear -> exact GELU -> Linear. The DeepStack mergers normalize
    after concatenating (`postshuffle`), the final merger before."""

    def __init__(self, cfg: Qwen3VisionConfig, postshuffle: bool, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.d_in = cfg.hidden_size * cfg.merge_unit
        super().__init__(self.d_in, self.d_in, cfg.out_hidden_size, ("merger_in", "merger_mlp", "embed"),
                         approximate=False, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.norm = LayerNorm(self.d_in if postshuffle else cfg.hidden_size, cfg.layer_norm_eps,
                              param_dtype=param_dtype, rngs=rngs)
        self.postshuffle = postshuffle

    def __call__(self, x_SD):
        if self.postshuffle:
            x = self.norm(x_SD.reshape(-1, self.d_in))
        else:
            x = self.norm(x_SD).reshape(-1, self.d_in)
        return super().__call__(x)


class PatchEmbed(nnx.Module):
    """Conv3d with kernel == stride (and a bias) as one matmul over the flattened (C, T, Y, X) patch rows."""

    def __init__(self, cfg: Qwen3VisionConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.proj = Linear(cfg.patch_dim, cfg.hidden_size, ("patch", "vision_embed"), use_bias=True, dtype=dtype,
                           param_dtype=param_dtype, rngs=rngs)

    def __call__(self, pixel_values_SP):
        return self.proj(pixel_values_SP)


def _bilinear_taps(index_S: jax.Array, size_S: jax.Array, side: int) -> tuple[jax.Array, jax.Array]:
    """The two table rows and weights that resample a `side`-long axis to `size` points, corners aligned."""
    src = index_S.astype(jnp.float32) * (side - 1) / jnp.maximum(size_S - 1, 1).astype(jnp.float32)
    floor = jnp.floor(src)
    offsets = jnp.arange(2, dtype=jnp.float32)
    taps = jnp.clip(floor.astype(jnp.int32)[:, None] + jnp.arange(2), 0, side - 1)
    weights = jnp.maximum(1 - jnp.abs(src[:, None] - floor[:, None] - offsets), 0)
    return taps, weights


class Qwen3VisionTower(nnx.Module):
    def __init__(self, cfg: Qwen3VisionConfig, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.cfg, self.dtype = cfg, dtype
        kw = dict(dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.patch_embed = PatchEmbed(cfg, **kw)
        self.pos_embed = param(rngs, normal, (cfg.num_position_embeddings, cfg.hidden_size),
                               ("vision_pos", "vision_embed"), param_dtype)
        self.blocks = stacked(lambda r: Qwen3VisionBlock(cfg, dtype=dtype, param_dtype=param_dtype, rngs=r), cfg.depth,
                              rngs)
        self.merger = Qwen3PatchMerger(cfg, postshuffle=False, **kw)
        self.deepstack_merger_list = nnx.List([Qwen3PatchMerger(cfg, postshuffle=True, **kw)
                                               for _ in cfg.deepstack_visual_indexes])

    def position_embedding(self, layout: VisionLayout) -> jax.Array:
        """[S, D]: the learned table bilinearly resampled to each patch's (row, col) in its grid, in float32."""
        side = self.cfg.num_grid_per_side
        row_taps, row_w = _bilinear_taps(layout.rope_pos_GS2[:, 0], layout.grid_hw_GS2[:, 0], side)
        col_taps, col_w = _bilinear_taps(layout.rope_pos_GS2[:, 1], layout.grid_hw_GS2[:, 1], side)
        table = self.pos_embed[...]
        out = 0.0
        for i in range(2):  # four taps, each gathered as [S, D], never [S, 4, D]
            for j in range(2):
                rows = jnp.take(table, row_taps[:, i] * side + col_taps[:, j], axis=0).astype(jnp.float32)
                out = out + rows * (row_w[:, i] * col_w[:, j])[:, None]
        return out

    def __call__(self, pixel_values_SP: jax.Array, layout: VisionLayout) -> tuple[jax.Array, jax.Array]:
        """[S, C*T*P*P] patch rows of one shard -> (merged tokens [S / 4, out_hidden], DeepStack features
        [K, S / 4, out_hidden]), packed in grid order (per shard, as `VisionTower`)."""
        x_SD = self.patch_embed(pixel_values_SP.astype(self.dtype))
        x_SD = x_SD + self.position_embedding(layout).astype(x_SD.dtype)
        cos, sin = rotary_2d(layout.rope_pos_GS2, self.cfg.head_dim)
        frames = layout.full_tables()
        levels = self.cfg.deepstack_visual_indexes
        step = lambda block, i, x_SD: block(x_SD, cos, sin, frames)
        if list(levels) != sorted(set(levels)):
            raise ValueError(f"deepstack_visual_indexes {levels} must be increasing block indexes")
        features, done = [], 0
        for k, tap in enumerate(levels):  # a scan per segment between DeepStack taps, tapped after block `tap`
            x_SD = scan_stacked(self.blocks, step, x_SD, done, tap + 1)
            features.append(self.deepstack_merger_list[k](x_SD))
            done = tap + 1
        x_SD = scan_stacked(self.blocks, step, x_SD, done, self.cfg.depth)
        return self.merger(x_SD), jnp.stack(features)


class Qwen3VL(VisionLanguageModel):
    def __init__(self, cfg: Qwen3VLConfig, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.cfg = cfg
        self.visual = Qwen3VisionTower(cfg.vision, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.language = LanguageModel(cfg.text, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def embed(self, input_ids_BL, pixel_values=None, image_layout=None, pixel_values_videos=None, video_layout=None):
        """Embeddings with the merged vision tokens in place, and the DeepStack features [K, B, L, D] at the vision
        tokens' positions (zero elsewhere), or None without vision inputs."""
        x_BLD = self.language.embed(input_ids_BL)
        deepstack_KBLD = None
        for token, pixels, layout in ((self.cfg.image_token_id, pixel_values, image_layout),
                                      (self.cfg.video_token_id, pixel_values_videos, video_layout)):
            if pixels is None:
                continue
            merged_GND, deepstack_GKND = self.encode(pixels, layout)
            x_BLD = scatter_rows(x_BLD, input_ids_BL, token, merged_GND)
            G, K, N, D = deepstack_GKND.shape  # the K levels side by side, so one scatter places them all
            B, L = input_ids_BL.shape
            levels_BLX = scatter_rows(jnp.zeros((B, L, K * D), merged_GND.dtype), input_ids_BL, token,
                                      deepstack_GKND.transpose(0, 2, 1, 3).reshape(G, N, K * D))
            levels_KBLD = levels_BLX.reshape(B, L, K, D).transpose(2, 0, 1, 3)
            deepstack_KBLD = levels_KBLD if deepstack_KBLD is None else deepstack_KBLD + levels_KBLD
        return x_BLD, deepstack_KBLD

    def rope_index(self, input_ids, attention_mask=None, image_grid_thw=None, video_grid_thw=None,
                   second_per_grid_ts=None):
        c = self.cfg
        return get_rope_index(np.asarray(input_ids), None if attention_mask is None else np.asarray(attention_mask),
                              image_grid_thw, video_grid_thw, spatial_merge_size=c.vision.spatial_merge_size,
                              image_token_id=c.image_token_id, video_token_id=c.video_token_id)
