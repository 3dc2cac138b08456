"""The benchmark stage on fixture splits of all six benchmarks, prepared by their builders from official-format files.

- answers equal to the ground truth, written as submissions, score full marks: every qid maps to its annotation;
- the stage's metrics are what `tempr1_jax.eval` computes from the submission it wrote;
- a resumed run equals an uninterrupted one and does not redo finished batches;
- two processes answer as one does, and only process 0 writes and scores.
"""
import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tempr1_jax.data.prompts import reference_answer
from tempr1_jax.data.records import RecordSource
from tempr1_jax.eval import evaluate
from tempr1_jax.models.config import qwen3_tiny
from tempr1_jax.processing.video_io import write_video
from tempr1_jax.rewards.grammar import parse
from tempr1_jax.rl.learner import Learner, LearnerConfig
from tempr1_jax.stages import benchmark as stage
from tempr1_jax.stages import run
from tempr1_jax.stages.common import token_tables
from tempr1_jax.train.checkpoint import Checkpointer
from tests.datasets.test_builders import SMALL, load
from tests.experiments.tiny_checkpoint import VOCAB, write_tiny_checkpoint
from tests.processes import free_port, worker_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DURATIONS = {"vidA": 8.0, "vidB": 6.0}


def _charades(d):
    lines = [("vidA", 0.5, 3.0), ("vidB", 1.0, 4.0), ("vidA", 4.0, 7.5)] * 3 + [("vidB", 0.0, 2.5)]
    path = d / "charades_sta_test.txt"
    path.write_text("".join(f"{v} {s} {e}##a person does thing {i}.\n" for i, (v, s, e) in enumerate(lines)))
    return [str(path)], ["--annotations", str(path)]


def _tvgbench(d):
    items = [{"path": f"./dataset/timer1/videos/tvgbench_data/{v}.mp4", "question": q, "answer": a,
              "duration": DURATIONS[v], "dataset_name": "charades"}
             for v, q, a in (("vidA", "the red light", "1.0-3.5"), ("vidB", "the door", "2.0-5.5"))]
    path = d / "tvgbench.json"
    path.write_text(json.dumps(items))
    return [str(path)], ["--annotations", str(path)]


def _qvhighlights(d):
    rows = [{"qid": 10, "query": "a dog runs", "duration": 8, "vid": "vidA",
             "relevant_windows": [[0.0, 2.0], [4.0, 6.0]], "relevant_clip_ids": [0, 2],
             "saliency_scores": [[4, 4, 4], [2, 3, 2]]},
            {"qid": 11, "query": "a cat sits", "duration": 6, "vid": "vidB", "relevant_windows": [[2.0, 4.0]],
             "relevant_clip_ids": [1], "saliency_scores": [[3, 3, 1]]}]
    path = d / "highlight_val_release.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return [str(path)], ["--annotations", str(path)]


def _activitynet_dtg(d):
    data = {"vidA": {"duration": 8.0, "timestamps": [[0.0, 2.5], [3.0, 7.0]], "sentences": ["One.", " Two."]},
            "vidB": {"duration": 6.0, "timestamps": [[1.0, 5.5]], "sentences": ["Three."]}}
    path = d / "val_2.json"
    path.write_text(json.dumps(data))
    return [str(path)], ["--annotations", str(path)]


def _nextgqa(d):
    csv_path, gsub = d / "test.csv", d / "gsub_test.json"
    fields = ["video_id", "frame_count", "width", "height", "question", "answer", "qid", "type",
              "a0", "a1", "a2", "a3", "a4"]
    questions = [("vidA", 0, "opt c", [[1.0, 3.0]]), ("vidA", 1, "opt a", [[0.0, 2.0], [5.0, 7.5]]),
                 ("vidB", 4, "opt e", [[2.5, 6.0]])]
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fields)
        w.writeheader()
        for v, q, answer, _ in questions:
            w.writerow({"video_id": v, "frame_count": 1, "width": 64, "height": 48, "question": f"why {q}?",
                        "answer": answer, "qid": q, "type": "CW", **{f"a{j}": f"opt {'abcde'[j]}" for j in range(5)}})
    locations = {}
    for v, q, _, evidence in questions:
        locations.setdefault(v, {"duration": DURATIONS[v], "fps": 8, "location": {}})["location"][str(q)] = evidence
    gsub.write_text(json.dumps(locations))
    return [str(gsub), str(csv_path)], ["--questions", str(csv_path), "--grounding", str(gsub)]


