"""KV-cache decoding: greedy tokens equal transformers' generate; cached logits equal a full forward pass."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from hf_reference import hf_model, parity_inputs, tiny_config, to_torch
from tempr1_jax.models import load_pretrained, make_mesh
from tempr1_jax.sampling import SamplingConfig, generate
from tempr1_jax.sampling.sampler import filter_logits


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    cfg = tiny_config()
    hf = hf_model(cfg, seed=5)
    path = str(tmp_path_factory.mktemp("hf"))
    hf.save_pretrained(path)
    return cfg, hf, load_pretrained(path, make_mesh((1, 1, 1), jax.devices()[:1]))


def _image_prompt(cfg):
    """Text, an image, text: a prompt on which transformers' own position rule equals the original one."""
    inputs = parity_inputs(cfg)
    cut = int(np.argmax(inputs["input_ids"][0] == cfg.video_token_id)) - 1
    return dict(input_ids=inputs["input_ids"][:1, :cut], attention_mask=inputs["attention_mask"][:1, :cut],
                pixel_values=inputs["pixel_values"], image_grid_thw=inputs["image_grid_thw"])


def test_greedy_matches_transformers_generate(pair):
    cfg, hf, ours = pair
    prompt = _image_prompt(cfg)
    # transformers 5.x silently falls back to 1-D positions without mm_token_type_ids (0 text, 1 image).
    mm = torch.from_numpy((prompt["input_ids"] == cfg.image_token_id).astype(np.int64))
    with torch.no_grad():
        ref = hf.generate(**to_torch(prompt), mm_token_type_ids=mm, max_new_tokens=16, min_new_tokens=16, do_sample=False,
                          eos_token_id=None, pad_token_id=cfg.pad_token_id)
    ref_tokens = ref[0, prompt["input_ids"].shape[1]:].numpy()
    out = generate(ours, ours.prepare_inputs(**prompt), SamplingConfig(max_new_tokens=16, eos_ids=(), pad_id=0))
    assert ref_tokens.shape == (16,)
    np.testing.assert_array_equal(np.asarray(out.tokens_BT[0]), ref_tokens)
    assert int(out.lengths_B[0]) == 16


@pytest.mark.parametrize("padding", ["left", "right"])
def test_cached_decode_equals_full_forward(pair, padding):
    """Prefill + decode steps give the logits of one forward pass over prompt + generated tokens."""
    cfg, _, ours = pair
    inputs = parity_inputs(cfg)
    ids, mask = inputs["input_ids"], inputs["attention_mask"]
    if padding == "right":  # move row 1's left padding to the right
        n = int(mask[1].sum())
        ids[1] = np.concatenate([ids[1, -n:], np.zeros(ids.shape[1] - n, ids.dtype)])
        mask[1] = np.concatenate([np.ones(n, mask.dtype), np.zeros(ids.shape[1] - n, mask.dtype)])
    out = generate(ours, ours.prepare_inputs(**inputs), SamplingConfig(max_new_tokens=4, eos_ids=(), pad_id=0))
    new = np.asarray(out.tokens_BT)
    # Reference: the full sequence, each row's generated tokens placed right after its last prompt token.
    rows = []
    for b in range(2):
        real = ids[b][mask[b].astype(bool)]
        rows.append(np.concatenate([real, new[b]]))
    L = max(map(len, rows))
    full_ids = np.zeros((2, L), np.int64)
    full_mask = np.zeros((2, L), np.int64)
    for b, r in enumerate(rows):  # left-pad the reference batch
        full_ids[b, L - len(r):], full_mask[b, L - len(r):] = r, 1
    full = dict(inputs, input_ids=full_ids, attention_mask=full_mask)
    logits = np.asarray(ours(**full))
    ref_next = logits[:, -5:-1].argmax(-1)  # the greedy choice at each of the last 4 positions
    np.testing.assert_array_equal(new, ref_next)
    logp = jax.nn.log_softmax(jnp.asarray(logits[:, -5:-1]), axis=-1)
    ref_logp = np.take_along_axis(np.asarray(logp), new[..., None], -1)[..., 0]
    np.testing.assert_allclose(np.asarray(out.logprobs_BT), ref_logp, atol=1e-4)


def test_eos_stops_rows_and_sampling_filters():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.15, 0.05]]))
    kept = np.asarray(filter_logits(logits, SamplingConfig(temperature=1.0, top_p=0.7))) > -1e30
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.7 <= 0.8
    kept = np.asarray(filter_logits(logits, SamplingConfig(temperature=1.0, top_k=3))) > -1e30
    assert kept.tolist() == [[True, True, True, False]]


def test_sampling_respects_eos(pair):
    cfg, _, ours = pair
    prompt = _image_prompt(cfg)
    inputs = ours.prepare_inputs(**prompt)
    greedy = generate(ours, inputs, SamplingConfig(max_new_tokens=8, eos_ids=(), pad_id=0))
    eos = int(greedy.tokens_BT[0, 2])  # make the third greedy token an EOS
    out = generate(ours, inputs, SamplingConfig(max_new_tokens=8, eos_ids=(eos,), pad_id=0))
    first = int(np.argmax(np.asarray(greedy.tokens_BT[0]) == eos))
    assert int(out.lengths_B[0]) == first + 1
    assert np.all(np.asarray(out.tokens_BT[0, first + 1:]) == 0)
    sampled = generate(ours, inputs, SamplingConfig(max_new_tokens=8, temperature=1.0, top_k=5, eos_ids=()),
                       rng=jax.random.key(1))
    assert np.all(np.isfinite(np.asarray(sampled.logprobs_BT))) and np.all(np.asarray(sampled.logprobs_BT) <= 0)


def _equations(jaxpr):
    """Every equation of a jaxpr and of the jaxprs inside it (jit, loops, branches)."""
    for e in jaxpr.eqns:
        yield e
        for value in e.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    yield from _equations(inner)


def test_group_decode_shares_the_prompt_cache(pair):
    """G greedy completions per prompt, reading one prompt cache side by side, are each the single greedy one; the
    G rows' own cache is max_new_tokens long, not prompt + max_new_tokens."""
    cfg, _, ours = pair
    inputs = ours.prepare_inputs(**parity_inputs(cfg))  # two left-padded prompts with an image and a video
    sc = SamplingConfig(max_new_tokens=6, eos_ids=(), pad_id=0)
    one = generate(ours, inputs, sc)
    group = generate(ours, inputs, sc, num_samples=3)
    np.testing.assert_array_equal(np.asarray(group.tokens_BT), np.repeat(np.asarray(one.tokens_BT), 3, axis=0))
    np.testing.assert_allclose(np.asarray(group.logprobs_BT), np.repeat(np.asarray(one.logprobs_BT), 3, axis=0),
                               atol=1e-5)
    shapes = {tuple(v.aval.shape) for e in _equations(jax.make_jaxpr(
        lambda i: generate(ours, i, sc, num_samples=3))(inputs).jaxpr) if e.primitive.name == "while"
        for v in e.outvars}
    text, L = cfg.text, inputs["input_ids_BL"].shape[1]
    assert (text.num_hidden_layers, 6, 6, text.num_key_value_heads, text.head_dim) in shapes
    assert not any(len(s) == 5 and s[1] == 6 and s[2] >= L for s in shapes)
