"""Qwen3-VL host-side processing: frame sampling, frame size, pixel values and the timestamped video prompt, as
transformers 5.24's `Qwen3VLVideoProcessor` and `Qwen3VLProcessor` produce them.

A video becomes one block per temporal patch (two frames): `<{t:.1f} seconds><|vision_start|>` + (h/32 * w/32)
`<|video_pad|>` + `<|vision_end|>`, t being the mean time of the patch's frames (frame index / video fps). Time lives
in that text; the position ids carry none (`qwen3vl_rope_index`).

Video layout. The chat template writes `<|vision_start|><|video_pad|><|vision_end|>` for a video. transformers 5.x
replaces only the pad, so the template's pair stays around the per-frame blocks; the original Qwen3-VL processor
(transformers 4.57) and vLLM replace the whole triple, dropping it. We write the original layout by default
(`outer_pair=False`), the one the released checkpoints were trained and are served with; `outer_pair=True` gives
5.x's. The model accepts both.

Records are shared with Qwen2.5-VL: a record's frames (already sampled) are resized here to Qwen3-VL's 32-pixel
grid. Resizing uses Pillow's antialiased bicubic filter, where transformers' video processor uses torchvision's,
so pixel values equal transformers' exactly when frames need no resize (or are resized by the same filter), and
otherwise differ by a few grey levels on some pixels; token ids and grids are exact.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np

from tempr1_jax.models.config import Qwen3VLConfig
from tempr1_jax.processing import vision
from tempr1_jax.processing.processor import EncodedPrompt
from tempr1_jax.processing.timestamps import timestamp_text
from tempr1_jax.processing.tokenizer import VIDEO_PAD, VISION_END, VISION_START, Tokenizer, chat_prompt

# Qwen3-VL's preprocessor statistics: 0.5 / 0.5 per channel. transformers fuses rescale and normalize into
# (x - 127.5) / 127.5 in float32, which this reproduces bit for bit.
HALF_SCALED = np.float32(0.5 * 255)


def normalize_half_inplace(x: np.ndarray, channel_axis: int) -> np.ndarray:
    x -= HALF_SCALED
    x /= HALF_SCALED
    return x


@dataclasses.dataclass(frozen=True)
class Qwen3VideoSampling:
    """transformers' `Qwen3VLVideoProcessor` parameters. Its pixel budgets count over all frames of a clip, so the
    clip's budget is TempR1's cap of 3584 visual tokens (2 frames x 32 x 32 pixels each) rather than transformers'
    class default of 768 * 32 * 32 pixels, which would shrink a 448-frame clip to 32 x 32 frames."""

    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 768
    min_pixels: int = 128 * 32 * 32  # size["shortest_edge"]
    max_pixels: int = 3584 * 2 * 32 * 32  # size["longest_edge"]
    patch_size: int = 16
    temporal_patch_size: int = 2
    merge_size: int = 2

    @property
    def factor(self) -> int:
        return self.patch_size * self.merge_size


def sampling_for(cfg: Qwen3VLConfig, s: Qwen3VideoSampling = Qwen3VideoSampling()) -> Qwen3VideoSampling:
    """`s` with the model's patch geometry and its pixel budgets scaled to keep their token counts: the released
    checkpoints' 16-pixel patches give `s` itself; small test models with other patches get budgets they can hold."""
    v = cfg.vision
    scale = (v.patch_size * v.spatial_merge_size / s.factor) ** 2
    return dataclasses.replace(s, patch_size=v.patch_size, temporal_patch_size=v.temporal_patch_size,
                               merge_size=v.spatial_merge_size, min_pixels=int(s.min_pixels * scale),
                               max_pixels=int(s.max_pixels * scale))


def sample_frame_indices(total_frames: int, video_fps: float, s: Qwen3VideoSampling = Qwen3VideoSampling()
                         ) -> np.ndarray:
    """int(duration * fps) frames, clamped to [min_frames, min(max_frames, total)], spread evenly (rounded)."""
    if total_frames < 1 or video_fps <= 0:
        raise ValueError(f"sample_frame_indices: need frames and fps > 0, got {total_frames} at {video_fps} fps")
    n = min(max(int(total_frames / video_fps * s.fps), s.min_frames), s.max_frames, total_frames)
    return np.linspace(0, total_frames - 1, n).round().astype(np.int64)


def frame_size(num_frames: int, height: int, width: int, s: Qwen3VideoSampling = Qwen3VideoSampling()
               ) -> tuple[int, int]:
    """Resized (h, w) of every frame: multiples of 32 whose clip volume t * h * w lies in [min, max_pixels]."""
    f, tf = s.factor, s.temporal_patch_size
    if num_frames < tf:
        raise ValueError(f"frame_size: {num_frames} frames, fewer than temporal_patch_size {tf}")
    if height < f or width < f:
        scale = max(f / height, f / width)
        height, width = int(height * scale), int(width * scale)
    if max(height, width) / min(height, width) > vision.MAX_ASPECT_RATIO:
        raise ValueError(f"frame_size: aspect ratio of {height}x{width} exceeds {vision.MAX_ASPECT_RATIO}")
    h, w = round(height / f) * f, round(width / f) * f
    t = round(num_frames / tf) * tf
    if t * h * w > s.max_pixels:
        beta = math.sqrt(num_frames * height * width / s.max_pixels)
        h, w = max(f, math.floor(height / beta / f) * f), max(f, math.floor(width / beta / f) * f)
    elif t * h * w < s.min_pixels:
        beta = math.sqrt(s.min_pixels / (num_frames * height * width))
        h, w = math.ceil(height * beta / f) * f, math.ceil(width * beta / f) * f
    return h, w


