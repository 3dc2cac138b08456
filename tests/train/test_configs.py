"""Every experiment config passes its stages' checks and traces their steps at its own shapes; the paper configs
carry TempR1's recipe."""
import importlib.util
import os
import sys

import pytest

from tempr1_jax.stages.train import learner_config
from tiny_run import ROOT

sys.path.insert(0, os.path.join(ROOT, "experiments"))
CONFIGS = sorted(f[:-3] for f in os.listdir(os.path.join(ROOT, "experiments", "configs")) if f.endswith(".py"))


def _load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "experiments/configs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


@pytest.mark.parametrize("name,preset", [("tempr1_7b", "qwen2_5_vl_7b"), ("tempr1_3b", "qwen2_5_vl_3b"),
                                         ("tempr1_qwen3vl_8b", "qwen3_vl_8b"), ("tempr1_qwen3vl_4b", "qwen3_vl_4b")])
def test_paper_recipe(name, preset):
    c = _load(name)
    assert c.model.preset == preset and c.stages == ("grpo",)
    assert (c.grpo.group_size, c.grpo.optimizer.learning_rate, c.grpo.loss.beta, c.grpo.sampling.temperature) == \
        (8, 1e-6, 0.04, 1.0)
    assert (c.video.fps, c.video.max_frames, c.video.max_visual_tokens) == (2.0, 448, 3584)
    assert c.grpo.steps == 0  # one epoch over the mix
    assert sorted(c.data.task_weights) == ["dtg", "gvqa", "tal", "tg", "vhd"]
    lc = learner_config(c, "grpo", steps=7500)
    assert lc.grpo.group_size == 8 and lc.optimizer.total_steps == 7500 and lc.grpo.sampling.eos_ids == (151645,
                                                                                                         151643)


def test_model_family_must_agree_with_the_preset():
    import jax
    from tempr1_jax.models import make_mesh
    from tempr1_jax.stages.common import build_model

    c = _load("tempr1_qwen3vl_8b")
    assert c.model.family == "qwen3_vl"
    c.model.preset = "qwen2_5_vl_7b"
    with pytest.raises(ValueError, match="config.model.family is 'qwen3_vl' but the preset 'qwen2_5_vl_7b' is "
                                         "'qwen2_5_vl'"):
        build_model(c, make_mesh((1, 1, 1), jax.devices()[:1]))


def test_demo_paths_follow_a_workdir_override():
    from tempr1_jax.stages import expand_workdir

    c = _load("demo")
    c.workdir = "/scratch/demo2"
    e = expand_workdir(c)
    assert e.tokenizer == "/scratch/demo2/data/tokenizer.json"
    assert e.data.train_dirs == ("/scratch/demo2/data/train",) and e.data.eval_dirs == ("/scratch/demo2/data/eval",)
    assert c.data.train_dirs == ("{workdir}/data/train",)  # the caller's config is left as it was
    c.workdir = "{workdir}/x"
    with pytest.raises(ValueError, match="cannot itself refer to"):
        expand_workdir(c)


@pytest.mark.parametrize("name", CONFIGS)
def test_every_config_checks_and_traces_the_steps_of_its_stages(name, prepared):
    """Abstractly (no weights), at the config's largest buckets, on the 8 test devices with the config's mesh: a
    bad setting, a batch that does not split over the mesh or a clip too large for the buckets fails here."""
    import jax
    from compile_check import lower_step
    from tempr1_jax.models import make_mesh
    from tempr1_jax.models.config import preset
    from tempr1_jax.stages import CHECKS, expand_workdir
    from tempr1_jax.stages import answer, benchmark, evaluate, prepare, report, train  # noqa: F401  (registering)

    c = _load(name)
    if c.tokenizer.startswith("{workdir}"):  # made by the demo's prepare stage: the tiny corpus's stands in
        c.tokenizer = os.path.join(prepared, "data/tokenizer.json")
    c = expand_workdir(c)
    for stage in c.stages:
        CHECKS.get(stage, lambda config: None)(c)
    # compile_check's "benchmark" step is the eval stage's greedy decoding at the config's data buckets.
    traced = [s for s in c.stages if s in ("sft", "grpo")] + (["benchmark"] if "eval" in c.stages else [])
    mesh = make_mesh(tuple(c.mesh.shape), jax.devices())
    for stage in traced:
        _, shapes, _ = lower_step(c, stage, mesh, preset(c.model.preset))
        if stage == "benchmark":
            assert shapes.completion_tokens == c.eval.max_new_tokens
            continue
        assert shapes.prompts == (c[stage].get("batch_size") or c.data.batch_size)
        assert shapes.prompt_tokens == max(c.data.buckets.text)
        if stage == "grpo":
            assert (shapes.group_size, shapes.completion_tokens) == (c.grpo.group_size,
                                                                    c.grpo.sampling.max_new_tokens)
    if "eval" in c.stages:  # evaluation decodes as long as training sampled
        assert c.eval.max_new_tokens == c.grpo.sampling.max_new_tokens
    if "benchmark" in c.stages:  # the paper configs' training budget
        assert c.benchmark.max_new_tokens == _load("tempr1_7b").grpo.sampling.max_new_tokens
    assert traced or c.stages == ("benchmark",), f"{name}: no stage of {c.stages} was traced"
