"""The `Batch` the pipeline yields, and how per-sample features are padded into a few static shapes.

Shapes are padded up to buckets, so a jit-compiled step sees at most len(text) x len(patches) shapes, not one per
video. B is the batch size, L the text bucket, S the patch bucket, A the answer length, N = MAX_INTERVALS.
"""
from __future__ import annotations

import bisect
import dataclasses
from typing import Sequence

import jax
import numpy as np

from tempr1_jax.data.annotations import MAX_INTERVALS


@dataclasses.dataclass(frozen=True)
class Features:
    """One encoded sample, before padding."""

    input_ids: np.ndarray  # int32 [l]: prompt with the video placeholder expanded to its token count
    pixel_values_SP: np.ndarray  # float32 [s, 3*2*14*14]
    video_grid_thw: np.ndarray  # int64 [3]
    second_per_grid_t: float
    answer_ids: np.ndarray  # int32 [a]: reference answer + <|im_end|>
    intervals_N2: np.ndarray  # float32 [n, 2]
    duration: float
    task: int  # index into TASKS
    answer: int  # gvqa option index, -1 otherwise
    source_index: int  # index of the sample in its task's source


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Batch:
    """A batch of prompts with their videos and ground truth; every field is an array (a jax pytree).

    Prompt (left-padded, so all prompts end at column L - 1 and generation appends in step):
      input_ids_BL int32, attention_mask_BL bool, positions_3BL int32 (M-RoPE t/h/w ids of
      `rope_index.get_rope_index`, padded columns 1).
    Vision (the videos of all rows concatenated in row order, then zero rows up to S):
      pixel_values_SP float32 [S, 1176] (row b's patches follow row b - 1's; `video_grid_thw_B3` says how many),
      video_grid_thw_B3 int32 (grid_t, grid_h, grid_w of row b's video), second_per_grid_ts_B float32.
    Ground truth, as the on-device rewards take it:
      gt_intervals_BN2 float32 [B, 32, 2] seconds (zero beyond gt_counts_B), gt_counts_B int32, duration_B float32,
      task_B int32 (index into TASKS), answer_B int32 (gvqa option index, 0 = A; -1 for other tasks).
    SFT cold start: answer_ids_BA int32 (reference answer + <|im_end|>, right-padded), answer_mask_BA bool.
    Bookkeeping: source_index_B int32, the sample's index in its task's source ((task, index) names a sample).
    """

    input_ids_BL: np.ndarray
    attention_mask_BL: np.ndarray
    positions_3BL: np.ndarray
    pixel_values_SP: np.ndarray
    video_grid_thw_B3: np.ndarray
    second_per_grid_ts_B: np.ndarray
    gt_intervals_BN2: np.ndarray
    gt_counts_B: np.ndarray
    duration_B: np.ndarray
    task_B: np.ndarray
    answer_B: np.ndarray
    answer_ids_BA: np.ndarray
    answer_mask_BA: np.ndarray
    source_index_B: np.ndarray

    def model_inputs(self) -> dict:
        """The transformers-style names `Qwen25VL.prepare_inputs` takes (positions included, so none are recomputed)."""
        return dict(input_ids=self.input_ids_BL, attention_mask=self.attention_mask_BL,
                    pixel_values_videos=self.pixel_values_SP, video_grid_thw=self.video_grid_thw_B3,
                    second_per_grid_ts=self.second_per_grid_ts_B, position_ids=self.positions_3BL)


@dataclasses.dataclass(frozen=True)
class Buckets:
    """Static sizes to pad to: the smallest bucket that fits is used. `patches` count per batch row, so the patch
    bucket of a batch of B rows is B * patches[i] (14336 = 3584 tokens * 4 patches, TempR1's per-video cap)."""

    text: tuple[int, ...] = (1024, 2048, 4096, 8192)
    patches: tuple[int, ...] = (1024, 4096, 8192, 14336)
    answer: int = 384

    def __post_init__(self):
        for name in ("text", "patches"):
            sizes = getattr(self, name)
            if not sizes or list(sizes) != sorted(set(sizes)):
                raise ValueError(f"Buckets.{name} must be strictly increasing and non-empty, got {sizes}")


