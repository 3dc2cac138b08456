"""`Policy.reference_nll`: the reference answers' likelihood with the video, with blank frames and with the frame
groups reversed (the report's "does the model look at the video?" table), against the model run row by row on
prompt + answer."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fixtures import CFG, batch, tables
from tempr1_jax.models import init_model, make_mesh
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rl.policy import Policy, reversed_frame_groups
from tempr1_jax.sampling import SamplingConfig


MESH = make_mesh((1, 1, 1), jax.devices()[:1])


@pytest.fixture(scope="module")
def tabs(tmp_path_factory):
    return tables(str(tmp_path_factory.mktemp("tok")))


def _policy(model, tabs):
    return Policy(model, MESH, tabs, SamplingConfig(max_new_tokens=4, eos_ids=(2, 0), pad_id=0), RewardConfig())


def _row_by_row_nll(model, b, pixels_SP):
    out = []
    start = 0
    for p in range(len(b.task_B)):
        prompt = b.input_ids_BL[p][b.attention_mask_BL[p]]
        answer = b.answer_ids_BA[p][b.answer_mask_BA[p]]
        n_patches = int(b.video_grid_thw_B3[p].prod())
        logits = np.asarray(model(input_ids=np.concatenate([prompt, answer])[None],
                                  pixel_values_videos=pixels_SP[start:start + n_patches],
                                  video_grid_thw=b.video_grid_thw_B3[p:p + 1], second_per_grid_ts=[1.0]))
        start += n_patches
        logp = jax.nn.log_softmax(logits[0, len(prompt) - 1: len(prompt) - 1 + len(answer)], -1)
        out.append(-float(np.take_along_axis(np.asarray(logp), answer[:, None], -1).sum()))
    return np.array(out)


def test_reference_nll_is_the_answers_likelihood_given_the_video_and_given_blank_frames(tabs):
    model = init_model(CFG, MESH, seed=3)
    b = batch(2)
    got = _policy(model, tabs).reference_nll(b)
    np.testing.assert_allclose(got["reference_nll"], _row_by_row_nll(model, b, b.pixel_values_SP), rtol=1e-4)
    np.testing.assert_allclose(got["reference_nll_blank"],
                               _row_by_row_nll(model, b, np.zeros_like(b.pixel_values_SP)), rtol=1e-4)
    np.testing.assert_allclose(got["reference_nll_reversed"],
                               _row_by_row_nll(model, b, reversed_frame_groups(b)), rtol=1e-4)
    # A random model's answers depend on its input frames and on their order.
    for control in ("reference_nll_blank", "reference_nll_reversed"):
        assert np.abs(got["reference_nll"] - got[control]).max() > 1e-3, control


def test_reversed_frame_groups_reverse_each_rows_temporal_patches_and_keep_the_padding():
    b = batch(2)  # rows of 2 and 4 frame groups of 16 patches, then padding
    pixels, rev = b.pixel_values_SP, reversed_frame_groups(b)
    np.testing.assert_array_equal(rev[0:16], pixels[16:32])
    np.testing.assert_array_equal(rev[16:32], pixels[0:16])
    for k in range(4):
        np.testing.assert_array_equal(rev[32 + 16 * k: 48 + 16 * k], pixels[32 + 16 * (3 - k): 48 + 16 * (3 - k)])
    np.testing.assert_array_equal(rev[96:], pixels[96:])


def test_a_model_whose_vision_output_ignores_the_frames_gains_nothing_from_them(tabs):
    model = init_model(CFG, MESH, seed=3)
    kernel = model.visual.merger.mlp_2.kernel
    kernel[...] = jnp.zeros_like(kernel[...])  # every vision row is then the merger's bias, whatever the pixels
    got = _policy(model, tabs).reference_nll(batch(2))
    for control in ("reference_nll_blank", "reference_nll_reversed"):
        np.testing.assert_allclose(got["reference_nll"], got[control], rtol=1e-6)
