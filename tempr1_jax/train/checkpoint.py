"""Orbax checkpoints of a learner: parameters, optimizer state, step, RNG and the data iterator's state.

Items: `params` (the whole model, so a later stage can start from it alone), `train` (optimizer state, step, RNG key
data; not the GRPO reference, the stage's initial policy, which `stages.train` reads again on resume), `data` (grain
iterator state) and `meta` (stage, config, metrics). Restores are sharded: every array comes back with the sharding
of the live state it replaces.
"""
from __future__ import annotations

import os
from typing import Any

import jax
import orbax.checkpoint as ocp
from flax import nnx

from tempr1_jax.rl.learner import Learner


def _abstract(tree):
    return jax.tree.map(ocp.utils.to_shape_dtype_struct, tree)


class Checkpointer:
    def __init__(self, directory: str, max_to_keep: int = 3):
        self.directory = os.path.abspath(directory)
        self.manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def save(self, learner: Learner, data_state: dict | None, meta: dict[str, Any], force: bool = False):
        s = learner.state
        train = {"opt_state": s.opt_state, "step": s.step, "rng": jax.random.key_data(s.rng)}
        self.manager.save(int(s.step), args=ocp.args.Composite(
            params=ocp.args.StandardSave(learner.model_state()),
            train=ocp.args.StandardSave(train),
            data=ocp.args.JsonSave(data_state or {}),
            meta=ocp.args.JsonSave(meta)), force=force)

    def restore(self, learner: Learner, step: int | None = None) -> tuple[dict, dict]:
        """Restores everything but the reference into `learner` (shardings kept); returns (data iterator state,
        meta)."""
        step = self.latest_step() if step is None else step
        s = learner.state
        train = {"opt_state": s.opt_state, "step": s.step, "rng": jax.random.key_data(s.rng)}
        r = self.manager.restore(step, args=ocp.args.Composite(
            params=ocp.args.StandardRestore(_abstract(learner.model_state())),
            train=ocp.args.StandardRestore(_abstract(train)),
            data=ocp.args.JsonRestore(), meta=ocp.args.JsonRestore()))
        learner.load_params(r.params)
        t = r.train
        learner.state = learner.state.replace(opt_state=t["opt_state"], step=t["step"],
                                              rng=jax.random.wrap_key_data(t["rng"]))
        return r.data, r.meta

    def read_params(self, like: nnx.State, step: int | None = None) -> tuple[nnx.State, int]:
        """Only the model parameters (to start a new stage from this one, or to evaluate them), sharded as `like`;
        returns them with the step they come from."""
        step = self.latest_step() if step is None else step
        if step is None:
            raise FileNotFoundError(f"{self.directory} holds no checkpoint")
        r = self.manager.restore(step, args=ocp.args.Composite(params=ocp.args.StandardRestore(_abstract(like))))
        return r.params, step

    def set_aside(self, step: int, directory: str) -> str:
        """Moves checkpoint `step` out of this folder into `directory` (kept, but no longer resumed from); returns
        its new path."""
        self.wait()
        src = os.path.join(self.directory, str(step))
        if not os.path.isdir(src):
            raise FileNotFoundError(f"checkpoint {step} is not at {src}")
        os.makedirs(directory, exist_ok=True)
        dst, n = os.path.join(directory, str(step)), 1
        while os.path.exists(dst):  # set aside before, by an earlier run
            dst, n = os.path.join(directory, f"{step}.{n}"), n + 1
        os.replace(src, dst)
        self.manager.reload()
        return dst

    def wait(self):
        self.manager.wait_until_finished()

    def close(self):
        self.manager.close()
