"""Learning-rate schedules of the ENAS child (computed per integer epoch, as the reference does)."""

from __future__ import annotations

import math


def cosine_with_restarts(epoch: int, lr_max: float, lr_min: float, period: int, period_mul: int) -> float:
    """SGDR (Loshchilov & Hutter): ``lr_min + (lr_max - lr_min)(1 + cos(pi T_cur / T_i)) / 2``.

    ``period`` is T_0 in epochs and each restart multiplies it by ``period_mul`` (T_0=10, T_mul=2
    restarts at epochs 10, 30, 70, 150, 310, 630).
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    start, length = 0, period
    while epoch >= start + length:
        start += length
        length *= period_mul
    progress = (epoch - start) / length
    return lr_min + 0.5 * (lr_max - lr_min) * (1.0 + math.cos(math.pi * progress))


def child_learning_rate(epoch: int, child_config) -> float:
    """The image child's learning rate at ``epoch`` from a :class:`enas.config.ChildConfig`."""
    return cosine_with_restarts(epoch, child_config.lr_max, child_config.lr_min,
                                child_config.lr_T_0, child_config.lr_T_mul)
