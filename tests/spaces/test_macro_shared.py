"""The shared-weight macro child: one trace for every architecture, search semantics, gradients."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas.spaces import macro
from enas.spaces.macro.shared import MacroSharedChild

SHAPE = (8, 8, 3)
# Every op once; skips chosen so that the stem, a reduced layer and a 0 bit all appear.
PINNED = macro.MacroArc.from_string("5 | 1 1 | 4 0 1 | 0 1 0 1 | 3 0 1 1 0 | 2 1 0 0 1 0")


def _config(**overrides):
    from enas.config import ChildConfig
    values = dict(num_layers=6, out_filters=4, num_branches=6, keep_prob=1.0)
    values.update(overrides)
    return ChildConfig(**values)


def _images(batch=4, seed=0):
    return np.random.RandomState(seed).normal(size=(batch,) + SHAPE).astype("float32")


def _tokens(arc):
    return tf.constant(arc.to_tokens(), tf.int32)


@pytest.fixture(name="shared")
def _shared():
    keras.utils.set_random_seed(1)
    return macro.build_shared_child(_config(), 10, SHAPE)


@pytest.fixture(name="traced", scope="module")
def _traced():
    """A shared child and its SGD train step traced with a fixed signature, as the trainer does."""
    keras.utils.set_random_seed(2)
    model = macro.build_shared_child(_config(), 10, SHAPE)
    optimizer = keras.optimizers.SGD(0.01)
    optimizer.build(model.trainable_variables)
    traces = []
    signature = [tf.TensorSpec([None, *SHAPE], tf.float32), tf.TensorSpec([None], tf.int32),
                 tf.TensorSpec([macro.num_tokens(6)], tf.int32)]

    @tf.function(input_signature=signature)
    def train_step(images, labels, arc):
        traces.append(1)  # Python runs only while tracing
        with tf.GradientTape() as tape:
            logits = model(images, arc, training=True)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss, grads

    return model, train_step, traces


LABELS = tf.constant([0, 1, 2, 3])


def test_one_trace_serves_twenty_architectures(traced):
    _, train_step, traces = traced
    rng = random.Random(0)
    for _ in range(20):
        loss, _ = train_step(_images(), LABELS, _tokens(macro.random_arc(6, 6, rng)))
        assert np.isfinite(float(loss))
    assert len(traces) == 1


def test_gradients_reach_only_the_chosen_ops(traced):
    model, train_step, traces = traced
    _, grads = train_step(_images(), LABELS, _tokens(PINNED))
    grads = dict(zip((id(v) for v in model.trainable_variables), grads))
    for layer, chosen in enumerate(PINNED.ops):
        for op in range(6):
            branch_grads = [grads[id(v)] for v in model.branch(layer, op).trainable_variables]
            total = sum(float(tf.reduce_sum(tf.abs(g))) for g in branch_grads if g is not None)
            if op == chosen:
                assert total > 0, (layer, op)
            else:
                assert total == 0, (layer, op)
    assert len(traces) == 1


@pytest.mark.parametrize("arc", [PINNED, macro.random_arc(6, 6, random.Random(3))], ids=["pinned", "random"])
def test_shared_equals_static_with_copied_weights(shared, arc):
    images = _images()
    # Move the BN moving statistics away from their initial values first.
    for seed in range(2):
        shared(_images(seed=seed + 1), _tokens(arc), training=True)
    static = macro.build_static_search_child(arc, _config(), 10, SHAPE)
    static.copy_weights_from(shared)
    for training in (False, True):
        np.testing.assert_allclose(shared(images, _tokens(arc), training=training),
                                   static(images, training=training), rtol=1e-5, atol=1e-6)


def test_the_sampled_op_is_the_one_that_runs(shared):
    images = _images()
    outputs = []
    for op in range(6):
        arc = macro.MacroArc((op,) + PINNED.ops[1:], PINNED.skips)
        outputs.append(shared(images, _tokens(arc), training=False).numpy())
        static = macro.build_static_search_child(arc, _config(), 10, SHAPE)
        static.copy_weights_from(shared)
        np.testing.assert_allclose(outputs[-1], static(images, training=False), rtol=1e-5, atol=1e-6)
    for i in range(6):
        for j in range(i):
            assert not np.allclose(outputs[i], outputs[j])


def test_only_the_chosen_ops_update_their_bn_statistics(shared):
    tf.function(lambda x, a: shared(x, a, training=True))(_images(), _tokens(PINNED))
    for layer, chosen in enumerate(PINNED.ops):
        for op in range(6):
            moved = float(np.abs(shared.branch(layer, op).input_bn.moving_mean.numpy()).sum()) > 0
            assert moved == (op == chosen), (layer, op)


def test_skip_bits_are_masks(shared):
    images = _images()
    reference = shared(images, _tokens(PINNED), training=False).numpy()
    for layer, bit in [(3, 1), (5, 2), (2, 0)]:  # flip stem, reduced layer 1 and stem again
        skips = [list(bits) for bits in PINNED.skips]
        skips[layer][bit] = 1 - skips[layer][bit]
        flipped = macro.MacroArc(PINNED.ops, tuple(tuple(b) for b in skips))
        changed = shared(images, _tokens(flipped), training=False).numpy()
        assert not np.allclose(changed, reference), (layer, bit)
        static = macro.build_static_search_child(flipped, _config(), 10, SHAPE)
        static.copy_weights_from(shared)  # static adds only the selected layers: 0 bits add nothing
        np.testing.assert_allclose(changed, static(images, training=False), rtol=1e-5, atol=1e-6)


def test_output_shape_and_config_round_trip(shared):
    images = _images()
    logits = shared(images, _tokens(PINNED), training=False)
    assert logits.shape == (4, 10)
    config = shared.get_config()
    assert config["num_layers"] == 6 and config["num_branches"] == 6 and config["out_filters"] == 4
    clone = MacroSharedChild.from_config(config)
    assert clone.count_params() == shared.count_params()
    clone.set_weights(shared.get_weights())
    np.testing.assert_allclose(clone(images, _tokens(PINNED), training=False), logits, rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(shared))
    assert isinstance(restored, MacroSharedChild) and restored.get_config() == config


def test_fewer_branches_build_fewer_ops():
    child = macro.build_shared_child(_config(num_branches=4), 10, SHAPE)
    assert len(child.branches) == 6 * 4
    assert {b.op_id for b in child.branches} == {0, 1, 2, 3}


def test_a_token_tensor_of_the_wrong_length_is_rejected(shared):
    with pytest.raises(ValueError, match="arc has 10 tokens; a 6-layer macro architecture has 21"):
        shared(_images(), tf.zeros([10], tf.int32), training=False)


# --- skip_mode="concat": each layer projects the concatenation of its inputs, as the final model ---

@pytest.fixture(name="concat", scope="module")
def _concat():
    keras.utils.set_random_seed(4)
    return macro.build_shared_child(_config(skip_mode="concat"), 10, SHAPE)


def test_concat_mode_adds_one_projection_per_layer(concat):
    plain = macro.build_shared_child(_config(), 10, SHAPE)
    # Layer i > 0 projects (i + 1) * C channels to C with a 1x1 conv without bias (C = 4).
    assert concat.count_params() - plain.count_params() == sum((i + 1) * 4 * 4 for i in range(1, 6))
    assert [c.name for c in concat.skip_convs] == [f"layer{i}_skip_conv" for i in range(1, 6)]
    assert concat.get_config()["skip_mode"] == "concat" and plain.get_config()["skip_mode"] == "sum"


@pytest.mark.parametrize("arc", [PINNED, macro.random_arc(6, 6, random.Random(5))], ids=["pinned", "random"])
def test_concat_mode_equals_its_static_twin(concat, arc):
    for seed in range(2):
        concat(_images(seed=seed + 1), _tokens(arc), training=True)
    static = macro.build_static_search_child(arc, _config(skip_mode="concat"), 10, SHAPE)
    static.copy_weights_from(concat)
    for training in (False, True):
        np.testing.assert_allclose(concat(_images(), _tokens(arc), training=training),
                                   static(_images(), training=training), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="skip_mode"):
        macro.build_static_search_child(arc, _config(), 10, SHAPE).copy_weights_from(concat)


def test_concat_mode_a_skip_bit_selects_its_block_of_the_projection(concat):
    """An unselected input's channels are zero: its rows of the projection kernel do not matter, and a
    selected input's do."""
    images, tokens = _images(), _tokens(PINNED)
    reference = concat(images, tokens, training=False).numpy()
    layer = 4  # PINNED layer 4: skips 0 1 1 0 -> entries 1 and 2 selected, 0 and 3 not
    kernel = concat.skip_convs[layer - 1].kernel
    saved = kernel.numpy()
    try:
        changed = saved.copy()
        changed[0, 0, 0:4, :] += 1.0      # entry 0 (unselected)
        changed[0, 0, 12:16, :] += 1.0    # entry 3 (unselected)
        kernel.assign(changed)
        np.testing.assert_allclose(concat(images, tokens, training=False), reference, rtol=1e-6)
        changed[0, 0, 4:8, :] += 1.0      # entry 1 (selected)
        kernel.assign(changed)
        assert not np.allclose(concat(images, tokens, training=False), reference)
    finally:
        kernel.assign(saved)


def test_concat_mode_traces_once_over_twenty_architectures(concat):
    traces = []

    @tf.function(input_signature=[tf.TensorSpec([None, *SHAPE], tf.float32),
                                  tf.TensorSpec([macro.num_tokens(6)], tf.int32)])
    def forward(images, arc):
        traces.append(1)
        return concat(images, arc, training=True)

    rng = random.Random(6)
    for _ in range(20):
        assert np.isfinite(forward(_images(), _tokens(macro.random_arc(6, 6, rng)))).all()
    assert len(traces) == 1


def test_skip_mode_is_checked():
    from enas.errors import ConfigError

    with pytest.raises(ConfigError, match="child_skip_mode"):
        _config(skip_mode="mean").validate()
    with pytest.raises(ConfigError, match="child_skip_mode"):
        _config(search_for="micro", skip_mode="concat").validate()
    with pytest.raises(ConfigError, match="child_skip_mode"):
        MacroSharedChild(2, 4, 6, 10, SHAPE, skip_mode="mean")
