"""The `answer` stage: ask the model about one video (a synthetic one unless `config.answer.video` is set)."""
from __future__ import annotations

import os
import time

import ml_collections

from tempr1_jax.data.pipeline import encode_prompt
from tempr1_jax.processing.video_io import decode_video, write_video
from tempr1_jax.sampling import SamplingConfig
from tempr1_jax.sampling.answer import answer
from tempr1_jax.stages import common, register_stage


def _synthetic_video(workdir: str, seed: int) -> tuple[str, str]:
    """Renders synthetic sample 0 to an mp4 and returns (path, its grounding query)."""
    from tempr1_jax.data.synthetic import SyntheticConfig, make_sample, render

    cfg = SyntheticConfig(num_samples=1, seed=seed, task_weights={"tg": 1.0})
    sample, scene = make_sample(cfg, 0)
    path = os.path.join(workdir, "synthetic_video.mp4")
    write_video(path, render(scene, cfg), cfg.fps)
    return path, sample.queries[0]


@register_stage("answer")
def run_answer(config: ml_collections.ConfigDict) -> dict:
    a = config.answer
    os.makedirs(config.workdir, exist_ok=True)
    video_path, query = a.video, a.query
    if not video_path:
        video_path, synthetic_query = _synthetic_video(config.workdir, config.seed)
        query = query or (f'When does "{synthetic_query}" happen in the video? Answer with the interval in '
                          f"seconds as <answer>START to END</answer>.")
    if not query:
        raise ValueError("config.answer.query is empty: give the question to ask about config.answer.video")
    t0 = time.perf_counter()
    mesh = common.build_mesh(config)
    model = common.build_model(config, mesh)
    tokenizer = common.build_tokenizer(config)
    video = decode_video(video_path, common.build_sampling(config))
    prompt = encode_prompt(tokenizer, model.cfg, video, query)
    t1 = time.perf_counter()
    (text,) = answer(model, tokenizer, [prompt], SamplingConfig(max_new_tokens=a.max_new_tokens))
    t2 = time.perf_counter()
    T, H, W, _ = video.frames_THWC.shape
    print(f"video    {video_path}: {video.duration:.1f} s, {T} frames at {video.sample_fps:.2f} fps, {W}x{H}")
    print(f"prompt   {len(prompt.ids)} tokens ({len(prompt.pixel_values_SP) // 4} visual)")
    print(f"query    {query}")
    print(f"answer   {text!r}")
    print(f"timing   set-up {t1 - t0:.1f} s, generation {t2 - t1:.1f} s (compile included)")
    return {"video": video_path, "query": query, "answer": text, "prompt_tokens": len(prompt.ids)}
