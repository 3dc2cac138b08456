"""SIGTERM to one host of a two-process run: both stop after the same step and write one checkpoint of it."""
import json
import os
import signal
import subprocess
import sys
import time

from tests.processes import free_port, worker_env

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "preemption_worker.py")


def _steps_written(path: str) -> int:
    if not os.path.exists(path):
        return 0
    with open(path) as f:
        return sum(1 for _ in f)


def test_a_signal_to_one_process_stops_both_after_the_same_step(prepared, tmp_path):
    workdir = str(tmp_path / "run")
    env = worker_env()
    port = free_port()
    procs = [subprocess.Popen([sys.executable, WORKER, str(i), "2", str(port), prepared, workdir], env=env,
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    metrics = os.path.join(workdir, "sft", "metrics.jsonl")
    deadline = time.time() + 600
    while _steps_written(metrics) < 2 and time.time() < deadline and all(p.poll() is None for p in procs):
        time.sleep(0.2)
    assert _steps_written(metrics) >= 2, "the run did not reach its second step"
    procs[1].send_signal(signal.SIGTERM)  # process 1 only, while the run is between or inside steps
    summaries = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        summaries.append(json.loads(next(l for l in out.splitlines() if l.startswith("SUMMARY "))[8:]))
    a, b = summaries
    assert a["preempted"] and b["preempted"]
    assert a["steps"] == b["steps"] < 500
    assert _steps_written(metrics) == a["steps"]
    ckpts = os.path.join(workdir, "sft", "checkpoints")
    assert sorted(int(d) for d in os.listdir(ckpts) if d.isdigit()) == [a["steps"]]
    with open(os.path.join(ckpts, str(a["steps"]), "meta", "metadata")) as f:
        assert json.load(f)["preempted"] is True
