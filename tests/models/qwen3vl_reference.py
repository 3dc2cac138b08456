"""A tiny random transformers Qwen3-VL, saved with save_pretrained, and a prompt batch in both video layouts: the
reference for the Qwen3-VL parity tests."""
from __future__ import annotations

import numpy as np
import torch
from transformers import Qwen3VLConfig as HFQwen3VLConfig
from transformers import Qwen3VLForConditionalGeneration

from tempr1_jax.models import config as C

VOCAB = 512


def tiny_config(tie: bool = False) -> C.Qwen3VLConfig:
    return C.qwen3_tiny(vocab_size=VOCAB, tie_word_embeddings=tie)


def hf_model(cfg: C.Qwen3VLConfig, seed: int = 0) -> Qwen3VLForConditionalGeneration:
    t, v = cfg.text, cfg.vision
    hf_cfg = HFQwen3VLConfig(
        text_config=dict(vocab_size=t.vocab_size, hidden_size=t.hidden_size, intermediate_size=t.intermediate_size,
                         num_hidden_layers=t.num_hidden_layers, num_attention_heads=t.num_attention_heads,
                         num_key_value_heads=t.num_key_value_heads, head_dim=t.head_dim, rms_norm_eps=t.rms_norm_eps,
                         max_position_embeddings=t.max_position_embeddings, tie_word_embeddings=t.tie_word_embeddings,
                         rope_parameters={"rope_type": "default", "rope_theta": t.rope_theta,
                                          "mrope_section": list(t.mrope_section), "mrope_interleaved": True},
                         bos_token_id=cfg.bos_token_id, eos_token_id=cfg.eos_token_id, pad_token_id=cfg.pad_token_id),
        vision_config=dict(depth=v.depth, hidden_size=v.hidden_size, intermediate_size=v.intermediate_size,
                           num_heads=v.num_heads, in_channels=v.in_channels, patch_size=v.patch_size,
                           spatial_merge_size=v.spatial_merge_size, temporal_patch_size=v.temporal_patch_size,
                           out_hidden_size=v.out_hidden_size, num_position_embeddings=v.num_position_embeddings,
                           deepstack_visual_indexes=list(v.deepstack_visual_indexes)),
        tie_word_embeddings=t.tie_word_embeddings,
        **{k: getattr(cfg, k) for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                         "vision_end_token_id")},
    )
    torch.manual_seed(seed)
    model = Qwen3VLForConditionalGeneration._from_config(hf_cfg, dtype=torch.float32,
                                                           attn_implementation="eager").eval()
    # Default init leaves biases at 0 and norms at 1, which would hide mapping bugs: randomize everything.
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(("norm.weight", "norm1.weight", "norm2.weight")):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))
    return model


def video_span(cfg, grid, stamps: list[list[int]], outer: bool) -> list[int]:
    """A video as the processor writes it: per frame, its timestamp tokens then `<|vision_start|>` pads
    `<|vision_end|>`; `outer` keeps the chat template's own pair around it all (transformers 5.x)."""
    vs, ve, vid = cfg.vision_start_token_id, cfg.vision_end_token_id, cfg.video_token_id
    per_frame = grid[1] * grid[2] // cfg.vision.merge_unit
    body = [tok for stamp in stamps for tok in stamp + [vs] + [vid] * per_frame + [ve]]
    return [vs] + body + [ve] if outer else body


def parity_inputs(cfg: C.Qwen3VLConfig, outer: bool = True, seed: int = 0):
    """A padded batch of two. Row 0 = text, image (1,8,6), text, video A (3 frames of 4x4 patches), text; row 1
    (left-padded) = text, video B (2 frames of 6x4), text. The two videos' timestamps differ in count and spacing
    (two fps), here as random text tokens, since the tiny vocabulary has no digits. The 6x6 position table is
    resampled up (8 rows) and down (4 rows)."""
    rng = np.random.default_rng(seed)
    vs, ve, img = cfg.vision_start_token_id, cfg.vision_end_token_id, cfg.image_token_id
    text = lambda n: list(rng.integers(8, VOCAB, n))  # clear of the special ids 0..6
    grid_a, grid_b = (3, 4, 4), (2, 6, 4)
    row0 = (text(3) + [vs] + [img] * 12 + [ve] + text(2)
            + video_span(cfg, grid_a, [text(3), text(3), text(4)], outer) + text(4))
    row1 = text(2) + video_span(cfg, grid_b, [text(3), text(4)], outer) + text(5)
    L = len(row0)
    ids = np.full((2, L), cfg.pad_token_id, np.int64)
    mask = np.zeros((2, L), np.int64)
    ids[0], mask[0] = row0, 1
    ids[1, L - len(row1):], mask[1, L - len(row1):] = row1, 1
    P = cfg.vision.patch_dim
    return dict(
        input_ids=ids, attention_mask=mask,
        pixel_values=rng.standard_normal((48, P)).astype(np.float32), image_grid_thw=np.array([[1, 8, 6]]),
        pixel_values_videos=rng.standard_normal((48 + 48, P)).astype(np.float32),
        video_grid_thw=np.array([grid_a, grid_b]),
    )


def mm_token_type_ids(cfg, input_ids: np.ndarray) -> torch.Tensor:
    """transformers 5.x's modality ids (0 text, 1 image, 2 video), which its processor returns beside input_ids."""
    types = np.where(input_ids == cfg.image_token_id, 1, np.where(input_ids == cfg.video_token_id, 2, 0))
    return torch.from_numpy(types.astype(np.int64))
