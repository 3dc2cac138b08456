"""The `benchmark` stage: a checkpoint over prepared benchmark splits, answers in each benchmark's official submission
format, scored by `tempr1_jax.eval`.

    python experiments/run.py --config=experiments/configs/eval_benchmark.py:charades_sta,nextgqa \\
        --config.model.checkpoint=/ckpt/TempR1-7B          # a Hugging Face folder
    python experiments/run.py --config=experiments/configs/eval_benchmark.py --config.workdir=runs/demo \\
        --config.benchmark.checkpoint=grpo ...              # the Orbax checkpoints of a run's stage

For every benchmark in `config.benchmark.run` it writes `<workdir>/benchmark/<weights>/<benchmark>/`:
  answers.jsonl     each sample's completion and parsed answer, appended after every batch (resume skips them)
  run.json          what produced the answers; a rerun with other weights or settings is refused
  <submission>      the official submission (JSONL, or the ActivityNet detection JSON)
  metrics.json      {"scores": {scorer: metrics}, "samples", "format_rate", ...}, scored from the submission file

Decoding is greedy, batched and sharded: every batch has `batch_size` rows (the last one repeats its final sample, so
one program is compiled), laid over the mesh's batch axes, and answers are parsed on device by the rewards' parser.
Formats that rank windows or detections (QVHighlights mAP, ActivityNet detection) score each interval by the model's
own confidence in it: exp of the mean log-probability of the tokens that wrote its numbers. Equal scores per video
would leave the ranking to the scorers' tie rules.
On several hosts each takes a contiguous slice of every batch; the workdir must be shared (as for checkpoints), and a
single text and patch bucket keeps every host's slice the same shape.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from typing import Any, Callable

import grain
import jax
import ml_collections
import numpy as np
from jax.experimental import multihost_utils
from tqdm import tqdm

from tempr1_jax.data import pipeline
from tempr1_jax.data.annotations import Sample
from tempr1_jax.data.batch import Buckets, collate
from tempr1_jax.data.records import RecordSource
from tempr1_jax.eval import evaluate
from tempr1_jax.processing.tokenizer import Tokenizer
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rl.policy import Policy
from tempr1_jax.stages import common, register_stage
from tempr1_jax.train.checkpoint import Checkpointer

# The device parser yields float32 seconds; the grammar allows 6 decimals, so rounding there restores the written value.
DECIMALS = 6


@dataclasses.dataclass(frozen=True)
class Answer:
    """One sample's greedy completion and what the rewards' parser read from it (nothing when malformed)."""

    uid: str
    text: str
    well_formed: bool
    intervals: list[list[float]]
    letter: int  # gvqa option index, -1 when malformed or another task
    # Per interval, exp(mean log-prob of the tokens that wrote its numbers): the score of a window or detection.
    confidences: list[float]

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _strip(prefix: str) -> Callable[[Sample], str]:
    def rest(sample: Sample) -> str:
        if not sample.uid.startswith(prefix):
            raise ValueError(f"sample uid {sample.uid!r} does not start with {prefix!r}: the split was not prepared by "
                             f"the builder this benchmark expects")
        return sample.uid[len(prefix):]
    return rest


def _charades_qid(sample: Sample) -> int:
    return int(_strip("charades_sta-")(sample)) - 1  # the builder numbers lines from 1; the official qid from 0


def _nextgqa_qid(sample: Sample) -> str:
    video_id, qid = _strip("nextgqa-")(sample).rsplit("-", 1)  # question ids are numbers; video ids may hold '-'
    return f"{video_id}_{qid}"


def _windows_record(qid, sample: Sample, answer: Answer, scored: bool = False) -> dict:
    windows = answer.intervals
    if scored:
        windows = [[s, e, score] for (s, e), score in zip(windows, answer.confidences)]
    return {"qid": qid, "query": sample.queries[0], "vid": sample.video, "pred_relevant_windows": windows}


def _jsonl(qid: Callable[[Sample], Any], scored: bool = False):
    return lambda samples, answers: [_windows_record(qid(s), s, a, scored) for s, a in zip(samples, answers)]


def _nextgqa_submission(samples, answers) -> list[dict]:
    return [{"qid": _nextgqa_qid(s), "answer": a.letter, "pred_relevant_windows": a.intervals}
            for s, a in zip(samples, answers)]


def _detection_submission(samples, answers) -> dict:
    """ActivityNet's detection submission: every interval of a (video, class) sample is a detection of that class."""
    results: dict[str, list[dict]] = {}
    for s, a in zip(samples, answers):
        detections = results.setdefault(s.video.removeprefix("v_"), [])  # the builder names videos v_<youtube id>
        detections += [{"label": s.queries[0], "score": score, "segment": iv}
                       for iv, score in zip(a.intervals, a.confidences)]
    return {"version": "VERSION 1.3", "results": results,
            "external_data": {"used": True, "details": "the base model's pretraining and the fine-tuning corpus"}}


