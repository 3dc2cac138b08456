"""Rewards from sampled token ids, on device (`compute_rewards`, jit-friendly), and the host entry point `score`."""
from __future__ import annotations

import functools
from typing import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tempr1_jax.processing.tokenizer import Tokenizer, load_tokenizer
from tempr1_jax.rewards import localization as loc
from tempr1_jax.rewards.config import RewardConfig
from tempr1_jax.rewards.parser import TokenTables, build_token_tables, parse_ids
from tempr1_jax.rewards.tasks import DTG, GVQA, MAX_INTERVALS, TAL, TASKS, TG, VHD, task_id
from tempr1_jax.rewards.vocab import vocab_from_tokenizer


def localization_reward(task_B, pred_BN2, n_pred_B, gt_BN2, n_gt_B, duration_B, cfg: RewardConfig) -> jax.Array:
    """The localization reward of each row's task (rows must be well formed; the caller masks the others)."""
    pair_iou = loc.iou(pred_BN2, gt_BN2)
    tg_pair = pair_iou * loc.distance_weight(pred_BN2, gt_BN2, duration_B) if cfg.tg_variant != "iou" else pair_iou
    one_to_one = loc.one_to_one(jnp.where((task_B == TG)[:, None], tg_pair, pair_iou), n_pred_B, n_gt_B)

    pred_sorted, gt_sorted = loc.sort_by_time(pred_BN2, n_pred_B), loc.sort_by_time(gt_BN2, n_gt_B)
    many_to_one = loc.union_iou(pred_sorted, n_pred_B, gt_sorted, n_gt_B)

    if cfg.tal_matching == "dp":
        # Other tasks' rows do not need the DP: zero counts keep them from lengthening its loop.
        is_tal = task_B == TAL
        matched = loc.dp_matching(pred_sorted, jnp.where(is_tal, n_pred_B, 0), gt_sorted, jnp.where(is_tal, n_gt_B, 0))
    else:  # the ablation: the i-th emitted interval against the i-th ground truth, unsorted
        matched = loc.paired_sum(pair_iou, n_pred_B, n_gt_B)
    many_to_many = loc.match_f1(matched, n_pred_B, n_gt_B)
    if cfg.tal_count:
        many_to_many = many_to_many + loc.count_term(n_pred_B, n_gt_B, cfg.sigma)

    reward_of = {TG: one_to_one, DTG: one_to_one, VHD: many_to_one, GVQA: many_to_one, TAL: many_to_many}
    by_task = jnp.stack([reward_of[k] for k in range(len(TASKS))], axis=1)
    return by_task[jnp.arange(task_B.shape[0]), task_B]


def compute_rewards(
    tables: TokenTables,
    ids_BT: jax.Array,
    lengths_B: jax.Array,
    task_B: jax.Array,
    gt_intervals_BN2: jax.Array,
    gt_counts_B: jax.Array,
    duration_B: jax.Array,
    answer_B: jax.Array,
    cfg: RewardConfig = RewardConfig(),
) -> dict[str, jax.Array]:
    """Per-completion rewards, float32 `[B]`, for completions `ids_BT` of mixed tasks `task_B` (ids in `TASKS`).

    Only the first `lengths_B` ids of a row count, up to its first end token. Ground truth: `[B, 32, 2]` seconds with
    `gt_counts_B` live rows, video `duration_B` (seconds; only the distance-weighted tg variant reads it), and for
    gvqa the correct option `answer_B` (0 = A). Returns format, localization, classification and the weighted total,
    plus diagnostics: count (parsed intervals, int32) and letter (parsed option, int32, -1 if none).
    """
    parsed = parse_ids(tables, ids_BT, lengths_B, task_B, cfg.think_required)
    ok = parsed.well_formed
    localization = localization_reward(
        task_B, parsed.intervals, parsed.count, gt_intervals_BN2.astype(jnp.float32), gt_counts_B,
        duration_B.astype(jnp.float32), cfg,
    )
    fmt = ok.astype(jnp.float32)
    localization = jnp.where(ok, localization, 0.0)
    classification = (ok & (task_B == GVQA) & (parsed.letter == answer_B)).astype(jnp.float32)
    total = cfg.format_weight * fmt + cfg.localization_weight * localization + cfg.classification_weight * classification
    return {
        "format": fmt,
        "localization": localization,
        "classification": classification,
        "total": total,
        "count": parsed.count,
        "letter": parsed.letter,
    }


