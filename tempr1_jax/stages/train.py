"""The `sft` and `grpo` stages: one loop, resumable, with checkpoints, metrics and clean preemption.

A stage writes under `<workdir>/<stage>/`: `checkpoints/` (Orbax; the last `config.checkpoint.max_to_keep`),
`metrics.jsonl` and `tensorboard/`. Rerunning a stage resumes from its latest checkpoint and continues the data
stream where it stopped, so a resumed run equals an uninterrupted one. `init_from` names the stage whose final
parameters a fresh stage starts from (and, for GRPO, takes as the frozen reference).

Faults (`config.faults`, see `train/faults.py`): a step whose update is unsound is skipped on device and counted;
too many in a row stop the run with `TrainingStopped`, and no checkpoint is written while the last step was
skipped. The settings are checked before anything is built (`check_config`).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time

import jax
import ml_collections

from tempr1_jax.data import pipeline
from tempr1_jax.data.batch import Buckets
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rl.grpo import GRPOConfig
from tempr1_jax.rl.learner import Learner, LearnerConfig
from tempr1_jax.rl.losses import LossConfig
from tempr1_jax.rl.state import SCHEDULES, OptimizerConfig
from tempr1_jax.sampling import SamplingConfig
from tempr1_jax.stages import common, register_stage
from tempr1_jax.train.checkpoint import Checkpointer
from tempr1_jax.train.faults import FaultPolicy, FaultTracker
from tempr1_jax.train.metrics import MetricsWriter, to_host
from tempr1_jax.train.preemption import Preemption


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
        reference_dtype=g.get("reference_dtype", "float32"), rollout_dtype=g.get("rollout_dtype", "float32"),
        update_widths=tuple(g.get("update_widths", ())),
    )
    return LearnerConfig(optimizer=opt, grpo=grpo, freeze_vision=config.model.freeze_vision, seed=config.seed,
                         slice_width=common.vision_slice_width(config))


def batch_size(config: ml_collections.ConfigDict, stage: str) -> int:
    """This process's rows per step: the stage's `batch_size` if set, else `config.data.batch_size`, split over
    the processes."""
    total = config[stage].get("batch_size") or config.data.batch_size
    if total % jax.process_count():
        raise ValueError(f"batch size {total} of stage {stage} must divide evenly over {jax.process_count()} "
                         "processes")
    return total // jax.process_count()


def pipeline_config(config: ml_collections.ConfigDict, per_process: int, num_samples: int | None = None
                    ) -> pipeline.PipelineConfig:
    """`config.data.mix`: "epoch" (one pass over every sample of the mix) or "weighted" (`data.task_weights`)."""
    d = config.data
    return pipeline.PipelineConfig(
        batch_size=per_process, seed=config.seed, mix=d.mix,
        task_weights=dict(d.task_weights) if d.mix == "weighted" else None, num_samples=num_samples,
        shard_index=jax.process_index(), shard_count=jax.process_count(),
        buckets=Buckets(text=tuple(d.buckets.text), patches=tuple(d.buckets.patches), answer=d.buckets.answer),
        think=d.think, num_workers=d.num_workers)


def epoch(config: ml_collections.ConfigDict, per_process: int) -> tuple[int, dict[str, int]]:
    """Steps of one epoch (what `steps = 0` in a stage's config runs) and each task's samples in it, per process."""
    sources = pipeline.task_sources(list(config.data.train_dirs), config.data.get("skip_bad_shards", False))
    pcfg = pipeline_config(config, per_process)
    counts = pipeline.epoch_counts(sources, pcfg.tasks(sources), jax.process_count())
    return max(sum(counts.values()) // per_process, 1), counts


def train_dataset(config: ml_collections.ConfigDict, model_cfg, num_samples: int, dirs, per_process: int):
    sources = pipeline.task_sources(list(dirs), config.data.get("skip_bad_shards", False))
    return pipeline.make_dataset(sources, pipeline_config(config, per_process, num_samples), model_cfg,
                                 common.build_tokenizer(config))


def run_training(config: ml_collections.ConfigDict, stage: str) -> dict:
    s = config[stage]
    workdir = os.path.join(config.workdir, stage)
    per_step = batch_size(config, stage)
    epoch_steps, counts = epoch(config, per_step)
    steps = s.steps or epoch_steps
    if jax.process_index() == 0:
        n = jax.process_count()
        print(f"{stage}: {steps} steps of {per_step * n} prompts; one epoch ({config.data.mix} mix) = {epoch_steps} "
              f"steps over {sum(counts.values()) * n} samples ("
              + ", ".join(f"{t} {c * n}" for t, c in counts.items()) + ")", flush=True)
    check_config(config, stage, steps)
    mesh = common.build_mesh(config)
    model = common.build_model(config, mesh)
    tables = common.token_tables(common.build_tokenizer(config), model.cfg.text.vocab_size)
    learner = Learner(model, mesh, learner_config(config, stage, steps), tables)
    del model
    ckpt = Checkpointer(os.path.join(workdir, "checkpoints"), config.checkpoint.max_to_keep)
    it = iter(train_dataset(config, learner.model_cfg, steps * per_step, config.data.train_dirs, per_step))
    mu = s.get("mu", 1)
    faults = FaultTracker(FaultPolicy.from_config(config), stage)
    resume = ckpt.latest_step() is not None
    # The starting policy is the new stage's reference. Checkpoints do not hold the reference, so a resumed GRPO run
    # reads it again from where it started: `init_from`, or else the cold-start weights the model was built with.
    if s.init_from and (not resume or learner.state.ref is not None):
        src = os.path.join(config.workdir, s.init_from, "checkpoints")
        if not os.path.isdir(src):
            raise FileNotFoundError(f"config.{stage}.init_from = {s.init_from!r}, but {src} does not exist: "
                                    f"run the {s.init_from} stage first")
        params, _ = Checkpointer(src).read_params(learner.model_state())
        learner.load_params(params, reset_reference=True)
    if resume:
        data_state, meta = ckpt.restore(learner)
        it.set_state(data_state)
        faults = FaultTracker(faults.policy, stage, meta.get("faults"))
    done = int(learner.state.step) // mu
    # steps_per_run > 0 stops (with a checkpoint) after that many steps, for jobs under a wall-clock limit; the
    # next run resumes.
    stop_at = min(steps, done + s.steps_per_run) if s.get("steps_per_run", 0) else steps
    writer = MetricsWriter(workdir, stage, steps, done)
    step_fn = learner.grpo if stage == "grpo" else learner.sft
    last = {}
    meta = lambda **kw: {"stage": stage, "rollout_steps": done, "faults": faults.saved(), **kw}
    with Preemption() as preemption:
        try:
            while done < stop_at and not preemption.requested:
                batch = next(it)
                t0 = time.perf_counter()
                limit = faults.grad_norm_limit()
                last = to_host(step_fn(batch, limit))
                elapsed = time.perf_counter() - t0
                done += 1
                tokens = last.get("completion_tokens", last.get("answer_tokens", 0.0))
                last.update(step_time=elapsed, tokens_per_s=tokens / elapsed)
                note = faults.observe(done, last, limit)
                writer.write(done, last)
                if note:
                    writer.note(note)
                if faults.must_stop:
                    raise faults.stop(ckpt, mu)
                stop = preemption.agreed()
                # Never while the last step was skipped: rotation would remove the last good checkpoint.
                if (done % s.checkpoint_every == 0 or done == stop_at or stop) and faults.healthy:
                    ckpt.save(learner, it.get_state(), meta(preempted=stop), force=stop)
            if not faults.healthy:
                writer.note(f"{stage}: ended on {len(faults.streak)} skipped step(s); no checkpoint written after "
                            f"the last applied step, so the latest is step {(ckpt.latest_step() or 0) // mu}")
        finally:
            ckpt.wait()
            ckpt.close()
            writer.close()
    return {"steps": done, "preempted": preemption.requested, **{k: v for k, v in last.items() if "/" not in k}}


def check_config(config: ml_collections.ConfigDict, stage: str, steps: int | None = None):
    """The stage's settings, checked before anything is built: a ValueError names the key and the value.

    `steps`: the stage's step count once known (`steps = 0` means one epoch, known only from the data)."""
    s = config[stage]

    def need(key: str, ok: bool, expected: str):
        if not ok:
            value = config
            for part in key.split("."):
                value = value[part]
            raise ValueError(f"config.{key} = {value!r}: expected {expected}")

    o = s.optimizer
    lr = o.learning_rate
    need(f"{stage}.optimizer.learning_rate", isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0,
         "a finite number > 0")
    for b in ("b1", "b2"):
        need(f"{stage}.optimizer.{b}", 0 <= o.get(b, 0.9) < 1, "a number in [0, 1)")
    need(f"{stage}.optimizer.eps", o.get("eps", 1e-8) > 0, "a number > 0")
    need(f"{stage}.optimizer.weight_decay", o.get("weight_decay", 0.0) >= 0, "a number >= 0")
    need(f"{stage}.optimizer.max_grad_norm", not math.isnan(o.get("max_grad_norm", 1.0)),
         "a number (<= 0: no clipping)")
    need(f"{stage}.optimizer.schedule", o.get("schedule", "constant") in SCHEDULES, f"one of {list(SCHEDULES)}")
    need(f"{stage}.optimizer.warmup_steps", o.get("warmup_steps", 0) >= 0, "an integer >= 0")
    need(f"{stage}.steps", s.steps >= 0, "an integer >= 0 (0: one epoch)")
    total = steps or s.steps
    if total:
        need(f"{stage}.optimizer.warmup_steps", o.get("warmup_steps", 0) < total * s.get("mu", 1),
             f"fewer than the stage's {total * s.get('mu', 1)} optimizer steps")
    need(f"{stage}.checkpoint_every", s.checkpoint_every >= 1, "an integer >= 1")
    need(f"{stage}.steps_per_run", s.get("steps_per_run", 0) >= 0, "an integer >= 0 (0: no limit)")
    need("checkpoint.max_to_keep", config.checkpoint.max_to_keep >= 1, "an integer >= 1")
    if s.get("batch_size"):
        need(f"{stage}.batch_size", s.batch_size >= 1, "an integer >= 1")
    else:
        need("data.batch_size", config.data.batch_size >= 1, "an integer >= 1")
    if stage == "grpo":
        g = config.grpo
        need("grpo.group_size", g.group_size >= 2, "an integer >= 2 (advantages are normalized within a group)")
        need("grpo.mu", g.mu >= 1, "an integer >= 1")
        need("grpo.loss.beta", g.loss.beta >= 0, "a number >= 0")
        for e in ("epsilon_low", "epsilon_high"):
            need(f"grpo.loss.{e}", g.loss[e] >= 0, "a number >= 0")
        need("grpo.sampling.temperature", g.sampling.temperature >= 0, "a number >= 0 (0: greedy)")
        need("grpo.sampling.max_new_tokens", g.sampling.max_new_tokens >= 1, "an integer >= 1")
        for key in ("reference_dtype", "rollout_dtype"):
            need(f"grpo.{key}", g.get(key, "float32") in ("float32", "bfloat16"), '"float32" or "bfloat16"')
        widths = tuple(g.get("update_widths", ()))
        need("grpo.update_widths", all(isinstance(w, int) and w >= 1 for w in widths),
             "integers >= 1 (the update's completion widths; those >= max_new_tokens are unused; () = full)")
    FaultPolicy.from_config(config)


@register_stage("sft", check=lambda config: check_config(config, "sft"))
def run_sft(config: ml_collections.ConfigDict) -> dict:
    return run_training(config, "sft")


@register_stage("grpo", check=lambda config: check_config(config, "grpo"))
def run_grpo(config: ml_collections.ConfigDict) -> dict:
    return run_training(config, "grpo")
