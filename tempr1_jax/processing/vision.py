"""Qwen2.5-VL visual preprocessing on the host, in numpy: frame sampling, pixel budgets, resize and patchify.

The rules follow qwen-vl-utils (`smart_resize`, `smart_nframes`, `fetch_video`) and the HF image processor's patch
layout (`Qwen2VLImageProcessor`). Everything here runs once per video at preparation time (datasets/) or
once per sample in the input pipeline, never inside jit.

Parity notes:
- Resizing uses Pillow's bicubic filter (`Image.BICUBIC`, which is antialiased when downscaling), as the HF slow
  image processor and qwen-vl-utils' `fetch_image` do, so `preprocess_image` equals `Qwen2VLImageProcessor` (PIL
  backend) bit for bit. qwen-vl-utils resizes *videos* with torchvision's antialiased bicubic instead; the two filters
  differ by a few grey levels on some pixels, so video pixels match HF only when the same frames are fed to both.
- Rescale and normalize give HF's float32 values bit for bit: (x / 255 - mean) / std in float32 (see `normalize`).
"""
from __future__ import annotations

import dataclasses
import math

import einops
import numpy as np
from PIL import Image

# OpenAI CLIP statistics, the ones in Qwen2.5-VL's preprocessor_config.json.
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)

# qwen-vl-utils image budgets (also the hub preprocessor_config.json values).
IMAGE_MIN_PIXELS = 4 * 28 * 28
IMAGE_MAX_PIXELS = 16384 * 28 * 28
MAX_ASPECT_RATIO = 200
SLICE_ASPECT_RATIO = 4  # frames up to 4:1 (or 1:4) always fit the vision tower's attention rows


def _round_by(x: float, factor: int) -> int:
    return round(x / factor) * factor  # Python round: banker's rounding on .5, as qwen-vl-utils


def _ceil_by(x: float, factor: int) -> int:
    return math.ceil(x / factor) * factor


def _floor_by(x: float, factor: int) -> int:
    return math.floor(x / factor) * factor


