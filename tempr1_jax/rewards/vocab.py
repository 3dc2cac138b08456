"""What every token id means to the reward parser: its text bytes, and whether it ends or spoils a completion.

Rules, shared by the device parser and the host reference:
- a completion ends at its length or at the first end token (EOS `<|im_end|>`, pad `<|endoftext|>`), whichever
  comes first; everything after is ignored;
- an added token that is not special (Qwen's `<think>`, `</think>`, `<tool_call>`, ...) is its literal text, which
  the grammar needs: `<think>` as one token or as `<`, `think`, `>` reads the same;
- any other special token before the end (`<|vision_start|>`, `<|im_start|>`, ...) makes the completion malformed:
  it has no text, so it must not silently disappear from the answer.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Sequence

import tokenizers

from tempr1_jax.processing.tokenizer import ENDOFTEXT, IM_END


@dataclasses.dataclass(frozen=True)
class Vocab:
    token_bytes: tuple[bytes, ...]  # per id; b"" for end and special ids
    end_ids: frozenset[int]
    special_ids: frozenset[int]  # special tokens other than the end ones

    def __len__(self) -> int:
        return len(self.token_bytes)


@functools.lru_cache(maxsize=None)
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's byte-to-unicode map, which byte-level BPE vocabularies are written in."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(printable, chars)}


def _raw(tokenizer) -> tokenizers.Tokenizer:
    return getattr(tokenizer, "_tok", tokenizer)


def vocab_from_tokenizer(tokenizer, end_tokens: Sequence[str] = (IM_END, ENDOFTEXT)) -> Vocab:
    """The vocabulary of a byte-level BPE tokenizer (Qwen2, GPT-2 style), `tokenizers.Tokenizer` or our wrapper.

    Other tokenizer families: build a `Vocab` from their per-token byte strings directly.
    """
    tok = _raw(tokenizer)
    if not isinstance(tok.decoder, tokenizers.decoders.ByteLevel):
        raise ValueError(f"expected a byte-level BPE tokenizer, got decoder {tok.decoder!r}: build a Vocab by hand")
    to_byte = _unicode_to_byte()
    added = tok.get_added_tokens_decoder()
    end_ids, special_ids, token_bytes = set(), set(), []
    for i in range(tok.get_vocab_size(with_added_tokens=True)):
        if i in added:
            if added[i].special:
                (end_ids if added[i].content in end_tokens else special_ids).add(i)
                token_bytes.append(b"")
            else:
                token_bytes.append(added[i].content.encode())
            continue
        piece = tok.id_to_token(i)
        if piece is None:  # a hole in the id space: no text, so treat it like a special token
            special_ids.add(i)
            token_bytes.append(b"")
        else:
            token_bytes.append(bytes(to_byte[c] for c in piece))
    missing = set(end_tokens) - {added[i].content for i in end_ids}
    if missing:
        raise ValueError(f"end tokens {sorted(missing)} are not special tokens of this tokenizer")
    return Vocab(tuple(token_bytes), frozenset(end_ids), frozenset(special_ids))


def completion_text(tokenizer, vocab: Vocab, ids: Sequence[int]) -> str | None:
    """Host side: the text of a completion under the rules above, decoded by the tokenizer itself; None if spoiled."""
    ids = list(ids)
    end = next((k for k, i in enumerate(ids) if i in vocab.end_ids), len(ids))
    if any(i in vocab.special_ids for i in ids[:end]):
        return None
    return _raw(tokenizer).decode(ids[:end], skip_special_tokens=False)
