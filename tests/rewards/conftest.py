"""Shared fixtures: parser tables for the real Qwen tokenizer and for a small BPE trained in the test session."""
from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np
import pytest

from rewards_strategies import train_demo_tokenizer
from tempr1_jax.rewards import build_token_tables, compute_rewards, parse_ids, vocab_from_tokenizer
from tempr1_jax.rewards.compute import qwen_tables


@dataclasses.dataclass(frozen=True)
class Setup:
    name: str
    tokenizer: object  # tokenizers.Tokenizer
    vocab: object
    tables: object
    end_id: int

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def batch(self, rows: list[list[int]], length: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows padded with the end id to `length` columns; longer rows are cut (their length says so)."""
        ids = np.full((len(rows), length), self.end_id, np.int32)
        lengths = np.zeros(len(rows), np.int32)
        for k, row in enumerate(rows):
            ids[k, : min(len(row), length)] = row[:length]
            lengths[k] = min(len(row), length)
        return ids, lengths


@functools.lru_cache(maxsize=None)
def _qwen() -> Setup:
    wrapper, tables = qwen_tables()  # the tables `score` uses, built once per session
    tok = wrapper._tok
    return Setup("qwen", tok, vocab_from_tokenizer(tok), tables, tok.token_to_id("<|im_end|>"))


@functools.lru_cache(maxsize=None)
def _demo() -> Setup:
    tok = train_demo_tokenizer()
    vocab = vocab_from_tokenizer(tok, end_tokens=("<eos>", "<pad>"))
    return Setup("demo", tok, vocab, build_token_tables(vocab), tok.token_to_id("<eos>"))


@pytest.fixture(scope="session")
def qwen() -> Setup:
    return _qwen()


@pytest.fixture(scope="session")
def demo() -> Setup:
    return _demo()


@pytest.fixture(scope="session", params=["qwen", "demo"])
def setup(request) -> Setup:
    return {"qwen": _qwen, "demo": _demo}[request.param]()


parse_jit = jax.jit(parse_ids)  # think_required may be traced: one compilation for both
rewards_jit = jax.jit(compute_rewards, static_argnames="cfg")
