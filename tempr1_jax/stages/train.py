"""The `sft` and `grpo` stages: one loop, resumable, with checkpoints, metrics and clean preemption.

A stage writes under `<workdir>/<stage>/`: `checkpoints/` (Orbax; the last `config.checkpoint.max_to_keep`),
`metrics.jsonl` and `tensorboard/`. Rerunning a stage resumes from its latest checkpoint and continues the data
stream where it stopped, so a resumed run equals an uninterrupted one. `init_from` names the stage whose final
parameters a fresh stage starts from (and, for GRPO, takes as the frozen reference).
"""
from __future__ import annotations

import dataclasses
import os
import signal
import time

import jax
import ml_collections

from tempr1_jax.data import pipeline
from tempr1_jax.data.batch import Buckets
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rl.grpo import GRPOConfig
from tempr1_jax.rl.learner import Learner, LearnerConfig
from tempr1_jax.rl.losses import LossConfig
from tempr1_jax.rl.state import OptimizerConfig
from tempr1_jax.sampling import SamplingConfig
from tempr1_jax.stages import common, register_stage
from tempr1_jax.train.checkpoint import Checkpointer
from tempr1_jax.train.metrics import MetricsWriter, to_host


class Preemption:
    """Turns SIGTERM (TPU maintenance, spot reclaim) into a flag the loop checks after each step."""

    def __init__(self):
        self.requested = False
        self._previous = signal.signal(signal.SIGTERM, self._handle)

    def _handle(self, signum, frame):
        self.requested = True

    def restore(self):
        signal.signal(signal.SIGTERM, self._previous)


def learner_config(config: ml_collections.ConfigDict, stage: str, steps: int | None = None) -> LearnerConfig:
    s = config[stage]
    steps = steps or s.steps
    tok = common.build_tokenizer(config)
    opt = OptimizerConfig(**s.optimizer.to_dict(), total_steps=max(steps, 1) * s.get("mu", 1))
    g = config.grpo
    grpo = GRPOConfig(
        group_size=g.group_size, mu=g.mu,
        loss=LossConfig(**g.loss.to_dict()) if stage == "grpo" else dataclasses.replace(LossConfig(), beta=0.0),
        sampling=SamplingConfig(**g.sampling.to_dict(), eos_ids=(tok.eos_id, tok.pad_id), pad_id=tok.pad_id),
        rewards=RewardConfig(**g.rewards.to_dict()),
        logprob_chunk=config.model.logprob_chunk,
        logprobs_at_temperature=g.logprobs_at_temperature,
    )
    return LearnerConfig(optimizer=opt, grpo=grpo, freeze_vision=config.model.freeze_vision, seed=config.seed)


def batch_size(config: ml_collections.ConfigDict, stage: str) -> int:
    """This process's rows per step: the stage's `batch_size` if set, else `config.data.batch_size`, split over
    the processes."""
    total = config[stage].get("batch_size") or config.data.batch_size
    if total % jax.process_count():
        raise ValueError(f"batch size {total} of stage {stage} must divide evenly over {jax.process_count()} "
                         "processes")
    return total // jax.process_count()


def epoch_steps(config: ml_collections.ConfigDict, per_process: int) -> int:
    """Steps in one pass over this process's share of the weighted tasks (`steps = 0` in a stage's config)."""
    sources = pipeline.task_sources(list(config.data.train_dirs))
    n = sum(len(src) // jax.process_count() for t, src in sources.items() if config.data.task_weights.get(t, 0) > 0)
    return max(n // per_process, 1)


def train_dataset(config: ml_collections.ConfigDict, model_cfg, num_samples: int, dirs, per_process: int):
    d = config.data
    pcfg = pipeline.PipelineConfig(
        batch_size=per_process, seed=config.seed, task_weights=dict(d.task_weights), num_samples=num_samples,
        shard_index=jax.process_index(), shard_count=jax.process_count(),
        buckets=Buckets(text=tuple(d.buckets.text), patches=tuple(d.buckets.patches), answer=d.buckets.answer),
        think=d.think, num_workers=d.num_workers)
    return pipeline.make_dataset(pipeline.task_sources(list(dirs)), pcfg, model_cfg, common.build_tokenizer(config))


def run_training(config: ml_collections.ConfigDict, stage: str) -> dict:
    s = config[stage]
    workdir = os.path.join(config.workdir, stage)
    mesh = common.build_mesh(config)
    model = common.build_model(config, mesh)
    per_step = batch_size(config, stage)
    steps = s.steps or epoch_steps(config, per_step)
    tables = common.token_tables(common.build_tokenizer(config), model.cfg.text.vocab_size)
    learner = Learner(model, mesh, learner_config(config, stage, steps), tables)
    del model
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.max_to_keep)
    it = iter(train_dataset(config, learner.model_cfg, steps * per_step, config.data.train_dirs, per_step))
    mu = s.get("mu", 1)
    if ckpt.latest_step() is not None:
        data_state, _ = ckpt.restore(learner)
        it.set_state(data_state)
    elif s.init_from:
        src = os.path.join(config.workdir, s.init_from, "checkpoints")
        if not os.path.isdir(src):
            raise FileNotFoundError(f"config.{stage}.init_from = {s.init_from!r}, but {src} does not exist: "
                                    f"run the {s.init_from} stage first")
        params, _ = Checkpointer(src).read_params(learner.model_state())
        learner.load_params(params, reset_reference=True)  # the starting policy is the new stage's reference
    done = int(learner.state.step) // mu
    # steps_per_run > 0 stops (with a checkpoint) after that many steps, for jobs under a wall-clock limit; the
    # next run resumes.
    stop_at = min(steps, done + s.steps_per_run) if s.get("steps_per_run", 0) else steps
    writer = MetricsWriter(workdir, stage, steps, done)
    preemption = Preemption()
    step_fn = learner.grpo if stage == "grpo" else learner.sft
    last = {}
    try:
        while done < stop_at and not preemption.requested:
            batch = next(it)
            t0 = time.perf_counter()
            last = to_host(step_fn(batch))
            elapsed = time.perf_counter() - t0
            done += 1
            tokens = last.get("completion_tokens", last.get("answer_tokens", 0.0))
            last.update(step_time=elapsed, tokens_per_s=tokens / elapsed)
            writer.write(done, last)
            if done % s.checkpoint_every == 0 or done == stop_at:
                ckpt.save(learner, it.get_state(), {"stage": stage, "rollout_steps": done})
        if preemption.requested:
            ckpt.save(learner, it.get_state(), {"stage": stage, "rollout_steps": done, "preempted": True},
                      force=True)
    finally:
        ckpt.wait()
        ckpt.close()
        writer.close()
        preemption.restore()
    return {"steps": done, "preempted": preemption.requested, **{k: v for k, v in last.items() if "/" not in k}}


@register_stage("sft")
def run_sft(config: ml_collections.ConfigDict) -> dict:
    return run_training(config, "sft")


@register_stage("grpo")
def run_grpo(config: ml_collections.ConfigDict) -> dict:
    return run_training(config, "grpo")
