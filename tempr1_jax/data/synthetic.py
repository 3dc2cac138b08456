"""A procedurally rendered temporal corpus with exact ground truth for all five tasks (the embedded default).

Each sample is its own short video: coloured shapes on a grey gradient, each in its own cell of a 2x3 grid (so they
never occlude one another), appearing, moving, flashing and disappearing. Each colour is used by at most one object
per video, so a colour names an object. An object is drawn on the frame at time t exactly when start <= t < end for
one of its appearances; interval bounds sit on a 0.5 s grid, so they are exact in the answers' one-decimal format.

Tasks (what the ground truth intervals are):
- tg:   "a red circle moves to the left."            -> its one appearance; 1-3 distractor objects.
- dtg:  2-4 such sentences, in order of start         -> one appearance per sentence.
- vhd:  "a red circle"                               -> its 2-3 appearances; scores = their size level (1-4).
- gvqa: "What shape is the red object?" A-E shapes   -> answer index, evidence = its 1-2 appearances.
- tal:  an action class such as "moving left"        -> every appearance with that motion, by 1-2 objects.
Everything is a pure function of (config, index): sample i does not depend on how many samples are generated.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Mapping

import numpy as np
from tqdm import tqdm

from tempr1_jax.data.annotations import OPTION_LETTERS, TASKS, Sample
from tempr1_jax.processing import video_io

COLORS = {
    "red": (230, 40, 40), "green": (40, 200, 60), "blue": (50, 80, 240),
    "yellow": (240, 220, 40), "magenta": (220, 50, 220), "cyan": (40, 210, 220),
}
SHAPES = ("circle", "square", "triangle", "diamond", "cross")
# motion -> (direction (dy, dx), sentence phrase, action class for tal)
MOTIONS = {
    "left": ((0, -1), "moves to the left", "moving left"),
    "right": ((0, 1), "moves to the right", "moving right"),
    "up": ((-1, 0), "moves up", "moving up"),
    "down": ((1, 0), "moves down", "moving down"),
    "flash": ((0, 0), "flashes", "flashing"),
}
GRID_ROWS, GRID_COLS = 2, 3
assert len(SHAPES) == len(OPTION_LETTERS) and len(COLORS) == GRID_ROWS * GRID_COLS


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Corpus settings. Resolution is (height, width); durations are drawn uniformly in `duration` seconds."""

    num_samples: int = 1000
    seed: int = 0
    duration: tuple[float, float] = (8.0, 24.0)
    fps: float = 8.0
    resolution: tuple[int, int] = (120, 160)
    task_weights: Mapping[str, float] = dataclasses.field(default_factory=lambda: {t: 1.0 for t in TASKS})
    event_seconds: tuple[float, float] = (1.0, 6.0)  # length of an appearance (flashes: 0.5 to 1 s)
    time_step: float = 0.5  # interval bounds are multiples of this; must be a multiple of 1 / fps
    max_distractors: int = 3  # objects besides the ones asked about, at most (0: an easier level, one object class)

    def __post_init__(self):
        if not all(t in TASKS for t in self.task_weights) or sum(self.task_weights.values()) <= 0:
            raise ValueError(f"task_weights {dict(self.task_weights)}: keys must be in {TASKS}, weights sum > 0")
        frames_per_step = self.time_step * self.fps
        if abs(frames_per_step - round(frames_per_step)) > 1e-9 or frames_per_step < 1:
            raise ValueError(f"time_step {self.time_step} s must be a whole number of frames at {self.fps} fps")
        if self.duration[0] < 4 * self.event_seconds[0] or self.duration[0] > self.duration[1]:
            raise ValueError(f"duration {self.duration} must be ordered and at least 4x the shortest event "
                             f"({self.event_seconds[0]} s), so that four events fit")


@dataclasses.dataclass(frozen=True)
class Appearance:
    color: str
    shape: str
    motion: str
    start: float
    end: float
    cell: int  # index in the 2x3 grid, one per colour
    size_level: int  # 1-4: how much of its cell the shape fills (55% to 85% of its shorter side)


@dataclasses.dataclass(frozen=True)
class Scene:
    duration: float
    appearances: tuple[Appearance, ...]


