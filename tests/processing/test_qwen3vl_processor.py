"""Qwen3-VL host processing against transformers 5.24: frame sizes (its `smart_resize`), the timestamped video text
(its `Qwen3VLProcessor.replace_video_token`) tokenized by the real tokenizer, and pixel values.

transformers exports `Qwen3VLVideoProcessor` only where torchvision is installed, which this environment lacks; its
module, imported by path, still gives `smart_resize`, `sample_frames` and `patchify` (torch only), compared here
directly. Its resize (torchvision) is the one step not compared: these frames are already on the 32-pixel grid."""
import importlib
import types

import numpy as np
import pytest
import torch
from transformers.models.qwen3_vl import processing_qwen3_vl

from tempr1_jax.models.config import qwen3_vl_8b
from tempr1_jax.processing import qwen3vl_processor as q3, vision
from tempr1_jax.processing.tokenizer import (VIDEO_PAD, VISION_END, VISION_START, chat_prompt, load_tokenizer,
                                             shipped_tokenizer_file, tokenizer_for)

qwen3_tokenizer = lambda: load_tokenizer(shipped_tokenizer_file())  # the Qwen3-era file, as Qwen3-VL's
video_processing_qwen3_vl = importlib.import_module("transformers.models.qwen3_vl.video_processing_qwen3_vl")
HF = video_processing_qwen3_vl.Qwen3VLVideoProcessor


@pytest.mark.parametrize("t,h,w", [(6, 64, 96), (16, 360, 640), (448, 720, 1280), (3, 20, 700), (7, 1080, 1920)])
def test_frame_size_matches_transformers(t, h, w):
    s = q3.Qwen3VideoSampling()
    want = video_processing_qwen3_vl.smart_resize(t, h, w, temporal_factor=2, factor=32, min_pixels=s.min_pixels,
                                                  max_pixels=s.max_pixels)
    assert q3.frame_size(t, h, w, s) == tuple(want)


@pytest.mark.parametrize("total,fps", [(250, 25.0), (25, 25.0), (10 ** 5, 25.0), (901, 29.97), (3, 30.0)])
def test_frame_indices_match_transformers(total, fps):
    s = q3.Qwen3VideoSampling()
    defaults = types.SimpleNamespace(fps=s.fps, min_frames=s.min_frames, max_frames=s.max_frames)
    want = HF.sample_frames(defaults, types.SimpleNamespace(total_num_frames=total, fps=fps))
    np.testing.assert_array_equal(q3.sample_frame_indices(total, fps, s), want)


def _hf_video_text(grid, indices, fps, merge=2, temporal=2):
    """transformers 5.24's own expansion of one `<|video_pad|>`, run on a stand-in for the processor object."""
    proc = types.SimpleNamespace(video_processor=types.SimpleNamespace(merge_size=merge, temporal_patch_size=temporal),
                                 vision_start_token=VISION_START, vision_end_token=VISION_END, video_token=VIDEO_PAD)
    proc._calculate_timestamps = types.MethodType(processing_qwen3_vl.Qwen3VLProcessor._calculate_timestamps, proc)
    meta = types.SimpleNamespace(fps=fps, frames_indices=np.asarray(indices))
    return processing_qwen3_vl.Qwen3VLProcessor.replace_video_token(
        proc, {"video_grid_thw": torch.tensor([grid]), "video_metadata": [meta]}, 0)


