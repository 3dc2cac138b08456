"""Compiles one training or evaluation step ahead of time for a TPU slice (or this machine), without the hardware.

    python experiments/compile_check.py --config=experiments/configs/tempr1_7b.py --stage=grpo --topology=v5p-8

Everything is abstract: the model, optimizer state and reference are shapes with the shardings the config's mesh gives
them, the batch has the config's largest bucket shapes (a mix of one 8 s clip and 150 s clips at the video config's
frame rate and pixel budget), and the stage's step is lowered and compiled for the topology's devices (the `libtpu`
wheel compiles TPU programs on any machine: `make libtpu`). It prints the shapes, the per-device memory the compiler
asks for against the chip's HBM, the FLOPs of one step, the compile time and how many distinct programs a run of the
config compiles, then as its last line one JSON object with those figures.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Libtpu guards a TPU host's chips with a lock file; compiling for a described topology touches no chip.
os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
for _var, _value in (("TPU_ACCELERATOR_TYPE", "v5p-8"), ("TPU_WORKER_HOSTNAMES", "localhost")):
    os.environ.setdefault(_var, _value)  # silences libtpu's host probing, which a described topology does not need

import dataclasses  # noqa: E402
import functools  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

from absl import app, flags  # noqa: E402
from ml_collections import config_flags  # noqa: E402

_CONFIG = config_flags.DEFINE_config_file("config", None, "experiment config file (ml_collections)", lock_config=True)
_STAGE = flags.DEFINE_enum("stage", "grpo", ["sft", "grpo", "benchmark"], "the step to compile")
_TOPOLOGY = flags.DEFINE_string("topology", "v5p-8", "a TPU slice (v5p-8, v5p-32, v6e-8, v6e-4, v5e-8, ...) or "
                                "`local` for this machine's own devices")
_MESH = flags.DEFINE_string("mesh", "", "override config.mesh.shape, e.g. 1,4,1")

GiB = 1 << 30
# name -> (libtpu topology, HBM per chip): Google Cloud's published capacities.
TOPOLOGIES = {
    "v5p-8": ("v5p:2x2x1", 95 * GiB), "v5p-16": ("v5p:2x2x2", 95 * GiB), "v5p-32": ("v5p:2x2x4", 95 * GiB),
    "v5p-64": ("v5p:2x4x4", 95 * GiB), "v5p-128": ("v5p:4x4x4", 95 * GiB),
    "v6e-1": ("v6e:1x1", 32 * GiB), "v6e-4": ("v6e:2x2", 32 * GiB), "v6e-8": ("v6e:2x4", 32 * GiB),
    "v6e-16": ("v6e:4x4", 32 * GiB), "v6e-32": ("v6e:4x8", 32 * GiB),
    "v5e-1": ("v5e:1x1", 16 * GiB), "v5e-4": ("v5e:2x2", 16 * GiB), "v5e-8": ("v5e:2x4", 16 * GiB),
    "v5e-16": ("v5e:4x4", 16 * GiB),
    "v4-8": ("v4:2x2x1", 32 * GiB), "v4-16": ("v4:2x2x2", 32 * GiB), "v4-32": ("v4:2x2x4", 32 * GiB),
}
HEADROOM = 0.9  # a step "fits" when it asks for at most 90% of HBM: the runtime and fragmentation take the rest
CLIP_SECONDS = (8.0, 150.0)  # the mixed batch: one short clip, the rest long ones
SOURCE_FPS, SOURCE_HW = 30.0, (720, 1280)


def topology_devices(name: str):
    """The devices of a TPU slice described by name, or this machine's devices for `local`; and HBM per device."""
    import jax
    if name == "local":
        dev = jax.devices()
        stats = dev[0].memory_stats() or {}
        return dev, int(stats.get("bytes_limit", 0))
    if name not in TOPOLOGIES:
        raise ValueError(f"unknown topology {name!r}; known: local, {', '.join(TOPOLOGIES)}")
    from jax.experimental import topologies
    desc, hbm = TOPOLOGIES[name]
    try:
        return topologies.get_topology_desc(topology_name=desc, platform="tpu").devices, hbm
    except Exception as e:  # libtpu missing or too old: say how to get it
        raise RuntimeError(f"cannot describe TPU topology {desc!r} ({e}); install the libtpu wheel that matches "
                           "jax with `make libtpu`") from e


