"""Shards are checked when a split is opened: a truncated, corrupt or unfinished one is named before any step, or
skipped with the samples lost counted; corruption inside a shard that opens names the file when read."""
import dataclasses
import os
import shutil

import pytest

from tempr1_jax.data import builder, pipeline, records, synthetic
from tempr1_jax.processing import vision

SAMPLING = dataclasses.replace(vision.VideoSampling(), min_pixels=56 * 84, max_pixels=56 * 84)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """A synthetic split of 8 videos in two shards of 4."""
    root = tmp_path_factory.mktemp("synthetic")
    cfg = synthetic.SyntheticConfig(num_samples=8, seed=1, duration=(4.0, 6.0), fps=2.0, resolution=(56, 84))
    synthetic.write_corpus(cfg, str(root / "videos"), str(root / "ann.jsonl"), progress=False)
    builder.build_split(builder.read_samples_jsonl(str(root / "ann.jsonl"), "synthetic"), str(root / "videos"),
                        str(root / "train"), SAMPLING, videos_per_shard=4, progress=False)
    return str(root / "train")


@pytest.fixture
def damaged(split, tmp_path):
    """A copy of the split to damage, and its second frames shard."""
    out = str(tmp_path / "train")
    shutil.copytree(split, out)
    return out, os.path.join(out, records.shard_name("frames", 1))


def _samples_in_shard(split_dir, shard):
    with open(os.path.join(split_dir, records.shard_name("samples", shard))) as f:
        return sum(1 for _ in f)


def test_a_truncated_shard_is_named_before_the_first_step(damaged):
    split_dir, frames = damaged
    data = open(frames, "rb").read()
    with open(frames, "wb") as f:  # an interrupted copy
        f.write(data[: len(data) * 2 // 3])
    with pytest.raises(records.BadShardError, match=f"{frames}: unreadable .*Delete shard-00001.json"):
        pipeline.task_sources([split_dir])


@pytest.mark.parametrize("removed,problem", [("shard", "shard-00001.json is missing: the shard was never finished"),
                                             ("frames", "missing")])
def test_an_unfinished_or_missing_shard_is_named(damaged, removed, problem):
    split_dir, frames = damaged
    os.remove(os.path.join(split_dir, records.shard_name(removed, 1)))
    with pytest.raises(records.BadShardError, match=f"{frames}: {problem}"):
        records.RecordSource(split_dir)


def test_skip_bad_shards_trains_without_it_and_counts_the_samples_lost(damaged):
    split_dir, frames = damaged
    with open(frames, "r+b") as f:
        f.truncate(1000)
    lost = _samples_in_shard(split_dir, 1)
    with pytest.warns(UserWarning, match=f"skipped 1 bad shard\\(s\\), {lost} samples lost: {frames}"):
        sources = pipeline.task_sources([split_dir], skip_bad_shards=True)
    assert sum(len(s) for s in sources.values()) == _samples_in_shard(split_dir, 0)
    next(iter(sources.values()))[0]  # the good shard still reads


def test_corruption_inside_a_shard_names_the_file_and_record(damaged):
    split_dir, frames = damaged
    data = bytearray(open(frames, "rb").read())
    mid = len(data) // 5  # inside the records (the file's tail is block padding and its index)
    data[mid: mid + 64] = bytes(b ^ 0xFF for b in data[mid: mid + 64])
    open(frames, "wb").write(bytes(data))
    source = records.RecordSource(split_dir)  # opens: the index at the end is intact
    with pytest.raises(records.BadShardError, match=f"{frames}: record \\d+ unreadable"):
        for i in range(len(source)):
            source[i]
