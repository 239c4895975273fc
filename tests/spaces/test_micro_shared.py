"""Tests of the micro shared-weight child: one trace for every architecture, search semantics."""

import dataclasses
import numpy as np
import pytest
import tensorflow as tf
import keras

from enas.spaces import micro
from enas.spaces.micro.cell_ops import loose_end_mask
from enas.spaces.micro.arc import MicroArc
from enas.spaces.micro.shared import SharedMicroChild, StaticSearchChild
from enas.config import ChildConfig
from enas.errors import ConfigError


# N R N R N: both reduction-cell input paths and both calibration kinds occur.
CONFIG = ChildConfig(search_for="micro", num_layers=3, num_cells=3, out_filters=4, num_branches=5, keep_prob=1.0)
SHAPE = (8, 8, 3)
PINNED = MicroArc.from_string("0 0 1 4  2 2 0 1  1 3 3 0   1 1 0 3  2 4 1 2  3 0 0 0")


def _images(batch=4, seed=0):
    return np.random.default_rng(seed).standard_normal((batch,) + SHAPE).astype("float32")


def _pair(arc=PINNED, config=CONFIG):
    keras.utils.set_random_seed(1)
    shared = micro.build_shared_child(config, 10, SHAPE)
    static = micro.build_static_search_child(arc, config, 10, SHAPE)
    static.set_weights(shared.get_weights())
    return shared, static


def test_one_trace_serves_twenty_architectures():
    config = ChildConfig(search_for="micro", num_layers=1, num_cells=3, out_filters=4, num_branches=5,
                         keep_prob=0.9)
    keras.utils.set_random_seed(0)
    model = micro.build_shared_child(config, 10, SHAPE)
    traces = []

    @tf.function(input_signature=[tf.TensorSpec((4,) + SHAPE, tf.float32), tf.TensorSpec((24,), tf.int32)])
    def forward(images, arc):
        traces.append(1)
        return model(images, arc, training=True)

    rng = np.random.default_rng(0)
    images = tf.constant(_images())
    outputs = []
    for _ in range(20):
        logits = forward(images, tf.constant(micro.random_arc(3, rng=rng).to_tokens(), tf.int32)).numpy()
        assert logits.shape == (4, 10) and np.isfinite(logits).all()
        outputs.append(logits)
    assert len(traces) == 1
    assert len({o.tobytes() for o in outputs}) == 20