@pytest.mark.parametrize("n_frames,fps", [(6, 25.0), (9, 29.97)])  # an odd count repeats the last frame
def test_prompt_ids_and_pixels_match_transformers(n_frames, fps):
    tok, cfg = qwen3_tokenizer(), qwen3_vl_8b()
    rng = np.random.default_rng(n_frames)
    frames = rng.integers(0, 256, (n_frames, 128, 192, 3), dtype=np.uint8)  # a size the rule keeps
    indices = np.linspace(0, 3 * fps, n_frames).round().astype(int)
    text = "When does it happen?"
    grid = (-(-n_frames // 2), 8, 12)
    template = chat_prompt([{"type": "video"}, text], system=None)
    hf_5x = template.replace(VIDEO_PAD, _hf_video_text(grid, indices, fps), 1)  # 5.x keeps the template's pair
    hf_457 = template.replace(VISION_START + VIDEO_PAD + VISION_END, _hf_video_text(grid, indices, fps), 1)
    for outer, hf_text in ((True, hf_5x), (False, hf_457)):
        enc = q3.encode_video_prompt(tok, cfg, frames, indices, fps, text, outer_pair=outer)
        assert enc.ids == tok.encode(hf_text)
        assert tuple(enc.grid_thw) == grid
        assert enc.ids.count(cfg.video_token_id) == grid[0] * grid[1] * grid[2] // 4
    # A temporal patch's time is the mean of its two frames' times.
    assert f"<{(indices[2] + indices[3]) / 2 / fps:.1f} seconds>{VISION_START}" in hf_5x
    # Pixels: transformers' fused (x - 127.5) / 127.5 in float32 (torchvision's normalize is sub_ then div_),
    # then its own patchify.
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().sub_(127.5).div_(127.5)[None]  # [1, T, C, H, W]
    want, *hf_grid = HF.patchify(None, x, patch_size=16, merge_size=2, temporal_patch_size=2)
    assert tuple(hf_grid) == grid
    np.testing.assert_array_equal(enc.pixel_values_SP, want[0].numpy())


def test_special_token_ids_match_the_qwen3vl_config():
    """The shipped Qwen tokenizer.json has the vision and chat ids transformers' Qwen3-VL config uses."""
    from transformers import Qwen3VLConfig
    tok, hf = qwen3_tokenizer(), Qwen3VLConfig()
    for name, token in (("image_token_id", "<|image_pad|>"), ("video_token_id", VIDEO_PAD),
                        ("vision_start_token_id", VISION_START), ("vision_end_token_id", VISION_END)):
        assert tok.token_id(token) == getattr(hf, name) == getattr(qwen3_vl_8b(), name)
    assert (tok.eos_id, tok.pad_id) == (qwen3_vl_8b().eos_token_id, 151643)
    assert tok.token_id("<think>") == 151667 and tok.vocab_size == 151669
    assert tokenizer_for(151936, family="qwen3_vl") == tok  # the family's default


def test_mismatched_inputs_are_named():
    tok, cfg = qwen3_tokenizer(), qwen3_vl_8b()
    frames = np.zeros((4, 128, 128, 3), np.uint8)
    with pytest.raises(ValueError, match="3 frame indices for 4 frames"):
        q3.encode_video_prompt(tok, cfg, frames, [0, 1, 2], 25.0, "x")


@pytest.mark.parametrize("records", [vision.VideoSampling(),  # the paper's record budgets
                                     vision.VideoSampling(max_frames=16, max_visual_tokens=64, min_pixels=3136,
                                                          max_pixels=12544)])
def test_no_resized_frame_is_wider_than_the_row_width_bound(records):
    # The bound sizes the vision tower's attention rows: a frame over it would be refused by `vision_layout`.
    rng = np.random.default_rng(0)
    s = q3.sampling_for(qwen3_vl_8b())
    bound, widest = q3.max_slice_patches(s, records), 0
    for _ in range(300):
        seconds, short = rng.uniform(0.5, 300), int(rng.integers(32, 1080))
        long_ = int(short * rng.uniform(1, vision.SLICE_ASPECT_RATIO))
        height, width = (short, long_) if rng.random() < 0.5 else (long_, short)
        frames = len(vision.sample_frame_indices(max(2, int(seconds * 30)), 30.0, records))
        try:
            h, w = vision.video_frame_size(height, width, frames, records)
        except ValueError:  # a record the builder refuses never reaches the processor
            continue
        h, w = q3.frame_size(frames, h, w, s)
        widest = max(widest, (h // s.patch_size) * (w // s.patch_size))
    assert 0 < widest <= bound
    assert widest > bound / 2  # a bound far above the widest frame would waste the rows' masked scores