def _activitynet_tal(d):
    database = {"vidA": {"subset": "validation", "duration": 8.0, "annotations": [
                    {"segment": [0.5, 2.0], "label": "jump"}, {"segment": [4.0, 6.5], "label": "jump"},
                    {"segment": [2.0, 3.0], "label": "run"}]},
                "vidB": {"subset": "validation", "duration": 6.0, "annotations": [
                    {"segment": [1.0, 4.0], "label": "run"}]},
                "vidT": {"subset": "training", "duration": 6.0, "annotations": [
                    {"segment": [1.0, 2.0], "label": "swim"}]}}
    path = d / "activity_net.v1-3.min.json"
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    return [str(path)], ["--annotations", str(path), "--subset", "validation"]


FIXTURES = {"charades_sta": ("charades_sta", _charades), "tvgbench": ("tvgbench", _tvgbench),
            "qvhighlights": ("qvhighlights", _qvhighlights),
            "activitynet_dtg": ("activitynet_captions", _activitynet_dtg),
            "nextgqa": ("nextgqa", _nextgqa), "activitynet_tal": ("activitynet13", _activitynet_tal)}


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """{benchmark: (split dir, annotation paths)}, each split written by the benchmark's own builder."""
    root = tmp_path_factory.mktemp("benchmarks")
    videos = root / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    for name, seconds in DURATIONS.items():
        write_video(videos / f"{name}.mp4", rng.integers(0, 255, (int(seconds * 8), 48, 64, 3), np.uint8), 8)
        os.link(videos / f"{name}.mp4", videos / f"v_{name}.mp4")  # ActivityNet's crawler names
    out = {}
    for bench, (builder, write) in FIXTURES.items():
        (root / bench).mkdir()
        annotations, argv = write(root / bench)
        split = str(root / bench / "split")
        info = load(builder).main([*argv, "--videos", str(videos), "--out", split, *SMALL])
        assert info["num_samples"] > 0
        out[bench] = (split, annotations)
    return out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_tiny_checkpoint(str(tmp_path_factory.mktemp("hf")))


