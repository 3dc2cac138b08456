"""experiments/compile_check.py compiles a small model's step for a TPU slice on this CPU machine (libtpu, from
requirements-test.txt)."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# A tiny model over the 7B recipe, at shapes small enough to compile in seconds.
TINY = ["--config=experiments/configs/tempr1_7b.py", "--config.model.preset=tiny_small",
        "--config.data.buckets.text=(128,256)", "--config.data.buckets.patches=(256,)",
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


def _check(tokenizer, *args):
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    cmd = [sys.executable, "experiments/compile_check.py", *TINY, f"--config.tokenizer={tokenizer}", *args]
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
    assert out["programs_per_run"] == 2  # 2 text buckets x 1 patch bucket
    assert "DOES NOT FIT" not in text and "per device" in text


def test_unknown_topology_is_a_clear_error():
    env = {**os.environ, "XLA_FLAGS": "", "JAX_PLATFORMS": "cpu"}
    r = subprocess.run([sys.executable, "experiments/compile_check.py", *TINY, "--stage=sft", "--topology=v9z-3"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0 and "unknown topology 'v9z-3'" in r.stderr