def max_slice_patches(s: Qwen3VideoSampling, records: vision.VideoSampling) -> int:
    """The most patches one frame of a record sampled by `records` holds after `frame_size`: the vision tower's
    full-attention row width for Qwen3-VL (as `VideoSampling.max_slice_patches` is for Qwen2.5-VL).

    A frame keeps about its record area (at most the record's widest slice) unless the clip is under min_pixels,
    when it grows to min_pixels over the clip's frames (at least the records' fewest). Rounding each side to the
    32-pixel grid then adds at most f * (h + w) + f^2 pixels, which at aspect ratio r <= SLICE_ASPECT_RATIO is
    f * sqrt(area) * (sqrt(r) + 1 / sqrt(r)) + f^2."""
    fewest_frames = vision._ceil_by(records.min_frames, records.frame_factor)
    area = max(records.max_slice_patches * records.patch_size**2, s.min_pixels / fewest_frames)
    r = math.sqrt(vision.SLICE_ASPECT_RATIO)
    f = s.factor
    return math.floor((area + f * math.sqrt(area) * (r + 1 / r) + f * f) / s.patch_size**2)


def patch_timestamps(frame_indices: Sequence[int], video_fps: float, temporal_patch_size: int = 2) -> list[float]:
    """Seconds of each temporal patch: the mean of its first and last frame's index / fps (the last frame repeated
    to fill the final patch)."""
    idx = [int(i) for i in frame_indices]
    idx += [idx[-1]] * (-len(idx) % temporal_patch_size)
    t = [i / video_fps for i in idx]
    return [(t[i] + t[i + temporal_patch_size - 1]) / 2 for i in range(0, len(t), temporal_patch_size)]


def video_text(grid_thw: Sequence[int], timestamps: Sequence[float], merge_size: int, outer_pair: bool) -> str:
    """The expanded video: one timestamped vision block per temporal patch (see the module docstring)."""
    per_frame = int(grid_thw[1]) * int(grid_thw[2]) // merge_size**2
    blocks = "".join(timestamp_text(t) + VISION_START + VIDEO_PAD * per_frame + VISION_END for t in timestamps)
    return VISION_START + blocks + VISION_END if outer_pair else blocks


def preprocess_video(frames_THWC: np.ndarray, s: Qwen3VideoSampling = Qwen3VideoSampling()
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Sampled uint8 frames -> (pixel_values_SP float32 [S, 3*2*16*16], grid_thw [3]) at Qwen3-VL's frame size."""
    h, w = frame_size(len(frames_THWC), *frames_THWC.shape[1:3], s)
    frames_THWC = vision.resize_frames(frames_THWC, h, w)
    return vision.patchify(frames_THWC, s.patch_size, s.temporal_patch_size, s.merge_size, normalize_half_inplace)


def encode_video_prompt(tokenizer: Tokenizer, cfg: Qwen3VLConfig, frames_THWC: np.ndarray,
                        frame_indices: Sequence[int], video_fps: float, text: str, system: str | None = None,
                        outer_pair: bool = False, sampling: Qwen3VideoSampling | None = None) -> EncodedPrompt:
    """A user turn `<video> text` with Qwen3-VL's chat template (no system turn unless given) and the generation
    prompt. `frame_indices` are the frames' indices in the source video, whose rate is `video_fps`; `sampling`
    defaults to `sampling_for(cfg)`."""
    v = cfg.vision
    sampling = sampling_for(cfg) if sampling is None else sampling
    if (v.patch_size, v.temporal_patch_size, v.spatial_merge_size) != (
            sampling.patch_size, sampling.temporal_patch_size, sampling.merge_size):
        raise ValueError(f"Qwen3VideoSampling patches {sampling} do not match the model's vision config {v}")
    if len(frame_indices) != len(frames_THWC):
        raise ValueError(f"{len(frame_indices)} frame indices for {len(frames_THWC)} frames")
    pixel_values, grid = preprocess_video(frames_THWC, sampling)
    stamps = patch_timestamps(frame_indices, video_fps, v.temporal_patch_size)
    placeholder = VISION_START + VIDEO_PAD + VISION_END
    prompt = chat_prompt([{"type": "video"}, text], system=system)
    prompt = prompt.replace(placeholder, video_text(grid, stamps, v.spatial_merge_size, outer_pair), 1)
    # second_per_grid_t is Qwen2.5-VL's temporal position scale; Qwen3-VL positions carry no time.
    return EncodedPrompt(tokenizer.encode(prompt), pixel_values, grid, second_per_grid_t=0.0)
