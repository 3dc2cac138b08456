"""The demo config shrunk to test size: a tiny model, a 24-video corpus, a few steps."""
import importlib.util
import os

import ml_collections

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config(data_root: str, workdir: str | None = None, stages=("sft", "grpo")) -> ml_collections.ConfigDict:
    spec = importlib.util.spec_from_file_location("demo_config", os.path.join(ROOT, "experiments/configs/demo.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    c = module.get_config()
    c.stages = stages
    c.workdir = workdir or data_root
    c.tokenizer = os.path.join(data_root, "data/tokenizer.json")
    c.data.train_dirs = (os.path.join(data_root, "data/train"),)
    c.data.eval_dirs = (os.path.join(data_root, "data/eval"),)
    c.synthetic.num_train, c.synthetic.num_eval, c.synthetic.tokenizer_vocab = 24, 8, 512
    c.model.preset = "tiny_small"
    # The 8 fake devices as (data, fsdp, tensor) = (1, 2, 4): 2 GRPO prompts split over the batch axes.
    c.mesh.shape = (1, 2, 4)
    c.data.batch_size = c.sft.batch_size = 4
    c.grpo.batch_size = 2
    c.data.buckets.text, c.data.buckets.patches, c.data.buckets.answer = (384,), (320,), 64
    c.sft.steps, c.sft.checkpoint_every = 4, 2
    c.sft.optimizer.warmup_steps = 0  # the demo's 40 would outlast the run (an error)
    c.grpo.steps, c.grpo.checkpoint_every, c.grpo.group_size = 2, 1, 2
    c.grpo.sampling.max_new_tokens = 8
    c.eval.batch_size, c.eval.max_new_tokens = 4, 8
    return c
