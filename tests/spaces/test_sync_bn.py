"""Synchronized batch norms (``--child_sync_bn``) without a strategy: the replica sum is a stand-in
function that adds a second replica's sums, so the result must be the batch norm of both halves together.
(The real collective all-reduce under a strategy: tests/trainers/test_distribute.py.)"""

import numpy as np
import pytest
from keras import ops

from enas.spaces.layers import batch_norm, statistics_mode, summed_over_replicas, synchronized_batch_norm
from enas.spaces.micro.cell_ops import SearchBatchNorm, batch_stat_norm

RNG = np.random.default_rng(0)
X = (RNG.normal(size=(8, 3, 3, 4)) * [1.0, 2.0, 0.5, 3.0] + [0.0, 1.0, -2.0, 5.0]).astype("float32")
MINE, OTHER = X[:3], X[3:]  # uneven shares, as the last evaluation batch may be


def _other_replica(value):
    """This replica's [sum, squared sum, count] plus the other replica's."""
    other = np.concatenate([OTHER.sum(axis=(0, 1, 2)), (OTHER ** 2).sum(axis=(0, 1, 2)),
                            [OTHER.size / OTHER.shape[-1]]]).astype("float32")
    return value + other


def _pair():
    with synchronized_batch_norm():
        synced = batch_norm()
    local = batch_norm()
    for layer in (synced, local):
        layer.build(X.shape)
    local.set_weights(synced.get_weights())
    return synced, local


@pytest.mark.parametrize("mode", ["train", "batch"])
def test_synchronized_batch_norm_uses_the_global_batch(mode):
    synced, local = _pair()
    assert synced.synchronized and not local.synchronized
    if mode == "train":
        with summed_over_replicas(_other_replica):
            mine = synced(MINE, training=True)
        whole = local(X, training=True)
        np.testing.assert_allclose(synced.moving_mean.numpy(), local.moving_mean.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(synced.moving_variance.numpy(), local.moving_variance.numpy(), rtol=1e-5)
    else:
        with statistics_mode("batch"), summed_over_replicas(_other_replica):
            mine = synced(MINE, training=False)
        with statistics_mode("batch"):
            whole = local(X, training=False)
    np.testing.assert_allclose(ops.convert_to_numpy(mine), ops.convert_to_numpy(whole)[:3], rtol=1e-4, atol=1e-4)
    # its own share's statistics normalise differently: the test can tell the two apart
    with statistics_mode("batch"):
        alone = local(MINE, training=False)
    assert np.abs(ops.convert_to_numpy(alone) - ops.convert_to_numpy(whole)[:3]).max() > 0.05


def test_synchronized_batch_norm_without_a_replica_sum_is_the_local_one():
    synced, local = _pair()
    np.testing.assert_allclose(ops.convert_to_numpy(synced(MINE, training=True)),
                               ops.convert_to_numpy(local(MINE, training=True)), rtol=1e-5, atol=1e-5)


def test_micro_search_batch_norm_synchronizes():
    scale, offset = np.float32([1.0, 2.0, 0.5, 1.5]), np.float32([0.0, 0.1, -0.2, 0.3])
    with summed_over_replicas(_other_replica):
        mine = batch_stat_norm(MINE, scale, offset, synchronized=True)
        unsynced = batch_stat_norm(MINE, scale, offset)  # not synchronized: its own share
    whole = batch_stat_norm(X, scale, offset)
    np.testing.assert_allclose(ops.convert_to_numpy(mine), ops.convert_to_numpy(whole)[:3], rtol=1e-4, atol=1e-4)
    alone = batch_stat_norm(MINE, scale, offset)
    np.testing.assert_allclose(ops.convert_to_numpy(unsynced), ops.convert_to_numpy(alone))
    with synchronized_batch_norm():
        layer = SearchBatchNorm(4)
    assert layer.synchronized and not SearchBatchNorm(4).synchronized
    assert SearchBatchNorm.from_config(layer.get_config()).synchronized
