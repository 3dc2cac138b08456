"""The `prepare_synthetic` stage: render the synthetic corpus's train and held-out splits and write their records.

Both steps resume: finished videos and finished shards are kept, so rerunning a demo skips straight to training.
"""
from __future__ import annotations

import os

import ml_collections

from tempr1_jax.data import builder, prompts, synthetic
from tempr1_jax.models import preset
from tempr1_jax.processing.processor import timestamped_video_text
from tempr1_jax.processing.vision import second_per_grid_t
from tempr1_jax.processing.tokenizer import DEFAULT_SYSTEM, chat_prompt, train_small_tokenizer
from tempr1_jax.stages import common, register_stage


def _tokenizer_texts(samples, think: bool, second_per_group: float | None, position: str) -> list[str]:
    """What the demo tokenizer must encode well: chat-templated prompts, reference answers and, for a model that
    reads textual timestamps (`second_per_group` set), the timestamps of every frame group."""
    texts = [chat_prompt([{"type": "video"}, prompts.prompt_text(s, s.duration, think)], DEFAULT_SYSTEM)
             for s in samples]
    if second_per_group:
        texts += [timestamped_video_text(int(s.duration / second_per_group), second_per_group, position) for s in samples]
    return texts + [prompts.reference_answer(s) for s in samples]


@register_stage("prepare_synthetic")
def run_prepare(config: ml_collections.ConfigDict) -> dict:
    s = config.synthetic
    sampling = common.build_sampling(config)
    out = {}
    for split, n, seed, records in (("train", s.num_train, s.seed, config.data.train_dirs[0]),
                                    ("eval", s.num_eval, s.seed + 1, config.data.eval_dirs[0])):
        corpus = synthetic.SyntheticConfig(num_samples=n, seed=seed, duration=tuple(s.duration), fps=s.fps,
                                           resolution=tuple(s.resolution), task_weights=dict(config.data.task_weights),
                                           time_step=s.time_step,
                                           max_distractors=s.max_distractors)
        videos = os.path.join(os.path.dirname(records), f"{split}_videos")
        annotations = os.path.join(videos, "annotations.jsonl")
        synthetic.write_corpus(corpus, videos, annotations)
        parsed = builder.read_samples_jsonl(annotations, "synthetic")
        info = builder.build_split(parsed, videos, records, sampling)
        out[split] = info["num_samples"]
        if split == "train" and s.tokenizer_vocab:
            if not config.tokenizer:
                raise ValueError("config.synthetic.tokenizer_vocab is set: config.tokenizer must name the "
                                 "tokenizer.json to train")
            per_group = (second_per_grid_t(config.video.fps, preset(config.model.preset).vision.temporal_patch_size)
                         if config.model.get("text_timestamps", False) else None)
            tok = train_small_tokenizer(_tokenizer_texts(parsed.samples, config.data.think, per_group,
                                                         config.model.get("timestamp_position", "before")),
                                        config.tokenizer, s.tokenizer_vocab)
            out["tokenizer_vocab"] = tok.vocab_size
    return out
