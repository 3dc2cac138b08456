"""SIGTERM (TPU maintenance, spot reclaim) as a stop that every process of a run agrees on.

The hosts of a slice are signalled at different moments, often during different steps. A process that stopped on its
own signal would leave the others waiting forever inside the next step's collectives, or write a checkpoint of
another step than theirs. So a signal is only noted; after every step all processes exchange their notes (one tiny
all-gather) and stop together, after the same step, when any of them was signalled.
"""
from __future__ import annotations

import signal

import jax
import numpy as np
from jax.experimental import multihost_utils


class Preemption:
    """Use as a context manager around the training loop; call `agreed()` once per step, on every process."""

    def __init__(self):
        self.signalled = False  # this process received SIGTERM
        self.requested = False  # some process did, as of the last `agreed()`

    def __enter__(self) -> Preemption:
        self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGTERM, self._previous)

    def _handle(self, signum, frame):
        self.signalled = True

    def agreed(self) -> bool:
        """Whether any process has been signalled: the same answer on every process."""
        if jax.process_count() == 1:
            self.requested = self.signalled
        else:
            flags = multihost_utils.process_allgather(np.asarray(self.signalled, np.int32))
            self.requested = bool(np.any(flags))
        return self.requested
