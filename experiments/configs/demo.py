"""The laptop demo: a small random-weight Qwen2.5-VL answers a question about a generated synthetic video.

    python experiments/run.py --config=experiments/configs/demo.py
"""
import ml_collections


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.stages = ("answer",)
    c.workdir = "runs/demo"
    c.seed = 0
    c.tokenizer = ""  # "" = the shipped Qwen2 tokenizer.json

    c.mesh = ml_collections.ConfigDict()
    c.mesh.shape = (1, -1, 1)  # (data, fsdp, tensor); -1 takes the remaining devices

    c.model = ml_collections.ConfigDict()
    c.model.preset = "demo"  # see tempr1_jax.models.PRESETS
    c.model.checkpoint = ""  # a Hugging Face folder; "" = the preset with random weights
    c.model.dtype = "float32"
    c.model.param_dtype = "float32"

    # Frame sampling (qwen-vl-utils rules with TempR1's caps); small frames keep the demo fast on a CPU.
    c.video = ml_collections.ConfigDict()
    c.video.fps = 2.0
    c.video.min_frames = 4
    c.video.max_frames = 448
    c.video.min_pixels = 112 * 112
    c.video.max_pixels = 224 * 224
    c.video.total_pixels = int(128000 * 28 * 28 * 0.9)
    c.video.max_visual_tokens = 3584

    c.answer = ml_collections.ConfigDict()
    c.answer.video = ""  # "" = render a synthetic video with known events
    c.answer.query = ""  # "" = ask when the synthetic video's event happens
    c.answer.max_new_tokens = 32
    return c
