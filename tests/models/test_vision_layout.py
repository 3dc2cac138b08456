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


def test_static_tables_depend_only_on_the_bucket():
    """An 8 s clip (two wide slices) batched with long clips (many narrow slices) gets the tables' shapes of any other
    batch of the patch bucket, and its full-attention scores stay within 2 x S x W per head."""
    cfg = tiny(vocab_size=512).vision
    S = 1024
    short_and_long = np.array([[2, 16, 16], [16, 4, 4], [16, 4, 4]])  # 512 + 256 + 256 patches
    uniform = np.array([[8, 8, 8], [8, 8, 8]])
    a = vision_layout(short_and_long, cfg, S, static=True)
    b = vision_layout(uniform, cfg, S, static=True)
    shapes = lambda lay: [x.shape for x in jax.tree.leaves(lay)]
    assert shapes(a) == shapes(b)
    R, W = a.full_table_NW.shape
    assert R * W * W <= 2 * S * W
    # Every patch sits in its own slot, with the slice of its own video: 2 + 16 + 16 slices.
    assert sorted(np.asarray(a.full_inverse_S)) == sorted(set(np.asarray(a.full_inverse_S)))
    assert len(set(a.full_segment_NW[a.full_segment_NW >= 0].tolist())) == 34


def test_a_slice_wider_than_the_row_is_named():
    cfg = tiny(vocab_size=512).vision
    with pytest.raises(ValueError, match="segment of 256 patches is wider than the row width 128"):
        vision_layout(np.array([[2, 16, 16]]), cfg, 512, static=True, slice_width=128)


def test_rows_attended_in_chunks_equal_all_at_once(monkeypatch):
    """The row- and query-chunked path (large batches and images) gives the one-shot path's output and gradient."""
    import tempr1_jax.models.vision as vision
    rng = np.random.default_rng(0)
    R, W, N, H = 3, 32, 2, 8
    q, k, v = (jax.numpy.asarray(rng.standard_normal((R, W, N, H)), np.float32) for _ in range(3))
    segment = np.repeat(np.arange(R * 4), 8).reshape(R, W)
    segment[1, 20:] = -1  # a row with empty slots
    f = lambda q: vision.segment_attention(q, k, v, segment, 0.3)
    loss = lambda q: (f(q)[segment >= 0] ** 2).sum()
    want, want_grad = f(q), jax.grad(loss)(q)
    monkeypatch.setattr(vision, "_SCORES_PER_STEP", 8 * W * N)  # 8 queries per step: 4 chunks per row
    got, got_grad = f(q), jax.grad(loss)(q)
    valid = segment >= 0
    np.testing.assert_allclose(np.asarray(got)[valid], np.asarray(want)[valid], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(got_grad), np.asarray(want_grad), rtol=1e-5, atol=1e-6)
