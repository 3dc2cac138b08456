"""Qwen3-VL against transformers (fp32, eager attention) on a tiny random model loaded from save_pretrained: logits
in both video layouts, positions, the vision tower with its DeepStack features, greedy decoding, export and configs."""
import json
import os

import jax
import numpy as np
import pytest
import torch
from flax import nnx
from transformers import Qwen3VLForConditionalGeneration

from hf_reference import max_rel_err, to_torch
from qwen3vl_reference import hf_model, mm_token_type_ids, parity_inputs, tiny_config
from tempr1_jax.models import Qwen3VL, load_pretrained, make_mesh, read_config, save_pretrained
from tempr1_jax.models.config import (Qwen3VLConfig, config_from_hf_dict, qwen3_vl_2b, qwen3_vl_4b, qwen3_vl_8b,
                                      qwen3_vl_32b)
from tempr1_jax.models.vision import vision_layout
from tempr1_jax.models.vlm import vision_jit
from tempr1_jax.sampling import SamplingConfig, generate

TOL = 1e-4
ONE = lambda: make_mesh((1, 1, 1), jax.devices()[:1])


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    cfg = tiny_config()
    hf = hf_model(cfg, seed=3)
    path = str(tmp_path_factory.mktemp("hf3"))
    hf.save_pretrained(path)
    return cfg, hf, load_pretrained(path, ONE()), path


def _reference_logits(hf, cfg, inputs):
    """transformers computes its own positions from its modality ids: ours are not handed over."""
    with torch.no_grad():
        return hf(**to_torch(inputs), mm_token_type_ids=mm_token_type_ids(cfg, inputs["input_ids"]),
                  use_cache=False).logits.numpy()


@pytest.mark.parametrize("outer", [True, False], ids=["5.x_layout", "4.57_layout"])
def test_logits_match_transformers(pair, outer):
    cfg, hf, ours, _ = pair
    assert isinstance(ours, Qwen3VL)
    inputs = parity_inputs(cfg, outer=outer)
    ref = _reference_logits(hf, cfg, inputs)
    got = np.asarray(ours(**inputs))
    mask = inputs["attention_mask"].astype(bool)
    assert got.shape == ref.shape == (2, inputs["input_ids"].shape[1], cfg.text.vocab_size)
    err = max_rel_err(got[mask], ref[mask])
    print(f"Qwen3-VL logits max relative error ({'outer pair kept' if outer else 'outer pair dropped'}): {err:.2e}")
    assert err <= TOL


@pytest.mark.parametrize("outer", [True, False], ids=["5.x_layout", "4.57_layout"])
def test_rope_index_matches_transformers(pair, outer):
    cfg, hf, ours, _ = pair
    inputs = parity_inputs(cfg, outer=outer)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    pos, delta = ours.rope_index(ids, mask, inputs["image_grid_thw"], inputs["video_grid_thw"])
    ref_pos, ref_delta = hf.model.get_rope_index(
        torch.from_numpy(ids), mm_token_type_ids(cfg, ids), torch.from_numpy(inputs["image_grid_thw"]),
        torch.from_numpy(inputs["video_grid_thw"]), attention_mask=torch.from_numpy(mask))
    m = mask.astype(bool)
    np.testing.assert_array_equal(pos[:, m], ref_pos.numpy()[:, m])
    # transformers counts deltas from each row's own length, ours from the padded length L (see rope_index).
    np.testing.assert_array_equal(delta, ref_delta.numpy().reshape(-1) - (~m).sum(1))
    assert (pos[:, ~m] == 1).all()


