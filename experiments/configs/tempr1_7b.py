"""TempR1 (arXiv 2512.03963): multi-task GRPO of Qwen2.5-VL-7B-Instruct over the five-task temporal corpus.

    python experiments/run.py --config=experiments/configs/tempr1_7b.py \
        --config.model.checkpoint=/ckpt/Qwen2.5-VL-7B-Instruct --config.workdir=/runs/tempr1_7b

Prepare the training splits first with the builders in datasets/, into the folders under `DATA` that docs/data.md
("The layout the configs read") lists with each builder command, or set `--config.data.train_dirs`.

GVQA trains on NExT-GQA's val split. The paper names NExT-GQA as its GVQA data; NExT-GQA publishes evidence segments
for val (3,358 questions) and test (5,553) only, its train split has none, and VideoChat-R1, whose recipe TempR1
follows, trains on val and evaluates on test. The benchmark config scores test. Values marked [not stated] are not given by the paper; they follow VideoChat-R1, whose
GRPO settings TempR1 says it follows (OpenGVLab/VideoChat-R1, `training_scripts/run_grpo_video_task.sh`), or the
defaults of TRL 0.15 (`GRPOConfig`), which VideoChat-R1 runs.
"""
import ml_collections

DATA = "data"  # where the prepared splits live
TRAIN_SPLITS = ("charades_sta/train", "didemo/train", "timerft/train",  # tg
                "anet_captions/train",  # dtg
                "qvhighlights/train",  # vhd
                "nextgqa/val",  # gvqa: the grounded questions (see above)
                "anet13/train", "hacs/train")  # tal


