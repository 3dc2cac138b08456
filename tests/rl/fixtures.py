"""A tiny model and a hand-made padded batch of video prompts with ground truth, for the RL tests."""
import dataclasses

import numpy as np

from tempr1_jax.data.batch import Buckets, Features, collate
from tempr1_jax.data.pipeline import rope_for
from tempr1_jax.models import init_model
from tempr1_jax.models.config import qwen3_tiny, tiny
from tempr1_jax.rl.grpo import GRPOConfig
from tempr1_jax.rl.learner import Learner, LearnerConfig
from tempr1_jax.rl.losses import LossConfig
from tempr1_jax.rl.state import OptimizerConfig
from tempr1_jax.sampling import SamplingConfig

CFG = tiny(vocab_size=1024)
QWEN3_CFG = qwen3_tiny(vocab_size=1024)


def _video_ids(cfg, rng, t: int, per_frame: int) -> list[int]:
    """Qwen2.5-VL: one vision block; Qwen3-VL: a block per frame, each after its timestamp text."""
    vs, ve, vid = cfg.vision_start_token_id, cfg.vision_end_token_id, cfg.video_token_id
    if cfg.family == "qwen3_vl":
        return [tok for _ in range(t) for tok in list(rng.integers(8, 1024, 3)) + [vs] + [vid] * per_frame + [ve]]
    return [vs] + [vid] * (t * per_frame) + [ve]


def features(n: int = 2, seed: int = 0, tasks=(0, 4), cfg=CFG) -> list[Features]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = 2 + 2 * (i % 2)  # temporal grids: rows get different video lengths
        grid = np.array([t, 4, 4])
        ids = list(rng.integers(8, 1024, 3 + i)) + _video_ids(cfg, rng, t, 4) + list(rng.integers(8, 1024, 4))
        out.append(Features(
            input_ids=np.asarray(ids, np.int32),
            pixel_values_SP=rng.standard_normal((t * 16, cfg.vision.patch_dim)).astype(np.float32),
            video_grid_thw=grid, second_per_grid_t=1.0,
            answer_ids=np.asarray(list(rng.integers(8, 1024, 3 + 2 * i)) + [cfg.eos_token_id], np.int32),
            intervals_N2=np.array([[1.0, 3.0 + i]], np.float32), duration=8.0, task=tasks[i % len(tasks)],
            answer=-1, source_index=i))
    return out


def batch(n: int = 2, seed: int = 0, cfg=CFG, **kw):
    return collate(features(n, seed, cfg=cfg, **kw), Buckets(text=(64,), patches=(64,), answer=16), cfg.pad_token_id,
                   rope_for(cfg))


def small_tokenizer(tmp_dir: str):
    from tempr1_jax.processing.tokenizer import train_small_tokenizer
    texts = ["<answer>1.5 to 3.0, 4.0 to 7.5</answer>", "<answer>B</answer><evidence>2.0 to 4.0</evidence>",
             "Find the moment in the video. The video is 8.0 seconds long."] * 20
    return train_small_tokenizer(texts, f"{tmp_dir}/tokenizer.json", vocab_size=300)


def tables(tmp_dir: str):
    from tempr1_jax.stages.common import token_tables
    return token_tables(small_tokenizer(tmp_dir), CFG.text.vocab_size)


def learner(mesh, tabs, aggregation="grpo", model_cfg=CFG, **optimizer):
    """A GRPO/SFT learner of a tiny model (`CFG` or `QWEN3_CFG`); `optimizer` overrides the OptimizerConfig fields."""
    # A large Adam eps makes the first update proportional to the gradient: with the default, a near-zero gradient
    # moves its weight by +-lr whatever its size, and summation-order noise would flip such signs.
    opt = dataclasses.replace(OptimizerConfig(learning_rate=1e-2, eps=1.0), **optimizer)
    cfg = LearnerConfig(optimizer=opt,
                        grpo=GRPOConfig(group_size=2, loss=LossConfig(aggregation=aggregation, beta=0.04),
                                        sampling=SamplingConfig(max_new_tokens=6, temperature=1.0, eos_ids=(2, 0),
                                                                pad_id=0), logprob_chunk=256))
    return Learner(init_model(model_cfg, mesh, seed=4), mesh, cfg, tabs)
