"""predict.py on a generated video: each of the five tasks in its trained prompt, with the timeline PNG."""
import os
import sys

import numpy as np
import pytest
from PIL import Image

from tempr1_jax.processing.video_io import decode_video, write_video
from tempr1_jax.processing.vision import VideoSampling
from tempr1_jax.rewards.grammar import parse
from tests.experiments.tiny_checkpoint import write_tiny_checkpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "experiments"))
import predict  # noqa: E402  (experiments/ is a folder of scripts)

QUESTIONS = {
    "tg": ["--query=the red box appears"],
    "dtg": ["--sentences", "The red box appears.", "The red box disappears."],
    "vhd": ["--query=a red box"],
    "gvqa": ["--query=What colour is the box?", "--options", "red", "green", "blue", "black", "white"],
    "tal": ["--query=appearing"],
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    frames = np.full((40, 84, 112, 3), 90, np.uint8)
    frames[10:25, 20:50, 30:70] = (230, 40, 40)
    root = tmp_path_factory.mktemp("predict")
    write_video(str(root / "clip.mp4"), frames, fps=10)
    return write_tiny_checkpoint(str(root / "ckpt")), str(root / "clip.mp4")


@pytest.mark.parametrize("task", list(QUESTIONS))
def test_each_task_answers_and_plots(inputs, tmp_path, capsys, task):
    checkpoint, video = inputs
    png = tmp_path / f"{task}.png"
    small = [f"--min_pixels={112 * 84}", f"--max_pixels={112 * 84}"]
    assert predict.main([f"--checkpoint={checkpoint}", f"--video={video}", f"--task={task}", *QUESTIONS[task],
                         "--no-think", "--max_new_tokens=8", "--fps=2", *small, f"--plot={png}"]) == 0
    out, err = capsys.readouterr()
    assert "8 frames at 2.00 fps, 112x84" in err  # 4 s at 2 fps
    reply, *parsed = out.splitlines()
    assert parsed == predict.describe(predict.task_sample(task, *_fields(task)), parse(task, reply))
    with Image.open(png) as image:
        assert image.size[0] > 600 and image.size[1] > 150


def _fields(task):
    args = QUESTIONS[task]
    if task == "dtg":
        return None, args[1:]
    query = args[0].split("=", 1)[1]
    return (query, (), args[2:]) if task == "gvqa" else (query,)


def test_parsed_intervals_print_in_seconds_and_minutes():
    sample = predict.task_sample("dtg", sentences=("He walks in.", "He sits."))
    lines = predict.describe(sample, parse("dtg", "<answer>5.0 to 65.5, 70.0 to 3725.0</answer>"))
    assert lines == ['  1.      5.0 s -     65.5 s   00:05.0 - 01:05.5   "He walks in."',
                     '  2.     70.0 s -   3725.0 s   01:10.0 - 1:02:05.0   "He sits."']
    gvqa = predict.task_sample("gvqa", "Why?", options=("a", "b", "c", "d", "e"))
    assert predict.describe(gvqa, parse("gvqa", "<answer>C</answer><evidence>1.0 to 2.0</evidence>"))[0] == \
        "answer   (C) c"
    assert predict.describe(gvqa, parse("gvqa", "C"))[0].startswith("the answer is not in the gvqa format")


def test_plot_draws_a_well_formed_answer(inputs, tmp_path):
    video = decode_video(inputs[1], VideoSampling())
    sample = predict.task_sample("tal", "appearing")
    answer = parse("tal", "<answer>1.0 to 2.5, 3.0 to 3.5</answer>")
    predict.plot_timeline(video, sample, answer, str(tmp_path / "t.png"), truth=[(1.0, 3.0)])
    assert os.path.getsize(tmp_path / "t.png") > 10_000


@pytest.mark.parametrize("args, message", [(["--task=dtg"], "--task=dtg needs --sentences"),
                                           (["--task=gvqa", "--query=why?"], "needs --options with 5 answers"),
                                           (["--task=tal"], "--task=tal needs --query, the action's name"),
                                           (["--plot=x.png", "--query=hi"], "without --task")])
def test_missing_task_inputs_are_named(inputs, capsys, args, message):
    with pytest.raises(SystemExit):
        predict.main([f"--checkpoint={inputs[0]}", f"--video={inputs[1]}", *args])
    assert message in capsys.readouterr().err