@functools.lru_cache(maxsize=None)
def qwen_tables() -> tuple[Tokenizer, TokenTables]:
    """The Qwen tokenizer and its parser tables, built once per process."""
    tokenizer = load_tokenizer()
    return tokenizer, build_token_tables(vocab_from_tokenizer(tokenizer))


_compute = jax.jit(compute_rewards, static_argnames="cfg")


def _bucket(n: int, quantum: int) -> int:
    return max(quantum, -(-n // quantum) * quantum)


def ground_truth_arrays(targets: Sequence[Mapping]) -> dict[str, np.ndarray]:
    """Pads target dicts ({"intervals": [[s, e], ...], "duration": D, "answer": k}) to the ground-truth arguments of
    `compute_rewards`. "duration" defaults to 0 and "answer" to -1 (no option)."""
    n = len(targets)
    gt = np.zeros((n, MAX_INTERVALS, 2), np.float32)
    counts = np.zeros(n, np.int32)
    duration = np.zeros(n, np.float32)
    answer = np.full(n, -1, np.int32)
    for k, target in enumerate(targets):
        intervals = np.asarray(target["intervals"], np.float64).reshape(-1, 2)
        if len(intervals) > MAX_INTERVALS or np.any(intervals[:, 0] > intervals[:, 1]):
            raise ValueError(f"target {k}: expected at most {MAX_INTERVALS} intervals with start <= end")
        gt[k, : len(intervals)] = intervals
        counts[k] = len(intervals)
        duration[k] = target.get("duration", 0.0)
        answer[k] = target.get("answer", -1)
    return {"gt_intervals_BN2": gt, "gt_counts_B": counts, "duration_B": duration, "answer_B": answer}


def score(
    task: str, completions: Sequence[str], targets: Sequence[Mapping], cfg: RewardConfig = RewardConfig()
) -> dict[str, np.ndarray]:
    """Scores completion texts of one task against their targets with the device path and the Qwen tokenizer.

    `targets[k]`: {"intervals": [[start, end], ...] (seconds), "duration": seconds, "answer": option index (gvqa)}.
    Returns numpy arrays of len(completions): "format", "localization", "classification", "total" (float32) and the
    diagnostics "count" and "letter". Shapes are padded to buckets, so repeated calls reuse compilations.
    """
    if len(completions) != len(targets):
        raise ValueError(f"{len(completions)} completions but {len(targets)} targets")
    if task_id(task) == GVQA and any("answer" not in t for t in targets):
        raise ValueError("gvqa targets need an 'answer' (the correct option's index, 0 = A)")
    tokenizer, tables = qwen_tables()
    encoded = [tokenizer.encode(text) for text in completions]
    b, t = _bucket(len(encoded), 8), _bucket(max(map(len, encoded), default=1), 64)
    ids = np.full((b, t), tokenizer.pad_id, np.int32)
    lengths = np.zeros(b, np.int32)
    for k, row in enumerate(encoded):
        ids[k, : len(row)] = row
        lengths[k] = len(row)
    gt = ground_truth_arrays(list(targets) + [{"intervals": []}] * (b - len(targets)))
    out = _compute(tables, ids, lengths, np.full(b, task_id(task), np.int32), **gt, cfg=cfg)
    return {k: np.asarray(v)[: len(completions)] for k, v in out.items()}
