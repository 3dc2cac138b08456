"""Hugging Face folders: both key layouts, export that transformers reloads, and clear errors on bad checkpoints."""
import json
import os
import shutil

import jax
import numpy as np
import pytest
import torch
from transformers import Qwen2_5_VLForConditionalGeneration

from hf_reference import hf_model, max_rel_err, parity_inputs, tiny_config, to_torch
from tempr1_jax.models import CheckpointError, load_pretrained, make_mesh, read_config, save_pretrained
from tempr1_jax.models.config import ModelConfig, qwen2_5_vl_3b, qwen2_5_vl_7b
from tempr1_jax.models.tensor_files import SafetensorsFile, write_safetensors

ONE = lambda: make_mesh((1, 1, 1), jax.devices()[:1])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    cfg = tiny_config()
    path = str(tmp_path_factory.mktemp("hf"))
    hf_model(cfg, seed=11).save_pretrained(path)
    return cfg, path


def _logits(model, cfg):
    inputs = parity_inputs(cfg)
    return np.asarray(model(**inputs)), inputs


def test_export_reloads_in_transformers_with_equal_logits(checkpoint, tmp_path):
    cfg, path = checkpoint
    ours = load_pretrained(path, ONE())
    out = str(tmp_path / "export")
    save_pretrained(ours, out, max_shard_bytes=200_000)  # force the sharded layout with an index
    assert os.path.isfile(os.path.join(out, "model.safetensors.index.json"))
    hf = Qwen2_5_VLForConditionalGeneration.from_pretrained(out, dtype=torch.float32, attn_implementation="eager")
    ref_logits, inputs = _logits(ours, cfg)
    positions, _ = ours.rope_index(inputs["input_ids"], inputs["attention_mask"], inputs["image_grid_thw"],
                                   inputs["video_grid_thw"], inputs["second_per_grid_ts"])
    with torch.no_grad():
        got = hf(**to_torch(inputs), position_ids=torch.from_numpy(positions.astype(np.int64))).logits.numpy()
    mask = inputs["attention_mask"].astype(bool)
    assert max_rel_err(got[mask], ref_logits[mask]) <= 1e-4
    again = load_pretrained(out, ONE())
    np.testing.assert_array_equal(_logits(again, cfg)[0], ref_logits)


def test_new_key_layout_and_nested_config(checkpoint, tmp_path):
    """`model.visual.*` / `model.language_model.*` keys and a `text_config` config load the same model."""
    cfg, path = checkpoint
    st = SafetensorsFile(os.path.join(path, "model.safetensors"))
    renamed = {}
    for k in st.keys():
        nk = "model.visual." + k[len("visual."):] if k.startswith("visual.") else k
        nk = "model.language_model." + nk[len("model."):] if nk.startswith("model.") and not nk.startswith(
            "model.visual.") else nk
        renamed[nk] = np.asarray(st[k])
    out = tmp_path / "new_layout"
    out.mkdir()
    write_safetensors(str(out / "model.safetensors"), renamed)
    flat = json.load(open(os.path.join(path, "config.json")))
    text_keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                 "num_key_value_heads", "rms_norm_eps", "rope_parameters", "rope_scaling", "rope_theta")
    nested = {k: v for k, v in flat.items() if k not in text_keys}
    nested["text_config"] = {**flat.get("text_config", {}), **{k: flat[k] for k in text_keys if k in flat}}
    json.dump(nested, open(out / "config.json", "w"))
    assert read_config(str(out)) == read_config(path) == cfg
    np.testing.assert_array_equal(_logits(load_pretrained(str(out), ONE()), cfg)[0],
                                  _logits(load_pretrained(path, ONE()), cfg)[0])