@dataclasses.dataclass(frozen=True)
class BenchmarkSpec:
    """How a prepared split becomes the official submission, and which `tempr1_jax.eval` scorers read it."""

    task: str
    scorers: tuple[str, ...]
    submission: Callable[[list[Sample], list[Answer]], Any]  # a list of JSONL records, or one JSON document
    file: str


SPECS: dict[str, BenchmarkSpec] = {
    "charades_sta": BenchmarkSpec("tg", ("charades_sta",), _jsonl(_charades_qid), "predictions.jsonl"),
    "tvgbench": BenchmarkSpec("tg", ("tvgbench",), _jsonl(lambda s: int(_strip("tvgbench-")(s))), "predictions.jsonl"),
    "qvhighlights": BenchmarkSpec("vhd", ("qvhighlights",),
                                  _jsonl(lambda s: int(_strip("qvhighlights-")(s)), scored=True),
                                  "submission.jsonl"),
    "activitynet_dtg": BenchmarkSpec("dtg", ("activitynet_dtg",), _jsonl(_strip("activitynet_captions-")),
                                     "predictions.jsonl"),
    "nextgqa": BenchmarkSpec("gvqa", ("nextgqa",), _nextgqa_submission, "predictions.jsonl"),
    "activitynet_tal": BenchmarkSpec("tal", ("activitynet_tal", "tal_f1"), _detection_submission, "detections.json"),
}


def write_submission(spec: BenchmarkSpec, samples: list[Sample], answers: list[Answer], path: str) -> None:
    submission = spec.submission(samples, answers)
    with open(path, "w", encoding="utf-8") as f:
        if isinstance(submission, list):
            f.writelines(json.dumps(r) + "\n" for r in submission)
        else:
            json.dump(submission, f)


def score_submission(spec: BenchmarkSpec, bench: ml_collections.ConfigDict, path: str) -> dict[str, dict]:
    options = bench.get("options") or {}
    return {scorer: evaluate(scorer, list(bench.annotations), path, **dict(options.get(scorer) or {}))
            for scorer in spec.scorers}


class AnswerLog:
    """answers.jsonl: appended one batch at a time, so an interrupted run resumes after its last finished batch.

    `run.json` beside it records what produced the answers; resuming under different settings raises rather than mix
    two models' answers in one submission.
    """

    def __init__(self, directory: str, fingerprint: dict[str, Any]):
        self.path = os.path.join(directory, "answers.jsonl")
        self.writer = jax.process_index() == 0
        run = os.path.join(directory, "run.json")
        if os.path.exists(run):
            with open(run) as f:
                before = json.load(f)
            changed = {k: (before.get(k), v) for k, v in fingerprint.items() if before.get(k) != v}
            if changed and os.path.exists(self.path):
                raise ValueError(f"{run}: answers.jsonl beside it comes from other settings "
                                 f"({', '.join(f'{k}: {a!r} then, {b!r} now' for k, (a, b) in changed.items())}); "
                                 "use another workdir or delete that folder to start over")
        self.done: dict[str, Answer] = {}
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                lines = f.readlines()
            for i, line in enumerate(lines):
                try:
                    a = Answer(**json.loads(line))
                except (json.JSONDecodeError, TypeError):
                    if i == len(lines) - 1:
                        break  # the torn last line of a killed run: that batch is redone
                    raise ValueError(f"{self.path}:{i + 1}: not an answer record") from None
                self.done[a.uid] = a
        if jax.process_count() > 1:  # every host has read the log before the first one rewrites it
            multihost_utils.sync_global_devices(f"read {self.path}")
        if self.writer:
            os.makedirs(directory, exist_ok=True)
            with open(run, "w") as f:
                json.dump(fingerprint, f, indent=1)
            with open(self.path, "w", encoding="utf-8") as f:  # rewritten without any torn line
                f.writelines(json.dumps(a.to_json()) + "\n" for a in self.done.values())

    def append(self, answers: list[Answer]) -> None:
        new = [a for a in answers if a.uid not in self.done]
        self.done.update((a.uid, a) for a in new)
        if self.writer:
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("".join(json.dumps(a.to_json()) + "\n" for a in new))
                f.flush()
                os.fsync(f.fileno())


