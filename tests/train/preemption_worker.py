"""One process of the preemption test: the tiny SFT stage, long enough to be stopped; prints its summary.

    python preemption_worker.py PROCESS_ID NUM_PROCESSES PORT CORPUS WORKDIR
"""
import json
import os
import sys

pid, n, port, corpus, workdir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={8 // n}"
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import ml_collections  # noqa: E402

from tempr1_jax.train import distributed  # noqa: E402

distributed.initialize(ml_collections.ConfigDict(dict(distributed=dict(
    enabled=True, coordinator_address=f"127.0.0.1:{port}", num_processes=n, process_id=pid))))

from tempr1_jax.stages import run  # noqa: E402
from tiny_run import tiny_config  # noqa: E402

c = tiny_config(corpus, workdir, stages=("sft",))
c.sft.steps, c.sft.checkpoint_every = 500, 1000  # only a preemption ends this run early or writes a checkpoint
print("SUMMARY " + json.dumps(run(c)["sft"]), flush=True)
