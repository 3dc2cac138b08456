"""The Qwen2.5-VL vision tower: patch embedding, 2-D rotary ViT blocks with window/full attention, patch merger.

Attention is computed on packed segment tables rather than on a reordered sequence. An attention segment is a window,
or a whole temporal slice (frame pair) in the full-attention blocks; `VisionLayout` packs the segments, next-fit in
order, into rows of a fixed width W, several short segments sharing a row under a block-diagonal mask. Attention
inside a segment is order-free, merge units (4 patches) never straddle windows, and MLPs act per patch, so this
equals the reference's reorder-attend-unreorder exactly at O(S * W) cost instead of O(S^2).

Shards. A training batch's rows lie on the mesh's batch axes, and so do its videos: the patch axis holds one block
per device group, with that group's videos only, and every table is per block (a leading axis G). Each device then
encodes its own prompts' videos, where one shared patch axis would have every device encode every video (the
tower's activations of the whole batch on each chip: most of a 3B GRPO step's memory at the paper's shapes).

Shapes. With `static`, the tables' shapes depend only on the patch bucket S and the row widths (the full-attention
row width `slice_width`, the windowed one the window's patch count): the number of rows is ceil(2 S / W), a bound
next-fit never exceeds (two consecutive rows always hold more than W patches). A batch mixing an 8 s clip (wide
slices) with 150 s clips (many narrow ones) therefore compiles to the same program as any other batch of the bucket,
and its scores stay within 2 x S x W per head instead of pow2(slices) x pow2(widest slice)^2. Rows too many or too
wide to attend at once are attended a few (or a query chunk) at a time, each step rematerialized in the backward.
The price of one row width for every batch: a row of many narrow slices still computes all W x W scores, masked.
The stages therefore size W from the data config (`VideoSampling.max_slice_patches`: 3,072 patches for the paper's
768-token frames, 24 for the demo's) rather than from the 1,792-token worst case of any config; a row width of
7,168 on the paper's 150 s clips (~96-patch slices) had cost the tower a fifth of its FLOPs in masked scores.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from tempr1_jax.models.config import VisionConfig
from tempr1_jax.models.sharding import constrain
from tempr1_jax.models.layers import (Linear, RMSNorm, SwiGLU, apply_rope, masked_softmax_attention, param,
                                     scan_stacked, stacked)

# TempR1 caps a clip at 3,584 merged tokens and samples at least 4 frames (2 temporal slices), so no slice of a video
# holds more than 1,792 merged tokens: the default full-attention row width of static layouts.
MAX_SLICE_TOKENS = 1792
# Attention scores (float32, all heads) live at once; beyond it rows, or query chunks of a row, go in sequence.
_SCORES_PER_STEP = 1 << 27


@struct.dataclass
class VisionLayout:
    """Host-computed index tables for one vision call, one set per shard: G = shards, S = patches per shard (padded),
    N = rows, W = row width.

    `pixel_values` holds G blocks of S rows, block g holding the patches of the g-th group of batch rows (videos in
    grid order, then padding). Each shard's tables index its own block, so the tower runs shard by shard (`vlm`
    maps it over G) and, with G on the mesh's batch axes, every device encodes only its own prompts' videos.
    """

    rope_pos_GS2: jax.Array  # int32 (row, col) patch coordinates for the 2-D rotary embedding
    grid_hw_GS2: jax.Array  # int32 (grid_h, grid_w) of each patch's grid (Qwen3-VL interpolates positions by it)
    window_table_GNW: jax.Array  # int32 patch index per window slot
    window_segment_GNW: jax.Array  # int32 window of the slot's patch (slots attend within equal ids), -1: empty
    window_inverse_GS: jax.Array  # int32 flat slot (n * W + w) of each patch
    full_table_GNW: jax.Array
    full_segment_GNW: jax.Array
    full_inverse_GS: jax.Array

    @property
    def shards(self) -> int:
        return self.rope_pos_GS2.shape[0]

    def window_tables(self):
        return self.window_table_GNW, self.window_segment_GNW, self.window_inverse_GS

    def full_tables(self):
        return self.full_table_GNW, self.full_segment_GNW, self.full_inverse_GS


def _packed_tables(keys_S: np.ndarray, num_patches: int, width: int | None, static: bool
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups patch indices by segment key and packs the segments, next-fit in key order, into rows of `width` slots.

    Returns the row table [N, W] of patch indices, each slot's segment id (-1: empty) and each patch's flat slot.
    Without `width`, W is the widest segment. With `static`, N is next-fit's bound for `num_patches` patches, so the
    shapes depend on `num_patches` and W alone; otherwise N is the rows used.
    """
    _, seg_S, counts = np.unique(keys_S, return_inverse=True, return_counts=True)
    w = int(counts.max()) if width is None else int(width)
    if counts.max() > w:
        raise ValueError(f"an attention segment of {counts.max()} patches is wider than the row width {w}: a clip "
                         "sized under larger pixel budgets than config.video's (VideoSampling.max_slice_patches), "
                         "or a slice_width too small for vision_layout")
    row_of, offset_of = np.empty(len(counts), np.int64), np.empty(len(counts), np.int64)
    row = used = 0
    for i, c in enumerate(counts):
        if used + c > w:
            row, used = row + 1, 0
        row_of[i], offset_of[i], used = row, used, used + c
    n = max(1, -(-2 * num_patches // w)) if static else row + 1
    order = np.argsort(seg_S, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty_like(seg_S)
    rank[order] = np.arange(len(seg_S)) - starts[seg_S[order]]
    slot_S = row_of[seg_S] * w + offset_of[seg_S] + rank
    table = np.zeros((n * w,), np.int32)
    segment = np.full((n * w,), -1, np.int32)
    table[slot_S] = np.arange(len(seg_S))
    segment[slot_S] = seg_S
    inverse = np.zeros((num_patches,), np.int32)  # padded patches read slot 0; their outputs are never used
    inverse[: len(seg_S)] = slot_S
    return table.reshape(n, w), segment.reshape(n, w), inverse


def vision_layout(grid_thw: np.ndarray, cfg: VisionConfig, num_patches: int | None = None,
                  static: bool = False, slice_width: int | None = None, shards: int = 1) -> VisionLayout:
    """Index tables for the patches of `grid_thw` (rows of (t, h, w), in `pixel_values` order).

    `shards`: the grids split into that many equal consecutive groups (the batch rows of each device group), each
    group's patches packed from the start of its own block of `num_patches` rows (see `VisionLayout`).
    `num_patches` pads each shard to a bucketed patch count; `static` makes the tables' shapes a function of that
    count and the row widths alone (module docstring), as several shards require. `slice_width`, the full-attention
    row width in patches, must hold the widest temporal slice (h * w) of any batch meant to share the program
    (`VideoSampling.max_slice_patches` bounds it for a data config): static layouts take min(num_patches,
    slice_width or MAX_SLICE_TOKENS merged tokens), others the widest slice of `grid_thw` by default.
    """
    grid_thw = np.asarray(grid_thw, np.int64).reshape(-1, 3)
    if len(grid_thw) % shards:
        raise ValueError(f"{len(grid_thw)} grids do not split into {shards} shards")
    if shards > 1 and not static:
        raise ValueError("a layout of several shards needs static=True, so that every shard's tables share a shape")
    groups = np.split(grid_thw, shards)
    if num_patches is None:
        num_patches = max(int(np.prod(g, axis=1).sum()) for g in groups)
    parts = [_shard_layout(g, cfg, num_patches, static, slice_width) for g in groups]
    return jax.tree.map(lambda *xs: np.stack(xs), *parts)


def _shard_layout(grid_thw: np.ndarray, cfg: VisionConfig, num_patches: int, static: bool,
                  slice_width: int | None) -> VisionLayout:
    """One shard's tables, without the leading G axis."""
    m = cfg.spatial_merge_size
    ws = cfg.window_merged or 1 << 30  # no windows (Qwen3-VL): one window per frame, the full-attention segments
    pos, win_keys, full_keys = [], [], []
    next_window = next_slice = 0
    for t, h, w in grid_thw:
        if h % m or w % m:
            raise ValueError(f"grid {(t, h, w)}: h and w must be multiples of spatial_merge_size {m}")
        r = np.arange(t * h * w)
        ti, rem = r // (h * w), r % (h * w)
        block, sub = rem // (m * m), rem % (m * m)
        bh, bw = block // (w // m), block % (w // m)
        pos.append(np.stack([bh * m + sub // m, bw * m + sub % m], axis=1))
        n_wr, n_wc = -(-(h // m) // ws), -(-(w // m) // ws)
        win_keys.append(next_window + (ti * n_wr + bh // ws) * n_wc + bw // ws)
        full_keys.append(next_slice + ti)
        next_window += t * n_wr * n_wc
        next_slice += t
    total = int(sum(t * h * w for t, h, w in grid_thw))
    if num_patches < total:
        raise ValueError(f"num_patches {num_patches} is smaller than the {total} patches of grid_thw")
    if static:
        slice_width = min(num_patches, slice_width or MAX_SLICE_TOKENS * cfg.merge_unit)
    rope_pos = np.zeros((num_patches, 2), np.int32)
    rope_pos[:total] = np.concatenate(pos)
    grid_hw = np.ones((num_patches, 2), np.int32)
    grid_hw[:total] = np.repeat(grid_thw[:, 1:], np.prod(grid_thw, axis=1), axis=0)
    full = _packed_tables(np.concatenate(full_keys), num_patches, slice_width, static)
    if cfg.window_merged is None:
        windows = full
    else:
        windows = _packed_tables(np.concatenate(win_keys), num_patches, ws * ws * cfg.merge_unit, static)
    return VisionLayout(rope_pos, grid_hw, *windows, *full)


def rotary_2d(rope_pos_S2: jax.Array, head_dim: int) -> tuple[jax.Array, jax.Array]:
    """cos/sin [S, head_dim] of the 2-D rotary embedding: the first half of the frequencies rotate by row, the second
    by column (both families' towers)."""
    rot_dim = head_dim // 2
    inv_freq = 1.0 / (10000.0 ** (jnp.arange(0, rot_dim, 2, dtype=jnp.float32) / rot_dim))
    angles = (rope_pos_S2.astype(jnp.float32)[:, :, None] * inv_freq).reshape(rope_pos_S2.shape[0], -1)
    emb = jnp.concatenate([angles, angles], axis=-1)
    return jnp.cos(emb), jnp.sin(emb)


class VisionAttention(nnx.Module):
    def __init__(self, cfg: VisionConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        d = cfg.hidden_size
        self.num_heads, self.head_dim = cfg.num_heads, cfg.head_dim
        self.qkv = Linear(d, 3 * d, ("vision_embed", "vision_qkv"), use_bias=True, dtype=dtype,
                          param_dtype=param_dtype, rngs=rngs)
        self.proj = Linear(d, d, ("vision_heads", "vision_embed"), use_bias=True, dtype=dtype,
                           param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x_SD, cos_SH, sin_SH, table_NW, segment_NW, inverse_S):
        S = x_SD.shape[0]
        qkv = self.qkv(x_SD).reshape(S, 3, self.num_heads, self.head_dim)
        q_SNH, k_SNH, v_SNH = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        # The reference rotates in float32 and casts back.
        rot = lambda t: apply_rope(t.astype(jnp.float32), cos_SH[:, None], sin_SH[:, None]).astype(t.dtype)
        q_SNH, k_SNH = rot(q_SNH), rot(k_SNH)
        out_RWNH = segment_attention(q_SNH[table_NW], k_SNH[table_NW], v_SNH[table_NW], segment_NW,
                                     self.head_dim**-0.5)
        out_SD = out_RWNH.reshape(-1, self.num_heads * self.head_dim)[inverse_S]
        return self.proj(out_SD)


def _attend_rows(q_RQNH, k_RWNH, v_RWNH, qseg_RQ, kseg_RW, scale):
    """Each row's queries over that row's slots of the same segment (heads as GQA groups of one)."""
    mask = (qseg_RQ[:, :, None] == kseg_RW[:, None, :]) & (kseg_RW[:, None, :] >= 0)
    out = masked_softmax_attention(q_RQNH[..., None, :], k_RWNH, v_RWNH, mask[:, None, None], scale)
    return out[..., 0, :]


def segment_attention(q_RWNH, k_RWNH, v_RWNH, segment_RW, scale: float):
    """Attention within each packed row's segments: [R, W, heads, hd] -> the same (empty slots: arbitrary).

    At most `_SCORES_PER_STEP` scores are live: beyond it, rows go a few at a time, or a row too wide for that (a
    large image) in query chunks, each step rematerialized in the backward pass rather than stored.
    """
    R, W, N, H = q_RWNH.shape
    segment_RW = jnp.asarray(segment_RW)  # indexed by a traced row below
    if R * W * W * N <= _SCORES_PER_STEP:
        return _attend_rows(q_RWNH, k_RWNH, v_RWNH, segment_RW, segment_RW, scale)
    chunk = W
    while chunk * W * N > _SCORES_PER_STEP and chunk % 2 == 0:
        chunk //= 2
    per_row = W // chunk
    row_C = jnp.arange(R * per_row, dtype=jnp.int32) // per_row

    @jax.checkpoint
    def step(xs):
        q_QNH, qseg_Q, r = xs
        return _attend_rows(q_QNH[None], k_RWNH[r][None], v_RWNH[r][None], qseg_Q[None], segment_RW[r][None],
                            scale)[0]

    out = jax.lax.map(step, (q_RWNH.reshape(R * per_row, chunk, N, H), segment_RW.reshape(R * per_row, chunk), row_C),
                      batch_size=max(1, _SCORES_PER_STEP // (chunk * W * N)))
    return out.reshape(R, W, N, H)


class VisionBlock(nnx.Module):
    def __init__(self, cfg: VisionConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.norm1 = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.norm2 = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.attn = VisionAttention(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size, "vision_embed", "vision_mlp", use_bias=True,
                          dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x_SD, cos_SH, sin_SH, segments):
        x_SD = constrain(x_SD, ("length", "act_embed"))  # under the shard map: G on the batch axes, the rest whole
        x_SD = x_SD + self.attn(self.norm1(x_SD), cos_SH, sin_SH, *segments)
        return x_SD + self.mlp(self.norm2(x_SD))


class PatchMerger(nnx.Module):
    """RMSNorm per patch, concatenate each 2x2 merge unit, then Linear -> exact GELU -> Linear."""

    def __init__(self, cfg: VisionConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        d_in = cfg.hidden_size * cfg.merge_unit
        self.merge_unit = cfg.merge_unit
        self.ln_q = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        kw = dict(use_bias=True, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mlp_0 = Linear(d_in, d_in, ("merger_in", "merger_mlp"), **kw)
        self.mlp_2 = Linear(d_in, cfg.out_hidden_size, ("merger_mlp", "embed"), **kw)

    def __call__(self, x_SD):
        x = self.ln_q(x_SD).reshape(x_SD.shape[0] // self.merge_unit, -1)
        return self.mlp_2(jax.nn.gelu(self.mlp_0(x), approximate=False))


class VisionTower(nnx.Module):
    def __init__(self, cfg: VisionConfig, *, dtype=jnp.float32, param_dtype=jnp.float32, rngs: nnx.Rngs):
        self.cfg = cfg
        self.dtype = dtype
        # Conv3d with kernel == stride is one matmul over the flattened (C, T, Y, X) patch rows.
        self.patch_embed = param(rngs, nnx.initializers.normal(0.02), (cfg.patch_dim, cfg.hidden_size),
                                 ("patch", "vision_embed"), param_dtype)
        self.blocks = stacked(lambda r: VisionBlock(cfg, dtype=dtype, param_dtype=param_dtype, rngs=r), cfg.depth,
                              rngs)
        self.merger = PatchMerger(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, pixel_values_SP: jax.Array, layout: VisionLayout) -> jax.Array:
        """[S, C*T*P*P] patch rows of one shard -> [S / 4, out_hidden] merged tokens, packed in grid order.

        Called per shard (`vlm.VisionLanguageModel.encode` maps it over G): the layout's arrays lack their G axis."""
        x_SD = jnp.dot(pixel_values_SP.astype(self.dtype), self.patch_embed[...].astype(self.dtype))
        cos, sin = rotary_2d(layout.rope_pos_GS2, self.cfg.head_dim)
        windows, full = layout.window_tables(), layout.full_tables()
        # Runs of window blocks and of full blocks each go through their own scan rather than one scan choosing by
        # lax.cond: a cond's cost is its dearer branch to every FLOP count, and its two branches double the body.
        full_at = set(self.cfg.fullatt_block_indexes)
        start = 0
        while start < self.cfg.depth:
            is_full = start in full_at
            stop = start + 1
            while stop < self.cfg.depth and (stop in full_at) == is_full:
                stop += 1
            segments = full if is_full else windows
            x_SD = scan_stacked(self.blocks, lambda block, i, x, seg=segments: block(x, cos, sin, seg), x_SD, start,
                                stop)
            start = stop
        return self.merger(x_SD)
