"""The fixed (final) macro child: shape, exact parameter count, saving, description."""

import keras
import numpy as np
import pytest

from enas.spaces import macro
from enas.spaces.macro.fixed import multiply_adds
from enas.config import ChildConfig

SHAPE = (8, 8, 3)
# L=4: pool layers 0 and 1, so widths 4 (layer 0), 8 (layer 1), 16 (layers 2, 3).
# layer 0 sep 3x3; layer 1 max pool + skip stem; layer 2 conv 5x5 + skip out_0; layer 3 sep 5x5 + skip stem.
PINNED = macro.MacroArc.from_string("1 | 5 1 | 2 0 1 | 3 1 0 0")
CONFIG = ChildConfig(num_layers=4, out_filters=4, num_branches=6, keep_prob=0.8)


def conv(k, c_in, c_out):
    return k * k * c_in * c_out


def sep(k, c_in, c_out):
    return k * k * c_in + c_in * c_out


BN_WEIGHTS = 4  # gamma, beta, moving mean, moving variance (2 of them trainable)


def bn(c):
    return BN_WEIGHTS * c


def reduction(c_in, c_out):
    return conv(1, c_in, c_out // 2) + conv(1, c_in, c_out - c_out // 2) + bn(c_out)


def expected_params():
    stem = conv(3, 3, 4) + bn(4)
    layer0 = conv(1, 4, 4) + bn(4) + sep(3, 4, 4) + bn(4)
    reduce0 = 2 * reduction(4, 8)  # stem (read by layers 1, 3) and out_0 (read by layer 1, 2)
    layer1 = conv(1, 8, 8) + bn(8) + conv(1, 2 * 8, 8) + bn(8)  # pool op; skip concat [stem, op]
    reduce1 = 3 * reduction(8, 16)  # stem (layer 3), out_0 (layer 2), out_1 (layer 2's input)
    layer2 = conv(1, 16, 16) + bn(16) + conv(5, 16, 16) + bn(16) + conv(1, 2 * 16, 16) + bn(16)
    layer3 = conv(1, 16, 16) + bn(16) + sep(5, 16, 16) + bn(16) + conv(1, 2 * 16, 16) + bn(16)
    head = 16 * 10
    return stem + layer0 + reduce0 + layer1 + reduce1 + layer2 + layer3 + head


@pytest.fixture(name="model", scope="module")
def _model():
    keras.utils.set_random_seed(0)
    return macro.build_fixed_child(PINNED, CONFIG, 10, SHAPE)


def test_output_shape_and_exact_parameter_count(model):
    images = np.random.RandomState(0).normal(size=(2,) + SHAPE).astype("float32")
    assert model(images, training=False).shape == (2, 10)
    assert expected_params() == 10320
    assert model.count_params() == expected_params()


def test_separable_and_pool_ops_are_real(model):
    names = {layer.name: layer for layer in model.layers}
    assert isinstance(names["layer0_sep_conv_3x3_sep_conv"], keras.layers.SeparableConv2D)
    assert isinstance(names["layer1_max_pool_3x3_max_pool"], keras.layers.MaxPooling2D)
    assert names["layer3_sep_conv_5x5_sep_conv"].depthwise_kernel.shape == (5, 5, 16, 1)
    assert names["classifier"].use_bias is False
    assert names["dropout"].rate == pytest.approx(0.2)


def test_save_and_load_give_identical_predictions(model, tmp_path):
    images = np.random.RandomState(1).normal(size=(3,) + SHAPE).astype("float32")
    path = tmp_path / "child.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(restored.predict(images, verbose=0), model.predict(images, verbose=0))


def test_every_op_builds_and_unused_reductions_are_left_out():
    arc = macro.MacroArc.from_string("4 | 0 0 | 1 0 0 | 2 0 0 0 | 3 0 0 0 0 | 5 0 0 0 0 0")
    child = macro.build_fixed_child(arc, ChildConfig(num_layers=6, out_filters=4, num_branches=6), 10, SHAPE)
    # No skips: only the newest layer is reduced at each pool layer (1 and 3).
    assert sorted(layer.name for layer in child.layers if layer.name.startswith("reduce")) == ["reduce1_2", "reduce3_4"]
    assert child(np.zeros((1,) + SHAPE, "float32")).shape == (1, 10)


def test_multiply_adds_by_hand():
    child = macro.build_fixed_child(macro.MacroArc((0,), ((),)), ChildConfig(num_layers=1, out_filters=4),
                                    10, SHAPE)
    pixels = 8 * 8
    assert multiply_adds(child) == pixels * (conv(3, 3, 4) + conv(1, 4, 4) + conv(3, 4, 4)) + 4 * 10


def test_describe_reports_ops_shapes_and_parameters(monkeypatch):
    text = macro.describe(PINNED, CONFIG, 10, SHAPE)
    monkeypatch.setitem(globals(), "BN_WEIGHTS", 2)  # describe counts trainable weights only
    assert f"trainable parameters: {expected_params():,}" in text
    assert "variant: real separable convolutions" in text
    assert "multiply-adds per image:" in text
    for line in ("layer  0: sep_conv_3x3  -> (8, 8, 4)", "layer  1: max_pool_3x3  -> (4, 4, 8)  skips: stem",
                 "layer  2: conv_5x5      -> (2, 2, 16)  skips: layer 0",
                 "layer  3: sep_conv_5x5  -> (2, 2, 16)  skips: stem"):
        assert line in text
    assert len(text.splitlines()) == 6 + 4 + 1
