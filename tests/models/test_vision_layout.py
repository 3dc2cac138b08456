"""The vision layout's patch order: videos whose patches sit apart in `pixel_values` (one block per host, each padded
on its own) give the merged tokens of the same videos packed together."""
import jax
import numpy as np
import pytest

from tempr1_jax.models import init_model, make_mesh
from tempr1_jax.models.config import tiny
from tempr1_jax.models.vlm import vision_jit as _vision_jit
from tempr1_jax.models.vision import vision_layout


def test_videos_apart_in_pixel_values_equal_packed():
    cfg = tiny(vocab_size=512)
    model = init_model(cfg, make_mesh((1, 1, 1), jax.devices()[:1]), seed=3)
    grids = np.array([[2, 4, 8], [1, 8, 4], [3, 4, 4]])
    sizes = np.prod(grids, axis=1)  # 64, 32, 48
    rng = np.random.default_rng(0)
    videos = [rng.standard_normal((n, cfg.vision.patch_dim)).astype(np.float32) for n in sizes]
    packed = np.concatenate(videos + [np.zeros((16, cfg.vision.patch_dim), np.float32)])
    # Two hosts of 128 rows: the first holds videos 0 and 1, the second video 2, each followed by its padding.
    starts = np.array([0, 64, 128])
    apart = np.zeros((256, cfg.vision.patch_dim), np.float32)
    for v, s in zip(videos, starts):
        apart[s:s + len(v)] = v
    want = np.asarray(_vision_jit(model, packed, vision_layout(grids, cfg.vision, len(packed), static=True)))
    got = np.asarray(_vision_jit(model, apart, vision_layout(grids, cfg.vision, len(apart), static=True,
                                                             starts=starts)))
    n = sizes.sum() // cfg.vision.merge_unit
    np.testing.assert_allclose(got[:n], want[:n], rtol=1e-5, atol=1e-6)
    # Without the starts, the gap would be read as the third video.
    assert not np.allclose(np.asarray(_vision_jit(model, apart, vision_layout(grids, cfg.vision, len(apart),
                                                                              static=True)))[:n], want[:n])


def test_overlapping_starts_are_named():
    cfg = tiny(vocab_size=512).vision
    with pytest.raises(ValueError, match=r"patches \[16, 48\) of a grid overlap"):
        vision_layout(np.array([[1, 4, 8], [1, 4, 8]]), cfg, 96, starts=np.array([0, 16]))
    with pytest.raises(ValueError, match="starts has 1 entries for 2 grids"):
        vision_layout(np.array([[1, 4, 8], [1, 4, 8]]), cfg, 96, starts=np.array([0]))
