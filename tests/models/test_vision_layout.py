"""The vision layout: shards of patches that each device encodes alone, tables whose shapes depend on the bucket only,
rows attended in chunks."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tempr1_jax.models import init_model, make_mesh
from tempr1_jax.models.config import tiny
from tempr1_jax.models.factory import mesh_context
from tempr1_jax.models.vlm import vision_jit as _vision_jit
from tempr1_jax.models.vision import vision_layout
from tempr1_jax.rl.global_batch import pack_patches, shard_layout, shard_patch_count


def _videos(cfg, grids, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((int(np.prod(g)), cfg.vision.patch_dim)).astype(np.float32) for g in grids]


def test_sharded_videos_equal_one_shard_and_each_device_encodes_its_own():
    """Eight videos in eight shards on an (fsdp 8) mesh give the merged tokens of one shard of all eight, and the
    program holds a shard's activations per device, not the batch's."""
    cfg = tiny(vocab_size=512)
    mesh = make_mesh((1, 8, 1))
    model = init_model(cfg, mesh, seed=3)
    grids = np.array([[2, 4, 8], [1, 8, 4], [3, 4, 4], [2, 4, 4]] * 2)
    videos = _videos(cfg, grids)
    packed = np.concatenate(videos + [np.zeros((512 - 352, cfg.vision.patch_dim), np.float32)])  # a 512 bucket
    per_shard = shard_patch_count(grids, 8, len(packed) // 8)
    assert per_shard == 64  # the bucket's even share holds the largest video, 2 x 4 x 8 patches
    encode = nnx.jit(lambda m, px, lay: m.encode(px, lay))
    with mesh_context(mesh):
        one = shard_layout(vision_layout(grids, cfg.vision, len(packed), static=True), mesh)
        eight = shard_layout(vision_layout(grids, cfg.vision, per_shard, static=True, shards=8), mesh)
        sharded = jax.device_put(pack_patches(packed, grids, 8, per_shard), eight.rope_pos_GS2.sharding)
        want = np.asarray(encode(model, jnp.asarray(packed), one))[0]
        got_GND = encode(model, sharded, eight)
        temps = lambda px, lay: encode.lower(model, px, lay).compile().memory_analysis().temp_size_in_bytes
        temp_one, temp_eight = temps(jnp.asarray(packed), one), temps(sharded, eight)
    assert got_GND.sharding.shard_shape(got_GND.shape)[0] == 1  # one shard per device
    merge = cfg.vision.merge_unit
    at = 0
    for g, v in enumerate(videos):
        n = len(v) // merge
        np.testing.assert_allclose(np.asarray(got_GND)[g, :n], want[at:at + n], rtol=1e-5, atol=1e-6)
        at += n
    assert temp_eight * 3 < temp_one, (temp_eight, temp_one)


def test_patches_of_several_hosts_are_packed_without_the_gaps():
    """Each host pads its own block of the patch axis; packed, the videos follow one another and encode alike."""
    cfg = tiny(vocab_size=512)
    model = init_model(cfg, make_mesh((1, 1, 1), jax.devices()[:1]), seed=3)
    grids = np.array([[2, 4, 8], [1, 8, 4], [3, 4, 4]])
    videos = _videos(cfg, grids)
    starts = np.array([0, 64, 128])  # host 0: videos 0 and 1, host 1: video 2, 128 rows each
    apart = np.zeros((256, cfg.vision.patch_dim), np.float32)
    for v, s in zip(videos, starts):
        apart[s:s + len(v)] = v
    packed = pack_patches(apart, grids, 1, 256, starts)
    np.testing.assert_array_equal(packed[:144], np.concatenate(videos))
    assert not packed[144:].any()
    want = np.asarray(_vision_jit(model, np.concatenate(videos), vision_layout(grids, cfg.vision)))
    got = np.asarray(_vision_jit(model, packed, vision_layout(grids, cfg.vision, 256, static=True)))
    np.testing.assert_allclose(got[:len(want)], want, rtol=1e-5, atol=1e-6)


def test_a_layout_of_several_shards_is_static_and_splits_the_rows():
    cfg = tiny(vocab_size=512).vision
    with pytest.raises(ValueError, match="3 grids do not split into 2 shards"):
        vision_layout(np.array([[1, 4, 8]] * 3), cfg, 64, static=True, shards=2)
    with pytest.raises(ValueError, match="needs static=True"):
        vision_layout(np.array([[1, 4, 8]] * 2), cfg, 64, shards=2)


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
    _, R, W = a.full_table_GNW.shape
    assert R * W * W <= 2 * S * W
    # Every patch sits in its own slot, with the slice of its own video: 2 + 16 + 16 slices.
    assert sorted(np.asarray(a.full_inverse_GS[0])) == sorted(set(np.asarray(a.full_inverse_GS[0])))
    assert len(set(a.full_segment_GNW[a.full_segment_GNW >= 0].tolist())) == 34


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