def test_presets_match_public_config_values():
    for preset, hub in ((qwen2_5_vl_3b(), dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16,
                                               num_key_value_heads=2, intermediate_size=11008, vocab_size=151936,
                                               tie_word_embeddings=True, out_hidden_size=2048)),
                        (qwen2_5_vl_7b(), dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28,
                                               num_key_value_heads=4, intermediate_size=18944, vocab_size=152064,
                                               tie_word_embeddings=False, out_hidden_size=3584))):
        d = preset.to_hf_dict()
        for k, v in hub.items():
            assert (d["vision_config"][k] if k == "out_hidden_size" else d[k]) == v, k
        assert d["vision_config"]["fullatt_block_indexes"] == [7, 15, 23, 31]
        assert d["vision_config"]["tokens_per_second"] == 2 and d["rope_scaling"]["mrope_section"] == [16, 24, 24]
        assert ModelConfig.from_hf_dict(d) == preset


def _copy(path, tmp_path, name):
    dst = str(tmp_path / name)
    shutil.copytree(path, dst)
    return dst


def test_missing_key_is_named(checkpoint, tmp_path):
    cfg, path = checkpoint
    dst = _copy(path, tmp_path, "missing")
    st = SafetensorsFile(os.path.join(dst, "model.safetensors"))
    tensors = {k: np.asarray(st[k]) for k in st.keys() if k != "model.layers.1.self_attn.k_proj.bias"}
    write_safetensors(os.path.join(dst, "model.safetensors"), tensors)
    with pytest.raises(CheckpointError, match=r"missing \['model.layers.1.self_attn.k_proj.bias'\]"):
        load_pretrained(dst, ONE())


def test_unexpected_key_is_named(checkpoint, tmp_path):
    cfg, path = checkpoint
    dst = _copy(path, tmp_path, "unexpected")
    st = SafetensorsFile(os.path.join(dst, "model.safetensors"))
    tensors = {k: np.asarray(st[k]) for k in st.keys()}
    tensors["model.layers.9.mlp.up_proj.weight"] = np.zeros((2, 2), np.float32)
    write_safetensors(os.path.join(dst, "model.safetensors"), tensors)
    with pytest.raises(CheckpointError, match=r"unexpected \['model.layers.9.mlp.up_proj.weight'\]"):
        load_pretrained(dst, ONE())


def test_wrong_shape_is_named(checkpoint, tmp_path):
    cfg, path = checkpoint
    dst = _copy(path, tmp_path, "shape")
    st = SafetensorsFile(os.path.join(dst, "model.safetensors"))
    tensors = {k: np.asarray(st[k]) for k in st.keys()}
    tensors["model.layers.0.mlp.gate_proj.weight"] = np.zeros((127, 64), np.float32)
    write_safetensors(os.path.join(dst, "model.safetensors"), tensors)
    with pytest.raises(CheckpointError, match=r"'model.layers.0.mlp.gate_proj.weight' has shape \[127, 64\], "
                                              r"the config needs \[128, 64\]"):
        load_pretrained(dst, ONE())


@pytest.mark.parametrize("damage", ["truncate", "garbage_header"])
def test_corrupt_safetensors_is_named(checkpoint, tmp_path, damage):
    cfg, path = checkpoint
    dst = _copy(path, tmp_path, damage)
    f = os.path.join(dst, "model.safetensors")
    data = open(f, "rb").read()
    open(f, "wb").write(data[: len(data) // 2] if damage == "truncate" else data[:8] + b"\xff" * 64 + data[72:])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_pretrained(dst, ONE())


def test_bad_config_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"vision_config": {}}))
    with pytest.raises(CheckpointError, match=r"config.json: .*lacks the field"):
        read_config(str(tmp_path))
    with pytest.raises(CheckpointError, match="no config.json"):
        read_config(str(tmp_path / "nowhere"))


def test_bf16_roundtrip(tmp_path):
    import ml_dtypes
    a = (np.arange(12, dtype=np.float32).reshape(3, 4) / 7).astype(ml_dtypes.bfloat16)
    write_safetensors(str(tmp_path / "x.safetensors"), {"a": a})
    from safetensors.torch import load_file  # the reference reader agrees with our writer
    t = load_file(str(tmp_path / "x.safetensors"))["a"]
    assert t.dtype == torch.bfloat16
    np.testing.assert_array_equal(t.float().numpy(), a.astype(np.float32))
    np.testing.assert_array_equal(np.asarray(SafetensorsFile(str(tmp_path / "x.safetensors"))["a"][1:, 2:]),
                                  a[1:, 2:])
