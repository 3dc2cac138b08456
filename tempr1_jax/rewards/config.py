"""Reward weights and variants. Frozen and hashable, so it can be a static argument of jit."""
from __future__ import annotations

import dataclasses
from typing import Literal


@dataclasses.dataclass(frozen=True)
class RewardConfig:
    format_weight: float = 1.0
    localization_weight: float = 1.0
    classification_weight: float = 1.0
    # Require the <think>...</think> block; by default it is optional.
    think_required: bool = False
    # tg only: plain IoU, or Time-R1's IoU * (1 - |ds|/D) * (1 - |de|/D) with D the video duration.
    tg_variant: Literal["iou", "distance_weighted_iou"] = "iou"
    # tal only: order-preserving DP over time-sorted intervals, or the ablation pairing intervals by emitted index.
    tal_matching: Literal["dp", "index"] = "dp"
    # tal only: include the count term exp(-|Np - Ng| / (min(Ng, 3) * sigma)) (the paper's R_num ablation drops it).
    tal_count: bool = True
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.tg_variant not in ("iou", "distance_weighted_iou"):
            raise ValueError(f"tg_variant must be 'iou' or 'distance_weighted_iou', got {self.tg_variant!r}")
        if self.tal_matching not in ("dp", "index"):
            raise ValueError(f"tal_matching must be 'dp' or 'index', got {self.tal_matching!r}")
        if not self.sigma > 0:
            raise ValueError(f"sigma must be positive, got {self.sigma}")