def test_shared_child_equals_static_child_with_copied_weights():
    shared, static = _pair()
    assert [w.shape for w in shared.weights] == [w.shape for w in static.weights]
    images = _images()
    expected = static(images, training=True).numpy()
    tokens = tf.constant(PINNED.to_tokens(), tf.int32)
    np.testing.assert_allclose(shared(images, tokens, training=True).numpy(), expected, rtol=1e-5, atol=1e-5)
    compiled = tf.function(lambda x, a: shared(x, a, training=True))
    np.testing.assert_allclose(compiled(images, tokens).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_batch_norm_uses_batch_statistics_even_when_not_training():
    shared, _ = _pair()
    images, tokens = _images(), tf.constant(PINNED.to_tokens(), tf.int32)
    np.testing.assert_allclose(shared(images, tokens, training=False).numpy(),
                               shared(images, tokens, training=True).numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("position, value", [
    (1, 1),    # normal cell, node 2, op1: sep-conv 3x3 -> 5x5
    (5, 3),    # normal cell, node 3, op1: avg-pool -> max-pool
    (4, 0),    # normal cell, node 3, index1: node 2 -> node 0
    (18, 0),   # reduction cell, node 3, index2: node 1 -> node 0
    (22, 1),   # reduction cell, node 4, index2: node 0 -> node 1
])
def test_changing_one_token_changes_the_output(position, value):
    shared, _ = _pair()
    images = _images()
    tokens = PINNED.to_tokens()
    changed = list(tokens)
    changed[position] = value
    MicroArc.from_tokens(changed)  # still valid
    before = shared(images, tf.constant(tokens, tf.int32), training=True).numpy()
    after = shared(images, tf.constant(changed, tf.int32), training=True).numpy()
    assert np.abs(before - after).max() > 1e-4


def test_loose_end_mask_by_hand():
    # normal: node 2 reads 0, 1; node 3 reads 2, 0; node 4 reads 1, 3 -> only node 4 is a loose end.
    normal = tf.constant(PINNED.to_tokens()[:12], tf.int32)
    np.testing.assert_array_equal(loose_end_mask(normal, 5).numpy(), [0, 0, 0, 0, 1])
    # reduction: node 2 reads 1, 0; node 3 reads 2, 1; node 4 reads 3, 0 -> node 4 only.
    reduction = tf.constant(PINNED.to_tokens()[12:], tf.int32)
    np.testing.assert_array_equal(loose_end_mask(reduction, 5).numpy(), [0, 0, 0, 0, 1])
    cell = tf.constant([1, 0, 1, 4, 1, 2, 2, 3, 3, 0, 1, 1], tf.int32)  # 0 and 4 unused
    np.testing.assert_array_equal(loose_end_mask(cell, 5).numpy(), [1, 0, 0, 0, 1])
    assert MicroArc.from_tokens([1, 0, 1, 4, 1, 2, 2, 3, 3, 0, 1, 1] * 2).loose_ends("normal") == [0, 4]


def test_unchosen_weights_get_zero_gradients_in_a_compiled_step():
    config = ChildConfig(search_for="micro", num_layers=1, num_cells=2, out_filters=4, num_branches=5)
    arc = MicroArc.from_string("0 0 1 4 2 2 0 1  1 3 1 0 1 4 2 1")
    keras.utils.set_random_seed(0)
    shared = micro.build_shared_child(config, 10, SHAPE)
    variables = shared.trainable_variables

    @tf.function
    def gradients(images, tokens):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(shared(images, tokens, training=True) ** 2)
        return tape.gradient(loss, variables)

    grads = gradients(tf.constant(_images()), tf.constant(arc.to_tokens(), tf.int32))
    assert all(g is not None for g in grads)
    by_path = {v.path: tf.convert_to_tensor(g).numpy() for v, g in zip(variables, grads)}
    # Cell 2 (normal; L=1 gives R R N), node 2, slot x: sep-conv 3x3 of node 0, so only row 0 of its
    # bank (one row per input node) gets a gradient; slot y is an identity and gets none.
    x_bank = by_path["micro_shared_child/cell2/node2_x/sep_conv_bank"]
    assert np.abs(x_bank[0]).sum() > 0 and np.abs(x_bank[1]).sum() == 0
    assert np.abs(by_path["micro_shared_child/cell2/node2_y/sep_conv_bank"]).sum() == 0


def test_get_config_round_trip():
    shared, static = _pair()
    for model in (shared, static):
        clone = type(model).from_config(model.get_config())
        clone.build((None,) + SHAPE)
        assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]
        assert clone.count_params() == model.count_params()
    assert isinstance(static, StaticSearchChild) and isinstance(shared, SharedMicroChild)
    assert static.get_config()["arc_tokens"] == PINNED.to_tokens()


def test_rejects_too_many_branches():
    with pytest.raises(ConfigError, match="--child_num_branches"):
        micro.build_shared_child(ChildConfig(search_for="micro", num_layers=1, num_cells=2, num_branches=6), 10, SHAPE)


# --- issue 11: the auxiliary head in search, and dropout in the reward pass ----------------------
def test_aux_head_in_search_returns_aux_logits_only_in_training():
    config = ChildConfig(**{**CONFIG.__dict__, "use_aux_heads": True, "keep_prob": 0.5})
    keras.utils.set_random_seed(2)
    model = micro.build_shared_child(config, 10, SHAPE)
    arc = np.asarray(PINNED.to_tokens(), np.int32)
    images = _images()
    with tf.GradientTape() as tape:
        logits, aux_logits = model(images, arc, training=True)
        loss = tf.reduce_sum(aux_logits ** 2)
    assert logits.shape == (4, 10) and aux_logits.shape == (4, 10)
    aux_weights = [w for w in model.trainable_weights if "aux_head" in w.path]
    grads = tape.gradient(loss, aux_weights)
    assert aux_weights and all(g is not None and float(tf.reduce_max(tf.abs(g))) > 0 for g in grads)
    inference = model(images, arc, training=False)  # plain logits, as evaluation and rewards expect
    assert not isinstance(inference, (tuple, list)) and inference.shape == (4, 10)
    plain = micro.build_shared_child(CONFIG, 10, SHAPE)
    assert model.count_params() > plain.count_params()


def test_aux_head_at_the_official_search_configuration():
    # L=6, C=20 on 32x32 images: the head reads the 8x8x80 output of cell 6.
    config = ChildConfig(search_for="micro", num_layers=6, num_cells=5, out_filters=20, num_branches=5,
                         use_aux_heads=True)
    model = micro.build_shared_child(config, 10, (32, 32, 3))
    assert model.aux_cell == 6 and model.aux_head.spatial == 8 and model.aux_head.map_size == 2
    aux = sum(int(np.prod(w.shape)) for w in model.aux_head.trainable_weights)
    assert aux == 80 * 128 + 2 * 128 + 2 * 2 * 128 * 768 + 2 * 768 + 768 * 10
    assert model.aux_head.conv.padding == "same"


def test_reward_dropout_keeps_dropout_on_and_batch_norm_unchanged():
    config = ChildConfig(**{**CONFIG.__dict__, "keep_prob": 0.5, "reward_dropout": True})
    keras.utils.set_random_seed(3)
    model = micro.build_shared_child(config, 10, SHAPE)
    assert model.reward_dropout
    arc, images = np.asarray(PINNED.to_tokens(), np.int32), _images()
    evaluation = np.asarray(model(images, arc, training=False))
    np.testing.assert_allclose(model(images, arc, training=False, dropout=False), evaluation, rtol=1e-6)
    first = np.asarray(model(images, arc, training=False, dropout=True))
    second = np.asarray(model(images, arc, training=False, dropout=True))
    assert np.abs(first - evaluation).max() > 1e-4 and np.abs(first - second).max() > 1e-4
    # Only the head's dropout differs: with keep_prob 1 the reward call is the evaluation call.
    model.dropout.rate = 0.0
    np.testing.assert_allclose(model(images, arc, training=False, dropout=True), evaluation, rtol=1e-5)
    off = micro.build_shared_child(ChildConfig(**{**config.__dict__, "reward_dropout": False}), 10, SHAPE)
    assert not off.reward_dropout


def _step_graph_and_gradients(config, arcs, batch=4):
    """Trace one loss-and-gradient step of a fresh shared child (seed 0), run it on ``arcs``."""
    keras.utils.set_random_seed(0)
    model = micro.build_shared_child(config, 10, SHAPE)
    variables, traces = model.trainable_variables, []

    @tf.function(input_signature=[tf.TensorSpec((batch,) + SHAPE, tf.float32),
                                  tf.TensorSpec((len(arcs[0].to_tokens()),), tf.int32)])
    def step(images, tokens):
        traces.append(1)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(images, tokens, training=True) ** 2)
        return loss, tape.gradient(loss, variables)

    images = tf.constant(_images(batch))
    results = [step(images, tf.constant(arc.to_tokens(), tf.int32)) for arc in arcs]
    graph = step.get_concrete_function().graph
    return results, graph, len(traces)


