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


def _precedes(key_BN: jax.Array, tiebreak_BN: jax.Array) -> jax.Array:
    """`[B, N(i), N(j)]`: j sorts strictly before i by (key, tiebreak, index)."""
    idx = jnp.arange(key_BN.shape[1])
    ki, kj = key_BN[:, :, None], key_BN[:, None, :]
    ti, tj = tiebreak_BN[:, :, None], tiebreak_BN[:, None, :]
    return (kj < ki) | ((kj == ki) & ((tj < ti) | ((tj == ti) & (idx[None, :] < idx[:, None]))))


def union_pieces(x_BN2: jax.Array, n_B: jax.Array) -> jax.Array:
    """Disjoint pieces `[B, N, 2]` covering the union of the live intervals (empty pieces have start == end), from
    intervals sorted by `sort_by_time`: each keeps what lies past the furthest end before it (a prefix maximum).
    """
    x = x_BN2
    live = live_mask(n_B, x_BN2.shape[1])
    reach = jax.lax.associative_scan(jnp.maximum, jnp.where(live, x[..., 1], -jnp.inf), axis=1)
    reach = jnp.concatenate([jnp.full_like(reach[:, :1], -jnp.inf), reach[:, :-1]], axis=1)
    start = jnp.where(live, jnp.maximum(x[..., 0], reach), 0.0)
    return jnp.stack([start, jnp.where(live, jnp.maximum(x[..., 1], start), 0.0)], axis=-1)


def union_iou(pred_BN2: jax.Array, n_pred_B: jax.Array, gt_BM2: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """Type 2 (vhd, gvqa): IoU of the union of predictions with the union of ground truths, both sorted by
    `sort_by_time`.

    Both unions split into disjoint pieces, so |P & G| is the sum of pairwise piece overlaps.
    """
    p, g = union_pieces(pred_BN2, n_pred_B), union_pieces(gt_BM2, n_gt_B)
    overlap = jnp.minimum(p[:, :, None, 1], g[:, None, :, 1]) - jnp.maximum(p[:, :, None, 0], g[:, None, :, 0])
    inter = jnp.sum(jnp.maximum(0.0, overlap), axis=(1, 2))
    length = lambda x: jnp.sum(x[..., 1] - x[..., 0], axis=1)
    return _safe_div(inter, length(p) + length(g) - inter)


def count_term(n_pred_B: jax.Array, n_gt_B: jax.Array, sigma: float) -> jax.Array:
    """exp(-|Np - Ng| / (min(Ng, 3) * sigma)); 0 when there is no ground truth (the limit for any Np > 0)."""
    scale = jnp.minimum(n_gt_B, 3).astype(jnp.float32) * sigma
    return jnp.where(n_gt_B > 0, jnp.exp(-_safe_div(jnp.abs(n_pred_B - n_gt_B).astype(jnp.float32), scale)), 0.0)


def sort_by_time(x_BN2: jax.Array, n_B: jax.Array) -> jax.Array:
    """Live intervals sorted by start, then end; zero padding after them. Each goes to its rank (a scatter)."""
    live = live_mask(n_B, x_BN2.shape[1])
    start, end = jnp.where(live, x_BN2[..., 0], _FAR), jnp.where(live, x_BN2[..., 1], _FAR)
    rank = jnp.sum(_precedes(start, end), axis=2)
    out = jnp.zeros_like(x_BN2).at[jnp.arange(x_BN2.shape[0])[:, None], rank].set(x_BN2)
    return jnp.where(live[..., None], out, 0.0)


def dp_matching(pred_BN2: jax.Array, n_pred_B: jax.Array, gt_BM2: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """Type 3 matching: the largest IoU sum over one-to-one matchings that keep both lists' order. Inputs sorted by
    `sort_by_time`: live rows first, then the order-preserving matchings are the time-respecting ones.

    dp[i][j] = max(dp[i-1][j], dp[i][j-1], dp[i-1][j-1] + IoU(p_i, g_j)), one anti-diagonal per loop step: every
    cell of a diagonal depends only on the two diagonals before it, so a step is a few elementwise ops on `[B, N]`,
    the IoUs of the diagonal included (its ground truths are a slice of the reversed list). The loop stops at the
    batch's largest Np + Ng - 1 rather than at N + M - 1: dp only grows along rows and columns and padding adds
    nothing, so the best cell of any later diagonal is dp[Np][Ng].
    """
    b, n, _ = pred_BN2.shape
    m = gt_BM2.shape[1]
    p = jnp.arange(n)
    # reversed_gt[k] = gt[n + m - 1 - k] for k in [n, n + m), zeros around: diagonal d needs gt[d - p] for p < n.
    reversed_gt = jnp.pad(gt_BM2[:, ::-1], ((0, 0), (n, n), (0, 0)))

    def diagonal(d, carry):
        # Diagonals carry a leading zero column, so x[:, :-1] is "the cell at p - 1" (0 at p = 0).
        before2, before1 = carry  # cells (p, d - 2 - p) and (p, d - 1 - p)
        q = d - p
        g = jax.lax.dynamic_slice_in_dim(reversed_gt, n + m - 1 - d, n, axis=1)
        live = (p < n_pred_B[:, None]) & (q >= 0) & (q < n_gt_B[:, None])
        gain = jnp.where(live, iou(pred_BN2, g), 0.0)
        cell = jnp.maximum(jnp.maximum(before1[:, :-1], before1[:, 1:]), before2[:, :-1] + gain)
        return before1, jnp.pad(jnp.where(q >= 0, cell, 0.0), ((0, 0), (1, 0)))

    zeros = jnp.zeros((b, n + 1), pred_BN2.dtype)
    n_diagonals = jnp.clip(jnp.max(n_pred_B + n_gt_B) - 1, 1, n + m - 1)
    _, last = jax.lax.fori_loop(0, n_diagonals, diagonal, (zeros, zeros))
    return jnp.max(last, axis=1)


def match_f1(total_iou_B: jax.Array, n_pred_B: jax.Array, n_gt_B: jax.Array) -> jax.Array:
    """P = S / Np, R = S / Ng, F1 = 2PR / (P + R); 0 where P + R = 0."""
    p = _safe_div(total_iou_B, n_pred_B.astype(jnp.float32))
    r = _safe_div(total_iou_B, n_gt_B.astype(jnp.float32))
    return _safe_div(2 * p * r, p + r)