def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.stages = ("grpo",)
    c.workdir = "runs/tempr1_7b"
    c.seed = 0
    c.compilation_cache_dir = ""  # JAX's persistent compilation cache; "": {workdir}/compilation_cache
    c.tokenizer = ""  # the Qwen2 tokenizer (or the checkpoint folder's own tokenizer.json via TEMPR1_TOKENIZER)
    c.mesh = ml_collections.ConfigDict(dict(shape=(1, -1, 1)))  # FSDP over every device of every host
    c.distributed = ml_collections.ConfigDict(dict(enabled=False, coordinator_address="", num_processes=0,
                                                   process_id=-1))  # enabled=True on TPU pods / SLURM

    c.model = ml_collections.ConfigDict()
    c.model.preset = "qwen2_5_vl_7b"
    c.model.checkpoint = ""  # required: the Hugging Face folder of Qwen/Qwen2.5-VL-7B-Instruct
    c.model.text_timestamps = False  # a preset's prompt layout; a checkpoint's config.json says its own
    c.model.dtype = "bfloat16"
    c.model.param_dtype = "float32"  # fp32 master weights and Adam moments [not stated]
    c.model.freeze_vision = False  # [not stated]; Time-R1 freezes it
    c.model.logprob_chunk = 16384

    c.video = ml_collections.ConfigDict()  # 2 fps, at most 448 frames, at most 3584 visual tokens (the paper)
    c.video.fps = 2.0
    c.video.min_frames = 4
    c.video.max_frames = 448
    c.video.min_pixels = 128 * 28 * 28
    c.video.max_pixels = 768 * 28 * 28
    c.video.total_pixels = int(128000 * 28 * 28 * 0.9)
    c.video.max_visual_tokens = 3584

    c.data = ml_collections.ConfigDict()
    c.data.train_dirs = tuple(f"{DATA}/{s}" for s in TRAIN_SPLITS)
    c.data.eval_dirs = ()
    c.data.batch_size = 8  # prompts per step, over all hosts [not stated; VideoChat-R1: 8 GPUs x 1]
    c.data.mix = "epoch"  # one pass over every sample, tasks interleaved (the paper: 1 epoch of the mix)
    c.data.task_weights = ml_collections.ConfigDict({t: 1.0 for t in ("tg", "dtg", "vhd", "gvqa", "tal")})  # "weighted"
    c.data.think = True  # the prompts ask for <think>...</think> then the answer
    c.data.skip_bad_shards = False  # True: leave out a corrupt or truncated shard (and report the samples lost)
    c.data.num_workers = 8  # grain worker processes per host
    c.data.buckets = ml_collections.ConfigDict(dict(text=(4096, 6144, 8192), patches=(4096, 8192, 14336),
                                                    answer=384))

    c.checkpoint = ml_collections.ConfigDict(dict(max_to_keep=3))
    # A step whose loss, gradients or update are not finite is skipped (parameters and optimizer state kept); more
    # than max_nonfinite_steps in a row stop the run (exit 1). spike_factor > 1 also skips a step whose gradient norm
    # exceeds that many times the median of the last spike_window steps (0: off). README, Training.
    c.faults = ml_collections.ConfigDict(dict(max_nonfinite_steps=3, spike_factor=0.0, spike_window=20))

    c.sft = ml_collections.ConfigDict()  # not part of TempR1; available as a cold start
    c.sft.steps = 0
    c.sft.init_from = ""
    c.sft.checkpoint_every = 500
    c.sft.steps_per_run = 0
    c.sft.optimizer = ml_collections.ConfigDict(dict(
        learning_rate=1e-5, warmup_steps=50, schedule="cosine", weight_decay=0.0, b1=0.9, b2=0.999, eps=1e-8,
        max_grad_norm=1.0))

    c.grpo = ml_collections.ConfigDict()
    c.grpo.steps = 0  # 0 = one epoch over the five-task mix (~60K samples / 8 = ~7.5K steps)
    c.grpo.init_from = ""  # start from the pretrained checkpoint
    c.grpo.checkpoint_every = 250
    c.grpo.steps_per_run = 0
    c.grpo.group_size = 8  # G [not stated; VideoChat-R1 --num_generations 8]
    c.grpo.mu = 1  # one update per rollout batch [not stated; VideoChat-R1]
    c.grpo.logprobs_at_temperature = True  # ratio, KL, entropy of softmax(logits / T) at the sampling T (TRL, verl)
    c.grpo.reference_dtype = "bfloat16"  # the frozen reference's weights (float32: exact, twice the memory)
    c.grpo.rollout_dtype = "bfloat16"  # the cast of the fp32 master weights that rollouts decode with
    # The update runs at 512 completion tokens when every rollout of the batch fits (else at max_new_tokens): half the
    # update's work for short answers, one more compiled branch (the compile check proves the full width).
    c.grpo.update_widths = (512,)
    c.grpo.loss = ml_collections.ConfigDict(dict(
        aggregation="grpo",  # the paper's default; it compares DAPO and GSPO
        advantage="grpo", epsilon_low=0.2, epsilon_high=0.2,  # [not stated; TRL default]
        beta=0.04,  # [not stated; TRL 0.15 default]
        advantage_eps=1e-4))  # [not stated; VideoChat-R1]
    c.grpo.sampling = ml_collections.ConfigDict(dict(
        max_new_tokens=1024,  # [not stated; VideoChat-R1]
        temperature=1.0,  # [not stated; VideoChat-R1]
        top_k=0, top_p=1.0))
    c.grpo.rewards = ml_collections.ConfigDict(dict(
        format_weight=1.0, localization_weight=1.0, classification_weight=1.0, think_required=False,
        tg_variant="iou", tal_matching="dp", tal_count=True, sigma=1.0))
    c.grpo.optimizer = ml_collections.ConfigDict(dict(
        learning_rate=1e-6,  # [not stated; TRL 0.15 default, which VideoChat-R1 keeps]
        warmup_steps=0, schedule="constant", weight_decay=0.0, b1=0.9, b2=0.999, eps=1e-8, max_grad_norm=1.0))

    c.eval = ml_collections.ConfigDict(dict(checkpoints=("grpo",), batch_size=16, max_new_tokens=1024,
                                            reference_nll=True))  # see demo.py
    c.answer = ml_collections.ConfigDict(dict(video="", query="", max_new_tokens=1024))
    return c
