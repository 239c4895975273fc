"""Reward batch-norm modes: one trace each, recalibration leaves the search state alone."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from enas.spaces.layers import batch_norm, statistics_mode
from enas.config import SearchConfig
from enas.errors import ConfigError
from enas.spaces import get_space
from enas.trainers import search as search_module


def test_batch_norm_batch_mode_uses_the_minibatch_statistics_and_changes_nothing():
    layer = batch_norm()
    x = tf.random.stateless_normal([8, 4, 4, 3], seed=[1, 2]) * 3.0 + 1.0
    layer.build(x.shape)
    layer.moving_mean.assign([5.0, 5.0, 5.0])
    with statistics_mode("batch"):
        y = layer(x, training=False)
    mean, var = tf.nn.moments(x, axes=[0, 1, 2])
    np.testing.assert_allclose(y, (x - mean) / tf.sqrt(var + 1e-5), atol=1e-4)
    np.testing.assert_allclose(layer.moving_mean, [5.0, 5.0, 5.0])
    moving = layer(x, training=False)  # outside the block: Keras' inference mode again
    np.testing.assert_allclose(moving, (x - 5.0) / tf.sqrt(1.0 + 1e-5), atol=1e-4)


def test_batch_norm_collect_mode_accumulates_weighted_moments():
    layer = batch_norm()
    batches = [tf.random.stateless_normal([6, 2, 2, 2], seed=[i, 0]) + i for i in range(3)]
    layer.build(batches[0].shape)
    layer.moving_mean.assign([0.0, 0.0])
    layer.moving_variance.assign([0.0, 0.0])
    for x in batches:
        with statistics_mode("collect", 1.0 / 3):
            layer(x, training=False)
    pooled = tf.concat(batches, axis=0)
    np.testing.assert_allclose(layer.moving_mean, tf.reduce_mean(pooled, axis=[0, 1, 2]), atol=1e-5)
    np.testing.assert_allclose(layer.moving_variance, tf.reduce_mean(tf.square(pooled), axis=[0, 1, 2]), atol=1e-5)


def _run(tmp_path, embedded_data, tiny_config, reward_bn, space="macro"):
    config = tiny_config(tmp_path / reward_bn, space)
    config = dataclasses.replace(config, search=SearchConfig(reward_bn=reward_bn, recalibrate_batches=2))
    return search_module.SearchRun(config, data=embedded_data)


def test_each_reward_mode_traces_once_and_recalibrate_restores_the_search_state(tmp_path, embedded_data,
                                                                                tiny_config):
    run = _run(tmp_path, embedded_data, tiny_config, "recalibrate")
    task = run.task
    task.begin_epoch(0)
    for _ in range(3):  # moving statistics that differ from their initial values
        task.train_step(run.sample_arc())
    weights = [v.numpy().copy() for v in task.model.weights]  # BN moving statistics included
    arcs = run.strategy.decisions.random_tokens(20, seed=3)
    scores = {mode: [task.score(arc, 1, mode=mode) for arc in arcs] for mode in ("moving", "batch", "recalibrate")}
    for arc in arcs[:3]:
        task.reward(arc)  # the run's mode: recalibrate
    for before, after in zip(weights, task.model.weights):
        np.testing.assert_array_equal(before, after.numpy())
    assert task._eval_fn.experimental_get_tracing_count() == 1
    assert task._batch_eval_fn.experimental_get_tracing_count() == 1
    assert task._recalibrator.num_traces == 1
    # The modes are different scores of the same weights.
    assert scores["batch"] != scores["moving"] and scores["recalibrate"] != scores["moving"]


def test_recalibrated_statistics_are_those_of_the_architecture(tmp_path, embedded_data, tiny_config):
    run = _run(tmp_path, embedded_data, tiny_config, "recalibrate")
    task = run.task
    arc = tf.constant(run.strategy.decisions.random_tokens(1, seed=5)[0])
    task.score(arc, 1)  # builds the recalibrator
    stem = task.model.stem_bn
    with task._recalibrator.recalibrated(arc):
        inside = stem.moving_mean.numpy().copy()
    images = tf.concat([images for images, _ in embedded_data.calibration_batches(2)], axis=0)
    expected = tf.reduce_mean(task.model.stem_conv(images), axis=[0, 1, 2])
    np.testing.assert_allclose(inside, expected, rtol=1e-4, atol=1e-5)
    assert not np.allclose(stem.moving_mean.numpy(), inside)  # restored after the block


def test_unsupported_reward_modes_are_config_errors(tmp_path, tiny_config):
    micro = tiny_config(tmp_path / "micro", "micro")
    with pytest.raises(ConfigError, match="child_reward_bn: the micro space supports batch"):
        get_space("micro").reward_bn(dataclasses.replace(micro.search, reward_bn="moving"))
    with pytest.raises(ConfigError, match="child_reward_bn"):
        SearchConfig(reward_bn="average").validate()
    assert get_space("macro").reward_bn(SearchConfig()) == get_space("macro").default_reward_bn
    assert get_space("rnn").reward_bn(SearchConfig()) == ""
