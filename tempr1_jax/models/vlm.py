"""What the two families (Qwen2.5-VL, Qwen3-VL) share around their towers: one public contract and one jit path.

Two ways in:
- `model(input_ids=..., attention_mask=..., pixel_values=..., image_grid_thw=..., pixel_values_videos=...,
  video_grid_thw=...)` takes the named inputs of the family's transformers class and returns logits [B, L, vocab].
  It computes the host-side tables (vision layout, 3-D positions) and runs a jit-compiled forward pass.
- `model.forward(...)` / `model.hidden_states(...)` take those tables as arrays, for use inside jit-compiled steps whose
  batches carry them precomputed.

A family supplies `visual`, `language`, `embed` (token and vision embeddings, plus what the decoder adds later) and
`rope_index` (its 3-D positions).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from tempr1_jax.models.config import ModelConfig
from tempr1_jax.models.language import KVCache, LanguageModel
from tempr1_jax.models.sharding import constrain, shard_map_axes
from tempr1_jax.models.vision import VisionLayout, vision_layout


def per_shard(fn, *args):
    """`fn` mapped over the leading shard axis G of `args`, with G kept on the batch axes (`shard_map_axes`)."""
    G = jax.tree.leaves(args)[0].shape[0]
    return jax.vmap(fn, spmd_axis_name=shard_map_axes(G))(*args)


def scatter_rows(x_BLD, ids_BL, token_id, rows_GND):
    """Shard g holds batch rows [g B / G, (g + 1) B / G); the k-th `token_id` among them, in row-major (batch, seq)
    order, takes row k of `rows_GND[g]`."""
    G = rows_GND.shape[0]
    B, L, D = x_BLD.shape

    def one(x_BLD, ids_BL, rows_ND):
        rows = jnp.take(rows_ND, jnp.clip(token_rank(ids_BL, token_id), 0, rows_ND.shape[0] - 1), axis=0)
        return jnp.where((ids_BL == token_id)[..., None], rows.astype(x_BLD.dtype), x_BLD)

    out = per_shard(one, x_BLD.reshape(G, B // G, L, D), ids_BL.reshape(G, B // G, L), rows_GND)
    return out.reshape(B, L, D)


def token_rank(ids_BL, token_id):
    """How many `token_id`s precede each position in row-major (batch, seq) order."""
    return jnp.cumsum((ids_BL == token_id).reshape(-1)).reshape(ids_BL.shape) - 1


class VisionLanguageModel(nnx.Module):
    cfg: ModelConfig
    language: LanguageModel

    # ---- array interface (jit-friendly) -------------------------------------------------------------------------
    def encode(self, pixel_values_SP, layout: VisionLayout):
        """The vision tower, shard by shard: [G * S, P] patch rows (G blocks of S, `VisionLayout`) -> the tower's
        outputs with a leading G axis, each shard's merged tokens packed in grid order."""
        G = layout.shards
        pixels_GSP = constrain(pixel_values_SP.reshape(G, -1, pixel_values_SP.shape[-1]), ("batch", None, None))
        return per_shard(self.visual, pixels_GSP, layout)

    def embed(self, input_ids_BL, pixel_values=None, image_layout=None, pixel_values_videos=None, video_layout=None):
        """(input embeddings [B, L, D], the decoder's `deepstack` argument or None)."""
        raise NotImplementedError

    def hidden_states(self, input_ids_BL, positions_3BL, attention_mask_BL, pixel_values=None, image_layout=None,
                      pixel_values_videos=None, video_layout=None, cache: KVCache | None = None):
        """Final normed hidden states [B, L, D] (and the updated cache); logits come from `logits(h)`."""
        x_BLD, deepstack = self.embed(input_ids_BL, pixel_values, image_layout, pixel_values_videos, video_layout)
        return self.language(x_BLD, positions_3BL, attention_mask_BL, cache, deepstack)

    def logits(self, h_BLD):
        return self.language.logits(h_BLD)

    def forward(self, input_ids_BL, positions_3BL, attention_mask_BL, pixel_values=None, image_layout=None,
                pixel_values_videos=None, video_layout=None):
        h, _ = self.hidden_states(input_ids_BL, positions_3BL, attention_mask_BL, pixel_values, image_layout,
                                  pixel_values_videos, video_layout)
        return self.logits(h)

    def decode_step(self, token_B, cache: KVCache, prefix: KVCache | None = None, group: int = 1):
        """One token per row after a prefill: returns (logits [B, vocab], cache). With `prefix` (the prompts'
        cache, B / `group` rows) `cache` holds only each row's own tokens (`LanguageModel`'s prefix)."""
        ids_B1 = token_B[:, None]
        positions_3B1 = jnp.broadcast_to(cache.next_position_B[None, :, None], (3,) + ids_B1.shape)
        h, cache = self.language(self.language.embed(ids_B1), positions_3B1, jnp.ones_like(ids_B1, bool), cache,
                                 prefix=prefix, group=group)
        return self.logits(h[:, 0]), cache

    # ---- host helpers -------------------------------------------------------------------------------------------
    def rope_index(self, input_ids, attention_mask=None, image_grid_thw=None, video_grid_thw=None,
                   second_per_grid_ts=None) -> tuple[np.ndarray, np.ndarray]:
        """(positions [3, B, L], deltas [B]) of the family's position rule."""
        raise NotImplementedError

    def prepare_inputs(self, input_ids, attention_mask=None, pixel_values=None, image_grid_thw=None,
                       pixel_values_videos=None, video_grid_thw=None, second_per_grid_ts=None, position_ids=None):
        """transformers-style inputs -> the keyword arrays of `forward` / `hidden_states`."""
        ids = np.asarray(input_ids)
        mask = np.ones(ids.shape, bool) if attention_mask is None else np.asarray(attention_mask).astype(bool)
        for name, pv, grid, tok in (("image", pixel_values, image_grid_thw, self.cfg.image_token_id),
                                    ("video", pixel_values_videos, video_grid_thw, self.cfg.video_token_id)):
            n_tok = int((ids == tok).sum())
            n_feat = 0 if grid is None else int(np.prod(np.asarray(grid).reshape(-1, 3), axis=1).sum()
                                                // self.cfg.vision.merge_unit)
            if (pv is None) != (grid is None):
                raise ValueError(f"pass both pixel values and grid_thw for the {name}s, or neither")
            if n_tok != n_feat:
                raise ValueError(f"{name} features and {name} tokens do not match: the grids give {n_feat} "
                                 f"features, input_ids hold {n_tok} {name} tokens")
        if position_ids is None:
            position_ids, _ = self.rope_index(ids, mask, image_grid_thw, video_grid_thw, second_per_grid_ts)
        vc = self.cfg.vision
        return dict(
            input_ids_BL=jnp.asarray(ids, jnp.int32),
            positions_3BL=jnp.asarray(position_ids, jnp.int32),
            attention_mask_BL=jnp.asarray(mask),
            pixel_values=None if pixel_values is None else jnp.asarray(pixel_values, jnp.float32),
            image_layout=None if image_grid_thw is None else vision_layout(image_grid_thw, vc, len(pixel_values)),
            pixel_values_videos=None if pixel_values_videos is None else jnp.asarray(pixel_values_videos, jnp.float32),
            video_layout=None if video_grid_thw is None else vision_layout(video_grid_thw, vc,
                                                                           len(pixel_values_videos)),
        )

    def __call__(self, input_ids, attention_mask=None, pixel_values=None, image_grid_thw=None,
                 pixel_values_videos=None, video_grid_thw=None, second_per_grid_ts=None, position_ids=None):
        """Logits [B, L, vocab] from transformers-style named inputs (numpy or jax arrays)."""
        inputs = self.prepare_inputs(input_ids, attention_mask, pixel_values, image_grid_thw, pixel_values_videos,
                                     video_grid_thw, second_per_grid_ts, position_ids)
        return forward_jit(self, **inputs)


@nnx.jit
def forward_jit(model: VisionLanguageModel, **inputs):
    return model.forward(**inputs)


def encode_vision_jit(model: VisionLanguageModel, pixel_values, grid_thw) -> jax.Array:
    """The vision tower alone, [S, P] -> [S / 4, out_hidden] (for checks and feature extraction); Qwen3-VL: with its
    DeepStack features [K, S / 4, out_hidden]."""
    return vision_jit(model, jnp.asarray(pixel_values, jnp.float32), vision_layout(grid_thw, model.cfg.vision))


@nnx.jit
def vision_jit(model: VisionLanguageModel, pixel_values, layout: VisionLayout):
    return jax.tree.map(lambda x: x[0], model.encode(pixel_values, layout))  # the layout of one shard
