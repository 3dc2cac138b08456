"""Localization rewards on device, batched over `[B]` in float32: IoU, the three correspondence types, the count term
and the ablation variants.

Interval arrays are `[B, N, 2]` (start, end) in seconds with a count per row; entries past the count are ignored.
Nothing is clipped to the video. Divisions by an empty count or a zero-length union give 0.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

_FAR = jnp.finfo(jnp.float32).max  # where padding sorts to: past every real interval, with zero length


def live_mask(n_B: jax.Array, size: int) -> jax.Array:
    return jnp.arange(size)[None, :] < n_B[:, None]


def _safe_div(num: jax.Array, den: jax.Array) -> jax.Array:
    return jnp.where(den > 0, num / jnp.where(den > 0, den, 1), 0.0)


def iou(a: jax.Array, b: jax.Array) -> jax.Array:
    """Temporal IoU of matching intervals `a[..., 2]`, `b[..., 2]` (broadcasting); 0 where the hull is empty."""
    inter = jnp.maximum(0.0, jnp.minimum(a[..., 1], b[..., 1]) - jnp.maximum(a[..., 0], b[..., 0]))
    hull = jnp.maximum(a[..., 1], b[..., 1]) - jnp.minimum(a[..., 0], b[..., 0])
    return _safe_div(inter, hull)


def iou_matrix(pred_BN2: jax.Array, gt_BM2: jax.Array) -> jax.Array:
    """`[B, N, M]` IoU of every prediction with every ground-truth interval."""
    return iou(pred_BN2[:, :, None, :], gt_BM2[:, None, :, :])


def paired_sum(score_BN: jax.Array, n_pred_B: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """Sum of per-index scores over i < min(Np, Ng): the i-th prediction answers the i-th ground truth."""
    return jnp.sum(jnp.where(live_mask(jnp.minimum(n_pred_B, n_gt_B), score_BN.shape[1]), score_BN, 0.0), axis=1)


def one_to_one(pair_score_BN: jax.Array, n_pred_B: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """Type 1 (tg, dtg): index-paired scores summed, over the ground-truth count."""
    return _safe_div(paired_sum(pair_score_BN, n_pred_B, n_gt_B), n_gt_B.astype(jnp.float32))


def distance_weight(pred_BN2: jax.Array, gt_BN2: jax.Array, duration_B: jax.Array) -> jax.Array:
    """Time-R1's (1 - |ds|/D) (1 - |de|/D), per index pair. Each factor is clipped at 0: predictions are not clipped
    to the video, and two negative factors must not multiply into a positive weight. 0 where D <= 0."""
    d = duration_B[:, None]
    near = lambda k: jnp.maximum(0.0, 1.0 - _safe_div(jnp.abs(pred_BN2[..., k] - gt_BN2[..., k]), d))
    return jnp.where(d > 0, near(0) * near(1), 0.0)


def union_length(x_BN2: jax.Array, live_BN: jax.Array) -> jax.Array:
    """Length of the union of the live intervals: sorted by start, each adds what lies past the ends before it."""
    start, end = jax.lax.sort(
        (jnp.where(live_BN, x_BN2[..., 0], _FAR), jnp.where(live_BN, x_BN2[..., 1], _FAR)), num_keys=1
    )
    reach = jnp.concatenate([jnp.full_like(end[:, :1], -jnp.inf), jax.lax.cummax(end, axis=1)[:, :-1]], axis=1)
    return jnp.sum(jnp.maximum(0.0, end - jnp.maximum(start, reach)), axis=1)


def union_iou(pred_BN2: jax.Array, n_pred_B: jax.Array, gt_BM2: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """Type 2 (vhd, gvqa): IoU of the union of predictions with the union of ground truths.

    |P & G| = |P| + |G| - |P | G|, and |P | G| is the union length of both lists together, so merging needs only sorts.
    """
    live_pred, live_gt = live_mask(n_pred_B, pred_BN2.shape[1]), live_mask(n_gt_B, gt_BM2.shape[1])
    len_both = union_length(jnp.concatenate([pred_BN2, gt_BM2], 1), jnp.concatenate([live_pred, live_gt], 1))
    inter = jnp.maximum(0.0, union_length(pred_BN2, live_pred) + union_length(gt_BM2, live_gt) - len_both)
    return _safe_div(inter, len_both)


def count_term(n_pred_B: jax.Array, n_gt_B: jax.Array, sigma: float) -> jax.Array:
    """exp(-|Np - Ng| / (min(Ng, 3) * sigma)); 0 when there is no ground truth (the limit for any Np > 0)."""
    scale = jnp.minimum(n_gt_B, 3).astype(jnp.float32) * sigma
    return jnp.where(n_gt_B > 0, jnp.exp(-_safe_div(jnp.abs(n_pred_B - n_gt_B).astype(jnp.float32), scale)), 0.0)


def sort_by_time(x_BN2: jax.Array, n_B: jax.Array) -> jax.Array:
    """Live intervals sorted by start, then end; padding after them."""
    live = live_mask(n_B, x_BN2.shape[1])
    start, end = jax.lax.sort((jnp.where(live, x_BN2[..., 0], _FAR), jnp.where(live, x_BN2[..., 1], _FAR)), num_keys=2)
    return jnp.where(live[..., None], jnp.stack([start, end], axis=-1), 0.0)


def ordered_match(pred_BN2: jax.Array, n_pred_B: jax.Array, gt_BM2: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """Type 3 matching: sort both sides by time, then the best order-preserving one-to-one IoU sum."""
    pairs = iou_matrix(sort_by_time(pred_BN2, n_pred_B), sort_by_time(gt_BM2, n_gt_B))
    live = live_mask(n_pred_B, pred_BN2.shape[1])[:, :, None] & live_mask(n_gt_B, gt_BM2.shape[1])[:, None, :]
    return dp_matching(jnp.where(live, pairs, 0.0))


def dp_matching(iou_BNM: jax.Array) -> jax.Array:
    """Largest IoU sum over order-preserving one-to-one matchings (padding must have IoU 0).

    dp[i][j] = max(dp[i-1][j], dp[i][j-1], dp[i-1][j-1] + IoU[i][j]), one scan step per prediction row: with
    c_j = max(dp[i-1][j], dp[i-1][j-1] + IoU[i][j]), row i is the running maximum of c.
    """
    b, _, m = iou_BNM.shape

    def row(prev_BM1, iou_BM):
        c = jnp.maximum(prev_BM1[:, 1:], prev_BM1[:, :-1] + iou_BM)
        return jnp.concatenate([jnp.zeros((b, 1), c.dtype), jax.lax.cummax(c, axis=1)], axis=1), None

    last, _ = jax.lax.scan(row, jnp.zeros((b, m + 1), iou_BNM.dtype), jnp.swapaxes(iou_BNM, 0, 1))
    return last[:, m]


def match_f1(total_iou_B: jax.Array, n_pred_B: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """P = S / Np, R = S / Ng, F1 = 2PR / (P + R); 0 where P + R = 0."""
    p = _safe_div(total_iou_B, n_pred_B.astype(jnp.float32))
    r = _safe_div(total_iou_B, n_gt_B.astype(jnp.float32))
    return _safe_div(2 * p * r, p + r)
