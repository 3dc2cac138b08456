"""A tiny random transformers Qwen2.5-VL, saved with save_pretrained: the reference for parity tests."""
from __future__ import annotations

import numpy as np
import torch
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from tempr1_jax.models import config as C

VOCAB = 512


def tiny_config(tie: bool = False) -> C.ModelConfig:
    return C.tiny(vocab_size=VOCAB, tie_word_embeddings=tie)


def hf_model(cfg: C.ModelConfig, seed: int = 0) -> Qwen2_5_VLForConditionalGeneration:
    t, v = cfg.text, cfg.vision
    hf_cfg = Qwen2_5_VLConfig(
        text_config=dict(vocab_size=t.vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
                         num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
                         num_key_value_heads=t.num_key_value_heads, rms_norm_eps=t.rms_norm_eps,
                         max_position_embeddings=t.max_position_embeddings, tie_word_embeddings=t.tie_word_embeddings,
                         rope_parameters={"rope_type": "default", "rope_theta": t.rope_theta,
                                          "mrope_section": list(t.mrope_section)},
                         bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id, pad_token_id=cfg.pad_token_id),
        vision_config=dict(depth=v.depth, hidden_size=v.hidden_size, intermediate_size=v.intermediate_size,
                           num_heads=v.num_heads, in_channels=v.in_channels, patch_size=v.patch_size,
                           spatial_merge_size=v.spatial_merge_size, temporal_patch_size=v.temporal_patch_size,
                           tokens_per_second=int(v.tokens_per_second), window_size=v.window_size,
                           out_hidden_size=v.out_hidden_size, fullatt_block_indexes=list(v.fullatt_block_indexes)),
        tie_word_embeddings=t.tie_word_embeddings,
        **{k: getattr(cfg, k) for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                         "vision_end_token_id")},
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration._from_config(hf_cfg, dtype=torch.float32,
                                                              attn_implementation="eager").eval()
    # Default init leaves biases at 0 and norms at 1, which would hide mapping bugs: randomize everything.
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight") or "norm1" in name or "norm2" in name or "ln_q" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model


def parity_inputs(cfg: C.ModelConfig, seed: int = 0):
    """A padded batch of two: row 0 = text, image (1,8,6), text, video (2,4,4), text; row 1 (left-padded) =
    text, video (2,4,4), text. Videos have second_per_grid_ts 1.0 and 2.0. The (1,8,6) image makes partial
    windows; the (2,4,4) videos (2x2 merged, window side 2) make the reference's empty padding windows."""
    rng = np.random.default_rng(seed)
    vs, ve, img, vid = (cfg.vision_start_token_id, cfg.vision_end_token_id, cfg.image_token_id, cfg.video_token_id)
    text = lambda n: list(rng.integers(8, VOCAB, n))  # clear of the special ids 0..6
    row0 = text(3) + [vs] + [img] * 12 + [ve] + text(2) + [vs] + [vid] * 8 + [ve] + text(4)
    row1 = text(2) + [vs] + [vid] * 8 + [ve] + text(5)
    L = len(row0)
    ids = np.full((2, L), cfg.pad_token_id, np.int64)
    mask = np.zeros((2, L), np.int64)
    ids[0], mask[0] = row0, 1
    ids[1, L - len(row1):], mask[1, L - len(row1):] = row1, 1
    image_grid = np.array([[1, 8, 6]])
    video_grid = np.array([[2, 4, 4], [2, 4, 4]])
    P = cfg.vision.patch_dim
    return dict(
        input_ids=ids, attention_mask=mask,
        pixel_values=rng.standard_normal((48, P)).astype(np.float32), image_grid_thw=image_grid,
        pixel_values_videos=rng.standard_normal((64, P)).astype(np.float32), video_grid_thw=video_grid,
        second_per_grid_ts=np.array([1.0, 2.0]),
    )


def to_torch(inputs: dict) -> dict:
    out = {}
    for k, v in inputs.items():
        if v is None:
            continue
        v = np.asarray(v)
        out[k] = torch.from_numpy(v.astype(np.float32) if v.dtype.kind == "f" else v.astype(np.int64))
    return out


def max_rel_err(ours, ref) -> float:
    """max |ours - ref| / max |ref|: relative to the tensor's scale, so near-zero entries do not dominate."""
    ours, ref = np.asarray(ours, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(ours - ref).max() / np.abs(ref).max())
