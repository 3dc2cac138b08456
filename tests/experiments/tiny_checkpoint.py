"""A Hugging Face folder with a tiny random model and its own small tokenizer: fast enough for end-to-end tests.

The 512-id byte-level BPE (instead of Qwen's 151k ids) keeps the embedding, the head and the parser tables small;
predict.py and the notebook pick the folder's tokenizer.json up by themselves.
"""
import os
import zlib

import numpy as np
from flax import nnx

from tempr1_jax.data.annotations import Sample
from tempr1_jax.data.prompts import prompt_text, reference_answer
from tempr1_jax.models import abstract_model, make_mesh, materialize, save_pretrained
from tempr1_jax.models.config import ModelConfig, tiny
from tempr1_jax.processing.tokenizer import DEFAULT_SYSTEM, chat_prompt, train_small_tokenizer

VOCAB = 512


def _texts() -> list[str]:
    """Prompts and answers of every task, so that the BPE merges what the tests tokenize."""
    out = []
    for task in ("tg", "dtg", "vhd", "gvqa", "tal"):
        s = Sample(uid="t", task=task, video="v.mp4", queries=("a red circle moves to the left.", "it flashes."),
                   intervals=((1.5, 4.0), (5.0, 7.5)), options=("A", "B", "C", "D", "E"), answer=1)
        out += [chat_prompt([{"type": "video"}, prompt_text(s, 9.0, think)], DEFAULT_SYSTEM) for think in (True, False)]
        out.append(reference_answer(s))
    return out


def write_tiny_checkpoint(path: str, seed: int = 3, cfg: ModelConfig | None = None) -> str:
    """Random normal weights (std 0.1) drawn on the host: `init_model`'s jit would cost seconds of compile per test.
    `cfg` is a preset over the `VOCAB` ids (default `tiny`; `qwen3_tiny(VOCAB)` for a Qwen3-VL folder)."""
    import jax

    train_small_tokenizer(_texts(), os.path.join(path, "tokenizer.json"), VOCAB)
    cfg = cfg or tiny(vocab_size=VOCAB)
    graphdef, abstract = abstract_model(cfg, make_mesh((1, 1, 1), jax.devices()[:1]))
    shapes = {p: v.get_value().shape for p, v in nnx.to_flat_state(abstract)}

    def read(param_path, index):  # the whole parameter from its own seed, then this shard of it
        rng = np.random.default_rng([seed, zlib.crc32("/".join(map(str, param_path)).encode())])
        return (0.1 * rng.standard_normal(shapes[param_path])).astype(np.float32)[index]

    save_pretrained(materialize(graphdef, abstract, read), path)
    return path
