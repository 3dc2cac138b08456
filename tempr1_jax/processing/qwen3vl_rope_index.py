"""3-D M-RoPE position ids for Qwen3-VL prompts (host side, numpy).

Qwen3-VL carries video time as text (`<t seconds>` before each frame), not as temporal position ids: every video is
split into its frames, and each frame, like an image, is a (1, h, w) grid whose three rows start at the running
position. Text after a grid resumes at start + max(h, w) / merge. The original Qwen3-VL release (transformers 4.57,
vLLM) and transformers 5.x agree on this rule; spans are found from the token ids alone (runs of image or video pad
tokens), so both video layouts, with or without the outer `<|vision_start|>`/`<|vision_end|>` pair, get positions.
"""
from __future__ import annotations

import numpy as np


def get_rope_index(
    input_ids_BL: np.ndarray,
    attention_mask_BL: np.ndarray | None,
    image_grid_thw: np.ndarray | None,
    video_grid_thw: np.ndarray | None,
    second_per_grid_ts=None,  # unused: time is in the text; accepted so both families share one call
    *,
    spatial_merge_size: int,
    image_token_id: int,
    video_token_id: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns (positions_3BL int32, deltas_B int32) with the contract of `rope_index.get_rope_index`: grids are
    consumed in order across the batch, padded columns hold 1, and decode step k sits at `L + k + delta`."""
    input_ids_BL = np.asarray(input_ids_BL)
    B, L = input_ids_BL.shape
    mask_BL = np.ones((B, L), bool) if attention_mask_BL is None else np.asarray(attention_mask_BL).astype(bool)
    images = [] if image_grid_thw is None else np.asarray(image_grid_thw).reshape(-1, 3).tolist()
    frames = [] if video_grid_thw is None else [
        (1, h, w) for t, h, w in np.asarray(video_grid_thw).reshape(-1, 3).tolist() for _ in range(t)]
    grids = {image_token_id: iter(images), video_token_id: iter(frames)}
    names = {image_token_id: "image", video_token_id: "video frame"}
    positions = np.ones((3, B, L), np.int64)
    deltas = np.zeros((B,), np.int64)
    m = spatial_merge_size
    for b in range(B):
        ids = input_ids_BL[b][mask_BL[b]]
        kind = np.where(ids == image_token_id, image_token_id, np.where(ids == video_token_id, video_token_id, -1))
        cuts = np.flatnonzero(np.diff(kind)) + 1
        pieces, cur = [], 0
        for start, end in zip(np.concatenate([[0], cuts]), np.concatenate([cuts, [len(ids)]])):
            k, n = int(kind[start]), int(end - start)
            if k < 0:
                pieces.append(np.broadcast_to(np.arange(n) + cur, (3, n)))
                cur += n
                continue
            while n > 0:  # a run may hold several grids when nothing separates them
                grid = next(grids[k], None)
                if grid is None:
                    raise ValueError(f"row {b}: more {names[k]} tokens in input_ids than the grids give")
                t, h, w = int(grid[0]), int(grid[1]) // m, int(grid[2]) // m
                if t * h * w > n:
                    raise ValueError(f"row {b}: a run of {n} {names[k]} tokens is shorter than its grid {tuple(grid)}")
                tt, hh, ww = np.meshgrid(np.arange(t), np.arange(h), np.arange(w), indexing="ij")
                pieces.append(np.stack([tt.ravel(), hh.ravel(), ww.ravel()]) + cur)
                cur += max(h, w)
                n -= t * h * w
        row = np.concatenate(pieces, axis=1) if pieces else np.zeros((3, 0), np.int64)
        positions[:, b, mask_BL[b]] = row
        deltas[b] = int(row.max()) + 1 - L if row.size else 1 - L
    return positions.astype(np.int32), deltas.astype(np.int32)
