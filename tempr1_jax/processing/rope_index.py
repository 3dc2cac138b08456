"""3-D M-RoPE position ids for Qwen2.5-VL prompts (host side, numpy).

Follows the original Qwen2.5-VL release, which the public checkpoints were trained with and vLLM follows:
- text after a vision span continues at the span's largest position + 1 (temporal positions included);
- video temporal ids are `k * second_per_grid_t * tokens_per_second` computed in float32, left to right (the
  processor hands `second_per_grid_ts` over as a float32 tensor, and torch keeps an integer range times a float32
  scalar in float32), then truncated. In float64 a product such as 3 * (2 / 0.56) * 2 lands just below an integer
  that float32 rounds onto, so a few frame groups of long videos would get a time id one lower than in training.
transformers 5.x restarts text after a video at start + max(h, w) / merge instead, which is a regression, and
multiplies `k * (tokens_per_second * second_per_grid_t)`, which rounds differently; parity tests hand our ids to
transformers through `position_ids`. Its Qwen2.5-Omni thinker keeps both original rules.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def _vision_positions(t: int, h: int, w: int, second_per_grid_t: float, tokens_per_second: float) -> np.ndarray:
    """Positions [3, t*h*w] of one vision span in (t, h, w) raster order, relative to the span's start."""
    t_ids = (np.arange(t, dtype=np.float32) * np.float32(second_per_grid_t) * np.float32(tokens_per_second)
             ).astype(np.int64)
    tt, hh, ww = np.meshgrid(t_ids, np.arange(h), np.arange(w), indexing="ij")
    return np.stack([tt.ravel(), hh.ravel(), ww.ravel()])


def get_rope_index(
    input_ids_BL: np.ndarray,
    attention_mask_BL: np.ndarray | None,
    image_grid_thw: np.ndarray | None,
    video_grid_thw: np.ndarray | None,
    second_per_grid_ts: Sequence[float] | np.ndarray | None,
    *,
    spatial_merge_size: int,
    tokens_per_second: float,
    image_token_id: int,
    video_token_id: int,
    vision_start_token_id: int,
    text_timestamps: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (positions_3BL int32, deltas_B int32), with the same contract as transformers' `get_rope_index`.

    Image and video grids are consumed in order across the whole batch. Padded columns get position 1. A row's delta is
    `max(position) + 1 - L`, so decode step k (0-based, after a prompt of padded length L) sits at `L + k + delta`.
    With `text_timestamps` (the layout of `processor.timestamped_video_text`), each video's frame groups are spans of
    their own, so every group's temporal position restarts after its timestamp text, as in Qwen3-VL.
    """
    input_ids_BL = np.asarray(input_ids_BL)
    B, L = input_ids_BL.shape
    mask_BL = np.ones((B, L), bool) if attention_mask_BL is None else np.asarray(attention_mask_BL).astype(bool)
    positions = np.ones((3, B, L), np.int64)
    deltas = np.zeros((B,), np.int64)
    image_grid_thw = np.zeros((0, 3), np.int64) if image_grid_thw is None else np.asarray(image_grid_thw).reshape(-1, 3)
    video_grid_thw = np.zeros((0, 3), np.int64) if video_grid_thw is None else np.asarray(video_grid_thw).reshape(-1, 3)
    if second_per_grid_ts is None:
        second_per_grid_ts = np.ones((len(video_grid_thw),))
    second_per_grid_ts = np.asarray(second_per_grid_ts, np.float32).reshape(-1)
    if len(second_per_grid_ts) != len(video_grid_thw):
        raise ValueError(f"second_per_grid_ts has {len(second_per_grid_ts)} entries for {len(video_grid_thw)} videos")
    if text_timestamps:
        groups = video_grid_thw[:, 0]
        second_per_grid_ts = np.repeat(second_per_grid_ts, groups)
        video_grid_thw = np.repeat(np.concatenate([np.ones_like(video_grid_thw[:, :1]), video_grid_thw[:, 1:]], 1),
                                   groups, axis=0)
    n_img = n_vid = 0
    for b in range(B):
        ids = input_ids_BL[b][mask_BL[b]]
        pieces: list[np.ndarray] = []
        next_start = 0  # the next free position: largest position so far + 1
        st = 0
        starts = np.nonzero(ids == vision_start_token_id)[0]
        kinds = ids[starts[starts + 1 < len(ids)] + 1]
        for kind in kinds:
            if kind not in (image_token_id, video_token_id):
                continue
            ed = int(np.argmax(ids[st:] == kind)) + st
            if kind == image_token_id:
                if n_img >= len(image_grid_thw):
                    raise ValueError(f"row {b}: more images in input_ids than image_grid_thw rows ({len(image_grid_thw)})")
                t, h, w = (int(v) for v in image_grid_thw[n_img])
                spg, n_img = 0.0, n_img + 1
            else:
                if n_vid >= len(video_grid_thw):
                    raise ValueError(f"row {b}: more videos in input_ids than video_grid_thw rows ({len(video_grid_thw)})")
                t, h, w = (int(v) for v in video_grid_thw[n_vid])
                spg, n_vid = float(second_per_grid_ts[n_vid]), n_vid + 1
            h, w = h // spatial_merge_size, w // spatial_merge_size
            text_len = ed - st
            pieces.append(np.broadcast_to(np.arange(text_len) + next_start, (3, text_len)))
            pieces.append(_vision_positions(t, h, w, spg, tokens_per_second) + next_start + text_len)
            next_start = int(pieces[-1].max()) + 1
            st = ed + t * h * w
        tail = len(ids) - st
        pieces.append(np.broadcast_to(np.arange(tail) + next_start, (3, tail)))
        row = np.concatenate(pieces, axis=1)
        positions[:, b, mask_BL[b]] = row
        deltas[b] = int(row.max()) + 1 - L if row.size else 1 - L
    return positions.astype(np.int32), deltas.astype(np.int32)