def _copied_switches(graph):
    """The switches traced into ``graph`` itself."""
    return [op for op in graph.get_operations() if op.type in ("Case", "StatelessCase")]


COMPILED = ChildConfig(**{**CONFIG.__dict__, "compiled_switches": True})


def test_compiled_switches_are_functions_traced_once_per_shape_and_called_not_copied():
    from enas.spaces.micro import cell_ops

    rng = np.random.default_rng(3)
    arcs = [micro.random_arc(3, rng=rng) for _ in range(20)]
    for cache in (cell_ops._slot_switch, cell_ops._pair_switch, cell_ops._loose_end_switch):
        cache.cache_clear()
    _, graph, traces = _step_graph_and_gradients(COMPILED, arcs[:2])
    # N R N R N: C = 4, 8, 16 at 8x8, 4x4, 2x2. One op-switch function per C, traced once; one input
    # switch per node count (2, 3, 4 readable nodes), traced once per stage (its inputs' shapes).

    def slot_traces():
        return {c: cell_ops._slot_switch(c, 5, False).experimental_get_tracing_count() for c in (4, 8, 16)}

    def pair_traces():
        return {n: cell_ops._pair_switch(n).experimental_get_tracing_count() for n in (2, 3, 4)}

    assert slot_traces() == {4: 1, 8: 1, 16: 1} and pair_traces() == {2: 3, 3: 3, 4: 3}
    # 5 cells x 3 nodes x 2 slots call the op switch, 5 x 3 the input switch and 5 x 5 the loose-end
    # switch (one per node); none is copied.
    calls = [op for op in graph.get_operations() if op.type in ("StatefulPartitionedCall", "PartitionedCall")]
    assert len(calls) >= 5 * 3 * 3 + 5 * 5 and not _copied_switches(graph)
    assert cell_ops._loose_end_switch().experimental_get_tracing_count() == 3  # one per stage (shapes)
    # Twenty architectures through a new step and child: nothing traces again.
    _, _, traces_again = _step_graph_and_gradients(COMPILED, arcs)
    assert traces == traces_again == 1
    assert slot_traces() == {4: 1, 8: 1, 16: 1} and pair_traces() == {2: 3, 3: 3, 4: 3}
    assert cell_ops._loose_end_switch().experimental_get_tracing_count() == 3


