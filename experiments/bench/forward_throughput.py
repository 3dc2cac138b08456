"""Forward throughput: our jit-compiled Qwen2.5-VL against transformers' forward, same weights and inputs, fp32 CPU.

    python experiments/bench/forward_throughput.py [--preset=demo] [--frames=8] [--side=224] [--batch=2]

Both run in this process on the same random checkpoint (saved by transformers, loaded by us) and the same video
batch; timings alternate between the two so that machine noise hits both alike. Prints tokens/s for each and the
ratio. The target on a 2-core CPU is ours/transformers >= 1.5.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                "tests", "models"))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="demo")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--side", type=int, default=224, help="frame height and width in pixels (multiple of 28)")
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--text", type=int, default=64, help="text tokens per prompt")
    p.add_argument("--iters", type=int, default=5)
    args = p.parse_args()

    import jax
    import numpy as np
    import torch

    from hf_reference import hf_model, to_torch
    from tempr1_jax.models import load_pretrained, make_mesh, preset
    from tempr1_jax.models.vlm import forward_jit as _forward_jit, vision_jit as _vision_jit

    cfg = preset(args.preset)
    hf = hf_model(cfg, seed=0)
    hf.config._attn_implementation = "sdpa"  # transformers' default and its fastest CPU path
    with tempfile.TemporaryDirectory() as d:
        hf.save_pretrained(d)
        ours = load_pretrained(d, make_mesh((1, 1, 1), jax.devices()[:1]))

    rng = np.random.default_rng(0)
    g = args.side // 14
    grid = np.array([[args.frames // 2, g, g]] * args.batch)
    n_vis = int(grid[0].prod()) // 4
    vocab = cfg.text.vocab_size  # text ids clear of the special ids, which small vocabularies keep at 0..6
    ids = np.concatenate([rng.integers(8, vocab, (args.batch, args.text // 2)),
                          np.full((args.batch, 1), cfg.vision_start_token_id),
                          np.full((args.batch, n_vis), cfg.video_token_id),
                          np.full((args.batch, 1), cfg.vision_end_token_id),
                          rng.integers(8, vocab, (args.batch, args.text // 2))], axis=1)
    inputs = dict(input_ids=ids, attention_mask=np.ones_like(ids),
                  pixel_values_videos=rng.standard_normal((int(grid.prod(1).sum()), cfg.vision.patch_dim),
                                                          dtype=np.float32),
                  video_grid_thw=grid, second_per_grid_ts=np.ones(args.batch))
    positions, _ = ours.rope_index(ids, None, None, grid, inputs["second_per_grid_ts"])
    prepared = ours.prepare_inputs(**inputs, position_ids=positions)
    t_inputs = {**to_torch(inputs), "position_ids": torch.from_numpy(positions.astype(np.int64))}

    pv, layout = prepared["pixel_values_videos"], prepared["video_layout"]
    t_pv, t_grid = t_inputs["pixel_values_videos"], t_inputs["video_grid_thw"]
    pairs = {
        "forward (logits)": (lambda: _forward_jit(ours, **prepared).block_until_ready(),
                             lambda: hf(**t_inputs, use_cache=False)),
        "vision tower": (lambda: _vision_jit(ours, pv, layout).block_until_ready(),
                         lambda: hf.model.visual(t_pv, grid_thw=t_grid)),
    }
    print(f"config {args.preset}: batch {args.batch} x {ids.shape[1]} tokens ({n_vis} visual each), "
          f"{int(grid.prod(1).sum())} patches; torch threads {torch.get_num_threads()}, jax devices {jax.devices()}")
    with torch.no_grad():
        for name, (ours_fn, hf_fn) in pairs.items():
            t0 = time.perf_counter()
            ours_fn()
            compile_s = time.perf_counter() - t0
            hf_fn()
            times = {"ours": [], "hf": []}
            for _ in range(args.iters):  # alternate, so that noise on a shared machine hits both alike
                for key, fn in (("ours", ours_fn), ("hf", hf_fn)):
                    t = time.perf_counter()
                    fn()
                    times[key].append(time.perf_counter() - t)
            o, h = float(np.median(times["ours"])), float(np.median(times["hf"]))
            print(f"{name:17s} tempr1-jax {o * 1e3:8.1f} ms ({ids.size / o:7.0f} tokens/s, first call with compile "
                  f"{compile_s:.1f} s)   transformers {h * 1e3:8.1f} ms ({ids.size / h:7.0f} tokens/s)   "
                  f"ratio {h / o:.2f}x")


if __name__ == "__main__":
    main()
