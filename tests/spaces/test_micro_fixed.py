"""Tests of the fixed (final) micro child: exact size, drop-path schedule, aux head, saving."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from enas import spaces
from enas.spaces import micro
from enas.spaces.micro.cell_ops import DropPath
from enas.spaces.micro.arc import MicroArc
from enas.config import ChildConfig
from enas.errors import ArchitectureError

# normal: node 2 = sep3(node 0) + identity(node 1); node 3 = avg(node 2) + sep5(node 0) -> output node 3.
# reduction: node 2 = max(node 1) + sep3(node 1); node 3 = identity(node 1) + sep5(node 2)
#   -> output concat(FR(node 0), node 3); identity at stride 2 is a factorized reduction.
PINNED = MicroArc.from_string("0 0 1 4 2 2 0 1  1 3 1 0 1 4 2 1")
CONFIG = ChildConfig(search_for="micro", num_layers=3, num_cells=2, out_filters=4, num_branches=5, keep_prob=0.8,
                     drop_path_keep_prob=0.6, use_aux_heads=True)
SHAPE = (16, 16, 3)


def _bn(channels):  # gamma, beta, moving mean, moving variance
    return 4 * channels


def _relu_conv_bn(channels_in, channels_out):
    return channels_in * channels_out + _bn(channels_out)


def _factorized_reduction(channels_in, channels_out):
    return channels_in * (channels_out // 2) + channels_in * (channels_out - channels_out // 2) + _bn(channels_out)


def _sep_conv(size, channels):  # 2 x (depthwise + pointwise + BN)
    return 2 * (size * size * channels + channels * channels + _bn(channels))


def _normal_cell(filters):  # layer_base + node 2 (sep3, identity) + node 3 (avg, sep5)
    return _relu_conv_bn(filters, filters) + _sep_conv(3, filters) + _sep_conv(5, filters)


def _reduction_cell(filters):  # layer_base + max, sep3, identity/2 = FR, sep5, FR of loose end node 0
    return (_relu_conv_bn(filters, filters) + _sep_conv(3, filters) + _factorized_reduction(filters, filters)
            + _sep_conv(5, filters) + _factorized_reduction(filters, filters))


def expected_parameter_count():
    """count_params() of PINNED at CONFIG on 16x16x3, from the architecture's formulas."""
    c = CONFIG.out_filters
    stem = 3 * 3 * 3 * (3 * c) + _bn(3 * c)
    # L = 3: cells N R N R N (reductions at 1 and 3); a normal cell outputs C, a reduction cell 2C.
    cell0 = _relu_conv_bn(3 * c, c) * 2 + _normal_cell(c)                                  # [stem, stem]
    cell1 = _relu_conv_bn(3 * c, 2 * c) + _relu_conv_bn(c, 2 * c) + _reduction_cell(2 * c)   # [stem, cell0]
    cell2 = _factorized_reduction(c, 2 * c) + _relu_conv_bn(4 * c, 2 * c) + _normal_cell(2 * c)  # [cell0, cell1]
    cell3 = _relu_conv_bn(2 * c, 4 * c) + _reduction_cell(4 * c)                            # [cell1 (4C), cell2]
    cell4 = _factorized_reduction(2 * c, 4 * c) + _relu_conv_bn(8 * c, 4 * c) + _normal_cell(4 * c)
    # Aux head on cell 4's 4x4 output: pool -> 1x1, 1x1 conv 128 + BN, 1x1 conv 768 + BN, dense.
    aux = 4 * c * 128 + _bn(128) + 128 * 768 + _bn(768) + 768 * 10
    head = 4 * c * 10
    drop_path_progress = 1
    return stem + cell0 + cell1 + cell2 + cell3 + cell4 + aux + head + drop_path_progress


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    return micro.build_fixed_child(PINNED, CONFIG, 10, SHAPE)


def test_exact_parameter_count(model):
    assert model.count_params() == expected_parameter_count()


