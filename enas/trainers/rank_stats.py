"""Rank statistics between shared-weight scores and stand-alone accuracies (no SciPy needed)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def kendall_tau(x: Sequence[float], y: Sequence[float]) -> float:
    """Kendall's tau-b (ties in either variable accounted for); NaN when a variable is constant."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.shape != y.shape or x.size < 2:
        raise ValueError(f"kendall_tau needs two equal-length sequences of at least 2 values, got {x.size}, {y.size}")
    upper = np.triu_indices(x.size, k=1)
    sx = np.sign(x[:, None] - x[None, :])[upper]
    sy = np.sign(y[:, None] - y[None, :])[upper]
    denominator = np.sqrt(np.sum(sx * sx) * np.sum(sy * sy))
    return float(np.sum(sx * sy) / denominator) if denominator > 0 else float("nan")


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n, tied values sharing the mean of their ranks."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(values.size, np.float64)
    ranks[order] = np.arange(1, values.size + 1)
    for value in np.unique(values):
        tied = values == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def spearman_rho(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks; NaN when a variable is constant."""
    rx, ry = average_ranks(x), average_ranks(y)
    if rx.shape != ry.shape or rx.size < 2:
        raise ValueError("spearman_rho needs two equal-length sequences of at least 2 values")
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = np.sqrt(np.sum(rx * rx) * np.sum(ry * ry))
    return float(np.sum(rx * ry) / denominator) if denominator > 0 else float("nan")


def top_k_overlap(x: Sequence[float], y: Sequence[float], k: int) -> float:
    """Fraction of the ``k`` best by ``x`` that are also among the ``k`` best by ``y`` (ties by index)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    k = int(min(max(k, 1), x.size))
    best_x = set(np.argsort(-x, kind="stable")[:k].tolist())
    best_y = set(np.argsort(-y, kind="stable")[:k].tolist())
    return len(best_x & best_y) / k
