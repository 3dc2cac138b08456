"""One process of the multi-process test: its share of a 4-prompt batch, one SFT and one GRPO step; prints metrics
and exports the trained model to TOKENIZER_DIR/export_<NUM_PROCESSES>.

    python multiprocess_worker.py PROCESS_ID NUM_PROCESSES PORT LOCAL_DEVICES TOKENIZER_DIR
"""
import json
import os
import sys

pid, n, port, local_devices, tok_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={local_devices}"
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import ml_collections  # noqa: E402

from tempr1_jax.train import distributed  # noqa: E402

if n > 1:
    distributed.initialize(ml_collections.ConfigDict(dict(distributed=dict(
        enabled=True, coordinator_address=f"127.0.0.1:{port}", num_processes=n, process_id=pid))))

import jax  # noqa: E402
from fixtures import CFG, features  # noqa: E402
from tempr1_jax.data.batch import Buckets, collate  # noqa: E402
from tempr1_jax.data.pipeline import rope_for  # noqa: E402
from tempr1_jax.models import init_model, make_mesh, save_pretrained  # noqa: E402
from tempr1_jax.processing.tokenizer import load_tokenizer  # noqa: E402
from tempr1_jax.rl.grpo import GRPOConfig  # noqa: E402
from tempr1_jax.rl.learner import Learner, LearnerConfig  # noqa: E402
from tempr1_jax.rl.state import OptimizerConfig  # noqa: E402
from tempr1_jax.sampling import SamplingConfig  # noqa: E402
from tempr1_jax.stages.common import token_tables  # noqa: E402

rows = features(4)
per = len(rows) // n
# The second process fits its rows into smaller buckets than the first, as hosts do whose videos are shorter; the
# learner must bring both up to the same global shapes.
buckets = Buckets(text=(32, 64), patches=(48, 64), answer=16) if pid == 1 else \
    Buckets(text=(64,), patches=(64,), answer=16)
local = collate(rows[pid * per:(pid + 1) * per], buckets, CFG.pad_token_id, rope_for(CFG))
mesh = make_mesh((1, 4, 2))  # the 4 rows split over fsdp, which spans both processes
cfg = LearnerConfig(optimizer=OptimizerConfig(learning_rate=1e-2, eps=1.0),
                    grpo=GRPOConfig(group_size=2, sampling=SamplingConfig(max_new_tokens=6, temperature=1.0,
                                                                          eos_ids=(2, 0), pad_id=0),
                                    logprob_chunk=256))
learner = Learner(init_model(CFG, mesh, seed=4), mesh, cfg,
                  token_tables(load_tokenizer(os.path.join(tok_dir, "tokenizer.json")), CFG.text.vocab_size))
out = {"devices": jax.device_count()}
out.update({f"sft/{k}": float(v) for k, v in learner.sft(local).items() if "/" not in k})
out.update({f"grpo/{k}": float(v) for k, v in learner.grpo(local).items() if "/" not in k or "reward/" in k})
save_pretrained(learner.model(), os.path.join(tok_dir, f"export_{n}"))  # fsdp-sharded parameters span both hosts
print("METRICS " + json.dumps(out), flush=True)
