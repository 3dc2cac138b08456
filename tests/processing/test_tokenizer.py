"""The shipped Qwen2 tokenizer and our Qwen2.5-VL chat template, checked against published token ids."""
import numpy as np

from tempr1_jax.models.config import qwen2_5_vl_7b
from tempr1_jax.processing.inputs import expand_vision_placeholders
from tempr1_jax.processing.processor import collate, encode_video_prompt
from tempr1_jax.processing.tokenizer import chat_prompt, load_tokenizer


def test_vision_token_ids_match_qwen2_5_vl():
    tok, cfg = load_tokenizer(), qwen2_5_vl_7b()
    assert tok.token_id("<|vision_start|>") == cfg.vision_start_token_id == 151652
    assert tok.token_id("<|vision_end|>") == cfg.vision_end_token_id == 151653
    assert tok.token_id("<|image_pad|>") == cfg.image_token_id == 151655
    assert tok.token_id("<|video_pad|>") == cfg.video_token_id == 151656
    assert tok.eos_id == 151645 and tok.pad_id == 151643


def test_chat_template_matches_the_transformers_integration_test():
    """transformers' Qwen2.5-VL integration test: an image then 'What kind of dog is this?'."""
    ids = load_tokenizer().encode(chat_prompt([{"type": "image"}, "What kind of dog is this?"]))
    assert ids[:16] == [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198,
                        151652, 151655]
    assert load_tokenizer().encode("Hello world! 你好，世界。") == [9707, 1879, 0, 220, 108386, 3837, 99489, 1773]


def test_video_prompt_expands_to_the_grid_token_count():
    tok, cfg = load_tokenizer(), qwen2_5_vl_7b()
    frames = np.zeros((6, 56, 84, 3), np.uint8)
    p = encode_video_prompt(tok, cfg, frames, sample_fps=2.0, text="When?")
    assert p.grid_thw.tolist() == [3, 4, 6] and p.second_per_grid_t == 1.0
    assert p.ids.count(cfg.video_token_id) == 3 * 2 * 3
    assert tok.decode(p.ids, skip_special_tokens=False).endswith("When?<|im_end|>\n<|im_start|>assistant\n")
    q = encode_video_prompt(tok, cfg, frames[:2], 2.0, "When?")
    batch = collate([p, q], tok.pad_id)
    pad = len(p.ids) - len(q.ids)
    assert pad == 12 and batch["attention_mask"][1].tolist() == [0] * pad + [1] * len(q.ids)  # left padding
    assert batch["input_ids"][1, pad:].tolist() == q.ids and batch["input_ids"][1, 0] == tok.pad_id
    assert batch["video_grid_thw"].tolist() == [[3, 4, 6], [1, 4, 6]]


def test_placeholder_count_mismatch_is_an_error():
    import pytest
    with pytest.raises(ValueError, match="more video placeholders than video grids"):
        expand_vision_placeholders([5, 9, 9], None, np.array([[1, 2, 2]]), 2, 8, 9)
    with pytest.raises(ValueError, match="2 video grids were given for 1 video placeholders"):
        expand_vision_placeholders([5, 9], None, np.array([[1, 2, 2], [1, 2, 2]]), 2, 8, 9)
