"""experiments/compile_check.py compiles a small model's step for a TPU slice on this CPU machine (libtpu, from
requirements-test.txt)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A tiny model over the 7B recipe, at shapes small enough to compile in seconds.
TINY = ["--config.model.preset=tiny_small", "--config.data.buckets.text=(128,256)", "--config.data.buckets.patches=(256,)",
        "--config.data.buckets.answer=32", "--config.video.max_frames=16", "--config.video.max_visual_tokens=64",
        "--config.video.min_pixels=3136", "--config.video.max_pixels=12544", "--config.data.batch_size=4"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    """A small tokenizer within tiny_small's 512 embedding rows (Qwen's 151,665 ids would be refused)."""
    from tempr1_jax.processing.tokenizer import train_small_tokenizer
    path = str(tmp_path_factory.mktemp("tok") / "tokenizer.json")
    train_small_tokenizer(["<answer>1.5 to 3.0, 4.0 to 7.5</answer>", "<think>the video</think>"] * 20, path,
                          vocab_size=300)
    return path


def _check(tokenizer, *args, config="experiments/configs/tempr1_7b.py"):
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "experiments/compile_check.py", f"--config={config}", *TINY, f"--config.tokenizer={tokenizer}", *args]
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stdout


def test_sft_step_compiles_for_a_v5p_slice_and_reports_its_memory_and_flops(tokenizer):
    out, text = _check(tokenizer, "--stage=sft", "--topology=v5p-8")
    assert (out["stage"], out["topology"], out["devices"], out["device_kind"]) == ("sft", "v5p-8", 4, "TPU v5")
    assert out["mesh"] == [1, 4, 1]  # the config's (1, -1, 1) over the slice's 4 chips
    assert (out["prompts"], out["group_size"], out["prompt_tokens"], out["completion_tokens"]) == (4, 1, 256, 32)
    assert out["patches"] == 4 * 256 and 0 < out["visual_tokens"] <= 64
    assert out["hbm_bytes_per_device"] == 95 << 30 and out["fits"] is True
    assert out["bytes_per_device"] == (out["argument_bytes"] + out["output_bytes"] - out["alias_bytes"]
                                       + out["temp_bytes"]) > 0
    # The traced program's matmuls agree with the hand count: no phase dropped or counted twice.
    assert 0.75 < out["flops_per_step"] / out["analytic_flops_per_step"] < 1.25
    assert out["programs_per_run"] == 2 * 3  # 2 text buckets x 1 patch bucket x 3 block sizes of 4 shards
    assert "DOES NOT FIT" not in text and "per device" in text


def test_unknown_topology_is_a_clear_error():
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "experiments/compile_check.py", "--config=experiments/configs/tempr1_7b.py",
                        *TINY, "--stage=sft", "--topology=v9z-3"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "unknown topology 'v9z-3'" in r.stderr


def test_a_bfloat16_reference_halves_what_the_reference_holds(tokenizer):
    f32, _ = _check(tokenizer, "--stage=grpo", "--topology=v5p-8", "--config.grpo.reference_dtype=float32")
    bf16, _ = _check(tokenizer, "--stage=grpo", "--topology=v5p-8", "--config.grpo.reference_dtype=bfloat16")
    # The donated state (aliased to the outputs) holds the fp32 policy, its two Adam moments and the reference: about
    # 4 copies, of which bfloat16 saves half a copy, an eighth.
    saved = f32["argument_bytes"] - bf16["argument_bytes"]
    assert saved == f32["alias_bytes"] - bf16["alias_bytes"] and 0.10 < saved / f32["alias_bytes"] < 0.13, (f32, bf16)


def test_a_step_the_compiler_refuses_still_reports_its_size():
    sys.path.insert(0, os.path.join(ROOT, "experiments"))
    import jax
    import numpy as np
    from compile_check import refused_memory
    from jax.sharding import NamedSharding, PartitionSpec as P
    from tempr1_jax.models import make_mesh
    mesh = make_mesh((1, 4, 1), jax.devices()[:4])
    args = (jax.ShapeDtypeStruct((8, 16), np.float32, sharding=NamedSharding(mesh, P("fsdp"))),)
    err = jax.errors.JaxRuntimeError("RESOURCE_EXHAUSTED: Ran out of memory on HBM, the total memory required for "
                                     "HLO temporaries (1.5G) exceeds available HBM (95.74G).")
    mem = refused_memory(err, args)
    assert (mem.temp_size_in_bytes, mem.argument_size_in_bytes) == (int(1.5 * (1 << 30)), 2 * 16 * 4)


def test_a_qwen3vl_grpo_step_compiles_with_its_own_frame_grid(tokenizer):
    # The same tiny data budgets over the Qwen3-VL recipe: its processor re-sizes the records' frames to its own
    # 2 x 16-pixel grid (scaled to the tiny tower's 8-pixel patches), so a clip is 8 x 8 x 10 patches there.
    out, text = _check(tokenizer, "--config.model.preset=qwen3_tiny_small", "--config.data.buckets.text=(512,)",
                       "--config.data.buckets.patches=(1024,)", "--stage=grpo", "--topology=v5p-8",
                       config="experiments/configs/tempr1_qwen3vl_8b.py")
    assert (out["preset"], out["stage"], out["devices"], out["fits"]) == ("qwen3_tiny_small", "grpo", 4, True)
    assert out["visual_tokens"] == 8 * 8 * 10 // 4 and out["patches"] == 4 * 1024
    assert 0.75 < out["flops_per_step"] / out["analytic_flops_per_step"] < 1.25