def smart_resize(
    height: int,
    width: int,
    factor: int = 28,
    min_pixels: int = IMAGE_MIN_PIXELS,
    max_pixels: int = IMAGE_MAX_PIXELS,
) -> tuple[int, int]:
    """Target (height, width): multiples of `factor`, area within [min_pixels, max_pixels], aspect ratio kept.

    qwen-vl-utils' rule, except that the max-pixels branch also clamps each side to at least `factor` (as HF v5 does),
    where qwen-vl-utils would return a zero side for extreme aspect ratios.
    """
    if height <= 0 or width <= 0:
        raise ValueError(f"smart_resize: height and width must be positive, got {height}x{width}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"smart_resize: absolute aspect ratio must be at most {MAX_ASPECT_RATIO}, got {height}x{width} "
            f"({max(height, width) / min(height, width):.1f})"
        )
    if min_pixels > max_pixels:
        raise ValueError(f"smart_resize: min_pixels {min_pixels} > max_pixels {max_pixels}")
    h_bar = max(factor, _round_by(height, factor))
    w_bar = max(factor, _round_by(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, _floor_by(height / beta, factor))
        w_bar = max(factor, _floor_by(width / beta, factor))
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = _ceil_by(height * beta, factor)
        w_bar = _ceil_by(width * beta, factor)
    return h_bar, w_bar


@dataclasses.dataclass(frozen=True)
class VideoSampling:
    """How a video becomes model frames: qwen-vl-utils defaults, plus TempR1's 448-frame and 3584-token caps."""

    fps: float = 2.0
    min_frames: int = 4
    max_frames: int = 448
    min_pixels: int = 128 * 28 * 28  # per frame
    max_pixels: int = 768 * 28 * 28  # per frame
    total_pixels: int = int(128000 * 28 * 28 * 0.9)  # over all frames, before the token cap
    max_visual_tokens: int = 3584
    frame_factor: int = 2
    patch_size: int = 14
    merge_size: int = 2
    temporal_patch_size: int = 2

    def __post_init__(self):
        if self.fps <= 0:
            raise ValueError(f"VideoSampling.fps must be > 0, got {self.fps}")
        if not 0 < self.min_frames <= self.max_frames:
            raise ValueError(f"VideoSampling needs 0 < min_frames <= max_frames, got {self.min_frames}, {self.max_frames}")
        if self.frame_factor % self.temporal_patch_size:
            raise ValueError(
                f"VideoSampling.frame_factor {self.frame_factor} must be a multiple of temporal_patch_size "
                f"{self.temporal_patch_size}"
            )

    @property
    def factor(self) -> int:
        """Side multiple of a resized frame: one merged token covers factor x factor pixels."""
        return self.patch_size * self.merge_size

    @property
    def max_slice_patches(self) -> int:
        """The most patches a temporal slice (frame pair) of a clip can hold under these budgets, for frames up to
        SLICE_ASPECT_RATIO wide either way: the row width of the vision tower's full-attention tables, so that rows
        are as wide as the data needs rather than the 1,792-token worst case of any config.

        Above min_pixels `smart_resize` floors into the budget. Below it, it rounds each side up to the next
        `factor`, which overshoots a floor of T merged tokens by up to sqrt(T) (sqrt(r) + 1/sqrt(r)) + 1 tokens at
        aspect ratio r (the tests' 16-token frames come out at 20)."""
        f2 = self.factor**2
        cap = self.max_visual_tokens * self.temporal_patch_size / _ceil_by(self.min_frames, self.frame_factor) * f2
        floored = int(min(max(self.max_pixels, int(self.min_pixels * 1.05)), cap)) // f2
        t = min(self.min_pixels, cap) / f2
        r = math.sqrt(SLICE_ASPECT_RATIO)
        ceiled = math.floor(t + math.sqrt(t) * (r + 1 / r) + 1)
        return max(floored, ceiled) * self.merge_size**2


def sample_frame_indices(total_frames: int, video_fps: float, sampling: VideoSampling = VideoSampling()) -> np.ndarray:
    """Indices of the frames to keep (qwen-vl-utils `smart_nframes` + linspace/round), int64 [nframes].

    nframes = duration * fps, clamped to [min_frames, min(max_frames, total_frames)] and floored to a multiple of
    `frame_factor`; the indices spread evenly over the whole video, first and last frame included.
    """
    f = sampling.frame_factor
    if total_frames < f or video_fps <= 0:
        raise ValueError(
            f"sample_frame_indices: need at least {f} frames and fps > 0, got {total_frames} frames at {video_fps} fps"
        )
    min_frames = _ceil_by(sampling.min_frames, f)
    max_frames = _floor_by(min(sampling.max_frames, total_frames), f)
    nframes = total_frames / video_fps * sampling.fps
    nframes = min(max(nframes, min_frames), max_frames, total_frames)
    nframes = _floor_by(nframes, f)
    if not f <= nframes <= total_frames:
        raise ValueError(f"sample_frame_indices: nframes {nframes} outside [{f}, {total_frames}]")
    return np.linspace(0, total_frames - 1, nframes).round().astype(np.int64)


def sampled_fps(nframes: int, total_frames: int, video_fps: float) -> float:
    """Frames per second of the sampled clip, as qwen-vl-utils reports it to the processor."""
    return nframes / max(total_frames, 1e-6) * video_fps


def video_frame_size(height: int, width: int, nframes: int, sampling: VideoSampling = VideoSampling()) -> tuple[int, int]:
    """Resized (h, w) of every frame of an `nframes` clip: per-frame and total pixel budgets, then the token cap.

    qwen-vl-utils gives each frame max(min(max_pixels, total_pixels / nframes * 2), 1.05 * min_pixels). TempR1 also
    caps the clip at `max_visual_tokens` merged tokens, nframes/2 * h/28 * w/28; that cap wins over min_pixels,
    since long clips at the 128-token floor would otherwise exceed it many times over.
    """
    f = sampling.frame_factor
    per_frame = max(min(sampling.max_pixels, sampling.total_pixels / nframes * f), int(sampling.min_pixels * 1.05))
    tokens_per_frame_pair = sampling.max_visual_tokens * sampling.temporal_patch_size / nframes
    cap = int(tokens_per_frame_pair * sampling.factor**2)
    max_pixels = min(per_frame, cap)
    min_pixels = min(sampling.min_pixels, max_pixels)
    h, w = smart_resize(height, width, sampling.factor, min_pixels=min_pixels, max_pixels=max_pixels)
    if (h // sampling.patch_size) * (w // sampling.patch_size) > sampling.max_slice_patches:
        raise ValueError(
            f"video_frame_size: {height}x{width} resizes to {h}x{w}, more patches per frame than the "
            f"{sampling.max_slice_patches} the vision tower's attention rows hold (aspect ratio beyond "
            f"{SLICE_ASPECT_RATIO}:1 under a small min_pixels); crop the video"
        )
    tokens = visual_token_count(nframes, h, w, sampling)
    if tokens > sampling.max_visual_tokens:
        raise ValueError(
            f"video_frame_size: {nframes} frames of {height}x{width} need {tokens} visual tokens at the smallest "
            f"allowed size {h}x{w}, over the cap of {sampling.max_visual_tokens}; lower fps or max_frames"
        )
    return h, w


def visual_token_count(nframes: int, height: int, width: int, sampling: VideoSampling = VideoSampling()) -> int:
    """LLM tokens of a clip after the 2x2 merge: grid_t * (h/28) * (w/28)."""
    grid_t = -(-nframes // sampling.temporal_patch_size)
    return grid_t * (height // sampling.factor) * (width // sampling.factor)


def second_per_grid_t(sample_fps: float, temporal_patch_size: int = 2) -> float:
    """Seconds spanned by one temporal patch, the `second_per_grid_ts` entry that M-RoPE scales t positions by."""
    return temporal_patch_size / sample_fps


def resize_frames(frames_THWC: np.ndarray, height: int, width: int) -> np.ndarray:
    """Pillow bicubic resize of every uint8 RGB frame to (height, width); frames already that size are returned as is."""
    if frames_THWC.dtype != np.uint8 or frames_THWC.ndim != 4 or frames_THWC.shape[-1] != 3:
        raise ValueError(f"resize_frames expects uint8 [T, H, W, 3], got {frames_THWC.dtype} {frames_THWC.shape}")
    if frames_THWC.shape[1:3] == (height, width):
        return frames_THWC
    out_THWC = np.empty((frames_THWC.shape[0], height, width, 3), np.uint8)
    for t, frame in enumerate(frames_THWC):
        out_THWC[t] = np.asarray(Image.fromarray(frame).resize((width, height), Image.BICUBIC))
    return out_THWC


# HF rescales in float64 (x * (1/255)) and casts to float32. For every byte that equals the float32 quotient
# x / 255 (checked here, once), so the fast float32 path is bit-identical to HF.
_BYTES = np.arange(256)
assert np.array_equal((_BYTES * (1 / 255)).astype(np.float32), _BYTES.astype(np.float32) / np.float32(255))


def _normalize_inplace(x: np.ndarray, channel_axis: int) -> np.ndarray:
    shape = [1] * x.ndim
    shape[channel_axis] = 3
    x /= np.float32(255)
    x -= CLIP_MEAN.reshape(shape)
    x /= CLIP_STD.reshape(shape)
    return x


def normalize(frames_THWC: np.ndarray) -> np.ndarray:
    """uint8 -> float32 `(x / 255 - CLIP_MEAN) / CLIP_STD`, channels last, bit-equal to HF."""
    return _normalize_inplace(frames_THWC.astype(np.float32), -1)


def patchify(
    frames_THWC: np.ndarray,
    patch_size: int = 14,
    temporal_patch_size: int = 2,
    merge_size: int = 2,
    normalize_inplace=_normalize_inplace,
) -> tuple[np.ndarray, np.ndarray]:
    """Normalized patch rows in the exact HF layout, and the (grid_t, grid_h, grid_w) grid.

    Rows are ordered (t, h/2, w/2, mh, mw), so every 4 consecutive rows form one 2x2 merge block, and columns are
    (C, tp, py, px), so each row reshapes to the Conv3d patch (3, 2, 14, 14). A clip with an odd frame count gets its
    last frame repeated. `normalize_inplace(x, channel_axis)` maps float32 bytes to model inputs (CLIP statistics by
    default). Returns pixel_values_SP float32 [grid_t*grid_h*grid_w, 3*tp*p*p] and grid_thw int64 [3].
    """
    if frames_THWC.dtype != np.uint8 or frames_THWC.ndim != 4 or frames_THWC.shape[-1] != 3:
        raise ValueError(f"patchify expects uint8 [T, H, W, 3], got {frames_THWC.dtype} {frames_THWC.shape}")
    T, H, W, C = frames_THWC.shape
    side = patch_size * merge_size
    if H % side or W % side or T == 0:
        raise ValueError(f"patchify: frames must be non-empty with sides divisible by {side}, got {frames_THWC.shape}")
    if T % temporal_patch_size:
        pad = temporal_patch_size - T % temporal_patch_size
        frames_THWC = np.concatenate([frames_THWC, np.repeat(frames_THWC[-1:], pad, axis=0)])
    gt, gh, gw = frames_THWC.shape[0] // temporal_patch_size, H // patch_size, W // patch_size
    # Moved as bytes, 4x cheaper than as floats.
    x = einops.rearrange(frames_THWC, "(gt tp) (bh mh py) (bw mw px) c -> (gt bh bw mh mw) c (tp py px)",
                         tp=temporal_patch_size, mh=merge_size, py=patch_size, mw=merge_size, px=patch_size)
    pixel_values_SP = normalize_inplace(x.astype(np.float32), 1).reshape(gt * gh * gw, -1)
    return pixel_values_SP, np.array([gt, gh, gw], np.int64)


def preprocess_video(frames_THWC: np.ndarray, sampling: VideoSampling = VideoSampling()) -> tuple[np.ndarray, np.ndarray]:
    """Patchify frames already sampled and resized (by `decode_video` or read from records)."""
    return patchify(frames_THWC, sampling.patch_size, sampling.temporal_patch_size, sampling.merge_size)


def preprocess_image(
    image_HWC: np.ndarray,
    min_pixels: int = IMAGE_MIN_PIXELS,
    max_pixels: int = IMAGE_MAX_PIXELS,
    patch_size: int = 14,
    merge_size: int = 2,
    temporal_patch_size: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """One RGB uint8 image -> (pixel_values_SP, grid_thw) with grid_t = 1: the image fills both temporal slots."""
    if image_HWC.dtype != np.uint8 or image_HWC.ndim != 3 or image_HWC.shape[-1] != 3:
        raise ValueError(f"preprocess_image expects uint8 [H, W, 3], got {image_HWC.dtype} {image_HWC.shape}")
    h, w = smart_resize(*image_HWC.shape[:2], patch_size * merge_size, min_pixels, max_pixels)
    frames_THWC = resize_frames(image_HWC[None], h, w)
    frames_THWC = np.repeat(frames_THWC, temporal_patch_size, axis=0)
    return patchify(frames_THWC, patch_size, temporal_patch_size, merge_size)
