"""The cosine schedule with warm restarts restarts where the reference says."""

import math

import pytest

from enas.trainers.schedules import cosine_with_restarts


def test_restarts_at_10_30_70_150():
    lr = [cosine_with_restarts(e, 0.05, 0.001, 10, 2) for e in range(160)]
    for restart in (10, 30, 70, 150):
        assert lr[restart] == pytest.approx(0.05)
        assert lr[restart - 1] < lr[restart - 2] < 0.01 and lr[restart - 1] < 0.0025
    assert lr[0] == pytest.approx(0.05)
    assert lr[5] == pytest.approx(0.001 + 0.5 * 0.049 * (1 + math.cos(math.pi * 0.5)))
    assert lr[20] == pytest.approx(0.001 + 0.5 * 0.049 * (1 + math.cos(math.pi * 10 / 20)))


def test_negative_epoch_is_refused():
    with pytest.raises(ValueError):
        cosine_with_restarts(-1, 0.1, 0.0, 10, 2)
