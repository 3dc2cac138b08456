"""TempR1's recipe on Qwen2.5-VL-3B-Instruct: tempr1_7b.py with the 3B model (everything else identical).

    python experiments/run.py --config=experiments/configs/tempr1_3b.py \
        --config.model.checkpoint=/ckpt/Qwen2.5-VL-3B-Instruct --config.workdir=/runs/tempr1_3b
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tempr1_7b  # noqa: E402


def get_config():
    c = tempr1_7b.get_config()
    c.workdir = "runs/tempr1_3b"
    c.model.preset = "qwen2_5_vl_3b"
    return c
