"""Multi-host start-up: `jax.distributed.initialize` from the config or the environment, before any device use.

On TPU VMs and most GPU clusters (SLURM, Kubernetes) JAX finds the coordinator by itself: set
`config.distributed.enabled = True` and leave the rest empty. Elsewhere give the coordinator address, the process
count and this process's id in the config, or in JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID.
"""
from __future__ import annotations

import os

import jax
import ml_collections


def initialize(config: ml_collections.ConfigDict | None) -> bool:
    """Joins the multi-process run if one is configured; returns whether it did."""
    d = (config.get("distributed") if config is not None else None) or ml_collections.ConfigDict()
    address = d.get("coordinator_address") or os.environ.get("JAX_COORDINATOR_ADDRESS", "")
    if not (d.get("enabled", False) or address):
        return False
    num = d.get("num_processes") or int(os.environ.get("JAX_NUM_PROCESSES", 0)) or None
    pid = d.get("process_id", -1)
    pid = pid if pid is not None and pid >= 0 else (int(os.environ["JAX_PROCESS_ID"]) if "JAX_PROCESS_ID" in
                                                     os.environ else None)
    if jax.config.jax_platforms in (None, "", "cpu") and os.environ.get("JAX_PLATFORMS", "cpu") == "cpu":
        # CPU processes need a collectives backend to talk to each other.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=address or None, num_processes=num, process_id=pid)
    return True
