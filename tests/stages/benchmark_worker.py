"""One process of the two-process benchmark test: the benchmark stage on one split; prints its summary.

    python benchmark_worker.py PROCESS_ID NUM_PROCESSES PORT ARGS_JSON   (workdir, prepared splits, checkpoint)
"""
import json
import os
import sys

pid, n, port, args = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], json.loads(sys.argv[4])
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={8 // n}"
os.environ["JAX_PLATFORMS"] = "cpu"
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

import ml_collections  # noqa: E402

from tempr1_jax.train import distributed  # noqa: E402

distributed.initialize(ml_collections.ConfigDict(dict(distributed=dict(
    enabled=True, coordinator_address=f"127.0.0.1:{port}", num_processes=n, process_id=pid))))

from tempr1_jax.stages import run  # noqa: E402
from tests.stages.test_benchmark import _config  # noqa: E402

config = _config(args["workdir"], args["prepared"], args["checkpoint"], args["names"])
print("SUMMARY " + json.dumps(run(config)["benchmark"]), flush=True)
