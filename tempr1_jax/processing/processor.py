"""From a decoded video (or image) and text to the model's named inputs: the one host-side path to a prompt.

The chat template places one `<|video_pad|>`; it is expanded to the video's real token count, and frames are
patchified in the exact reference layout. Batches are left-padded, as generation wants.
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from tempr1_jax.models.config import ModelConfig
from tempr1_jax.processing import vision
from tempr1_jax.processing.inputs import expand_vision_placeholders
from tempr1_jax.processing.timestamps import timestamp_text
from tempr1_jax.processing.tokenizer import (DEFAULT_SYSTEM, VIDEO_PAD, VISION_END, VISION_START, Tokenizer,
                                             chat_prompt)


@dataclasses.dataclass(frozen=True)
class EncodedPrompt:
    """One prompt: token ids with placeholders expanded, and its video (or image) patches."""

    ids: list[int]
    pixel_values_SP: np.ndarray | None = None
    grid_thw: np.ndarray | None = None  # (3,)
    second_per_grid_t: float | None = None  # None for an image
    is_video: bool = True


def timestamped_video_text(grid_t: int, second_per_grid_t: float, position: str = "before") -> str:
    """The video's span with `text_timestamps`: `<0.0 seconds><|vision_start|><|video_pad|><|vision_end|><1.0
    seconds>...`, one span per frame group, each after the group's start time (pads expanded later); with
    `position="after"`, each group's start time follows its span instead."""
    span = VISION_START + VIDEO_PAD + VISION_END
    return "".join(span + timestamp_text(k * second_per_grid_t) if position == "after"
                   else timestamp_text(k * second_per_grid_t) + span for k in range(grid_t))


def encode_video_prompt(tokenizer: Tokenizer, cfg: ModelConfig, frames_THWC: np.ndarray, sample_fps: float,
                        text: str, system: str | None = DEFAULT_SYSTEM) -> EncodedPrompt:
    """A user turn `<video> text` with the Qwen2.5-VL chat template and the generation prompt (with
    `cfg.text_timestamps`, each frame group is its own span beside its start time as text, before or after it as
    `cfg.timestamp_position` says)."""
    v = cfg.vision
    pixel_values, grid = vision.patchify(frames_THWC, v.patch_size, v.temporal_patch_size, v.spatial_merge_size)
    spg = vision.second_per_grid_t(sample_fps, v.temporal_patch_size)
    prompt = chat_prompt([{"type": "video"}, text], system=system)
    span_grids = grid[None]
    if cfg.text_timestamps:
        prompt = prompt.replace(VISION_START + VIDEO_PAD + VISION_END, timestamped_video_text(int(grid[0]), spg,
                                                                                        cfg.timestamp_position), 1)
        span_grids = np.repeat([[1, grid[1], grid[2]]], grid[0], axis=0)
    ids = expand_vision_placeholders(tokenizer.encode(prompt), None, span_grids, v.spatial_merge_size,
                                     cfg.image_token_id, cfg.video_token_id)
    return EncodedPrompt(ids, pixel_values, grid, spg)


def encode_image_prompt(tokenizer: Tokenizer, cfg: ModelConfig, image_HWC: np.ndarray, text: str,
                        system: str | None = DEFAULT_SYSTEM) -> EncodedPrompt:
    v = cfg.vision
    pixel_values, grid = vision.preprocess_image(image_HWC, patch_size=v.patch_size, merge_size=v.spatial_merge_size,
                                                 temporal_patch_size=v.temporal_patch_size)
    ids = tokenizer.encode(chat_prompt([{"type": "image"}, text], system=system))
    ids = expand_vision_placeholders(ids, grid[None], None, v.spatial_merge_size, cfg.image_token_id,
                                     cfg.video_token_id)
    return EncodedPrompt(ids, pixel_values, grid, None, is_video=False)


def collate(prompts: Sequence[EncodedPrompt], pad_id: int) -> dict:
    """Left-padded transformers-style named inputs (numpy) for `Qwen25VL.__call__` / `prepare_inputs`."""
    L = max(len(p.ids) for p in prompts)
    ids = np.full((len(prompts), L), pad_id, np.int64)
    mask = np.zeros((len(prompts), L), np.int64)
    for b, p in enumerate(prompts):
        ids[b, L - len(p.ids):], mask[b, L - len(p.ids):] = p.ids, 1
    out = dict(input_ids=ids, attention_mask=mask)
    videos = [p for p in prompts if p.pixel_values_SP is not None and p.is_video]
    images = [p for p in prompts if p.pixel_values_SP is not None and not p.is_video]
    if videos:
        out.update(pixel_values_videos=np.concatenate([p.pixel_values_SP for p in videos]),
                   video_grid_thw=np.stack([p.grid_thw for p in videos]),
                   second_per_grid_ts=np.array([p.second_per_grid_t for p in videos]))
    if images:
        out.update(pixel_values=np.concatenate([p.pixel_values_SP for p in images]),
                   image_grid_thw=np.stack([p.grid_thw for p in images]))
    return out
