"""Placeholder expansion: one `<|image_pad|>` / `<|video_pad|>` per vision item becomes its real token count."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def expand_vision_placeholders(
    ids: Sequence[int],
    image_grid_thw: np.ndarray | None,
    video_grid_thw: np.ndarray | None,
    merge_size: int,
    image_token_id: int,
    video_token_id: int,
) -> list[int]:
    """Replaces the k-th image (video) pad token by prod(grid_thw[k]) // merge_size**2 copies of itself."""
    grids = {
        image_token_id: [] if image_grid_thw is None else np.asarray(image_grid_thw).reshape(-1, 3).tolist(),
        video_token_id: [] if video_grid_thw is None else np.asarray(video_grid_thw).reshape(-1, 3).tolist(),
    }
    used = {image_token_id: 0, video_token_id: 0}
    out: list[int] = []
    for i in ids:
        if i in grids:
            k = used[i]
            if k >= len(grids[i]):
                kind = "image" if i == image_token_id else "video"
                raise ValueError(f"the prompt has more {kind} placeholders than {kind} grids ({len(grids[i])})")
            out.extend([i] * (int(np.prod(grids[i][k])) // merge_size**2))
            used[i] += 1
        else:
            out.append(i)
    for i, k in used.items():
        if k != len(grids[i]):
            kind = "image" if i == image_token_id else "video"
            raise ValueError(f"{len(grids[i])} {kind} grids were given for {k} {kind} placeholders in the prompt")
    return out
