"""Video time ids as the original Qwen2.5-VL release computes them (float32, left to right, truncated), against
transformers' own index computation where its rule is the original one: the Qwen2.5-Omni thinker's `get_rope_index`
(transformers 5.x's Qwen2.5-VL class changed both the text-after-video rule and the multiplication order)."""
import functools
import types

import numpy as np
import pytest
import torch
from transformers.models.qwen2_5_omni.modeling_qwen2_5_omni import (
    Qwen2_5OmniPreTrainedModelForConditionalGeneration as Omni)

from tempr1_jax.models.config import qwen2_5_vl_7b
from tempr1_jax.processing.rope_index import get_rope_index

CFG = qwen2_5_vl_7b()
IDS = dict(image_token_id=CFG.image_token_id, video_token_id=CFG.video_token_id,
           vision_start_token_id=CFG.vision_start_token_id)
TPS = CFG.vision.tokens_per_second  # 2 for the released checkpoints

# Seconds per frame group that are not exact in binary: 448 frames of an 800 s video (2 / 0.56 = 25/7), and others.
SECOND_PER_GRID = [25 / 7, 2 / 0.56, 1 / 0.3, 2 / (448 / 1234.5), 0.7, 2 / (448 / 3599.0)]


def _omni_reference(ids, mask, grids, spgs):
    """transformers' Qwen2.5-Omni `get_rope_index` (no audio), called with the Qwen2.5-VL ids and rates."""
    config = types.SimpleNamespace(**IDS, audio_token_id=-7, audio_start_token_id=-8, position_id_per_seconds=TPS,
                                   seconds_per_chunk=2)
    self = types.SimpleNamespace(spatial_merge_size=CFG.vision.spatial_merge_size, config=config)
    self.get_llm_pos_ids_for_vision = functools.partial(Omni.get_llm_pos_ids_for_vision, self)
    pos, delta = Omni.get_rope_index(self, torch.from_numpy(ids), None, torch.from_numpy(grids), torch.from_numpy(mask),
                                     second_per_grids=torch.tensor(spgs, dtype=torch.float32))
    return pos.numpy(), delta.numpy()[:, 0]


def _batch(groups: tuple[int, int], rng):
    """Two left-padded rows: text, a video of `groups[i]` frame groups on a 2x2 merged grid, text."""
    vs, ve, vid = CFG.vision_start_token_id, CFG.vision_end_token_id, CFG.video_token_id
    rows = [list(rng.integers(100, 5000, 5)) + [vs] + [vid] * (g * 4) + [ve] + list(rng.integers(100, 5000, 7))
            for g in groups]
    L = max(map(len, rows))
    ids, mask = np.zeros((2, L), np.int64), np.zeros((2, L), np.int64)
    for b, row in enumerate(rows):
        ids[b, L - len(row):], mask[b, L - len(row):] = row, 1
    return ids, mask, np.array([[g, 4, 4] for g in groups])


@pytest.mark.parametrize("spg", SECOND_PER_GRID)
def test_time_ids_equal_the_original_rule_over_hundreds_of_frame_groups(spg):
    ids, mask, grids = _batch((224, 317), np.random.default_rng(0))
    spgs = [spg, spg * 1.5]
    ours, ours_delta = get_rope_index(ids, mask, None, grids, spgs, spatial_merge_size=2, tokens_per_second=TPS, **IDS)
    ref, ref_delta = _omni_reference(ids, mask, grids, spgs)
    np.testing.assert_array_equal(ours, ref)
    # Omni's delta counts from the row's unpadded length; ours (as transformers' Qwen2.5-VL) from the padded one.
    np.testing.assert_array_equal(ours_delta, ref_delta - (ids.shape[1] - mask.sum(1)))


def test_float64_time_ids_would_differ():
    """The check above can fail: the float64 product of the same float32 rate moves 31 of 224 frame groups of an
    800 s video sampled to 448 frames one id lower."""
    spg = np.float32(25 / 7)
    float64 = np.floor(np.arange(224) * np.float64(spg) * TPS).astype(np.int64)
    ids, mask, grids = _batch((224, 224), np.random.default_rng(1))
    pos, _ = get_rope_index(ids, mask, None, grids, [spg, spg], spatial_merge_size=2, tokens_per_second=TPS, **IDS)
    start = int(np.argmax(ids[0] == CFG.video_token_id))
    ours = pos[0, 0, start: start + 224 * 4: 4] - pos[0, 0, start]
    assert (ours != float64).sum() == 31 and np.all(ours - float64 >= 0)