def clip_grids(config, model_cfg, n: int):
    """(t, h, w) patch grids and seconds per grid step of n clips: one 8 s clip, then 150 s clips of 720p (a config
    with a `synthetic` corpus: its shortest, then its longest videos at its resolution). Frames are the records'
    (sampled and sized by `config.video`); Qwen3-VL's processor resizes them again to its own grid."""
    import numpy as np
    from tempr1_jax.processing import qwen3vl_processor
    from tempr1_jax.processing.vision import sample_frame_indices, video_frame_size
    sampling = _video_sampling(config)
    v = model_cfg.vision
    seconds, fps, source_hw = CLIP_SECONDS, SOURCE_FPS, SOURCE_HW
    if "synthetic" in config:
        seconds, fps, source_hw = tuple(config.synthetic.duration), config.synthetic.fps, config.synthetic.resolution
    grids, spg = [], []
    for i in range(n):
        total = int(seconds[min(i, 1)] * fps)
        frames = len(sample_frame_indices(total, fps, sampling))
        h, w = video_frame_size(*source_hw, frames, sampling)
        if model_cfg.family == "qwen3_vl":
            h, w = qwen3vl_processor.frame_size(frames, h, w, qwen3vl_processor.sampling_for(model_cfg))
        grids.append((-(-frames // v.temporal_patch_size), h // v.patch_size, w // v.patch_size))
        spg.append(sampling.temporal_patch_size / sampling.fps)
    return np.array(grids, np.int32), np.array(spg, np.float32)


def _video_sampling(config):
    from tempr1_jax.stages import common
    return common.build_sampling(config)


@dataclasses.dataclass
class Shapes:
    prompts: int
    group_size: int
    prompt_tokens: int
    visual_tokens: int  # the largest per prompt
    patches: int  # the whole batch's patch axis
    completion_tokens: int
    window_scores: int = 0  # the vision tables' score slots per head: rows x width^2 (windowed, full-attention)
    full_scores: int = 0
    vision_shards: int = 1  # patch shards, one per device group of the batch axes (rl.global_batch.vision_shards)


def abstract_inputs(config, stage: str, mesh, model_cfg):
    """The step's batch and vision layout as ShapeDtypeStructs with their shardings, and the shapes compiled."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from tempr1_jax.data.batch import Batch
    from tempr1_jax.rl.global_batch import (_batch_spec, batch_devices, check_rows_split, layout_sharding,
                                            shard_patch_count, vision_shards)
    from tempr1_jax.models.vision import vision_layout
    from tempr1_jax.stages.common import vision_slice_width

    if stage == "benchmark" and "eval" not in config:
        raise ValueError("--stage=benchmark compiles a config's eval decoding (config.eval, config.data.buckets); "
                         "this config has no eval section: give the training config the checkpoint comes from")
    B = config.eval.batch_size if stage == "benchmark" else (config[stage].get("batch_size") or config.data.batch_size)
    L = max(config.data.buckets.text)
    S_row = max(config.data.buckets.patches)
    S = B * S_row
    A = config.data.buckets.answer
    grids, spg = clip_grids(config, model_cfg, B)
    per_clip = np.prod(grids, axis=1)
    if per_clip.max() > S_row:
        raise ValueError(f"a clip of {per_clip.max()} patches exceeds the largest patch bucket {S_row}")
    if stage != "benchmark":
        check_rows_split(B, mesh)
    n_batch = batch_devices(mesh)
    shards = vision_shards(B, mesh)
    per_shard = shard_patch_count(grids, shards, S // shards)
    shapes = dict(input_ids_BL=((B, L), np.int32), attention_mask_BL=((B, L), bool),
                  positions_3BL=((3, B, L), np.int32),
                  pixel_values_SP=((shards * per_shard, model_cfg.vision.patch_dim), np.float32),
                  video_grid_thw_B3=((B, 3), np.int32),
                  second_per_grid_ts_B=((B,), np.float32), gt_intervals_BN2=((B, 32, 2), np.float32),
                  gt_counts_B=((B,), np.int32), duration_B=((B,), np.float32), task_B=((B,), np.int32),
                  answer_B=((B,), np.int32), answer_ids_BA=((B, A), np.int32), answer_mask_BA=((B, A), bool),
                  source_index_B=((B,), np.int32))
    missing = {f.name for f in dataclasses.fields(Batch)} ^ set(shapes)
    if missing:
        raise RuntimeError(f"compile_check's batch fields are out of date with data.batch.Batch: {sorted(missing)}")
    on_mesh = layout_sharding(shards, mesh)  # the patch axis lies as the layout's shards (rl.global_batch)
    sharding = lambda k, s: on_mesh if k == "pixel_values_SP" else NamedSharding(mesh, _batch_spec(k, s, n_batch))
    batch = Batch(**{k: jax.ShapeDtypeStruct(s, d, sharding=sharding(k, s)) for k, (s, d) in shapes.items()})
    layout = vision_layout(grids, model_cfg.vision, num_patches=per_shard, static=True,
                           slice_width=vision_slice_width(config), shards=shards)
    layout = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype, sharding=on_mesh), layout)
    G = config.grpo.group_size if stage == "grpo" else 1
    T = {"grpo": config.grpo.sampling.max_new_tokens, "sft": A, "benchmark": config.eval.max_new_tokens}[stage]
    merge = model_cfg.vision.merge_unit
    scores = lambda table: int(np.prod(table.shape)) * table.shape[-1]
    return batch, layout, Shapes(B, G, L, int(per_clip.max()) // merge, shards * per_shard, T,
                                 scores(layout.window_table_GNW), scores(layout.full_table_GNW), shards)


def abstract_train_state(config, stage: str, mesh, model_cfg, tx):
    """(graphdef, TrainState of ShapeDtypeStructs): parameters, optimizer moments sharded like their parameters,
    the reference (GRPO with a KL term) and the scalars, as `rl.learner.Learner` holds them."""
    import jax
    import jax.numpy as jnp
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec as P
    from tempr1_jax.models.factory import abstract_model
    from tempr1_jax.rl.state import TrainState, cast_floats, opt_state_shardings, trainable_filter
    from tempr1_jax.stages.common import _dtype

    m = config.model
    dtype, param_dtype = _dtype(m.dtype, "model.dtype"), _dtype(m.param_dtype, "model.param_dtype")
    graphdef, state = abstract_model(model_cfg, mesh, dtype=dtype, param_dtype=param_dtype)
    graphdef, params, frozen = nnx.split(nnx.merge(graphdef, state), trainable_filter(m.freeze_vision), ...)
    rep = NamedSharding(mesh, P())
    with_shardings = lambda tree, shardings: jax.tree.map(
        lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), tree, shardings)
    opt = with_shardings(jax.eval_shape(tx.init, params), opt_state_shardings(tx, params, mesh))
    ref = None
    if stage == "grpo" and config.grpo.loss.beta:  # the learner's reference: `cast_floats` of the policy
        full = nnx.merge_state(params, frozen)
        ref = with_shardings(jax.eval_shape(lambda t: cast_floats(t, config.grpo.get("reference_dtype", "float32")),
                                            full), jax.tree.map(lambda s: s.sharding, full))
    key = jax.eval_shape(lambda: jax.random.key(0))
    state = TrainState(step=jax.ShapeDtypeStruct((), jnp.int32, sharding=rep), params=params, frozen=frozen,
                       opt_state=opt, ref=ref, rng=jax.ShapeDtypeStruct(key.shape, key.dtype, sharding=rep))
    return graphdef, state


def lower_step(config, stage: str, mesh, model_cfg):
    """The stage's step function traced for `mesh`, the shapes it was traced at and its abstract arguments."""
    import jax
    import numpy as np
    from flax import nnx
    from jax.sharding import NamedSharding, PartitionSpec as P
    from tempr1_jax.models.factory import abstract_model, mesh_context
    from tempr1_jax.rl.grpo import grpo_step, sft_step
    from tempr1_jax.rl.policy import answer_and_score
    from tempr1_jax.rl.state import make_optimizer
    from tempr1_jax.stages import common
    from tempr1_jax.stages.train import learner_config

    batch, layout, shapes = abstract_inputs(config, stage, mesh, model_cfg)
    tables = common.token_tables(common.build_tokenizer(config), model_cfg.text.vocab_size)
    rep = NamedSharding(mesh, P())
    tables = jax.tree.map(lambda x: jax.ShapeDtypeStruct(np.shape(x), np.asarray(x).dtype, sharding=rep), tables)
    with mesh_context(mesh):
        if stage == "benchmark":
            m = config.model
            graphdef, params = abstract_model(model_cfg, mesh, dtype=common._dtype(m.dtype, "model.dtype"),
                                              param_dtype=common._dtype(m.param_dtype, "model.param_dtype"))
            sampling = learner_config(config, "grpo", 1).grpo.sampling
            sampling = dataclasses.replace(sampling, temperature=0.0, max_new_tokens=shapes.completion_tokens)
            from tempr1_jax.rewards.config import RewardConfig
            fn = functools.partial(answer_and_score, graphdef=graphdef, sampling=sampling,
                                   rewards=RewardConfig(**config.grpo.rewards.to_dict()))
            args = (params, batch, layout, tables)
            return jax.jit(fn).trace(*args), shapes, args
        lcfg = learner_config(config, stage, 1)
        tx = make_optimizer(lcfg.optimizer)
        graphdef, state = abstract_train_state(config, stage, mesh, model_cfg, tx)
        if stage == "grpo":
            # The worst case, rollouts max_new_tokens long: the update at full width only, so that the FLOPs are one
            # step's (a `lax.switch` over `grpo.update_widths` would count every branch) and the memory its peak.
            fn = functools.partial(grpo_step, graphdef=graphdef, tx=tx,
                                   cfg=dataclasses.replace(lcfg.grpo, update_widths=()))
            args = (state, batch, layout, tables)
            return jax.jit(fn, donate_argnums=(0,)).trace(*args), shapes, args
        fn = functools.partial(sft_step, graphdef=graphdef, tx=tx, chunk=lcfg.grpo.logprob_chunk)
        args = (state, batch, layout)
        return jax.jit(fn, donate_argnums=(0,)).trace(*args), shapes, args


def analytic_flops(model_cfg, stage: str, shapes: Shapes, with_reference: bool) -> float:
    """The step's matmul FLOPs by hand: 2 per parameter per token forward, 4 more backward, plus attention, plus
    the forward work the backward pass recomputes.

    Prompt tokens enter once per prompt (the update reads the prompt's cached keys for its G completions); the
    vision tower runs once per phase over the clips' patches. Rematerialization is work the program really does, so
    it is counted: under `remat="full"` every decoder layer's forward runs again in the backward pass; the vision
    blocks and the log-prob head chunks are always recomputed. So are attention scores as computed: no attention
    path here skips a fully masked block, so a causal prompt costs L x L, not L^2 / 2, and every decode step scores
    the whole L + T cache. (MFU counts only the 6 x params x tokens part.)
    """
    t, v = model_cfg.text, model_cfg.vision
    d, hd = t.hidden_size, t.head_dim
    layer = d * (t.num_attention_heads + 2 * t.num_key_value_heads) * hd + t.num_attention_heads * hd * d \
        + 3 * d * t.intermediate_size
    n_lm = t.num_hidden_layers * layer + d * t.vocab_size  # the head; the embedding is a gather
    vd, unit = v.hidden_size, v.merge_unit
    # Per patch: the patch embedding, each block (Qwen2.5-VL's MLP is gated, Qwen3-VL's is two matrices), and the
    # mergers, which run once per merged token of `unit` patches (Qwen3-VL adds one per DeepStack level).
    mlp_matrices = 2 if model_cfg.family == "qwen3_vl" else 3
    mergers = 1 + len(getattr(v, "deepstack_visual_indexes", ()))
    n_vis = v.patch_dim * vd + v.depth * (4 * vd * vd + mlp_matrices * vd * v.intermediate_size) \
        + mergers * ((vd * unit) ** 2 + vd * unit * v.out_hidden_size) / unit
    B, G, L, T = shapes.prompts, shapes.group_size, shapes.prompt_tokens, shapes.completion_tokens
    vis_tokens = shapes.patches
    # Vision attention over the packed tables, masked slots included: Qwen3-VL's blocks all attend whole slices.
    n_full = len(getattr(v, "fullatt_block_indexes", ())) if getattr(v, "window_merged", None) else v.depth
    vis = 2 * n_vis * vis_tokens + 4 * vd * (n_full * shapes.full_scores + (v.depth - n_full) * shapes.window_scores)
    attn = lambda q, k: 4 * t.num_hidden_layers * t.num_attention_heads * hd * q * k  # QK^T and PV
    # One forward over prompt + completions; the head only where log-probs are needed.
    fwd = (2 * (n_lm - d * t.vocab_size) * B * (L + G * T) + 2 * d * t.vocab_size * B * G * T
           + attn(B * L, L) + attn(B * G * T, L + T) + vis)
    if stage == "benchmark":
        return fwd - 2 * d * t.vocab_size * B * T * (G - 1)
    always_recomputed = 2 * d * t.vocab_size * B * G * T + vis
    train = 3 * fwd + (fwd if t.remat == "full" else always_recomputed)
    if stage == "sft":
        return train
    decode = 2 * n_lm * B * G * T + attn(B * G * T, L + T)  # prefill is in `fwd` terms below
    prefill = 2 * (n_lm - d * t.vocab_size) * B * L + attn(B * L, L) + vis
    return prefill + decode + train + (fwd if with_reference else 0.0)


def program_flops(jaxpr, while_trips: int) -> float:
    """Matmul FLOPs of a traced program, loops counted as often as they run: XLA's cost analysis counts a loop body
    once, which under scanned layers, vocabulary chunks and the decode loop undercounts by 10-1000x. A `while` loop
    (the decode loop, which may stop early) is counted `while_trips` times: its worst case."""
    import numpy as np
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
            lhs, rhs = eqn.invars[0].aval.shape, eqn.invars[1].aval.shape
            free_r = [d for i, d in enumerate(rhs) if i not in rc and i not in rb]
            total += 2.0 * float(np.prod(lhs)) * float(np.prod(free_r))
            continue
        inner = [v for v in eqn.params.values() if hasattr(v, "eqns") or hasattr(v, "jaxpr")]
        inner += [b for v in eqn.params.values() if isinstance(v, tuple) for b in v if hasattr(b, "jaxpr")]
        sub = sum(program_flops(getattr(j, "jaxpr", j), while_trips) for j in inner)
        if name == "scan":
            sub *= eqn.params["length"]
        elif name == "while":
            sub *= while_trips
        elif name == "cond":
            sub = max((program_flops(b.jaxpr, while_trips) for b in eqn.params["branches"]), default=0.0)
        total += sub
    return total


_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def refused_memory(error, args):
    """The memory figures of a program the TPU compiler refused for want of HBM: the temporaries it names in its
    error, and the arguments' per-device shard sizes (outputs counted as aliased to the donated state), so that an
    oversized step still reports how far over it is."""
    import re
    import types
    import jax
    import numpy as np
    found = re.search(r"HLO temporaries \(([\d.]+)([KMGT]?)\)", str(error))
    if "RESOURCE_EXHAUSTED" not in str(error) or not found:
        raise error
    # A PRNG key's dtype is an extended one, with no itemsize: its data is two uint32 words.
    size = lambda dt: 8 if jax.dtypes.issubdtype(dt, jax.dtypes.extended) else np.dtype(dt).itemsize
    args = sum(int(np.prod(x.sharding.shard_shape(x.shape))) * size(x.dtype) for x in jax.tree.leaves(args))
    return types.SimpleNamespace(argument_size_in_bytes=args, output_size_in_bytes=0, alias_size_in_bytes=0,
                                 temp_size_in_bytes=int(float(found.group(1)) * _UNITS[found.group(2)]))


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments {argv[1:]}")
    if _CONFIG.value is None:
        raise app.UsageError("--config=path/to/config.py is required")
    import jax
    import numpy as np
    from tempr1_jax.models.config import preset
    from tempr1_jax.models.sharding import make_mesh

    config, stage = _CONFIG.value, _STAGE.value
    devices, hbm = topology_devices(_TOPOLOGY.value)
    mesh_shape = tuple(int(x) for x in _MESH.value.split(",")) if _MESH.value else tuple(config.mesh.shape)
    mesh = make_mesh(mesh_shape, devices)
    model_cfg = preset(config.model.preset)
    t0 = time.perf_counter()
    traced, shapes, args = lower_step(config, stage, mesh, model_cfg)
    flops = program_flops(traced.jaxpr.jaxpr, shapes.completion_tokens)
    lowered = traced.lower()
    t_lower = time.perf_counter() - t0  # tracing and lowering
    refused = False  # the compiler gave up for want of HBM: the figures are its own estimate
    try:
        compiled = lowered.compile()
        mem = compiled.memory_analysis()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, (list, tuple)) else cost
        compiler_flops = float(cost.get("flops", 0.0))  # per device, loop bodies once: reported, not compared
    except jax.errors.JaxRuntimeError as e:
        mem, refused = refused_memory(e, args), True
        compiler_flops = 0.0
    t_compile = time.perf_counter() - t0 - t_lower
    total = mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes + mem.temp_size_in_bytes
    analytic = analytic_flops(model_cfg, stage, shapes, stage == "grpo" and bool(config.grpo.loss.beta))
    buckets = config.data.buckets
    # Per patch bucket, a shard holds one of ceil(log2(shards)) + 1 sizes (rl.global_batch.shard_patch_count).
    per_bucket = (shapes.vision_shards - 1).bit_length() + 1
    programs = len(buckets.text) * len(buckets.patches) * per_bucket
    fits = bool(hbm) and total <= HEADROOM * hbm
    print(f"{stage} step of {config.model.preset} on {_TOPOLOGY.value} ({len(devices)} x "
          f"{devices[0].device_kind}), mesh {dict(mesh.shape)}")
    print(f"  shapes: {shapes.prompts} prompts x G={shapes.group_size}, {shapes.prompt_tokens} prompt tokens "
          f"(up to {shapes.visual_tokens} visual), {shapes.patches} patches, {shapes.completion_tokens} completion "
          "tokens")
    print(f"  per device: arguments {mem.argument_size_in_bytes / GiB:.2f} GiB, outputs "
          f"{mem.output_size_in_bytes / GiB:.2f} GiB (aliased {mem.alias_size_in_bytes / GiB:.2f}), temporaries "
          f"{mem.temp_size_in_bytes / GiB:.2f} GiB, total {total / GiB:.2f} GiB of {hbm / GiB:.1f} GiB HBM: "
          f"{'fits' if fits else 'DOES NOT FIT'} (limit {HEADROOM:.0%})"
          + ("; the compiler refused it, figures from its error" if refused else ""))
    print(f"  FLOPs per step: {flops:.4g} (the compiled program's matmuls, loops counted per trip) vs "
          f"{analytic:.4g} analytic ({flops / analytic:.2f}x); XLA's per-device count, loop bodies once: "
          f"{compiler_flops:.4g}")
    print(f"  lowering {t_lower:.1f} s, compile {t_compile:.1f} s; a run compiles up to {programs} program{'s' if programs > 1 else ''} "
          f"({len(buckets.text)} text x {len(buckets.patches)} patch buckets x {per_bucket} shard sizes)")
    print(json.dumps(dict(
        stage=stage, preset=config.model.preset, topology=_TOPOLOGY.value, devices=len(devices),
        device_kind=devices[0].device_kind, mesh=list(np.asarray(mesh.devices.shape).tolist()),
        argument_bytes=int(mem.argument_size_in_bytes), output_bytes=int(mem.output_size_in_bytes),
        alias_bytes=int(mem.alias_size_in_bytes), temp_bytes=int(mem.temp_size_in_bytes),
        bytes_per_device=int(total), hbm_bytes_per_device=int(hbm), fits=fits, refused=refused, flops_per_step=flops,
        analytic_flops_per_step=analytic, compiler_flops_per_device=compiler_flops, prompts=shapes.prompts,
        group_size=shapes.group_size, prompt_tokens=shapes.prompt_tokens, visual_tokens=shapes.visual_tokens,
        patches=shapes.patches, completion_tokens=shapes.completion_tokens, lower_seconds=round(t_lower, 2),
        compile_seconds=round(t_compile, 2), programs_per_run=programs)))


if __name__ == "__main__":
    app.run(main)
