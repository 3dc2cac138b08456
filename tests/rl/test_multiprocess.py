"""Two local processes with 4 CPU devices each give the losses and the exported weights of one process with 8
(jax.distributed, gloo)."""
import json
import os
import subprocess
import sys

import numpy as np

from fixtures import small_tokenizer
from tests.processes import free_port, worker_env
from tempr1_jax.models.tensor_files import SafetensorsFile

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multiprocess_worker.py")


def _metrics(proc) -> dict:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    line = next(l for l in out.splitlines() if l.startswith("METRICS "))
    return json.loads(line[len("METRICS "):])


def test_two_processes_equal_one(tmp_path):
    small_tokenizer(str(tmp_path))
    env = worker_env()
    run = lambda *a: subprocess.Popen([sys.executable, WORKER, *map(str, a), tmp_path], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    port = free_port()
    two = [run(0, 2, port, 4), run(1, 2, port, 4)]
    one = _metrics(run(0, 1, 0, 8))
    a, b = (_metrics(p) for p in two)
    assert one["devices"] == a["devices"] == b["devices"] == 8
    for k in ("sft/loss", "sft/grad_norm", "grpo/completion_tokens", "grpo/reward/total", "grpo/kl", "grpo/loss",
              "grpo/grad_norm"):
        assert a[k] == b[k], k  # both processes see the same global values
        np.testing.assert_allclose(a[k], one[k], rtol=1e-4, atol=1e-7, err_msg=k)
    two, one = (SafetensorsFile(str(tmp_path / f"export_{n}" / "model.safetensors")) for n in (2, 1))
    assert sorted(two.keys()) == sorted(one.keys())
    for k in one.keys():
        np.testing.assert_allclose(two[k], one[k], rtol=1e-4, atol=1e-6, err_msg=k)