class _Objects:
    """Draws objects with distinct colours and cells for one video."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self._colors = list(rng.permutation(list(COLORS)))
        self._cells = list(rng.permutation(GRID_ROWS * GRID_COLS))

    def new(self) -> tuple[str, str, int]:
        return str(self._colors.pop()), str(self.rng.choice(SHAPES)), int(self._cells.pop())


def _segments(rng, k: int, duration: float, cfg: SyntheticConfig, flash: bool = False) -> list[tuple[float, float]]:
    """k disjoint intervals on the time grid, one in each of k equal slots, with at least one free step after each."""
    step = cfg.time_step
    lo, hi = (0.5, 1.0) if flash else cfg.event_seconds
    lo_steps, hi_steps = max(1, round(lo / step)), max(1, round(hi / step))
    bounds = [i * round(duration / step) // k for i in range(k + 1)]
    out = []
    for first, stop in zip(bounds[:-1], bounds[1:]):
        room = stop - first - 1
        length = int(rng.integers(min(lo_steps, room), min(hi_steps, room) + 1))
        start = first + int(rng.integers(0, room - length + 1))
        out.append((start * step, (start + length) * step))
    return out


def _appear(obj, motion, interval, rng) -> Appearance:
    color, shape, cell = obj
    return Appearance(color, shape, motion, interval[0], interval[1], cell, size_level=int(rng.integers(1, 5)))


def _sentence(a: Appearance) -> str:
    return f"a {a.color} {a.shape} {MOTIONS[a.motion][1]}."


def _random_motion(rng, exclude: str | None = None) -> str:
    return str(rng.choice([m for m in MOTIONS if m != exclude]))


def _single_appearance(rng, obj, duration, cfg, motion=None) -> Appearance:
    motion = motion or _random_motion(rng)
    (interval,) = _segments(rng, 1, duration, cfg, flash=motion == "flash")
    return _appear(obj, motion, interval, rng)


def _distractors(rng, objects: _Objects, duration, cfg, n: int, exclude_motion: str | None = None) -> list[Appearance]:
    n = min(n, cfg.max_distractors)
    return [_single_appearance(rng, objects.new(), duration, cfg, _random_motion(rng, exclude_motion)) for _ in range(n)]


def make_sample(cfg: SyntheticConfig, index: int) -> tuple[Sample, Scene]:
    """Sample `index` of the corpus and the scene it is rendered from."""
    rng = np.random.default_rng([cfg.seed, index])
    tasks = [t for t in TASKS if cfg.task_weights.get(t, 0) > 0]
    weights = np.array([cfg.task_weights[t] for t in tasks], np.float64)
    task = str(rng.choice(tasks, p=weights / weights.sum()))
    frames = round(rng.uniform(*cfg.duration) / cfg.time_step) * round(cfg.time_step * cfg.fps)
    duration = frames / cfg.fps
    objects = _Objects(rng)
    options, answer, scores = (), -1, ()

    if task == "tg":
        target = _single_appearance(rng, objects.new(), duration, cfg)
        shown = [target] + _distractors(rng, objects, duration, cfg, int(rng.integers(1, 4)))
        queries, intervals = (_sentence(target),), [(target.start, target.end)]
    elif task == "dtg":
        events = sorted((_single_appearance(rng, objects.new(), duration, cfg) for _ in range(rng.integers(2, 5))),
                        key=lambda a: (a.start, a.end))
        shown = events + _distractors(rng, objects, duration, cfg, int(rng.integers(0, 2)))
        queries, intervals = tuple(_sentence(a) for a in events), [(a.start, a.end) for a in events]
    elif task == "vhd":
        obj, motion = objects.new(), _random_motion(rng, "flash")
        targets = [_appear(obj, motion, iv, rng) for iv in _segments(rng, int(rng.integers(2, 4)), duration, cfg)]
        shown = targets + _distractors(rng, objects, duration, cfg, int(rng.integers(1, 3)))
        queries = (f"a {obj[0]} {obj[1]}",)
        intervals, scores = [(a.start, a.end) for a in targets], tuple(float(a.size_level) for a in targets)
    elif task == "gvqa":
        obj = objects.new()
        targets = [_appear(obj, _random_motion(rng), iv, rng)
                   for iv in _segments(rng, int(rng.integers(1, 3)), duration, cfg)]
        shown = targets + _distractors(rng, objects, duration, cfg, int(rng.integers(1, 4)))
        options = tuple(str(s) for s in rng.permutation(SHAPES))
        queries, answer = (f"What shape is the {obj[0]} object?",), options.index(obj[1])
        intervals = [(a.start, a.end) for a in targets]
    else:  # tal
        motion = _random_motion(rng)
        actors = [objects.new() for _ in range(rng.integers(1, 3))]
        segs = _segments(rng, int(rng.integers(1, 5)), duration, cfg, flash=motion == "flash")
        targets = [_appear(actors[int(rng.integers(len(actors)))], motion, iv, rng) for iv in segs]
        shown = targets + _distractors(rng, objects, duration, cfg, int(rng.integers(1, 3)), exclude_motion=motion)
        queries, intervals = (MOTIONS[motion][2],), [(a.start, a.end) for a in targets]

    sample = Sample(uid=f"synthetic-{cfg.seed}-{index:06d}", task=task, video=f"{index:06d}_{task}.mp4",
                    queries=queries, intervals=tuple(intervals), duration=duration, options=options,
                    answer=answer, scores=scores, source="synthetic")
    return sample, Scene(duration, tuple(shown))


def _mask(shape: str, size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size] + 0.5 - size / 2
    r = size / 2
    return {
        "circle": x**2 + y**2 <= r**2,
        "square": np.ones((size, size), bool),
        "triangle": (y >= -r) & (np.abs(x) <= (y + r) / 2),
        "diamond": np.abs(x) + np.abs(y) <= r,
        "cross": (np.abs(x) <= r / 3) | (np.abs(y) <= r / 3),
    }[shape]


def render(scene: Scene, cfg: SyntheticConfig) -> np.ndarray:
    """uint8 frames [T, H, W, 3] at cfg.fps: frame i (time i / fps) shows every appearance with start <= t < end."""
    H, W = cfg.resolution
    T = round(scene.duration * cfg.fps)
    background_HW3 = np.broadcast_to(np.linspace(30, 80, H, dtype=np.float32)[:, None, None], (H, W, 3))
    frames_THWC = np.repeat(background_HW3.astype(np.uint8)[None], T, axis=0)
    cell_h, cell_w = H // GRID_ROWS, W // GRID_COLS
    times_T = np.arange(T) / cfg.fps
    for a in scene.appearances:
        size = max(4, int(min(cell_h, cell_w) * (0.45 + 0.1 * a.size_level)))
        mask = _mask(a.shape, size)
        (dy, dx), _, _ = MOTIONS[a.motion]
        travel_y, travel_x = (cell_h - size) * 0.8, (cell_w - size) * 0.8
        top0 = (a.cell // GRID_COLS) * cell_h + (cell_h - size) / 2
        left0 = (a.cell % GRID_COLS) * cell_w + (cell_w - size) / 2
        for t in np.nonzero((times_T >= a.start) & (times_T < a.end))[0]:
            u = (times_T[t] - a.start) / (a.end - a.start) - 0.5  # -0.5 .. 0.5 across the appearance
            top, left = int(round(top0 + dy * u * travel_y)), int(round(left0 + dx * u * travel_x))
            frames_THWC[t, top: top + size, left: left + size][mask] = COLORS[a.color]
    return frames_THWC


def write_corpus(cfg: SyntheticConfig, video_dir: str, annotations_path: str, progress: bool = True) -> list[Sample]:
    """Renders every sample to `video_dir` as H.264 mp4 and writes their annotations as JSON lines (one `Sample`
    each). Videos already on disk are kept, since they are a pure function of (cfg, index): a rerun resumes. The
    folder remembers its config and refuses another one, which would leave stale videos under the same names."""
    os.makedirs(video_dir, exist_ok=True)
    stamp_path = os.path.join(video_dir, "corpus_config.json")
    stamp = json.dumps({**dataclasses.asdict(cfg), "num_samples": None, "task_weights": dict(cfg.task_weights)},
                       sort_keys=True)
    if os.path.exists(stamp_path):
        with open(stamp_path) as f:
            if f.read() != stamp:
                raise ValueError(f"{video_dir} holds a synthetic corpus rendered with another config "
                                 f"(see {stamp_path}); use a fresh folder")
    else:
        with open(stamp_path, "w") as f:
            f.write(stamp)
    samples = []
    for index in tqdm(range(cfg.num_samples), desc=f"rendering -> {video_dir}", unit="video", disable=not progress):
        sample, scene = make_sample(cfg, index)
        path = os.path.join(video_dir, sample.video)
        if not os.path.exists(path):
            video_io.write_video(path + ".part.mp4", render(scene, cfg), cfg.fps)
            os.replace(path + ".part.mp4", path)
        samples.append(sample)
    os.makedirs(os.path.dirname(os.path.abspath(annotations_path)), exist_ok=True)
    with open(annotations_path + ".tmp", "w") as f:
        f.writelines(json.dumps(s.to_json()) + "\n" for s in samples)
    os.replace(annotations_path + ".tmp", annotations_path)
    return samples
