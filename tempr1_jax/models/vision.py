"""The Qwen2.5-VL vision tower: patch embedding, 2-D rotary ViT blocks with window/full attention, patch merger.

Windowed attention is computed on padded segment tables rather than on a reordered sequence: `VisionLayout` lists, for
each attention segment (a window, or a whole temporal slice in the full-attention blocks), the patches it holds.
Attention inside a set is order-free, merge units (4 patches) never straddle windows, and MLPs act per patch, so this
equals the reference's reorder-attend-unreorder exactly, costs O(S * W) instead of O(S^2), and needs no empty-window
bookkeeping.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx, struct

from tempr1_jax.models.config import VisionConfig
from tempr1_jax.models.layers import Linear, RMSNorm, SwiGLU, apply_rope, masked_softmax_attention, param


@struct.dataclass
class VisionLayout:
    """Host-computed index tables for one vision call; S = patches (padded), N = segments, W = segment width.

    The tower first gathers `pixel_values` by `patch_order_S`, so that the videos' patches are packed in grid order
    and padding follows; every other table indexes that packed order. Packing matters on several hosts, where each
    process pads its own share of the patch axis and the global array has padding between the processes' videos.
    """

    patch_order_S: jax.Array  # int32 pixel_values row of each packed patch
    rope_pos_S2: jax.Array  # int32 (row, col) patch coordinates for the 2-D rotary embedding
    grid_hw_S2: jax.Array  # int32 (grid_h, grid_w) of each patch's grid (Qwen3-VL interpolates positions by it)
    window_table_NW: jax.Array  # int32 patch index per window slot
    window_valid_NW: jax.Array  # bool: slot holds a patch
    window_inverse_S: jax.Array  # int32 flat slot (n * W + w) of each patch
    full_table_NW: jax.Array
    full_valid_NW: jax.Array
    full_inverse_S: jax.Array


def _pow2(n: int) -> int:
    return 1 << max(int(n) - 1, 0).bit_length()


def _segment_tables(keys_S: np.ndarray, num_patches: int, static: bool, width: int | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups patch indices by segment key into a padded table [N, W] and each patch's flat slot.

    With `static`, N and W are rounded up to powers of two (W to `width` if given), so that batches of similar
    videos share one compiled shape; the extra slots are invalid and never read back.
    """
    _, seg_S, counts = np.unique(keys_S, return_inverse=True, return_counts=True)
    n, w = len(counts), int(counts.max())
    if static:
        n, w = _pow2(n), width or _pow2(w)
    order = np.argsort(seg_S, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty_like(seg_S)
    rank[order] = np.arange(len(seg_S)) - starts[seg_S[order]]
    table = np.zeros((n, w), np.int32)
    valid = np.zeros((n, w), bool)
    table[seg_S, rank] = np.arange(len(seg_S))
    valid[seg_S, rank] = True
    inverse = np.zeros((num_patches,), np.int32)  # padded patches read slot 0; their outputs are never used
    inverse[: len(seg_S)] = seg_S * w + rank
    return table, valid, inverse


def vision_layout(grid_thw: np.ndarray, cfg: VisionConfig, num_patches: int | None = None,
                  static: bool = False, starts: np.ndarray | None = None) -> VisionLayout:
    """Index tables for the patches of `grid_thw` (rows of (t, h, w), in `pixel_values` order).

    `num_patches` pads to a bucketed patch count; `static` also rounds the table shapes (see `_segment_tables`).
    `starts` gives the `pixel_values` row where each grid's patches begin (default: packed one after another).
    """
    grid_thw = np.asarray(grid_thw, np.int64).reshape(-1, 3)
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
    num_patches = total if num_patches is None else num_patches
    if num_patches < total:
        raise ValueError(f"num_patches {num_patches} is smaller than the {total} patches of grid_thw")
    rope_pos = np.zeros((num_patches, 2), np.int32)
    rope_pos[:total] = np.concatenate(pos)
    grid_hw = np.ones((num_patches, 2), np.int32)
    grid_hw[:total] = np.repeat(grid_thw[:, 1:], np.prod(grid_thw, axis=1), axis=0)
    ft, fv, fi = _segment_tables(np.concatenate(full_keys), num_patches, static)
    if cfg.window_merged is None:
        wt, wv, wi = ft, fv, fi
    else:
        wt, wv, wi = _segment_tables(np.concatenate(win_keys), num_patches, static, ws * ws * cfg.merge_unit)
    return VisionLayout(_patch_order(grid_thw, num_patches, starts), rope_pos, grid_hw, wt, wv, wi, ft, fv, fi)


def _patch_order(grid_thw: np.ndarray, num_patches: int, starts: np.ndarray | None) -> np.ndarray:
    """A permutation of the patch rows: each grid's rows from its start, in grid order, then the unused rows."""
    if starts is None:
        return np.arange(num_patches, dtype=np.int32)
    sizes = np.prod(grid_thw, axis=1)
    starts = np.asarray(starts, np.int64).reshape(-1)
    if len(starts) != len(sizes):
        raise ValueError(f"starts has {len(starts)} entries for {len(sizes)} grids")
    used = np.zeros((num_patches,), bool)
    rows = []
    for start, size in zip(starts, sizes):
        if start < 0 or start + size > num_patches or used[start:start + size].any():
            raise ValueError(f"patches [{start}, {start + size}) of a grid overlap another grid's or leave the "
                             f"{num_patches} rows of pixel_values")
        used[start:start + size] = True
        rows.append(np.arange(start, start + size))
    return np.concatenate(rows + [np.flatnonzero(~used)]).astype(np.int32)


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

    def __call__(self, x_SD, cos_SH, sin_SH, table_NW, valid_NW, inverse_S):
        S = x_SD.shape[0]
        qkv = self.qkv(x_SD).reshape(S, 3, self.num_heads, self.head_dim)
        q_SNH, k_SNH, v_SNH = qkv[:, 0], qkv[:, 1], qkv[:, 2]
        # The reference rotates in float32 and casts back.
        rot = lambda t: apply_rope(t.astype(jnp.float32), cos_SH[:, None], sin_SH[:, None]).astype(t.dtype)
        q_SNH, k_SNH = rot(q_SNH), rot(k_SNH)
        q = q_SNH[table_NW][..., None, :]  # [N, W, heads, 1, hd]: heads act as GQA groups of one
        k, v = k_SNH[table_NW], v_SNH[table_NW]
        mask = valid_NW[:, None, None, None, :]
        out = masked_softmax_attention(q, k, v, mask, self.head_dim**-0.5)  # [N, W, heads, 1, hd]
        out_SD = out.reshape(-1, self.num_heads * self.head_dim)[inverse_S]
        return self.proj(out_SD)


class VisionBlock(nnx.Module):
    def __init__(self, cfg: VisionConfig, *, dtype, param_dtype, rngs: nnx.Rngs):
        self.norm1 = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.norm2 = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, param_dtype=param_dtype, rngs=rngs)
        self.attn = VisionAttention(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
        self.mlp = SwiGLU(cfg.hidden_size, cfg.intermediate_size, "vision_embed", "vision_mlp", use_bias=True,
                          dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, x_SD, cos_SH, sin_SH, segments):
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
        self.blocks = nnx.List([VisionBlock(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)
                                for _ in range(cfg.depth)])
        self.merger = PatchMerger(cfg, dtype=dtype, param_dtype=param_dtype, rngs=rngs)

    def __call__(self, pixel_values_SP: jax.Array, layout: VisionLayout) -> jax.Array:
        """[S, C*T*P*P] patch rows -> [S / 4, out_hidden] merged tokens, packed in grid order."""
        x_SD = jnp.dot(pixel_values_SP[layout.patch_order_S].astype(self.dtype),
                       self.patch_embed[...].astype(self.dtype))
        cos, sin = rotary_2d(layout.rope_pos_S2, self.cfg.head_dim)
        windows = (layout.window_table_NW, layout.window_valid_NW, layout.window_inverse_S)
        full = (layout.full_table_NW, layout.full_valid_NW, layout.full_inverse_S)
        for i, block in enumerate(self.blocks):
            x_SD = block(x_SD, cos, sin, full if i in self.cfg.fullatt_block_indexes else windows)
        return self.merger(x_SD)