def load_policy(config: ml_collections.ConfigDict) -> tuple[Policy, Tokenizer, dict[str, Any]]:
    """The policy to evaluate: `config.model`'s weights (a Hugging Face folder, or the preset's random init), replaced
    by the latest Orbax checkpoint of `config.benchmark.checkpoint` if set (a stage name under the workdir, or a
    checkpoints folder). Returns it with a description of the weights."""
    b = config.benchmark
    mesh = common.build_mesh(config)
    tokenizer = common.build_tokenizer(config)
    policy = common.build_policy(common.build_model(config, mesh), mesh, tokenizer, b.max_new_tokens, RewardConfig(),
                                 common.vision_slice_width(config))
    weights = {"model": config.model.checkpoint or f"preset {config.model.preset} (random init, seed {config.seed})",
               "dtype": config.model.dtype}
    if b.checkpoint:
        src = b.checkpoint if os.sep in b.checkpoint else os.path.join(config.workdir, b.checkpoint, "checkpoints")
        if not os.path.isdir(src):
            raise FileNotFoundError(f"config.benchmark.checkpoint = {b.checkpoint!r}, but {src} does not exist")
        ckpt = Checkpointer(src)
        if ckpt.latest_step() is None:
            raise FileNotFoundError(f"config.benchmark.checkpoint = {b.checkpoint!r}: {src} holds no checkpoint")
        params, step = ckpt.read_params(policy.params)
        policy.load_params(params)
        weights.update(orbax=os.path.abspath(src), step=step)
        ckpt.close()
    return policy, tokenizer, weights


def weights_name(config: ml_collections.ConfigDict) -> str:
    """The output folder's name for the weights: the stage, the checkpoint folder, or the model folder or preset."""
    b, m = config.benchmark, config.model
    if b.checkpoint:
        path = os.path.normpath(b.checkpoint)
        return os.path.basename(os.path.dirname(path) if os.path.basename(path) == "checkpoints" else path)
    return os.path.basename(os.path.normpath(m.checkpoint)) if m.checkpoint else f"init-{m.preset}"


def host_batch(encoded, rows: range, batch_size: int, buckets: Buckets, pad_id: int, rope):
    """This host's slice of the batch of samples `rows`, padded to `batch_size` rows by repeating the last sample,
    so that every batch has one shape (one compiled program) whose rows split evenly over the devices."""
    index = list(rows) + [rows[-1]] * (batch_size - len(rows))
    per_host = batch_size // jax.process_count()
    mine = index[jax.process_index() * per_host:(jax.process_index() + 1) * per_host]
    return collate([encoded[j] for j in mine], buckets, pad_id, rope)


def answers_of(out: dict[str, np.ndarray], samples: list[Sample], rows: range, tokenizer: Tokenizer) -> list[Answer]:
    """`Policy.evaluate`'s outputs for the whole batch -> the answers of its real (not padding) rows."""
    answers = []
    for b, j in enumerate(rows):
        ok, n = bool(out["well_formed"][b]), int(out["count"][b])
        answers.append(Answer(
            uid=samples[j].uid, text=tokenizer.decode(out["tokens"][b, : out["lengths"][b]]), well_formed=ok,
            intervals=np.round(out["intervals"][b, :n].astype(np.float64), DECIMALS).tolist() if ok else [],
            letter=int(out["letter"][b]) if ok else -1,
            confidences=np.exp(out["interval_logprob"][b, :n].astype(np.float64)).tolist() if ok else []))
    return answers


