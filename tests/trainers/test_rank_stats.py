"""Rank statistics against hand-computed values."""

import math

import pytest

from enas.trainers.rank_stats import average_ranks, kendall_tau, spearman_rho, top_k_overlap


def test_kendall_tau_by_hand():
    # 6 pairs, one discordant (2,3 swapped): (5 - 1) / 6.
    assert kendall_tau([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # tau-b with a tie in y: pairs of x all untied (6); y = [1, 1, 2, 3] has one tied pair.
    # concordant 5, discordant 0 -> 5 / sqrt(6 * 5).
    assert kendall_tau([1, 2, 3, 4], [1, 1, 2, 3]) == pytest.approx(5 / math.sqrt(30))
    assert math.isnan(kendall_tau([1, 2, 3], [5, 5, 5]))


def test_spearman_rho_by_hand():
    # d = [0, 1, 1, 0]: 1 - 6 * 2 / (4 * 15) = 0.8.
    assert spearman_rho([1, 2, 3, 4], [10, 30, 20, 40]) == pytest.approx(0.8)
    assert spearman_rho([0.1, 0.2, 0.3], [3, 2, 1]) == pytest.approx(-1.0)
    assert list(average_ranks([5, 1, 5, 2])) == [3.5, 1.0, 3.5, 2.0]


def test_top_k_overlap():
    assert top_k_overlap([4, 3, 2, 1], [4, 1, 3, 2], 2) == 0.5
    assert top_k_overlap([4, 3, 2, 1], [4, 3, 1, 2], 2) == 1.0
    with pytest.raises(ValueError):
        kendall_tau([1], [1])