def _fit(sizes: Sequence[int], n: int, what: str) -> int:
    i = bisect.bisect_left(sizes, n)
    if i == len(sizes):
        raise ValueError(f"{what} of {n} exceeds the largest bucket {sizes[-1]}; add a larger bucket "
                         "(or lower the video's max_visual_tokens)")
    return sizes[i]


def pad_batch(batch: Batch, text: int, patches: int, pad_id: int) -> Batch:
    """`batch` with its prompts left-padded to `text` columns and its patch axis zero-padded to `patches` rows:
    the same samples in a larger bucket (on several hosts every process must reach the largest local shape)."""
    B, L = batch.input_ids_BL.shape
    S = batch.pixel_values_SP.shape[0]
    if text < L or patches < S:
        raise ValueError(f"cannot pad a batch of {L} text columns and {S} patch rows down to {text} and {patches}")
    if (text, patches) == (L, S):
        return batch  # the usual case on a host with the largest bucket: no copy of the pixels
    d = text - L
    left = lambda x, value: np.concatenate([np.full(x.shape[:-1] + (d,), value, x.dtype), x], axis=-1)
    return dataclasses.replace(
        batch, input_ids_BL=left(batch.input_ids_BL, pad_id),
        attention_mask_BL=left(batch.attention_mask_BL, False), positions_3BL=left(batch.positions_3BL, 1),
        pixel_values_SP=np.concatenate([batch.pixel_values_SP, np.zeros((patches - S,) + batch.pixel_values_SP.shape[1:],
                                                                        batch.pixel_values_SP.dtype)]))


def collate(features: Sequence[Features], buckets: Buckets, pad_id: int, rope) -> Batch:
    """Pads features to their buckets and computes positions with `rope`, called as `rope_index.get_rope_index`:
    `rope(input_ids_BL, attention_mask_BL, image_grid_thw=None, video_grid_thw_B3, second_per_grid_ts_B)`."""
    B = len(features)
    L = _fit(buckets.text, max(len(f.input_ids) for f in features), "a prompt length")
    S = B * _fit(buckets.patches, -(-sum(len(f.pixel_values_SP) for f in features) // B), "patches per row")
    A = buckets.answer
    ids_BL = np.full((B, L), pad_id, np.int32)
    mask_BL = np.zeros((B, L), bool)
    pixels_SP = np.zeros((S, features[0].pixel_values_SP.shape[1]), np.float32)
    answers_BA = np.full((B, A), pad_id, np.int32)
    answer_mask_BA = np.zeros((B, A), bool)
    intervals_BN2 = np.zeros((B, MAX_INTERVALS, 2), np.float32)
    row = 0
    for b, f in enumerate(features):
        ids_BL[b, L - len(f.input_ids):] = f.input_ids
        mask_BL[b, L - len(f.input_ids):] = True
        pixels_SP[row: row + len(f.pixel_values_SP)] = f.pixel_values_SP
        row += len(f.pixel_values_SP)
        if len(f.answer_ids) > A:
            raise ValueError(f"reference answer of {len(f.answer_ids)} tokens exceeds Buckets.answer={A}")
        answers_BA[b, : len(f.answer_ids)] = f.answer_ids
        answer_mask_BA[b, : len(f.answer_ids)] = True
        intervals_BN2[b, : len(f.intervals_N2)] = f.intervals_N2
    grid_B3 = np.stack([f.video_grid_thw for f in features]).astype(np.int32)
    spg_B = np.array([f.second_per_grid_t for f in features], np.float32)
    positions_3BL, _ = rope(ids_BL, mask_BL, None, grid_B3, spg_B)
    return Batch(
        input_ids_BL=ids_BL, attention_mask_BL=mask_BL,
        positions_3BL=np.asarray(positions_3BL, np.int32), pixel_values_SP=pixels_SP, video_grid_thw_B3=grid_B3,
        second_per_grid_ts_B=spg_B, gt_intervals_BN2=intervals_BN2,
        gt_counts_B=np.array([len(f.intervals_N2) for f in features], np.int32),
        duration_B=np.array([f.duration for f in features], np.float32),
        task_B=np.array([f.task for f in features], np.int32),
        answer_B=np.array([f.answer for f in features], np.int32),
        answer_ids_BA=answers_BA, answer_mask_BA=answer_mask_BA,
        source_index_B=np.array([f.source_index for f in features], np.int32),
    )
