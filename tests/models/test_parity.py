"""Parity with transformers' Qwen2.5-VL (fp32, eager attention) on a tiny random model loaded from save_pretrained."""
import jax
import numpy as np
import pytest
import torch

from hf_reference import hf_model, max_rel_err, parity_inputs, tiny_config, to_torch
from tempr1_jax.models import encode_vision_jit, load_pretrained, make_mesh
from tempr1_jax.processing.rope_index import get_rope_index

TOL = 1e-4


@pytest.fixture(scope="module", params=[False, True], ids=["untied", "tied"])
def pair(request, tmp_path_factory):
    cfg = tiny_config(tie=request.param)
    hf = hf_model(cfg, seed=3)
    path = str(tmp_path_factory.mktemp("hf"))
    hf.save_pretrained(path)
    ours = load_pretrained(path, make_mesh((1, 1, 1), jax.devices()[:1]))
    return cfg, hf, ours, path


def _reference_logits(hf, inputs, positions):
    t = to_torch(inputs)
    with torch.no_grad():
        return hf(**t, position_ids=torch.from_numpy(positions.astype(np.int64)), use_cache=False).logits.numpy()


def test_logits_match_transformers(pair):
    cfg, hf, ours, _ = pair
    inputs = parity_inputs(cfg)
    positions, _ = ours.rope_index(inputs["input_ids"], inputs["attention_mask"], inputs["image_grid_thw"],
                                   inputs["video_grid_thw"], inputs["second_per_grid_ts"])
    ref = _reference_logits(hf, inputs, positions)
    got = np.asarray(ours(**inputs))
    mask = inputs["attention_mask"].astype(bool)
    assert got.shape == ref.shape == (2, inputs["input_ids"].shape[1], cfg.text.vocab_size)
    err = max_rel_err(got[mask], ref[mask])
    print(f"logits max relative error: {err:.2e}")
    assert err <= TOL


@pytest.mark.parametrize("kind", ["image", "video"])
def test_vision_tower_matches_transformers(pair, kind):
    cfg, hf, ours, _ = pair
    inputs = parity_inputs(cfg)
    pv, grid = ((inputs["pixel_values"], inputs["image_grid_thw"]) if kind == "image"
                else (inputs["pixel_values_videos"], inputs["video_grid_thw"]))
    with torch.no_grad():
        ref = hf.model.visual(torch.from_numpy(pv), grid_thw=torch.from_numpy(grid)).pooler_output.numpy()
    got = np.asarray(encode_vision_jit(ours, pv, grid))
    assert got.shape == ref.shape == (len(pv) // 4, cfg.text.hidden_size)
    assert max_rel_err(got, ref) <= TOL


def test_second_per_grid_ts_changes_logits_after_the_video(pair):
    """Positions really carry time: doubling second_per_grid_t moves the text after the video."""
    cfg, _, ours, _ = pair
    inputs = parity_inputs(cfg)
    a = np.asarray(ours(**inputs))
    b = np.asarray(ours(**{**inputs, "second_per_grid_ts": np.array([1.0, 1.0])}))
    assert np.abs(a[1] - b[1]).max() > 1e-3  # row 1 holds the 2.0 s/grid video
    np.testing.assert_allclose(a[0], b[0], rtol=1e-6, atol=1e-6)  # row 0's video is unchanged at 1.0


def test_rope_index_agrees_with_transformers_without_video(pair):
    """For text and images the original rule and transformers 5.x agree; compare ids directly."""
    cfg, hf, ours, _ = pair
    inputs = parity_inputs(cfg)
    ids, mask = inputs["input_ids"][:1], inputs["attention_mask"][:1]
    cut = int(np.argmax(ids[0] == cfg.video_token_id)) - 1  # keep text + image + text
    ids, mask = ids[:, :cut], mask[:, :cut]
    ours_pos, ours_delta = ours.rope_index(ids, mask, inputs["image_grid_thw"], None, None)
    mm = torch.from_numpy((ids == cfg.image_token_id).astype(np.int32))
    ref_pos, ref_delta = hf.model.get_rope_index(torch.from_numpy(ids), mm, torch.from_numpy(inputs["image_grid_thw"]),
                                                 None, None, attention_mask=torch.from_numpy(mask))
    np.testing.assert_array_equal(ours_pos, ref_pos.numpy())
    np.testing.assert_array_equal(ours_delta, ref_delta.numpy().reshape(-1))


def test_rope_index_worked_example():
    """The original release's rule worked by hand: T T VS [image (1,4,6)] VE T VS [video (3,4,4)] VE T T, with 1.0
    and 0.5 s per grid."""
    I, V, VS, VE = 252, 253, 250, 251
    ids = np.array([[1, 2, VS] + [I] * 6 + [VE, 3, VS] + [V] * 12 + [VE, 4, 5]])
    kw = dict(spatial_merge_size=2, tokens_per_second=2, image_token_id=I, video_token_id=V, vision_start_token_id=VS)
    pos, delta = get_rope_index(ids, None, np.array([[1, 4, 6]]), np.array([[3, 4, 4]]), [1.0], **kw)
    assert pos[0, 0].tolist() == [0, 1, 2, 3, 3, 3, 3, 3, 3, 6, 7, 8, 9, 9, 9, 9, 11, 11, 11, 11, 13, 13, 13, 13,
                                  14, 15, 16]
    assert pos[1, 0].tolist() == [0, 1, 2, 3, 3, 3, 4, 4, 4, 6, 7, 8, 9, 9, 10, 10, 9, 9, 10, 10, 9, 9, 10, 10,
                                  14, 15, 16]
    assert pos[2, 0].tolist() == [0, 1, 2, 3, 4, 5, 3, 4, 5, 6, 7, 8, 9, 10, 9, 10, 9, 10, 9, 10, 9, 10, 9, 10,
                                  14, 15, 16]
    assert delta.tolist() == [-10]
    pos, _ = get_rope_index(ids, None, np.array([[1, 4, 6]]), np.array([[3, 4, 4]]), [0.5], **kw)
    # Multiplied in float, then floored: 0, 1, 2 (not all 0 as truncate-first would give); text resumes at 12.
    assert pos[0, 0, 12:24].tolist() == [9] * 4 + [10] * 4 + [11] * 4
    assert pos[0, 0, 24] == 12


def test_rope_index_padding_and_deltas():
    I, V, VS = 252, 253, 250
    ids = np.array([[0, 0, 5, VS, V, V, 251, 7], [5, 6, 7, 8, 9, 10, 11, 12]])
    mask = np.array([[0, 0, 1, 1, 1, 1, 1, 1], [1] * 8])
    pos, delta = get_rope_index(ids, mask, None, np.array([[2, 2, 2]]), [1.0], spatial_merge_size=2,
                                tokens_per_second=2, image_token_id=I, video_token_id=V, vision_start_token_id=VS)
    assert pos[:, 0, :2].tolist() == [[1, 1]] * 3  # padded slots hold 1
    assert pos[0, 0, 2:].tolist() == [0, 1, 2, 4, 5, 6]  # video t = 0, 2 (two grids at 1 s, 2 tokens/s)
    assert pos[0, 1].tolist() == list(range(8)) and delta.tolist() == [6 + 1 - 8, 0]
