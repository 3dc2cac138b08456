"""The grain pipeline on a prepared synthetic split: documented shapes, M-RoPE positions, determinism, exact resume,
per-process sharding, task mixing, and prompts/answers in the rewards' grammar."""
import dataclasses
import re

import numpy as np
import pytest

from tempr1_jax.data import builder, pipeline, prompts, synthetic
from tempr1_jax.data.annotations import MAX_INTERVALS, TASKS
from tempr1_jax.data.batch import Buckets, Features, collate, pad_batch
from tempr1_jax.models.config import qwen2_5_vl_7b
from tempr1_jax.processing import rope_index, vision
from tempr1_jax.processing.tokenizer import load_tokenizer
from tempr1_jax.rewards import grammar

BUCKETS = Buckets(text=(256, 512, 1024), patches=(256, 512, 1024), answer=128)
CFG = pipeline.PipelineConfig(batch_size=4, seed=0, buckets=BUCKETS)
SAMPLING = dataclasses.replace(vision.VideoSampling(), min_pixels=16 * 28 * 28, max_pixels=16 * 28 * 28)
MODEL = qwen2_5_vl_7b()

@pytest.fixture(scope="module")
def split(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    cfg = synthetic.SyntheticConfig(num_samples=24, seed=0, duration=(6.0, 10.0), fps=4.0, resolution=(96, 128))
    synthetic.write_corpus(cfg, str(root / "videos"), str(root / "ann.jsonl"), progress=False)
    builder.build_split(builder.read_samples_jsonl(str(root / "ann.jsonl"), "synthetic"), str(root / "videos"),
                        str(root / "train"), SAMPLING, videos_per_shard=10, progress=False)
    return str(root / "train")


@pytest.fixture(scope="module")
def sources(split):
    return pipeline.task_sources([split])


def take(ds, n):
    it = iter(ds)
    return [next(it) for _ in range(n)]


def test_batch_has_the_documented_shapes(sources):
    tok = load_tokenizer()
    (batch,) = take(pipeline.make_dataset(sources, CFG), 1)
    B = CFG.batch_size
    L, S = batch.input_ids_BL.shape[1], batch.pixel_values_SP.shape[0]
    assert L in BUCKETS.text and S // B in BUCKETS.patches and S % B == 0
    expect = {
        "input_ids_BL": ((B, L), np.int32), "attention_mask_BL": ((B, L), np.bool_),
        "positions_3BL": ((3, B, L), np.int32), "pixel_values_SP": ((S, 1176), np.float32),
        "video_grid_thw_B3": ((B, 3), np.int32), "second_per_grid_ts_B": ((B,), np.float32),
        "gt_intervals_BN2": ((B, MAX_INTERVALS, 2), np.float32), "gt_counts_B": ((B,), np.int32),
        "duration_B": ((B,), np.float32), "task_B": ((B,), np.int32), "answer_B": ((B,), np.int32),
        "answer_ids_BA": ((B, BUCKETS.answer), np.int32), "answer_mask_BA": ((B, BUCKETS.answer), np.bool_),
        "source_index_B": ((B,), np.int32),
    }
    assert {f.name for f in dataclasses.fields(batch)} == set(expect)
    for name, (shape, dtype) in expect.items():
        value = getattr(batch, name)
        assert value.shape == shape and value.dtype == dtype, (name, value.shape, value.dtype)

    patches_B = np.prod(batch.video_grid_thw_B3, axis=1)
    assert np.all(np.abs(batch.pixel_values_SP[: patches_B.sum()]).sum(1) > 0)  # the rows' patches, packed
    assert np.all(batch.pixel_values_SP[patches_B.sum():] == 0)
    np.testing.assert_array_equal((batch.input_ids_BL == MODEL.video_token_id).sum(1), patches_B // 4)
    assert np.all(batch.attention_mask_BL[:, -1])  # left padding: every prompt ends in the last column
    for b in range(B):
        task = TASKS[batch.task_B[b]]
        sample = sources[task][int(batch.source_index_B[b])].sample
        n = batch.gt_counts_B[b]
        np.testing.assert_allclose(batch.gt_intervals_BN2[b, :n], sample.intervals)
        assert np.all(batch.gt_intervals_BN2[b, n:] == 0)
        assert batch.answer_B[b] == (sample.answer if task == "gvqa" else -1)
        assert batch.duration_B[b] == np.float32(sample.duration)
        answer = tok.decode(batch.answer_ids_BA[b][batch.answer_mask_BA[b]], skip_special_tokens=False)
        assert answer == prompts.reference_answer(sample) + "<|im_end|>"
        prompt = tok.decode(batch.input_ids_BL[b][batch.attention_mask_BL[b]], skip_special_tokens=False)
        assert prompt.startswith("<|im_start|>system\n") and prompt.endswith("<|im_start|>assistant\n")
        assert "<think>" in prompt and sample.queries[0] in prompt


def test_positions_equal_get_rope_index(sources):
    for batch in take(pipeline.make_dataset(sources, CFG), 2):
        positions, _ = rope_index.get_rope_index(
            batch.input_ids_BL, batch.attention_mask_BL, None, batch.video_grid_thw_B3, batch.second_per_grid_ts_B,
            spatial_merge_size=2, tokens_per_second=2, image_token_id=151655, video_token_id=151656,
            vision_start_token_id=151652)
        np.testing.assert_array_equal(batch.positions_3BL, positions)
        # Left padding changes no valid position: each row equals its unpadded prompt on its own.
        b = 1
        valid = batch.attention_mask_BL[b]
        alone, _ = rope_index.get_rope_index(
            batch.input_ids_BL[b:b + 1, valid], None, None, batch.video_grid_thw_B3[b:b + 1],
            batch.second_per_grid_ts_B[b:b + 1], spatial_merge_size=2, tokens_per_second=2,
            image_token_id=151655, video_token_id=151656, vision_start_token_id=151652)
        np.testing.assert_array_equal(batch.positions_3BL[:, b, valid], alone[:, 0])
        assert np.all(batch.positions_3BL[:, b, ~valid] == 1)


def _same(a, b):
    for f in dataclasses.fields(a):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


def test_deterministic_and_resumes_exactly(sources):
    first = take(pipeline.make_dataset(sources, CFG), 4)
    for a, b in zip(first, take(pipeline.make_dataset(sources, CFG), 4)):
        _same(a, b)
    other = take(pipeline.make_dataset(sources, dataclasses.replace(CFG, seed=1)), 4)
    assert any((a.task_B != b.task_B).any() or (a.source_index_B != b.source_index_B).any()
               for a, b in zip(first, other))
    it = iter(pipeline.make_dataset(sources, CFG))
    next(it)
    state = it.get_state()
    resumed = iter(pipeline.make_dataset(sources, CFG))
    resumed.set_state(state)
    for expected in first[1:]:
        _same(next(resumed), expected)


def test_process_split_covers_every_sample_once(sources):
    # One task: over one pass of its shard, each process sees its own samples, and together they see all, once.
    task, n_proc = "vhd", 3
    seen = []
    for p in range(n_proc):
        shard_len = len(range(p, len(sources[task]), n_proc))
        cfg = dataclasses.replace(CFG, batch_size=1, mix="weighted", task_weights={task: 1.0}, shard_index=p,
                                  shard_count=n_proc, num_samples=shard_len)
        ids = [int(b.source_index_B[0]) for b in take(pipeline.make_dataset(sources, cfg), shard_len)]
        assert all(i % n_proc == p for i in ids)
        seen += ids
    assert sorted(seen) == list(range(len(sources[task])))
    # All tasks mixed: a process only ever reads its own shard of each task, and all processes run equally long.
    lengths = set()
    for p in range(2):
        cfg = dataclasses.replace(CFG, batch_size=2, shard_index=p, shard_count=2)
        ds = pipeline.make_dataset(sources, cfg)
        batches = list(ds)
        lengths.add(len(batches))
        assert all(i % 2 == p for b in batches for i in b.source_index_B)
    assert len(lengths) == 1


def test_one_epoch_reads_every_sample_once_with_tasks_interleaved(sources):
    counts = {t: len(src) for t, src in sources.items()}
    cfg = dataclasses.replace(CFG, batch_size=1)
    assert cfg.mix == "epoch"
    seen = [(int(b.task_B[0]), int(b.source_index_B[0])) for b in pipeline.make_dataset(sources, cfg)]
    assert len(seen) == sum(counts.values()) and len(set(seen)) == len(seen)  # every sample of every task, once
    assert {t: sum(1 for k, _ in seen if TASKS[k] == t) for t in counts} == counts
    mix = pipeline.TaskMix.epochs(3 * 1000, [500, 300, 200], [500, 300, 200], seed=4)
    picks = [mix[i] for i in range(len(mix))]
    for e in range(3):  # each epoch: every index of its own reshuffle once, in an order that interleaves the tasks
        epoch = picks[e * 1000:(e + 1) * 1000]
        for t, n in enumerate((500, 300, 200)):
            assert sorted(i for k, i in epoch if k == t) == list(range(e * n, (e + 1) * n))
        tasks = np.array([k for k, _ in epoch])
        assert np.mean([len(set(b)) > 1 for b in tasks.reshape(-1, 8)]) > 0.9
    assert [k for k, _ in picks[:1000]] != [k for k, _ in picks[1000:2000]]


def test_mix_and_weights_go_together():
    with pytest.raises(ValueError, match="task_weights go with mix='weighted'"):
        dataclasses.replace(CFG, task_weights={"tg": 1.0})
    with pytest.raises(ValueError, match="task_weights go with mix='weighted'"):
        dataclasses.replace(CFG, mix="weighted")
    with pytest.raises(ValueError, match="mix 'balanced'"):
        dataclasses.replace(CFG, mix="balanced")


def test_task_mix_follows_weights_and_interleaves():
    mix = pipeline.TaskMix.weighted(8000, [3.0, 1.0, 0.0, 4.0], seed=5)
    tasks = np.array([mix[i][0] for i in range(len(mix))])
    np.testing.assert_allclose(np.bincount(tasks, minlength=4) / len(tasks), [3 / 8, 1 / 8, 0, 4 / 8], atol=0.02)
    for t in (0, 1, 3):  # the k-th pick of a task reads its k-th sample
        assert [mix[i][1] for i in np.nonzero(tasks == t)[0][:5]] == list(range(5))
    batches = tasks.reshape(-1, 8)
    assert np.mean([len(set(b)) > 1 for b in batches]) > 0.9  # tasks mix within batches, not across them
    assert [pipeline.TaskMix.weighted(50, [1, 1], seed=2)[i] for i in range(50)] == \
        [pipeline.TaskMix.weighted(50, [1, 1], seed=2)[i] for i in range(50)]


def test_reference_answers_and_prompt_examples_follow_the_rewards_grammar(sources):
    for task, src in sources.items():
        for i in range(len(src)):
            sample = src[i].sample
            parsed = grammar.parse(task, prompts.reference_answer(sample))
            assert parsed.well_formed and parsed.letter == sample.answer
            np.testing.assert_allclose(parsed.intervals, sample.intervals, atol=0.05)  # one decimal
            assert grammar.parse(task, "<think>because</think> " + prompts.reference_answer(sample)).well_formed
            text = prompts.prompt_text(sample, sample.duration, think=False)
            example = re.search(r"in the form (<answer>.*</(?:answer|evidence)>)", text).group(1)
            assert grammar.parse(task, example).well_formed, text
            assert "<think>" not in text


def _video_features(n_text: int, grid_t: int, seed: int) -> Features:
    rng = np.random.default_rng(seed)
    ids = [MODEL.vision_start_token_id] + [MODEL.video_token_id] * (grid_t * 4) + [MODEL.vision_end_token_id]
    return Features(input_ids=np.asarray(list(rng.integers(8, 1000, n_text)) + ids, np.int32),
                    pixel_values_SP=rng.standard_normal((grid_t * 16, 1176)).astype(np.float32),
                    video_grid_thw=np.array([grid_t, 4, 4]), second_per_grid_t=2.0,
                    answer_ids=np.ones(3, np.int32), intervals_N2=np.array([[1.0, 2.0]], np.float32), duration=5.0,
                    task=0, answer=-1, source_index=seed)


def test_padding_to_a_larger_bucket_equals_collating_into_it():
    """What a host does whose rows fit smaller buckets than another host's (`global_batch.global_batch`)."""
    features = [_video_features(5, 2, 0), _video_features(9, 1, 1)]
    rope = pipeline.rope_for(MODEL)
    small = collate(features, Buckets(text=(32, 64), patches=(32, 64), answer=8), 7, rope)
    large = collate(features, Buckets(text=(64,), patches=(64,), answer=8), 7, rope)
    assert small.input_ids_BL.shape[1] == 32 and len(small.pixel_values_SP) == 64
    _same(pad_batch(small, 64, 128, pad_id=7), large)
    with pytest.raises(ValueError, match="cannot pad a batch of 32 text columns and 64 patch rows down"):
        pad_batch(small, 16, 128, pad_id=7)


def test_oversized_inputs_name_the_bucket():

    f = Features(input_ids=np.ones(300, np.int32), pixel_values_SP=np.zeros((16, 1176), np.float32),
                 video_grid_thw=np.array([1, 4, 4]), second_per_grid_t=1.0, answer_ids=np.ones(3, np.int32),
                 intervals_N2=np.zeros((1, 2), np.float32), duration=5.0, task=0, answer=-1, source_index=0)
    with pytest.raises(ValueError, match="prompt length of 300 exceeds the largest bucket 256"):
        collate([f], Buckets(text=(128, 256), patches=(64,)), 0, pipeline.rope_for(MODEL))
    with pytest.raises(ValueError, match="Buckets.text must be strictly increasing"):
        Buckets(text=(512, 256))
    with pytest.raises(ValueError, match="no samples"):
        pipeline.make_dataset({"tg": []}, CFG)
