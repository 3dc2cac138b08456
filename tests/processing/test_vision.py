"""Host visual preprocessing against HF's Qwen2VLImageProcessor (PIL backend) and the spec's worked examples."""
import dataclasses

import numpy as np
import pytest
import torch
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil
from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import smart_resize as hf_smart_resize

from tempr1_jax.processing import vision

NO_TOKEN_CAP = dataclasses.replace(vision.VideoSampling(), max_visual_tokens=10**9)


def test_smart_resize_worked_examples():
    assert vision.smart_resize(1080, 1920) == (1092, 1932)
    assert vision.smart_resize(10, 1000) == (28, 1008)
    assert vision.smart_resize(56, 84) == (56, 84)  # multiples of 28 within bounds pass through
    assert vision.smart_resize(70, 98) == (56, 112)  # banker's rounding: 2.5 -> 2, 3.5 -> 4
    with pytest.raises(ValueError, match="aspect ratio"):
        vision.smart_resize(10, 2500)


def test_smart_resize_matches_hf_on_random_sizes():
    rng = np.random.default_rng(0)
    for _ in range(300):
        h, w = (int(v) for v in rng.integers(28, 3000, 2))
        lo = int(rng.integers(28 * 28, 200 * 28 * 28))
        hi = lo + int(rng.integers(0, 2000 * 28 * 28))
        assert vision.smart_resize(h, w, 28, lo, hi) == hf_smart_resize(h, w, 28, lo, hi), (h, w, lo, hi)


@pytest.mark.parametrize("shape", [(70, 130), (300, 200), (28, 56), (1080, 1920)])
def test_preprocess_image_bit_equal_to_hf_pil_processor(shape):
    image = np.random.default_rng(1).integers(0, 256, (*shape, 3), np.uint8)
    hf = Qwen2VLImageProcessorPil(min_pixels=8 * 28 * 28, max_pixels=300 * 28 * 28)(images=[image], return_tensors="np")
    pixel_values_SP, grid_thw = vision.preprocess_image(image, min_pixels=8 * 28 * 28, max_pixels=300 * 28 * 28)
    np.testing.assert_array_equal(grid_thw, hf["image_grid_thw"][0])
    assert pixel_values_SP.dtype == np.float32
    np.testing.assert_array_equal(pixel_values_SP, hf["pixel_values"])


def test_video_patchify_layout_matches_hf_permutation():
    """HF's video processor layout (spec §2.1) from channels-first frames, and a direct row/column read-out."""
    frames_THWC = np.random.default_rng(2).integers(0, 256, (5, 56, 84, 3), np.uint8)  # odd T: last frame repeats
    pixel_values_SP, grid_thw = vision.patchify(frames_THWC)
    assert tuple(grid_thw) == (3, 4, 6) and pixel_values_SP.shape == (3 * 4 * 6, 1176)

    padded = np.concatenate([frames_THWC, frames_THWC[-1:]])
    x = torch.from_numpy(vision.normalize(padded)).permute(0, 3, 1, 2)  # T C H W
    gt, gh, gw = grid_thw.tolist()
    ref = x.reshape(gt, 2, 3, gh // 2, 2, 14, gw // 2, 2, 14).permute(0, 3, 6, 4, 7, 2, 1, 5, 8).reshape(gt * gh * gw, -1)
    np.testing.assert_array_equal(pixel_values_SP, ref.numpy())

    t, bh, bw, mh, mw, c, ti, y, xx = 1, 1, 2, 1, 0, 2, 1, 5, 9
    row = ((t * (gh // 2) + bh) * (gw // 2) + bw) * 4 + mh * 2 + mw
    col = ((c * 2 + ti) * 14 + y) * 14 + xx
    pixel = padded[2 * t + ti, (2 * bh + mh) * 14 + y, (2 * bw + mw) * 14 + xx, c]
    assert pixel_values_SP[row, col] == vision.normalize(np.array([[[[pixel] * 3]]], np.uint8))[0, 0, 0, c]


def test_normalize_matches_clip_statistics():
    np.testing.assert_allclose(
        vision.normalize(np.array([[[[0, 128, 255]]]], np.uint8))[0, 0, 0],
        (np.array([0, 128, 255]) / 255 - vision.CLIP_MEAN) / vision.CLIP_STD, rtol=1e-6)


def test_sample_frame_indices_worked_example():
    """10 s at 30 fps, 1280x720: 20 frames at the listed indices, 560x1008, grid (10, 40, 72), 7200 tokens."""
    idx = vision.sample_frame_indices(300, 30.0)
    np.testing.assert_array_equal(
        idx, [0, 16, 31, 47, 63, 79, 94, 110, 126, 142, 157, 173, 189, 205, 220, 236, 252, 268, 283, 299])
    assert vision.sampled_fps(len(idx), 300, 30.0) == 2.0
    assert vision.second_per_grid_t(2.0) == 1.0
    assert vision.video_frame_size(720, 1280, 20, NO_TOKEN_CAP) == (560, 1008)
    assert vision.visual_token_count(20, 560, 1008) == 7200


def test_frame_count_rules():
    s = vision.VideoSampling()
    assert len(vision.sample_frame_indices(30, 30.0, s)) == 4  # 1 s clip: raised to min_frames
    assert len(vision.sample_frame_indices(3, 30.0, s)) == 2  # fewer frames than min_frames: floored to even
    assert len(vision.sample_frame_indices(7 * 30, 30.0, s)) == 14
    assert len(vision.sample_frame_indices(25, 5.0, s)) == 10  # 5 s at 2 fps
    assert len(vision.sample_frame_indices(1000 * 30, 30.0, s)) == 448  # TempR1: at most 448 frames, spread evenly
    idx = vision.sample_frame_indices(1000 * 30, 30.0, s)
    assert idx[0] == 0 and idx[-1] == 29999 and np.all(np.diff(idx) > 0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        vision.sample_frame_indices(1, 30.0, s)


@pytest.mark.parametrize("nframes,hw", [(20, (720, 1280)), (448, (360, 640)), (4, (480, 640)), (120, (1080, 1920))])
def test_video_frame_size_respects_token_cap(nframes, hw):
    s = vision.VideoSampling()
    h, w = vision.video_frame_size(*hw, nframes, s)
    assert h % 28 == 0 and w % 28 == 0
    assert vision.visual_token_count(nframes, h, w, s) <= 3584
    assert h * w <= s.max_pixels
    uncapped = vision.video_frame_size(*hw, nframes, NO_TOKEN_CAP)
    assert h * w <= uncapped[0] * uncapped[1]


def test_resize_frames_is_pillow_bicubic_and_skips_same_size():
    from PIL import Image

    frames_THWC = np.random.default_rng(3).integers(0, 256, (2, 48, 64, 3), np.uint8)
    out_THWC = vision.resize_frames(frames_THWC, 56, 84)
    assert out_THWC.shape == (2, 56, 84, 3) and out_THWC.dtype == np.uint8
    np.testing.assert_array_equal(out_THWC[1], np.asarray(Image.fromarray(frames_THWC[1]).resize((84, 56), Image.BICUBIC)))
    assert vision.resize_frames(out_THWC, 56, 84) is out_THWC


def test_input_validation_names_the_problem():
    with pytest.raises(ValueError, match="uint8"):
        vision.patchify(np.zeros((2, 28, 28, 3), np.float32))
    with pytest.raises(ValueError, match="divisible by 28"):
        vision.patchify(np.zeros((2, 30, 28, 3), np.uint8))