def test_outputs_logits_and_aux_logits(model):
    logits, aux_logits = model(np.zeros((2,) + SHAPE, "float32"), training=True)
    assert logits.shape == (2, 10) and aux_logits.shape == (2, 10)
    assert model.get_layer("aux_head_relu").input.shape[1:] == (4, 4, 16)
    plain = micro.build_fixed_child(PINNED, ChildConfig(**{**CONFIG.__dict__, "use_aux_heads": False}), 10, SHAPE)
    assert plain(np.zeros((2,) + SHAPE, "float32")).shape == (2, 10)


def test_drop_path_follows_the_schedule():
    layer = DropPath(keep_prob=0.6, num_cells=5, seed=0)
    ones = np.ones((20000, 1, 1, 2), "float32")
    # cell 2 of 5: keep_layer = 1 - 3/5 * 0.4 = 0.76; at progress 0.5, keep = 1 - 0.5 * 0.24 = 0.88.
    layer.set_progress(0.5)
    assert float(layer.keep_probability(2)) == pytest.approx(0.88)
    out = layer(ones, cell_index=2, training=True).numpy()
    kept = out[:, 0, 0, 0] != 0
    assert kept.mean() == pytest.approx(0.88, abs=0.01)
    np.testing.assert_allclose(out[kept], 1 / 0.88, rtol=1e-5)
    assert (out[:, 0, 0, 0] == out[:, 0, 0, 1]).all()  # a whole sample is dropped, not single values
    layer.set_progress(3.0)  # past the end: the layer's final keep probability
    assert float(layer.keep_probability(2)) == pytest.approx(0.76)
    assert float(layer.keep_probability(4)) == pytest.approx(0.6)
    layer.set_progress(0.0)
    np.testing.assert_array_equal(layer(ones, cell_index=4, training=True).numpy(), ones)
    layer.set_progress(1.0)
    np.testing.assert_array_equal(layer(ones, cell_index=4, training=False).numpy(), ones)


def test_training_progress_reaches_the_drop_path_layer(model):
    spaces.set_training_progress(model, 0.25)
    assert float(model.get_layer("drop_path").progress.numpy()) == pytest.approx(0.25)

    @tf.function
    def keep():
        return model.get_layer("drop_path").keep_probability(4)

    assert float(keep()) == pytest.approx(1 - 0.25 * 0.4)
    spaces.set_training_progress(model, 1.0)
    assert float(keep()) == pytest.approx(0.6)  # the compiled function reads the variable, no retrace


def test_aux_head_weights_are_trained():
    keras.utils.set_random_seed(1)
    model = micro.build_fixed_child(PINNED, CONFIG, 10, SHAPE)
    aux_weights = [w for w in model.trainable_weights if w.path.startswith("aux_head")]
    assert aux_weights
    before = [w.numpy().copy() for w in aux_weights]
    optimizer = keras.optimizers.SGD(0.05, momentum=0.9, nesterov=True)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    rng = np.random.default_rng(0)
    images = rng.standard_normal((8,) + SHAPE).astype("float32")
    labels = rng.integers(0, 10, 8)
    for step in range(3):
        spaces.set_training_progress(model, (step + 1) / 3)
        with tf.GradientTape() as tape:
            logits, aux_logits = model(images, training=True)
            loss = loss_fn(labels, logits) + 0.4 * loss_fn(labels, aux_logits)
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_weights), model.trainable_weights))
    assert all(np.abs(w.numpy() - b).max() > 0 for w, b in zip(aux_weights, before))


def test_keras_file_round_trip(model, tmp_path):
    path = str(tmp_path / "micro_fixed.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    images = np.random.default_rng(2).standard_normal((3,) + SHAPE).astype("float32")
    for expected, actual in zip(model(images, training=False), loaded(images, training=False)):
        np.testing.assert_array_equal(np.asarray(expected), np.asarray(actual))
    assert loaded.count_params() == model.count_params()


def test_rejects_an_architecture_of_another_size():
    with pytest.raises(ArchitectureError, match="--child_num_cells is 3"):
        micro.build_fixed_child(PINNED, ChildConfig(**{**CONFIG.__dict__, "num_cells": 3}), 10, SHAPE)
