"""TempR1's recipe on Qwen3-VL-8B-Instruct: tempr1_7b.py with the Qwen3-VL family (rewards, data, GRPO and evaluation
unchanged).

    python experiments/run.py --config=experiments/configs/tempr1_qwen3vl_8b.py \
        --config.model.checkpoint=/ckpt/Qwen3-VL-8B-Instruct --config.workdir=/runs/tempr1_qwen3vl_8b

What the family changes: prompts follow Qwen3-VL's chat template (no system turn) with a `<t seconds>` timestamp
before each pair of frames, and the records' frames (the same prepared splits as Qwen2.5-VL's) are resized to
Qwen3-VL's 32-pixel grid within TempR1's 3584-visual-token cap (`processing.qwen3vl_processor`). The tokenizer is the
checkpoint's own tokenizer.json: set `--config.tokenizer=/ckpt/Qwen3-VL-8B-Instruct/tokenizer.json`.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tempr1_7b  # noqa: E402


def get_config():
    c = tempr1_7b.get_config()
    c.workdir = "runs/tempr1_qwen3vl_8b"
    c.model.family = "qwen3_vl"  # checked against the checkpoint's config.json model_type
    c.model.preset = "qwen3_vl_8b"
    return c
