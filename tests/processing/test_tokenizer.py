"""Qwen2.5-VL's tokenizer (derived from the shipped Qwen3-era file) and our chat template, checked against published
token ids and against an independent build from the shipped vocab.json and merges.txt."""
import functools
import json
import os

import numpy as np
import pytest

from tempr1_jax.data.annotations import Sample
from tempr1_jax.data.prompts import prompt_text
from tempr1_jax.models.config import qwen2_5_vl_7b
from tempr1_jax.processing.inputs import expand_vision_placeholders
from tempr1_jax.processing.processor import collate, encode_video_prompt
from tempr1_jax.processing.tokenizer import (QWEN2_5_VL_ADDED, QWEN2_5_VL_VOCAB, Tokenizer, chat_prompt,
                                             load_tokenizer, shipped_tokenizer_file, tokenizer_for)

SAMPLES = (
    Sample(uid="tg-0", task="tg", video="v", queries=("a person opens the fridge.",), intervals=((3.0, 7.5),),
           duration=30.0, source="t"),
    Sample(uid="dtg-0", task="dtg", video="v", queries=("He pours water.", "He drinks it."),
           intervals=((1.0, 4.0), (5.0, 9.0)), duration=60.0, source="t"),
    Sample(uid="gvqa-0", task="gvqa", video="v", queries=("Why does the boy run?",), intervals=((2.0, 6.0),),
           duration=40.0, options=("to catch a ball", "it rains", "to eat", "he is late", "to hide"), answer=0,
           source="t"),
)
COMPLETION = "<think>The fridge opens at 3.0 s.</think>\n<answer>3.0 to 7.5</answer><|im_end|>"


def _strings() -> list[str]:
    """Real prompts (chat template, video placeholder, think instruction) and a completion with a think block."""
    prompts = [chat_prompt([{"type": "video"}, prompt_text(s, s.duration, think)]) for s in SAMPLES
               for think in (True, False)]
    return prompts + [COMPLETION, "Hello world! 你好，世界。 <tool_call>x</tool_call><|file_sep|>"]


@functools.lru_cache(maxsize=None)
def _independent():
    """transformers' Qwen2Tokenizer from the wheel's vocab.json + merges.txt (its own pre-tokenizer code) with
    Qwen2.5-VL's 22 added tokens: what the derivation must equal."""
    from transformers import AddedToken, Qwen2Tokenizer
    folder = os.path.dirname(shipped_tokenizer_file())
    with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
        merges = [tuple(line.split()) for line in f if line.strip() and not line.startswith("#version")]
    tok = Qwen2Tokenizer(vocab=vocab, merges=merges)
    tok.add_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN2_5_VL_ADDED])
    return tok


def test_default_is_qwen2_5_vl_vocabulary():
    tok = load_tokenizer()
    assert tok.vocab_size == QWEN2_5_VL_VOCAB == 151_665
    assert [tok.id_to_token(i) for i in range(151_643, 151_665)] == list(QWEN2_5_VL_ADDED)
    assert tok.id_to_token(151_664) == "<|file_sep|>" and tok.id_to_token(151_665) is None
    for extra in ("<think>", "</think>", "<tool_response>", "</tool_response>"):
        with pytest.raises(KeyError, match="not in the vocabulary"):
            tok.token_id(extra)
    # The shipped file is the Qwen3-era one: the four extra added tokens are what the derivation drops.
    assert Tokenizer(shipped_tokenizer_file()).vocab_size == 151_669


def test_ids_match_an_independent_build_on_real_prompts():
    ours, ref = load_tokenizer(), _independent()
    for text in _strings():
        ids = ours.encode(text)
        assert ids == ref.encode(text, add_special_tokens=False), text
        assert max(ids) < QWEN2_5_VL_VOCAB
        assert ours.decode(ids, skip_special_tokens=False) == text


def test_think_is_ordinary_text_pieces():
    ours, qwen3 = load_tokenizer(), Tokenizer(shipped_tokenizer_file())
    assert ours.encode("<think>") == [13708, 766, 29] and ours.encode("</think>") == [522, 26865, 29]
    assert all(i < 151_643 for i in ours.encode("<think>\nhello</think>"))  # BPE pieces, no added token
    assert qwen3.encode("<think>") == [151_667]
    # Outside the think tags both tokenize alike; a think prompt differs exactly where the tags are.
    prompt = _strings()[0]
    assert "<think>" in prompt
    plain = prompt.replace("<think>", "").replace("</think>", "")
    assert ours.encode(plain) == qwen3.encode(plain)
    assert ours.encode(prompt) != qwen3.encode(prompt)


def _folder(tmp_path, name: str, tokenizer: Tokenizer | None) -> str:
    path = tmp_path / name
    path.mkdir()
    if tokenizer is not None:
        tokenizer._tok.save(str(path / "tokenizer.json"))
    return str(path)


def test_tokenizer_for_takes_the_checkpoint_folders_own(tmp_path):
    ckpt = _folder(tmp_path, "ckpt", load_tokenizer())
    tok = tokenizer_for(152_064, checkpoint=ckpt)
    assert tok.path == os.path.join(ckpt, "tokenizer.json") and tok.vocab_size == 151_665
    assert tokenizer_for(152_064).vocab_size == 151_665  # no checkpoint: Qwen2.5-VL's
    assert load_tokenizer(ckpt).path == tok.path  # a folder holding tokenizer.json
    with pytest.warns(UserWarning, match="has no tokenizer.json: using Qwen2.5-VL's"):
        assert tokenizer_for(152_064, checkpoint=_folder(tmp_path, "bare", None)).vocab_size == 151_665


def test_ids_past_trained_or_existing_rows_are_errors(tmp_path):
    ckpt = _folder(tmp_path, "ckpt", load_tokenizer())
    with pytest.raises(ValueError, match=r"151665\.\.151668 \(<tool_response>, </tool_response>, <think>, </think>\)"
                       r" index embedding rows the checkpoint never trained"):
        tokenizer_for(152_064, shipped_tokenizer_file(), ckpt)
    with pytest.raises(ValueError, match="has 151665 ids but the model's embedding has 1024 rows"):
        tokenizer_for(1024)


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
