"""The laptop demo, end to end on a CPU in about 13 minutes (2 cores), with nothing prepared beforehand:

1. renders the synthetic five-task corpus (train and held-out splits) and writes its records;
2. builds a small model of the Qwen2.5-VL architecture (preset `demo`, random weights);
3. supervised cold start on the reference answers, then multi-task GRPO from it;
4. evaluates the held-out split with the cold-start model and with the GRPO model;
5. writes runs/demo/report/: a per-task table, reward curves and timelines of predictions.

    python experiments/run.py --config=experiments/configs/demo.py
"""
import ml_collections

def get_config() -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.stages = ("prepare_synthetic", "sft", "grpo", "eval", "report")
    c.workdir = "runs/demo"  # "{workdir}" in the paths below stands for it, overrides included
    c.seed = 0
    # A 1024-id byte-level BPE trained on the corpus by prepare_synthetic (the demo preset's vocabulary);
    # "" would be the shipped Qwen2 tokenizer, for models with Qwen's vocabulary.
    c.tokenizer = "{workdir}/data/tokenizer.json"
    c.mesh = ml_collections.ConfigDict(dict(shape=(1, -1, 1)))  # (data, fsdp, tensor); -1 = remaining devices
    # Multi-host: enabled=True lets JAX find the coordinator (TPU VMs, SLURM); else give all three.
    c.distributed = ml_collections.ConfigDict(dict(enabled=False, coordinator_address="", num_processes=0,
                                                   process_id=-1))

    c.model = ml_collections.ConfigDict()
    c.model.preset = "demo"
    c.model.checkpoint = ""  # a Hugging Face folder; "" = the preset with random weights
    c.model.dtype = "float32"
    c.model.param_dtype = "float32"
    c.model.freeze_vision = False
    c.model.logprob_chunk = 8192
    # Each frame group follows its start time as text (`<2.0 seconds>`, processing/timestamps.py), so that grounding
    # is "find the frames that match, copy their time"; False is Qwen2.5-VL's own layout (time in M-RoPE only).
    c.model.text_timestamps = True
    # "after": each group's start time follows the group, where the time text can see the frames before it (README:
    # no grounding at 800 cold-start steps; times read, tg 46.7 mIoU, at 1,600).
    c.model.timestamp_position = "before"

    # The synthetic corpus: small frames, one merged token per object cell (2 x 3 cells of 28 px).
    c.synthetic = ml_collections.ConfigDict()
    c.synthetic.num_train = 1200
    c.synthetic.num_eval = 500  # about 100 per task: bootstrap intervals of a few points
    c.synthetic.seed = 0
    c.synthetic.duration = (8.0, 12.0)
    c.synthetic.fps = 4.0
    c.synthetic.resolution = (56, 84)
    c.synthetic.tokenizer_vocab = 1024
    # The easier first level: every object on screen is one the prompt asks about, so answers need the frames (when
    # it is there) but not yet the colour/shape/motion match that distractors demand (see README: 3 distractors did
    # not ground at this size and budget).
    c.synthetic.max_distractors = 0
    c.synthetic.time_step = 1.0  # interval bounds on whole seconds, the demo model's frame groups (2 frames at 2 fps)

    c.video = ml_collections.ConfigDict()  # frame sampling (qwen-vl-utils rules), kept at the rendered size
    c.video.fps = 2.0
    c.video.min_frames = 4
    c.video.max_frames = 448
    c.video.min_pixels = 56 * 84
    c.video.max_pixels = 56 * 84
    c.video.total_pixels = int(128000 * 28 * 28 * 0.9)
    c.video.max_visual_tokens = 3584

    c.data = ml_collections.ConfigDict()
    c.data.train_dirs = ("{workdir}/data/train",)
    c.data.eval_dirs = ("{workdir}/data/eval",)
    c.data.batch_size = 16  # default for stages that set none
    c.data.mix = "weighted"  # draws by task_weights (the measured demo table); "epoch" = one pass over every sample
    c.data.task_weights = ml_collections.ConfigDict({t: 1.0 for t in ("tg", "dtg", "vhd", "gvqa", "tal")})
    c.data.think = False  # short answers: no think block
    c.data.skip_bad_shards = False  # True: leave out a corrupt or truncated shard (and report the samples lost)
    c.data.num_workers = 0
    c.data.buckets = ml_collections.ConfigDict(dict(text=(256, 384, 512), patches=(256, 512), answer=96))

    c.checkpoint = ml_collections.ConfigDict(dict(max_to_keep=2))
    # A step whose loss, gradients or update are not finite is skipped (parameters and optimizer state kept); more
    # than max_nonfinite_steps in a row stop the run (exit 1). spike_factor > 1 also skips a step whose gradient norm
    # exceeds that many times the median of the last spike_window steps (0: off). README, Training.
    c.faults = ml_collections.ConfigDict(dict(max_nonfinite_steps=3, spike_factor=0.0, spike_window=20))

    c.sft = ml_collections.ConfigDict()
    c.sft.steps = 250
    c.sft.batch_size = 16
    c.sft.init_from = ""
    c.sft.checkpoint_every = 100
    c.sft.steps_per_run = 0  # > 0: checkpoint and stop after this many steps (resume with the same command)
    c.sft.optimizer = ml_collections.ConfigDict(dict(
        learning_rate=2e-3, warmup_steps=40, schedule="cosine", weight_decay=0.0, b1=0.9, b2=0.98, max_grad_norm=1.0))

    c.grpo = ml_collections.ConfigDict()
    c.grpo.steps = 60
    c.grpo.batch_size = 8  # prompts per step; x group_size completions
    c.grpo.init_from = "sft"
    c.grpo.checkpoint_every = 30
    c.grpo.steps_per_run = 0
    c.grpo.group_size = 8
    c.grpo.mu = 1
    # No trimmed update widths: in every one of the demo's 60 steps some of the 64 rollouts ran past 32 tokens
    # (measured), so the shorter branches would only add compile time.
    c.grpo.update_widths = ()
    c.grpo.logprobs_at_temperature = True  # ratio, KL, entropy of softmax(logits / T) at the sampling T (TRL, verl)
    c.grpo.loss = ml_collections.ConfigDict(dict(
        aggregation="grpo", advantage="grpo", epsilon_low=0.2, epsilon_high=0.2, beta=0.04, advantage_eps=1e-4))
    # Cooler than the paper's 1.0: a 4-layer model sampled at 1.0 writes 10% malformed answers, and their format
    # penalties drown the localization signal that greedy evaluation then shows (tried: 1.0, 0.7, 0.5; see README).
    c.grpo.sampling = ml_collections.ConfigDict(dict(
        max_new_tokens=64, temperature=0.5, top_k=0, top_p=1.0))
    c.grpo.rewards = ml_collections.ConfigDict(dict(
        format_weight=1.0, localization_weight=1.0, classification_weight=1.0, think_required=False,
        tg_variant="iou", tal_matching="dp", tal_count=True, sigma=1.0))
    c.grpo.optimizer = ml_collections.ConfigDict(dict(
        learning_rate=1e-4, warmup_steps=0, schedule="constant", weight_decay=0.0, b1=0.9, b2=0.98,
        max_grad_norm=1.0))

    c.eval = ml_collections.ConfigDict()
    c.eval.checkpoints = ("sft", "grpo")  # before and after GRPO
    c.eval.batch_size = 40
    c.eval.max_new_tokens = 64
    # Also score each reference answer teacher-forced with the video, blank frames and the frames reversed: the
    # report's "does the model look?" table (three teacher-forced passes per batch).
    c.eval.reference_nll = True

    c.answer = ml_collections.ConfigDict()  # the `answer` stage: ask about one video
    c.answer.video = ""
    c.answer.query = ""
    c.answer.max_new_tokens = 64
    return c