def run_one(config: ml_collections.ConfigDict, name: str, policy: Policy, tokenizer: Tokenizer,
            weights: dict[str, Any]) -> dict[str, Any]:
    if name not in SPECS:
        raise KeyError(f"config.benchmark.run names {name!r}; known benchmarks: {', '.join(SPECS)}")
    spec, b = SPECS[name], config.benchmark
    if b.batch_size % jax.process_count():
        raise ValueError(f"config.benchmark.batch_size {b.batch_size} must divide over {jax.process_count()} hosts")
    bench = b[name]
    source = RecordSource(bench.split)
    samples = source.samples
    wrong = [s.uid for s in samples if s.task != spec.task]
    if wrong:
        raise ValueError(f"{bench.split}: {name} needs {spec.task} samples, but {wrong[0]} (and {len(wrong) - 1} more) "
                         "are of another task")
    if len({s.uid for s in samples}) != len(samples):
        raise ValueError(f"{bench.split}: sample uids repeat; prepare the split once, from one annotation file")
    spec.submission(samples, [Answer(s.uid, "", False, [], -1, []) for s in samples])  # bad uids fail before decoding
    outdir = os.path.join(config.workdir, "benchmark", weights_name(config), name)
    log = AnswerLog(outdir, {"benchmark": name, "split": os.path.abspath(bench.split), **weights,
                             "max_new_tokens": b.max_new_tokens, "think": b.think,
                             "tokenizer": tokenizer.name, "confidences": "interval token log-prob"})
    encoded = grain.MapDataset.source(source).map(pipeline.EncodeSample(policy.model_cfg, tokenizer, b.think))
    buckets = Buckets(text=tuple(b.buckets.text), patches=tuple(b.buckets.patches), answer=b.buckets.answer)
    batches = [range(i, min(i + b.batch_size, len(samples))) for i in range(0, len(samples), b.batch_size)]
    todo = [rows for rows in batches if any(samples[j].uid not in log.done for j in rows)]
    # Host threads read, patchify and collate the next batches while the devices decode this one.
    inputs = grain.MapDataset.source(todo).map(functools.partial(
        host_batch, encoded, batch_size=b.batch_size, buckets=buckets, pad_id=tokenizer.pad_id,
        rope=pipeline.rope_for(policy.model_cfg))).to_iter_dataset(grain.ReadOptions(num_threads=2,
                                                                                      prefetch_buffer_size=2))
    for rows, batch in tqdm(zip(todo, inputs), desc=f"{name} ({len(samples)} samples)", unit="batch",
                            total=len(batches), initial=len(batches) - len(todo), disable=jax.process_index() != 0):
        log.append(answers_of(policy.evaluate(batch), samples, rows, tokenizer))
    answers = [log.done[s.uid] for s in samples]
    path = os.path.join(outdir, spec.file)
    metrics = {"benchmark": name, **weights, "samples": len(samples),
               "format_rate": 100 * float(np.mean([a.well_formed for a in answers])) if answers else 0.0,
               "submission": path}
    if jax.process_index() == 0:
        write_submission(spec, samples, answers, path)
        metrics["scores"] = score_submission(spec, bench, path)
        with open(os.path.join(outdir, "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=1)
    return metrics


@register_stage("benchmark")
def run_benchmark(config: ml_collections.ConfigDict) -> dict:
    policy, tokenizer, weights = load_policy(config)
    results = {name: run_one(config, name, policy, tokenizer, weights) for name in config.benchmark.run}
    for name, m in results.items():
        scores = "; ".join(f"{k} {v:.2f}" for s in m.get("scores", {}).values() for k, v in s.items()
                           if k in ("mIoU", "VHD-mIoU", "Acc@QA", "GVQA-mIoU", "mAP", "mF1"))
        print(f"benchmark {name}: {m['samples']} samples, format {m['format_rate']:.0f}%; {scores}")
    return results