def test_compiled_switches_compute_what_the_copied_ones_compute():
    rng = np.random.default_rng(4)
    arcs = [PINNED] + [micro.random_arc(3, rng=rng) for _ in range(2)]
    copied, graph, _ = _step_graph_and_gradients(CONFIG, arcs)
    assert _copied_switches(graph)
    compiled, graph, _ = _step_graph_and_gradients(COMPILED, arcs)
    assert not _copied_switches(graph)
    for (loss_a, grads_a), (loss_b, grads_b) in zip(copied, compiled):
        assert float(loss_b) == pytest.approx(float(loss_a), rel=1e-6)
        for a, b in zip(grads_a, grads_b):
            a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
            np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-6 * max(1.0, np.abs(a).max()))


def _forward_switch_outputs(graph):
    """Outputs of each switch of the child's forward pass (a Case op, or a call of a compiled switch
    function; not the gradient's ops, nor the recomputed copies the gradient makes outside the child's
    name scope): the result plus what the gradient keeps."""
    ops_ = [op for op in graph.get_operations() if op.name.startswith("micro_shared_child")]
    cases = [op for op in ops_ if op.type in ("Case", "StatelessCase")]
    calls = [op for op in ops_ if op.type in ("StatefulPartitionedCall", "PartitionedCall")]
    return sorted(len(op.outputs) for op in cases + calls)


@pytest.mark.parametrize("base", [pytest.param(CONFIG, id="copied", marks=pytest.mark.slow),  # about a minute
                                  pytest.param(COMPILED, id="compiled")])
def test_recompute_computes_the_same_and_keeps_only_the_ops_inputs(base):
    # (Copied switches: the layers support it, but TensorFlow's graph optimiser merges the recomputation
    # back into the forward pass, so the config refuses it; the traced graph is still checked here.)
    rng = np.random.default_rng(5)
    arcs = [PINNED] + [micro.random_arc(3, rng=rng) for _ in range(2)]
    kept, kept_graph, _ = _step_graph_and_gradients(base, arcs)
    recomputed, graph, traces = _step_graph_and_gradients(dataclasses.replace(base, recompute=True), arcs)
    assert traces == 1
    for (loss_a, grads_a), (loss_b, grads_b) in zip(kept, recomputed):
        assert float(loss_b) == float(loss_a)  # the forward pass is the same computation
        for a, b in zip(grads_a, grads_b):
            a, b = tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy()
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-7 * max(1.0, np.abs(a).max()))
    # What the forward pass hands the backward pass: without recomputation the op switches' activations
    # (many outputs per switch), with it nothing beyond their inputs.
    assert max(_forward_switch_outputs(kept_graph)) > max(_forward_switch_outputs(graph))
    assert sum(_forward_switch_outputs(kept_graph)) > sum(_forward_switch_outputs(graph)) + 5 * 3 * 2 * 5


def test_recompute_is_refused_outside_the_micro_space_and_without_compiled_switches():
    with pytest.raises(ConfigError, match="child_recompute.*micro"):
        ChildConfig(search_for="macro", recompute=True, compiled_switches=True).validate()
    with pytest.raises(ConfigError, match="child_recompute.*--child_compiled_switches"):
        ChildConfig(search_for="micro", recompute=True).validate()
    ChildConfig(search_for="micro", recompute=True, compiled_switches=True).validate()
