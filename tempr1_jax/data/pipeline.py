"""The grain input pipeline: per-task sources -> per-process shards -> shuffled, weighted task mix -> encoded samples
-> bucket-padded `Batch`es.

    sources = pipeline.task_sources(["data/synthetic/train"])           # {"tg": RecordSource, ...}
    ds = pipeline.make_dataset(sources, PipelineConfig(batch_size=8))  # grain.IterDataset of Batch
    it = iter(ds); batch = next(it); state = it.get_state()            # ... it.set_state(state) resumes exactly

Determinism: everything is a function of (config, sources). Each task's samples are split by process first
(`[shard_index::shard_count]`), then shuffled with a per-epoch permutation. The mix then orders the stream:
- `mix="epoch"` (TempR1's one epoch over the mixed corpus): every epoch visits every sample of every task once, in a
  seeded order that interleaves the tasks at random (a task of twice the samples comes up twice as often);
- `mix="weighted"`: a seeded draw picks the task of every position by `task_weights`, so small tasks repeat and
  large ones are partly unseen, for a chosen balance instead of the corpus's own.
The iterator state is grain's `{"next_index": ...}`, small enough to save with every checkpoint.
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Mapping, Sequence

import grain
import numpy as np

from tempr1_jax.data import prompts, records
from tempr1_jax.data.annotations import TASKS
from tempr1_jax.data.batch import Buckets, Features, collate
from tempr1_jax.models.config import ModelConfig, qwen2_5_vl_7b
from tempr1_jax.processing import processor, qwen3vl_processor, qwen3vl_rope_index, rope_index
from tempr1_jax.processing.video_io import DecodedVideo
from tempr1_jax.processing.tokenizer import IM_END, Tokenizer, load_tokenizer


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    batch_size: int = 8
    seed: int = 0
    mix: str = "epoch"  # "epoch": every sample once per epoch, tasks interleaved; "weighted": draws by task_weights
    task_weights: Mapping[str, float] | None = None  # mix="weighted" only; a task of weight 0 is left out
    num_samples: int | None = None  # samples per process; None: one epoch, sum over tasks of len // shard_count
    shard_index: int = 0  # jax.process_index() on multi-host runs
    shard_count: int = 1  # jax.process_count()
    buckets: Buckets = Buckets()
    think: bool = True  # ask for a <think> block before the answer
    num_workers: int = 0  # grain worker processes; 0 on small hosts (2 cores: workers only add overhead)

    def __post_init__(self):
        if not 0 <= self.shard_index < self.shard_count:
            raise ValueError(f"shard_index {self.shard_index} must be in [0, shard_count={self.shard_count})")
        if self.mix not in ("epoch", "weighted"):
            raise ValueError(f"mix {self.mix!r}: expected 'epoch' (one pass over every sample) or 'weighted'")
        if (self.mix == "weighted") != (self.task_weights is not None):
            raise ValueError(f"mix={self.mix!r} with task_weights={self.task_weights}: task_weights go with "
                             "mix='weighted' and only with it")
        weights = self.task_weights or {}
        if any(t not in TASKS for t in weights) or any(w < 0 for w in weights.values()) or (
                weights and sum(weights.values()) <= 0):
            raise ValueError(f"task_weights {dict(weights)}: tasks must be in {TASKS}, weights >= 0, some > 0")

    def tasks(self, sources: Mapping[str, grain.sources.RandomAccessDataSource]) -> list[str]:
        """The tasks the stream draws from: every task of the sources, or those of weight > 0."""
        if self.task_weights is None:
            return [t for t in TASKS if t in sources]
        return [t for t in TASKS if self.task_weights.get(t, 0) > 0]


def epoch_counts(sources: Mapping[str, grain.sources.RandomAccessDataSource], tasks: Sequence[str],
                 shard_count: int) -> dict[str, int]:
    """Samples of each task that one epoch gives every process: len // shard_count, the same on every process so
    that all run the same number of steps (up to shard_count - 1 samples of a task wait for a later epoch)."""
    return {t: len(sources[t]) // shard_count for t in tasks}


class TaskMix(grain.transforms.DatasetSelectionMap):
    """Position i of the stream -> (task slot, index within that task's shuffled shard), fixed by the seed."""

    def __init__(self, task: np.ndarray, index: np.ndarray):
        self._task, self._index = task.astype(np.int32), index.astype(np.int64)

    @classmethod
    def weighted(cls, num_samples: int, weights: Sequence[float], seed: int) -> "TaskMix":
        """Each position's task drawn by `weights`; the k-th pick of a task reads that task's k-th sample (past the
        shard's length, its next reshuffle)."""
        p = np.asarray(weights, np.float64)
        task = np.random.default_rng(seed).choice(len(p), size=num_samples, p=p / p.sum())
        index = np.empty(num_samples, np.int64)
        for t in range(len(p)):
            picks = task == t
            index[picks] = np.arange(picks.sum())
        return cls(task, index)

    @classmethod
    def epochs(cls, num_samples: int, counts: Sequence[int], shard_lengths: Sequence[int], seed: int) -> "TaskMix":
        """Epochs of `counts[t]` samples of each task t, each epoch in its own seeded order that interleaves the
        tasks; epoch e reads the e-th reshuffle of task t's shard (indices from e * shard_lengths[t])."""
        per_epoch = np.repeat(np.arange(len(counts)), counts)
        if len(per_epoch) == 0:
            raise ValueError("an epoch of no samples: every task's shard is empty")
        tasks, indices = [], []
        for e in range(-(-num_samples // len(per_epoch))):
            task = np.random.default_rng([seed, e]).permutation(per_epoch)
            index = np.empty(len(task), np.int64)
            for t, n in enumerate(shard_lengths):
                picks = task == t
                index[picks] = e * n + np.arange(picks.sum())
            tasks.append(task)
            indices.append(index)
        return cls(np.concatenate(tasks)[:num_samples], np.concatenate(indices)[:num_samples])

    def __len__(self) -> int:
        return len(self._task)

    def __getitem__(self, index: int) -> tuple[int, int]:
        return int(self._task[index]), int(self._index[index])


class EncodeSample(grain.transforms.Map):
    """Example -> Features: the task prompt through the model's host processor (chat template, tokens with the
    expanded video placeholder, patches), plus the reference answer and the ground truth."""

    def __init__(self, model_cfg: ModelConfig, tokenizer: Tokenizer, think: bool):
        self.model_cfg, self.tokenizer, self.think = model_cfg, tokenizer, think

    def map(self, example: records.Example) -> Features:
        sample, clip = example.sample, example.clip
        encoded = encode_prompt(self.tokenizer, self.model_cfg, clip, prompts.prompt_text(sample, clip.duration,
                                                                                          self.think))
        answer_ids = self.tokenizer.encode(prompts.reference_answer(sample) + IM_END)
        return Features(
            input_ids=np.asarray(encoded.ids, np.int32),
            pixel_values_SP=encoded.pixel_values_SP,
            video_grid_thw=encoded.grid_thw,
            second_per_grid_t=encoded.second_per_grid_t,
            answer_ids=np.asarray(answer_ids, np.int32),
            intervals_N2=np.asarray(sample.intervals, np.float32).reshape(-1, 2),
            duration=clip.duration,
            task=TASKS.index(sample.task),
            answer=sample.answer,
            source_index=example.index,
        )


def encode_prompt(tokenizer: Tokenizer, model_cfg: ModelConfig, clip: DecodedVideo, text: str
                  ) -> processor.EncodedPrompt:
    """A decoded clip and its question through the model family's processor: Qwen2.5-VL's (system turn, absolute
    time in the positions) or Qwen3-VL's (no system turn, timestamp text before each frame pair)."""
    if model_cfg.family == "qwen3_vl":
        return qwen3vl_processor.encode_video_prompt(tokenizer, model_cfg, clip.frames_THWC, clip.frame_indices_T,
                                                     clip.video_fps, text)
    return processor.encode_video_prompt(tokenizer, model_cfg, clip.frames_THWC, clip.sample_fps, text)


def rope_for(model_cfg: ModelConfig) -> functools.partial:
    """`collate`'s rope callback: the model's own M-RoPE rule (picklable, for grain workers)."""
    if model_cfg.family == "qwen3_vl":
        return functools.partial(qwen3vl_rope_index.get_rope_index,
                                 spatial_merge_size=model_cfg.vision.spatial_merge_size,
                                 image_token_id=model_cfg.image_token_id, video_token_id=model_cfg.video_token_id)
    return functools.partial(
        rope_index.get_rope_index, spatial_merge_size=model_cfg.vision.spatial_merge_size,
        tokens_per_second=model_cfg.vision.tokens_per_second, image_token_id=model_cfg.image_token_id,
        video_token_id=model_cfg.video_token_id, vision_start_token_id=model_cfg.vision_start_token_id,
        text_timestamps=model_cfg.text_timestamps)


def task_sources(split_dirs: Sequence[str], skip_bad_shards: bool = False) -> dict[str, records.RecordSource]:
    """One RecordSource per task found in the prepared splits (a split may hold several tasks), their shards
    checked once (`records.RecordSource`)."""
    everything = records.RecordSource(split_dirs, skip_bad_shards=skip_bad_shards)
    present = {s.task for s in everything.samples}
    return {t: everything.only((t,)) for t in TASKS if t in present}


def make_dataset(
    sources: Mapping[str, grain.sources.RandomAccessDataSource],
    config: PipelineConfig = PipelineConfig(),
    model_cfg: ModelConfig | None = None,
    tokenizer: Tokenizer | None = None,
) -> grain.IterDataset:
    """The batched, mixed, sharded stream of `Batch`es for this process (see the module docstring)."""
    model_cfg = model_cfg or qwen2_5_vl_7b()
    tokenizer = tokenizer or load_tokenizer()
    tasks = config.tasks(sources)
    missing = [t for t in tasks if t not in sources or len(sources[t]) == 0]
    if missing or not tasks:
        raise ValueError(f"tasks {missing} have weight > 0 but no samples; sources hold {sorted(sources)}")
    shards = [grain.MapDataset.source(sources[t])[config.shard_index:: config.shard_count] for t in tasks]
    counts = epoch_counts(sources, tasks, config.shard_count)
    if not all(counts.values()):
        raise ValueError(f"some task has fewer samples than shard_count={config.shard_count}: "
                         f"{ {t: len(sources[t]) for t in tasks} }")
    shuffled = [s.shuffle(seed=config.seed * len(TASKS) + TASKS.index(t)) for s, t in zip(shards, tasks)]
    num_samples = config.num_samples or sum(counts.values())
    if config.mix == "epoch":
        mix = TaskMix.epochs(num_samples, [counts[t] for t in tasks], [len(s) for s in shards], config.seed)
    else:
        mix = TaskMix.weighted(num_samples, [config.task_weights[t] for t in tasks], config.seed)
    ds = grain.MapDataset.select_from_datasets(shuffled, mix)
    ds = ds.map(EncodeSample(model_cfg, tokenizer, config.think))
    ds = ds.batch(config.batch_size, drop_remainder=True,
                  batch_fn=functools.partial(collate, buckets=config.buckets, pad_id=tokenizer.pad_id,
                                             rope=rope_for(model_cfg)))
    ds = ds.to_iter_dataset()
    if config.num_workers > 0:
        ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=config.num_workers))
    return ds

