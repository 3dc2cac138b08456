"""The command lines as users run them: predict.py on a generated video, run.py with the demo config."""
import os
import subprocess
import sys

import numpy as np
import pytest

from tempr1_jax.models import init_model, make_mesh, save_pretrained
from tempr1_jax.models.config import tiny
from tempr1_jax.processing.video_io import write_video

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    import jax
    path = str(tmp_path_factory.mktemp("ckpt"))
    save_pretrained(init_model(tiny(), make_mesh((1, 1, 1), jax.devices()[:1]), seed=3), path)
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    frames = np.full((30, 84, 112, 3), 90, np.uint8)
    frames[10:20, 20:50, 30:70] = (230, 40, 40)
    path = str(tmp_path_factory.mktemp("video") / "clip.mp4")
    write_video(path, frames, fps=10)
    return path


def test_predict_answers_on_a_generated_video(tiny_checkpoint, video):
    r = _run("experiments/predict.py", f"--checkpoint={tiny_checkpoint}", f"--video={video}",
             "--query=When does the red box appear?", "--max_new_tokens=8", "--fps=4")
    assert r.returncode == 0, r.stderr
    assert "12 frames at 4.00 fps" in r.stderr  # 3 s at 4 fps
    assert r.stdout.strip()  # a random tiny model says something; its text is not the point


@pytest.mark.parametrize("kind", ["missing", "not_a_video"])
def test_predict_names_a_bad_video(tiny_checkpoint, tmp_path, kind):
    path = tmp_path / "bad.mp4"
    if kind == "not_a_video":
        path.write_text("this is not a video")
    r = _run("experiments/predict.py", f"--checkpoint={tiny_checkpoint}", f"--video={path}", "--query=hi")
    assert r.returncode != 0
    assert str(path) in r.stderr and ("not found" if kind == "missing" else "not a readable video") in r.stderr


def test_run_answer_stage_on_a_synthetic_video(tmp_path):
    r = _run("experiments/run.py", "--config=experiments/configs/demo.py", "--config.stages=('answer',)",
             "--config.model.preset=tiny", "--config.tokenizer=", f"--config.workdir={tmp_path}",
             "--config.answer.max_new_tokens=4")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "answer" in r.stdout and os.path.isfile(tmp_path / "synthetic_video.mp4")


def test_run_rejects_an_unknown_config_key():
    r = _run("experiments/run.py", "--config=experiments/configs/demo.py", "--config.model.presett=tiny")
    assert r.returncode != 0
    assert "unknown config key 'model.presett'" in r.stderr and "preset" in r.stderr


def test_run_rejects_an_unknown_preset(tmp_path):
    r = _run("experiments/run.py", "--config=experiments/configs/demo.py", "--config.model.preset=qwen9",
             "--config.stages=('answer',)", "--config.tokenizer=", f"--config.workdir={tmp_path}")
    assert r.returncode != 0 and "unknown model preset 'qwen9'" in r.stderr
