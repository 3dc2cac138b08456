"""GRPO throughput: samples per second and the split of a step into rollout, reward and update.

    python experiments/bench/grpo_throughput.py [--preset=demo] [--prompts=8] [--group=8] [--new_tokens=64]
        [--video_tokens=96] [--text_tokens=160] [--dtype=float32] [--rollout_tokens=16]

Each phase of `rl.grpo.grpo_step` (rollout, score, update) is compiled on its own and timed on the same inputs
(the median of --iters runs), then the fused step, which is what training runs. On a GPU with the 3B preset
(--preset=qwen2_5_vl_3b --dtype=bfloat16 --video_tokens=3584 --text_tokens=512) it also reports the update's
model-FLOPs utilisation against --peak_tflops and the decode rate against the HBM roofline (--hbm_tbps).
With --rollout_tokens=N (< --new_tokens), the update of rollouts cut to N tokens is also timed at the full width and
with `GRPOConfig.update_widths=(N,)`, side by side, as a ratio.
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="demo")
    p.add_argument("--prompts", type=int, default=8)
    p.add_argument("--group", type=int, default=8)
    p.add_argument("--new_tokens", type=int, default=64)
    p.add_argument("--video_tokens", type=int, default=96, help="merged visual tokens per prompt")
    p.add_argument("--text_tokens", type=int, default=160)
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--iters", type=int, default=3)
    p.add_argument("--rollout_tokens", type=int, default=0, help="> 0: also time the update trimmed to this width")
    p.add_argument("--peak_tflops", type=float, default=989.0, help="dense bf16 peak of one device (H100 SXM)")
    p.add_argument("--hbm_tbps", type=float, default=3.35, help="HBM bandwidth of one device, TB/s (H100 SXM)")
    args = p.parse_args()

    import jax
    import jax.numpy as jnp
    import numpy as np

    from tempr1_jax.data.batch import Buckets, Features, collate
    from tempr1_jax.data.pipeline import rope_for
    from tempr1_jax.models import init_model, make_mesh, preset
    from tempr1_jax.models.factory import mesh_context
    from tempr1_jax.processing.tokenizer import load_tokenizer
    from tempr1_jax.rl import grpo
    from tempr1_jax.rl.global_batch import global_batch
    from tempr1_jax.rl.learner import Learner, LearnerConfig
    from tempr1_jax.rl.state import OptimizerConfig
    from tempr1_jax.sampling import SamplingConfig
    from tempr1_jax.stages.common import token_tables

    cfg = preset(args.preset)
    mesh = make_mesh()
    # Random weights never emit EOS, so every completion runs to --new_tokens: the worst case, as a benchmark wants.
    eos = (cfg.eos_token_id,)
    gcfg = grpo.GRPOConfig(group_size=args.group, sampling=SamplingConfig(
        max_new_tokens=args.new_tokens, temperature=1.0, eos_ids=eos, pad_id=cfg.pad_token_id),
        logprob_chunk=8192)
    dtype = getattr(jnp, args.dtype)
    model = init_model(cfg, mesh, dtype=dtype)
    tok = load_tokenizer() if cfg.text.vocab_size > 151656 else None
    if tok is None:
        from tempr1_jax.processing.tokenizer import train_small_tokenizer
        import tempfile
        tok = train_small_tokenizer(["<answer>1.0 to 2.5</answer>"] * 50, tempfile.mkdtemp() + "/tok.json", 300)
    side = 2 * int(np.ceil(np.sqrt(args.video_tokens / 4)))  # merged grid side for ~video_tokens per prompt
    # Vision rows as wide as one frame's patches, as the stages size them from the data's sampling budgets.
    learner = Learner(model, mesh, LearnerConfig(optimizer=OptimizerConfig(learning_rate=1e-6), grpo=gcfg,
                                                 slice_width=side * side),
                      token_tables(tok, cfg.text.vocab_size))
    rng = np.random.default_rng(0)
    t = max(1, args.video_tokens // ((side // 2) ** 2))
    grid = np.array([t, side, side])
    n_vis = int(grid.prod()) // 4
    feats = []
    for i in range(args.prompts):
        ids = [*rng.integers(8, 200, args.text_tokens // 2), cfg.vision_start_token_id, *[cfg.video_token_id] * n_vis,
               cfg.vision_end_token_id, *rng.integers(8, 200, args.text_tokens // 2)]
        feats.append(Features(np.asarray(ids, np.int32), rng.standard_normal((int(grid.prod()), cfg.vision.patch_dim),
                                                                             dtype=np.float32), grid, 1.0,
                              np.asarray([8, 9, cfg.eos_token_id], np.int32), np.array([[1.0, 3.0]], np.float32),
                              10.0, i % 5, 0 if i % 5 == 3 else -1, i))
    L = len(feats[0].input_ids)
    batch = collate(feats, Buckets(text=(L,), patches=(int(grid.prod()),), answer=8), cfg.pad_token_id,
                    rope_for(cfg))
    dev, layout = global_batch(batch, learner.mesh, learner.model_cfg, learner.cfg.slice_width)
    kw = dict(graphdef=learner.graphdef, cfg=gcfg)
    rollout = jax.jit(functools.partial(grpo.rollout, **kw))
    score = jax.jit(functools.partial(grpo.score, cfg=gcfg))
    update = jax.jit(functools.partial(grpo.update, tx=learner.tx, **kw))

    def timed(fn):
        out = fn()
        jax.block_until_ready(out)
        times = []
        for _ in range(args.iters):
            t0 = time.perf_counter()
            jax.block_until_ready(fn())
            times.append(time.perf_counter() - t0)
        return out, float(np.median(times))

    with mesh_context(mesh):
        key = jax.random.key(1)
        (tokens, lengths), t_roll = timed(lambda: rollout(learner.state, dev, layout, key))
        ro, t_score = timed(lambda: score(tokens, lengths, dev, learner.tables))
        _, t_update = timed(lambda: update(learner.state, dev, layout, ro))
        if 0 < args.rollout_tokens < args.new_tokens:
            short = score(tokens, jnp.minimum(lengths, args.rollout_tokens), dev, learner.tables)
            trimmed = jax.jit(functools.partial(grpo.update, tx=learner.tx, graphdef=learner.graphdef,
                                                cfg=dataclasses.replace(gcfg, update_widths=(args.rollout_tokens,))))
            _, t_full_short = timed(lambda: update(learner.state, dev, layout, short))
            _, t_trimmed = timed(lambda: trimmed(learner.state, dev, layout, short))
        times = []
        for i in range(args.iters + 1):
            t0 = time.perf_counter()
            jax.block_until_ready(learner.grpo(batch))
            times.append(time.perf_counter() - t0)
        t_step = float(np.median(times[1:]))
    R = args.prompts * args.group
    if 0 < args.rollout_tokens < args.new_tokens:
        print(f"rollouts of {args.rollout_tokens} of {args.new_tokens} tokens: update at full width "
              f"{t_full_short * 1e3:.1f} ms, trimmed (update_widths=({args.rollout_tokens},)) {t_trimmed * 1e3:.1f} "
              f"ms -> {t_full_short / t_trimmed:.2f}x")
    total = t_roll + t_score + t_update
    print(f"{args.preset} ({args.dtype}) on {jax.device_count()} x {jax.devices()[0].device_kind}: {args.prompts} "
          f"prompts x {args.group} completions, {L} prompt tokens ({n_vis} visual), {args.new_tokens} new tokens")
    for name, t_ in (("rollout", t_roll), ("reward", t_score), ("update", t_update)):
        print(f"  {name:8s} {t_ * 1e3:9.1f} ms  {100 * t_ / total:5.1f}%")
    print(f"  fused step {t_step * 1e3:9.1f} ms -> {R / t_step:.2f} samples/s, {args.prompts / t_step:.2f} prompts/s")
    n_params = sum(x.size for x in jax.tree.leaves(learner.state.params))
    n_body = n_params - cfg.text.vocab_size * cfg.text.hidden_size  # embedding lookups are not matmuls
    # Update: prompt prefilled once per prompt, completions per row; ~6 FLOPs/param/token for fwd+bwd, +2 for the
    # reference forward and +2 for the rematerialized log-prob chunks' forward.
    tokens_update = args.prompts * L + R * args.new_tokens
    flops = (6 + 2 + 2) * n_body * tokens_update
    print(f"  update model FLOPs {flops / 1e12:.2f} TFLOP -> {flops / t_update / 1e12:.2f} TFLOP/s, MFU "
          f"{100 * flops / t_update / (args.peak_tflops * 1e12 * jax.device_count()):.1f}% of {args.peak_tflops} "
          f"TFLOP/s x {jax.device_count()}")
    bytes_per_step = n_params * jnp.dtype(dtype).itemsize  # each decode step reads every weight once
    decode_tps = R * args.new_tokens / t_roll
    roofline = args.hbm_tbps * 1e12 * jax.device_count() / bytes_per_step * R
    print(f"  decode {decode_tps:.0f} tokens/s; weight-streaming roofline {roofline:.0f} tokens/s at "
          f"{args.hbm_tbps} TB/s ({100 * decode_tps / roofline:.1f}%)")


if __name__ == "__main__":
    main()
