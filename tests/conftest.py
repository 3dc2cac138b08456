"""Test-wide set-up: eight fake CPU devices for mesh tests, set before jax is imported anywhere."""
import os
import sys

# On a 2-core machine eight device threads reach a collective up to minutes apart under load (CI runs the suite
# beside other jobs); XLA's default 40 s rendezvous limit then aborts the whole process instead of failing a test.
os.environ["XLA_FLAGS"] = (
    os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"
    " --xla_cpu_collective_call_warn_stuck_timeout_seconds=120 --xla_cpu_collective_call_terminate_timeout_seconds=900"
    # Devices that hold one replicated value each compute it; Eigen's threaded contractions need not round alike on
    # each, and a sampled token that differs between tensor-parallel devices once hung the mesh tests for good.
    " --xla_cpu_multi_thread_eigen=false"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Identical programs (the same tiny model in many tests) compile once per session.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.join("/tmp", f"tempr1_jax_test_cache_{os.getuid()}"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.5")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
