"""Textual timestamps (`ModelConfig.text_timestamps`): the prompt layout, its M-RoPE positions, and the config flag."""
import dataclasses

import numpy as np
import pytest

from tempr1_jax.data.pipeline import rope_for
from tempr1_jax.models.config import ModelConfig, qwen2_5_vl_7b
from tempr1_jax.processing.processor import encode_video_prompt
from tempr1_jax.processing.timestamps import timestamp_text
from tempr1_jax.processing.tokenizer import load_tokenizer


def _prompt(text_timestamps: bool, position: str = "before"):
    tok = load_tokenizer()
    cfg = dataclasses.replace(qwen2_5_vl_7b(), text_timestamps=text_timestamps, timestamp_position=position)
    frames = np.random.default_rng(0).integers(0, 256, (6, 56, 84, 3), np.uint8)
    return tok, cfg, encode_video_prompt(tok, cfg, frames, sample_fps=2.0, text="When?")


def test_each_frame_group_follows_its_start_time_as_text():
    assert timestamp_text(2.0) == "<2.0 seconds>" and timestamp_text(12.25) == "<12.2 seconds>"
    tok, cfg, p = _prompt(True)
    _, _, plain = _prompt(False)
    assert p.grid_thw.tolist() == plain.grid_thw.tolist() == [3, 4, 6]
    np.testing.assert_array_equal(p.pixel_values_SP, plain.pixel_values_SP)  # the vision input is unchanged
    assert p.ids.count(cfg.video_token_id) == plain.ids.count(cfg.video_token_id) == 3 * 2 * 3
    pads = "<|video_pad|>" * 6
    spans = "".join(f"<{k}.0 seconds><|vision_start|>{pads}<|vision_end|>" for k in range(3))
    assert spans in tok.decode(p.ids, skip_special_tokens=False)
    assert "seconds>" not in tok.decode(plain.ids, skip_special_tokens=False)


def test_after_each_frame_group_its_start_time_follows_its_span():
    tok, cfg, p = _prompt(True, "after")
    _, _, before = _prompt(True)
    assert p.ids.count(cfg.video_token_id) == 18 and sorted(p.ids) == sorted(before.ids)  # the same tokens, moved
    pads = "<|video_pad|>" * 6
    spans = "".join(f"<|vision_start|>{pads}<|vision_end|><{k}.0 seconds>" for k in range(3))
    assert spans in tok.decode(p.ids, skip_special_tokens=False)
    ids = np.array([p.ids])
    pos_3L = rope_for(cfg)(ids, None, None, p.grid_thw[None], np.array([p.second_per_grid_t]))[0][:, 0]
    vid = np.flatnonzero(ids[0] == cfg.video_token_id)
    for k in range(3):  # the time text after a group resumes one past the group's largest position
        group = vid[6 * k: 6 * (k + 1)]
        assert (pos_3L[:, group[-1] + 2] == pos_3L[:, group].max() + 2).all()


def test_a_bad_timestamp_position_is_named():
    with pytest.raises(ValueError, match="timestamp_position 'middle'"):
        dataclasses.replace(qwen2_5_vl_7b(), text_timestamps=True, timestamp_position="middle")


def test_every_frame_group_is_a_span_whose_positions_start_after_its_timestamp():
    tok, cfg, p = _prompt(True)
    ids = np.array([p.ids])
    pos_3L = rope_for(cfg)(ids, None, None, p.grid_thw[None], np.array([p.second_per_grid_t]))[0][:, 0]
    vid = np.flatnonzero(ids[0] == cfg.video_token_id)
    for k in range(3):
        group = vid[6 * k: 6 * (k + 1)]
        before = pos_3L[:, group[0] - 1]  # the group's <|vision_start|>, after its timestamp text
        assert (pos_3L[0, group] == before[0] + 1).all()  # one temporal position per group: time is in the text
        assert pos_3L[1, group].tolist() == [before[1] + 1 + h for h in (0, 0, 0, 1, 1, 1)]
        assert pos_3L[2, group].tolist() == [before[2] + 1 + w for w in (0, 1, 2, 0, 1, 2)]
        assert (pos_3L[:, group[-1] + 1] == pos_3L[:, group].max() + 1).all()  # <|vision_end|> resumes after it
    text = np.setdiff1d(np.arange(ids.shape[1]), vid)
    assert (np.diff(pos_3L[0, text]) >= 1).all()


def test_the_flag_travels_in_config_json_and_qwen_exports_stay_exact():
    plain = qwen2_5_vl_7b()
    assert "text_timestamps" not in plain.to_hf_dict()
    assert not ModelConfig.from_hf_dict(plain.to_hf_dict()).text_timestamps
    on = dataclasses.replace(plain, text_timestamps=True)
    assert ModelConfig.from_hf_dict(on.to_hf_dict()) == on
    after = dataclasses.replace(on, timestamp_position="after")
    assert after.to_hf_dict()["timestamp_position"] == "after" and "timestamp_position" not in on.to_hf_dict()
    assert ModelConfig.from_hf_dict(after.to_hf_dict()) == after
