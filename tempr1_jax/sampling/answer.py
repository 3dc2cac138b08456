"""Answer encoded prompts with a model: collate, generate, and decode the completions to text."""
from __future__ import annotations

import dataclasses
from typing import Sequence

import jax
import numpy as np

from tempr1_jax.models.qwen25vl import Qwen25VL
from tempr1_jax.processing.processor import EncodedPrompt, collate
from tempr1_jax.processing.tokenizer import Tokenizer
from tempr1_jax.sampling.sampler import SamplingConfig, generate


def answer(model: Qwen25VL, tokenizer: Tokenizer, prompts: Sequence[EncodedPrompt],
           cfg: SamplingConfig | None = None, rng: jax.Array | None = None) -> list[str]:
    # The tokenizer decides where an answer ends (SamplingConfig's defaults are Qwen's ids).
    cfg = dataclasses.replace(cfg or SamplingConfig(), eos_ids=(tokenizer.eos_id, tokenizer.pad_id),
                              pad_id=tokenizer.pad_id)
    inputs = model.prepare_inputs(**collate(prompts, tokenizer.pad_id))
    out = generate(model, inputs, cfg, rng)
    tokens, lengths = np.asarray(out.tokens_BT), np.asarray(out.lengths_B)
    return [tokenizer.decode(tokens[b, : lengths[b]]) for b in range(len(prompts))]