def _config(workdir, prepared, checkpoint, names):
    spec = importlib.util.spec_from_file_location("eval_benchmark",
                                                  os.path.join(ROOT, "experiments", "configs", "eval_benchmark.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config(",".join(names))
    c.workdir = str(workdir)
    c.model.checkpoint, c.model.preset, c.model.dtype, c.model.param_dtype = checkpoint, "tiny", "float32", "float32"
    c.tokenizer = os.path.join(checkpoint, "tokenizer.json")
    c.benchmark.batch_size = 8  # the 8 fake devices of the test session: one row each
    c.benchmark.max_new_tokens = 8  # a random model never stops by itself
    c.benchmark.think = False
    c.benchmark.buckets.text, c.benchmark.buckets.patches, c.benchmark.buckets.answer = (512,), (128,), 64
    for name, (split, annotations) in prepared.items():
        c.benchmark[name].split, c.benchmark[name].annotations = split, tuple(annotations)
    return c


def test_ground_truth_answers_score_full_marks(prepared, tmp_path):
    """Each benchmark's uid -> qid conversion and submission format, checked by the official-format scorers."""
    full = {"charades_sta": ("mIoU",), "tvgbench": ("mIoU",),
            "qvhighlights": ("VHD-mIoU", "MR-full-mAP", "MR-full-R1@0.7"), "activitynet_dtg": ("mIoU",),
            "nextgqa": ("Acc@QA", "GVQA-mIoU", "mIoU"), "activitynet_tal": ("mAP", "mF1")}
    config = _config(tmp_path, prepared, "", list(prepared))
    for name, (split, _) in prepared.items():
        spec = stage.SPECS[name]
        samples = RecordSource(split).samples
        answers = []
        for s in samples:
            p = parse(s.task, reference_answer(s))
            answers.append(stage.Answer(s.uid, reference_answer(s), p.well_formed, [list(iv) for iv in p.intervals],
                                        p.letter, [1.0] * len(p.intervals)))
        path = str(tmp_path / f"{name}-{spec.file}")
        stage.write_submission(spec, samples, answers, path)
        by_scorer = stage.score_submission(spec, config.benchmark[name], path)
        scores = {k: v for m in by_scorer.values() for k, v in m.items()}
        for metric in full[name]:
            assert scores[metric] == pytest.approx(100.0), (name, metric, scores)


def test_stage_scores_its_own_submissions(prepared, checkpoint, tmp_path):
    config = _config(tmp_path, prepared, checkpoint, list(prepared))
    results = run(config)["benchmark"]
    assert set(results) == set(prepared)
    for name, m in results.items():
        spec = stage.SPECS[name]
        outdir = tmp_path / "benchmark" / os.path.basename(checkpoint) / name
        with open(outdir / "metrics.json") as f:
            assert json.load(f)["scores"] == m["scores"]
        for scorer in spec.scorers:
            assert m["scores"][scorer] == evaluate(scorer, prepared[name][1], str(outdir / spec.file),
                                                   **dict(config.benchmark[name].options[scorer]))
        answers = [json.loads(line) for line in open(outdir / "answers.jsonl")]
        assert [a["uid"] for a in answers] == [s.uid for s in RecordSource(prepared[name][0]).samples]
        assert all(a["text"] for a in answers) and m["samples"] == len(answers)
    tal = json.load(open(tmp_path / "benchmark" / os.path.basename(checkpoint) / "activitynet_tal" / "detections.json"))
    assert set(tal["results"]) == {"vidA", "vidB"}  # every validation video, keyed by its ActivityNet id


def test_detection_and_window_scores_are_the_models_interval_probabilities(prepared, checkpoint):
    """A window's score is exp(mean log-prob of the tokens that wrote it), comparable across videos, so mAP ranks
    detections by the model's confidence rather than by their place in each answer."""
    from tempr1_jax.processing.tokenizer import load_tokenizer
    tokenizer = load_tokenizer(os.path.join(checkpoint, "tokenizer.json"))
    samples = RecordSource(prepared["activitynet_tal"][0]).samples[:2]
    logprob = np.array([[-0.5, -0.1, 0.0], [-0.05, -2.0, 0.0]], np.float32)
    out = {"tokens": np.zeros((2, 4), np.int32), "lengths": np.array([4, 4]), "well_formed": np.array([True, True]),
           "count": np.array([2, 2]), "letter": np.array([-1, -1]), "interval_logprob": logprob,
           "intervals": np.array([[[0, 1], [2, 3], [0, 0]], [[1, 2], [3, 4], [0, 0]]], np.float32)}
    answers = stage.answers_of(out, samples, range(2), tokenizer)
    np.testing.assert_allclose([a.confidences for a in answers], np.exp(logprob[:, :2].astype(np.float64)))
    detections = [d for ds in stage.SPECS["activitynet_tal"].submission(samples, answers)["results"].values()
                  for d in ds]
    assert sorted(d["score"] for d in detections) == pytest.approx(sorted(np.exp(logprob[:, :2]).ravel()))
    windows = stage.SPECS["qvhighlights"].submission
    qv = RecordSource(prepared["qvhighlights"][0]).samples[:1]
    record = windows(qv, answers[:1])[0]
    assert record["pred_relevant_windows"] == [[0.0, 1.0, pytest.approx(np.exp(-0.5))],
                                               [2.0, 3.0, pytest.approx(np.exp(-0.1))]]


@pytest.fixture(scope="module")
def policy(prepared, checkpoint, tmp_path_factory):
    """One loaded policy (the tiny checkpoint) for the tests that call `run_one` directly: one compile for all."""
    return stage.load_policy(_config(tmp_path_factory.mktemp("policy"), prepared, checkpoint, []))


def test_resume_equals_an_uninterrupted_run(prepared, checkpoint, policy, tmp_path):
    pol, tokenizer, weights = policy
    only = {"charades_sta": prepared["charades_sta"]}  # 10 queries: two batches of 8
    config = _config(tmp_path / "full", only, checkpoint, ["charades_sta"])
    full = stage.run_one(config, "charades_sta", pol, tokenizer, weights)
    done = tmp_path / "full" / "benchmark" / os.path.basename(checkpoint) / "charades_sta"
    lines = open(done / "answers.jsonl").read().splitlines(keepends=True)
    assert len(lines) == 10

    config.workdir = str(tmp_path / "resumed")
    partial = tmp_path / "resumed" / "benchmark" / os.path.basename(checkpoint) / "charades_sta"
    partial.mkdir(parents=True)
    shutil.copy(done / "run.json", partial / "run.json")
    # The first batch finished (its first answer's text marked, to see it is kept), the second was torn mid-write.
    first = json.loads(lines[0])
    (partial / "answers.jsonl").write_text(json.dumps({**first, "text": "KEPT"}) + "\n" + "".join(lines[1:8])
                                           + lines[8][:20])
    resumed = stage.run_one(config, "charades_sta", pol, tokenizer, weights)
    assert resumed["scores"] == full["scores"]
    again = open(partial / "answers.jsonl").read().splitlines(keepends=True)
    assert json.loads(again[0])["text"] == "KEPT" and again[1:] == lines[1:]
    assert open(partial / "predictions.jsonl").read() == open(done / "predictions.jsonl").read()
    finished = stage.run_one(config, "charades_sta", pol, tokenizer, weights)  # nothing left: no batch runs
    assert finished["scores"] == full["scores"] and open(partial / "answers.jsonl").read() == "".join(again)

    config.benchmark.max_new_tokens = 4
    with pytest.raises(ValueError, match="max_new_tokens: 8 then, 4 now"):
        stage.run_one(config, "charades_sta", pol, tokenizer, weights)


def test_orbax_checkpoint_replaces_the_model_weights(prepared, checkpoint, policy, tmp_path):
    """`benchmark.checkpoint` (a stage's Orbax folder) overrides `model.checkpoint`: a policy saved from model A and
    restored over a different model B answers as A does."""
    pol, tokenizer, weights = policy
    only = {"nextgqa": prepared["nextgqa"]}
    config_a = _config(tmp_path / "a", only, checkpoint, ["nextgqa"])
    answers_a = stage.run_one(config_a, "nextgqa", pol, tokenizer, weights)
    # A training stage's checkpoint of model A, optimizer state and all.
    learner = Learner(pol.model(), pol.mesh, LearnerConfig(),
                      token_tables(tokenizer, pol.model_cfg.text.vocab_size))
    ckpt = Checkpointer(str(tmp_path / "b" / "grpo" / "checkpoints"))
    ckpt.save(learner, None, {"stage": "grpo"})
    ckpt.wait()
    ckpt.close()

    other = write_tiny_checkpoint(str(tmp_path / "other"), seed=4)
    config_b = _config(tmp_path / "b", only, other, ["nextgqa"])
    config_b.benchmark.checkpoint = "grpo"
    result = run(config_b)["benchmark"]["nextgqa"]
    assert result["step"] == 0 and result["orbax"] == str(tmp_path / "b" / "grpo" / "checkpoints")
    read = lambda m: [json.loads(line)["text"] for line in open(os.path.join(os.path.dirname(m["submission"]),
                                                                             "answers.jsonl"))]
    assert read(result) == read(answers_a)
    assert os.path.dirname(result["submission"]).endswith(os.path.join("benchmark", "grpo", "nextgqa"))


@pytest.mark.parametrize("benchmark, split, message", [
    ("charades_sta", "tvgbench", "does not start with 'charades_sta-'"),
    ("nextgqa", "charades_sta", "nextgqa needs gvqa samples"),
])
def test_a_split_of_another_benchmark_is_refused(prepared, checkpoint, policy, tmp_path, benchmark, split, message):
    config = _config(tmp_path, {benchmark: prepared[split]}, checkpoint, [benchmark])
    with pytest.raises(ValueError, match=message):
        stage.run_one(config, benchmark, *policy)
    assert not os.path.exists(tmp_path / "benchmark")  # refused before anything is decoded or written


def test_a_qwen3_vl_checkpoint_is_scored_like_a_qwen2_5_vl_one(prepared, tmp_path):
    """The same stage, benchmarks and scorers for a Qwen3-VL folder (its family read from config.json, its frames
    patchified by its own processor): every sample is answered and the scores are the official scorers'."""
    checkpoint = write_tiny_checkpoint(str(tmp_path / "qwen3"), cfg=qwen3_tiny(VOCAB))
    assert json.load(open(os.path.join(checkpoint, "config.json")))["model_type"] == "qwen3_vl"
    names = ["charades_sta", "nextgqa"]
    config = _config(tmp_path, {n: prepared[n] for n in names}, checkpoint, names)
    config.model.preset = "qwen3_tiny_small"
    # Qwen3-VL's clip floor of 128 frame-tokens (64 merged tokens of two frames each) is wider than the Qwen2.5-VL
    # test's frames.
    config.benchmark.buckets.text, config.benchmark.buckets.patches = (512,), (512,)
    results = run(config)["benchmark"]
    assert set(results) == set(names)
    for name, m in results.items():
        outdir = tmp_path / "benchmark" / "qwen3" / name
        answers = [json.loads(line) for line in open(outdir / "answers.jsonl")]
        assert [a["uid"] for a in answers] == [s.uid for s in RecordSource(prepared[name][0]).samples]
        for scorer in stage.SPECS[name].scorers:
            assert m["scores"][scorer] == evaluate(scorer, prepared[name][1], str(outdir / stage.SPECS[name].file),
                                                   **dict(config.benchmark[name].options[scorer]))


def test_two_processes_answer_like_one_and_only_process_zero_writes(prepared, checkpoint, tmp_path):
    names = ["charades_sta", "activitynet_tal"]
    one = run(_config(tmp_path / "one", prepared, checkpoint, names))["benchmark"]
    env = worker_env()
    port = free_port()
    args = json.dumps({"workdir": str(tmp_path / "two"), "prepared": prepared, "checkpoint": checkpoint,
                       "names": names})
    worker = os.path.join(os.path.dirname(os.path.abspath(__file__)), "benchmark_worker.py")
    procs = [subprocess.Popen([sys.executable, worker, str(i), "2", str(port), args], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    summaries = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        summaries.append(json.loads(next(l for l in out.splitlines() if l.startswith("SUMMARY "))[8:]))
    for name in names:
        assert summaries[0][name]["scores"] == one[name]["scores"]
        assert "scores" not in summaries[1][name]  # process 1 neither scores nor writes
        a, b = ([json.loads(line) for line in open(tmp_path / d / "benchmark" / os.path.basename(checkpoint) / name
                                                  / "answers.jsonl")] for d in ("two", "one"))
        assert [r["uid"] for r in a] == [r["uid"] for r in b]  # each sample once: only process 0 appends
        for x, y in zip(a, b):
            np.testing.assert_allclose(x.pop("confidences"), y.pop("confidences"), rtol=1e-5)
            assert x == y
