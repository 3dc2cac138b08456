"""A `save_pretrained` export answers a video prompt in transformers with our greedy answer, token for token.

The prompt's video has two frames, one temporal grid step. transformers 5.x places the text after a video at
`start + max(h, w) / merge`, where the original Qwen2.5-VL release (which the checkpoints were trained with, vLLM and
we follow) continues at the video's largest position + 1. With a single temporal step the video's largest position
is `start + max(h, w) / merge - 1`, so both rules give the same positions, and so the same greedy answer; with more
frames transformers' answer drifts from the one the model was trained to give (see processing/rope_index.py).
"""
import jax
import numpy as np
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from tempr1_jax.models import load_pretrained, make_mesh, save_pretrained
from tempr1_jax.processing.processor import encode_video_prompt
from tempr1_jax.processing.tokenizer import load_tokenizer
from tempr1_jax.sampling import SamplingConfig
from tempr1_jax.sampling.answer import answer
from tests.experiments.tiny_checkpoint import write_tiny_checkpoint

NEW_TOKENS = 12


def test_transformers_reproduces_our_greedy_answer_from_the_export(tmp_path):
    source = write_tiny_checkpoint(str(tmp_path / "policy"), seed=7)
    tokenizer = load_tokenizer(f"{source}/tokenizer.json")
    ours = load_pretrained(source, make_mesh((1, 1, 1), jax.devices()[:1]))
    export = str(tmp_path / "export")
    save_pretrained(ours, export)  # what a trained policy is served from

    frames = np.full((2, 56, 84, 3), 60, np.uint8)
    frames[:, 10:40, 20:60] = (230, 40, 40)
    prompt = encode_video_prompt(tokenizer, ours.cfg, frames, 2.0, "When does the red box appear?")
    assert prompt.grid_thw[0] == 1  # one temporal step: the condition under which both position rules agree
    cfg = SamplingConfig(max_new_tokens=NEW_TOKENS, eos_ids=(tokenizer.eos_id,))
    (text,) = answer(ours, tokenizer, [prompt], cfg)

    hf = Qwen2_5_VLForConditionalGeneration.from_pretrained(export, dtype=torch.float32, attn_implementation="eager")
    ids = torch.tensor([prompt.ids])
    # transformers 5.x needs the modality of every token (0 text, 2 video), or it falls back to 1-D positions.
    mm = (ids == ours.cfg.video_token_id).long() * 2
    with torch.no_grad():
        out = hf.generate(input_ids=ids, attention_mask=torch.ones_like(ids), mm_token_type_ids=mm,
                          pixel_values_videos=torch.from_numpy(prompt.pixel_values_SP),
                          video_grid_thw=torch.from_numpy(prompt.grid_thw[None].astype(np.int64)),
                          second_per_grid_ts=torch.tensor([prompt.second_per_grid_t]), max_new_tokens=NEW_TOKENS,
                          do_sample=False, eos_token_id=tokenizer.eos_id, pad_token_id=tokenizer.pad_id)
    theirs = out[0, ids.shape[1]:].tolist()
    assert tokenizer.decode(theirs) == text and len(text) > 0