def test_vision_tower_and_deepstack_match_transformers(pair):
    cfg, hf, ours, _ = pair
    inputs = parity_inputs(cfg)
    pv, grid = inputs["pixel_values_videos"], inputs["video_grid_thw"]
    with torch.no_grad():
        out = hf.model.visual(torch.from_numpy(pv), grid_thw=torch.from_numpy(grid))
    merged, deepstack = vision_jit(ours, pv, vision_layout(grid, cfg.vision))
    assert merged.shape == (len(pv) // 4, cfg.text.hidden_size)
    assert deepstack.shape == (len(cfg.vision.deepstack_visual_indexes),) + merged.shape
    assert max_rel_err(merged, out.pooler_output.numpy()) <= TOL
    for k, ref in enumerate(out.deepstack_features):
        assert max_rel_err(deepstack[k], ref.numpy()) <= TOL


def test_deepstack_features_matter(pair):
    """The checks above would pass with DeepStack dropped if its features were negligible: they are not."""
    cfg, _, ours, _ = pair
    inputs = ours.prepare_inputs(**parity_inputs(cfg))

    @nnx.jit
    def both(model, inputs):
        x, features = model.embed(inputs["input_ids_BL"], inputs["pixel_values"], inputs["image_layout"],
                                  inputs["pixel_values_videos"], inputs["video_layout"])
        run = lambda deepstack: model.language(x, inputs["positions_3BL"], inputs["attention_mask_BL"],
                                               deepstack_KBLD=deepstack)[0]
        return run(features), run(None), features

    with_ds, without, features = both(ours, inputs)
    # Features at the vision tokens only: 12 image and 3 x 4 + 2 x 6 video tokens.
    assert int((np.abs(np.asarray(features[0])).sum(-1) > 0).sum()) == 12 + 3 * 4 + 2 * 6
    assert np.abs(np.asarray(with_ds) - np.asarray(without)).max() > 1e-2


def test_greedy_matches_transformers_generate(pair):
    """Prefill over an image and a video, then cached decoding: the tokens of transformers' generate."""
    cfg, hf, ours, _ = pair
    inputs = parity_inputs(cfg)
    n = int(inputs["attention_mask"][0].sum())
    prompt = dict(input_ids=inputs["input_ids"][:1, :n], attention_mask=inputs["attention_mask"][:1, :n],
                  pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"],
                  pixel_values_videos=inputs["pixel_values_videos"][:48], video_grid_thw=inputs["video_grid_thw"][:1])
    with torch.no_grad():
        ref = hf.generate(**to_torch(prompt), mm_token_type_ids=mm_token_type_ids(cfg, prompt["input_ids"]),
                          max_new_tokens=12, min_new_tokens=12, do_sample=False, eos_token_id=None,
                          pad_token_id=cfg.pad_token_id)
    out = generate(ours, ours.prepare_inputs(**prompt), SamplingConfig(max_new_tokens=12, eos_ids=(), pad_id=0))
    np.testing.assert_array_equal(np.asarray(out.tokens_BT[0]), ref[0, n:].numpy())


def test_export_reloads_in_transformers_with_equal_logits(pair, tmp_path):
    cfg, _, ours, _ = pair
    out = str(tmp_path / "export")
    save_pretrained(ours, out, max_shard_bytes=200_000)  # the sharded layout, with an index
    assert os.path.isfile(os.path.join(out, "model.safetensors.index.json"))
    index = json.load(open(os.path.join(out, "model.safetensors.index.json")))["weight_map"]
    assert "model.language_model.layers.0.self_attn.q_norm.weight" in index and "model.visual.pos_embed.weight" in index
    hf = Qwen3VLForConditionalGeneration.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    inputs = parity_inputs(cfg)
    mine = np.asarray(ours(**inputs))
    mask = inputs["attention_mask"].astype(bool)
    assert max_rel_err(_reference_logits(hf, cfg, inputs)[mask], mine[mask]) <= TOL
    np.testing.assert_array_equal(np.asarray(load_pretrained(out, ONE())(**inputs)), mine)


def test_tied_checkpoint_loads(tmp_path):
    cfg = tiny_config(tie=True)
    hf = hf_model(cfg, seed=4)
    hf.save_pretrained(str(tmp_path))
    ours = load_pretrained(str(tmp_path), ONE())
    assert ours.language.lm_head is None
    inputs = parity_inputs(cfg, outer=False)
    mask = inputs["attention_mask"].astype(bool)
    assert max_rel_err(np.asarray(ours(**inputs))[mask], _reference_logits(hf, cfg, inputs)[mask]) <= TOL


def test_configs_read_and_write(pair):
    cfg, _, _, path = pair
    assert read_config(path) == cfg
    for preset, hub in ((qwen3_vl_2b(), dict(hidden_size=2048, num_hidden_layers=28, intermediate_size=6144,
                                             num_attention_heads=16, tie=True, depth=24, out=2048, ds=[5, 11, 17])),
                        (qwen3_vl_4b(), dict(hidden_size=2560, num_hidden_layers=36, intermediate_size=9728,
                                             num_attention_heads=32, tie=True, depth=24, out=2560, ds=[5, 11, 17])),
                        (qwen3_vl_8b(), dict(hidden_size=4096, num_hidden_layers=36, intermediate_size=12288,
                                             num_attention_heads=32, tie=False, depth=27, out=4096, ds=[8, 16, 24])),
                        (qwen3_vl_32b(), dict(hidden_size=5120, num_hidden_layers=64, intermediate_size=25600,
                                              num_attention_heads=64, tie=False, depth=27, out=5120, ds=[8, 16, 24]))):
        d = preset.to_hf_dict()
        t, v = d["text_config"], d["vision_config"]
        for k in ("hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads"):
            assert t[k] == hub[k], k
        assert (d["tie_word_embeddings"], v["depth"], v["out_hidden_size"], v["deepstack_visual_indexes"]) == (
            hub["tie"], hub["depth"], hub["out"], hub["ds"])
        assert t["head_dim"] == 128 and t["num_key_value_heads"] == 8 and t["rope_theta"] == 5_000_000
        assert t["rope_scaling"]["mrope_section"] == [24, 20, 20] and v["patch_size"] == 16
        assert config_from_hf_dict(d) == preset and isinstance(preset, Qwen3VLConfig)
    with pytest.raises(ValueError, match="model_type 'llava' is not supported"):
        config_from_hf_dict({"model_type": "llava"})
