"""Tests of the rnn space: architecture values, shared and fixed recurrent children, registration."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas.spaces import rnn
from enas.spaces.rnn.arc import RnnArc
from enas.spaces.rnn.fixed import RnnFixedChild
from enas.spaces.rnn.shared import RnnSharedChild
from enas.config import ChildConfig
from enas.errors import ArchitectureError
from enas.spaces import get_space

README_ARC = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"  # enas_lm README, 8 nodes
VOCAB, HIDDEN = 20, 8


def _child_config(num_layers=8, **overrides):
    values = dict(search_for="rnn", num_layers=num_layers, num_branches=4, hidden_size=HIDDEN)
    values.update(overrides)
    return ChildConfig(**values)


def _copy_shared_to_fixed(shared, fixed, arc):
    fixed.embedding.assign(shared.embedding.numpy())
    fixed.w_prev.assign(shared.w_prev.numpy())
    bank = shared.node_bank.numpy()
    for index, (kernel, prev, func) in enumerate(zip(fixed.node_kernels, arc.prevs, arc.funcs)):
        kernel.assign(bank[shared.bank_row(index + 1, func, prev)])


def _numpy_reference(arc, embedding, w_prev, kernels, tokens, state):
    """The cell written out in NumPy: node 0 tanh highway, node j highway on node prev_j, mean."""
    sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))  # noqa: E731
    activations = (np.tanh, lambda v: np.maximum(v, 0.0), sigmoid, lambda v: v)
    hidden = embedding.shape[1]
    h, outputs = state.astype(np.float64), []
    for t in range(tokens.shape[1]):
        x = embedding[tokens[:, t]]
        cg = np.concatenate([x, h], axis=1) @ w_prev
        states = [h + sigmoid(cg[:, hidden:]) * (np.tanh(cg[:, :hidden]) - h)]
        for prev, func, kernel in zip(arc.prevs, arc.funcs, kernels):
            s_prev = states[prev]
            cg = s_prev @ kernel
            states.append(s_prev + sigmoid(cg[:, hidden:]) * (activations[func](cg[:, :hidden]) - s_prev))
        h = np.mean(states[1:], axis=0)
        outputs.append(h)
    hiddens = np.stack(outputs, axis=1)
    return hiddens @ embedding.T, h


@pytest.fixture(scope="module")
def shared_model():
    keras.utils.set_random_seed(1)
    model = rnn.build_shared_child(_child_config(), VOCAB)
    # Larger weights than the default init make every node matter in the comparisons below.
    rng = np.random.default_rng(0)
    for variable in model.trainable_variables:
        variable.assign(rng.uniform(-0.5, 0.5, variable.shape).astype(np.float32))
    return model


@pytest.fixture(scope="module")
def tokens():
    return np.random.default_rng(2).integers(0, VOCAB, (3, 6)).astype(np.int32)


# --- architecture values ----------------------------------------------------------------------
def test_readme_arc_loads_with_8_nodes():
    arc = RnnArc.from_string(README_ARC)
    assert arc.num_nodes == 8
    assert arc.prevs == (0, 1, 2, 2, 4, 5, 3, 6)
    assert arc.func_names[:3] == ("sigmoid", "tanh", "relu")
    assert arc.to_string() == README_ARC
    rnn.check_arc(arc, _child_config())


@pytest.mark.parametrize("seed", range(5))
def test_random_arcs_round_trip(seed):
    arc = rnn.random_arc(1 + seed * 3, rng=np.random.default_rng(seed))
    assert RnnArc.from_tokens(arc.to_tokens()) == arc
    assert RnnArc.from_string(arc.to_string()) == arc
    assert RnnArc.from_json(arc.to_json()) == arc
    assert json.loads(arc.to_json())["space"] == "rnn"
    assert RnnArc.from_tokens(np.asarray(arc.to_tokens(), np.int32)) == arc


@pytest.mark.parametrize("text, message", [
    ("0 2 1", r"2 tokens \(prev, func\) per node; got 3"),
    ("", "got 0"),
    ("0 2 1 x", r"token 3 \(node 2 func\) is 'x'; expected an integer"),
    ("0 0 0 0 0 0 5 0", r"node 4 prev \(token 6\) is 5; expected 0\.\.3"),
    ("1 0", r"node 1 prev \(token 0\) is 1; expected 0\.\.0"),
    ("0 0 1 4", r"node 2 func \(token 3\) is 4; expected 0\.\.3 \(tanh, relu, sigmoid, identity\)"),
    ("0 -1", r"node 1 func \(token 1\) is -1"),
])
def test_bad_arc_strings_name_the_position(text, message):
    with pytest.raises(ArchitectureError, match=message):
        RnnArc.from_string(text)


def test_bad_tokens_and_json():
    with pytest.raises(ArchitectureError, match=r"token 1 \(node 1 func\) is 1\.5"):
        RnnArc.from_tokens([0, 1.5])
    with pytest.raises(ArchitectureError, match="not 'rnn'"):
        RnnArc.from_json('{"space": "macro", "prevs": [0], "funcs": [0]}')
    with pytest.raises(ArchitectureError, match="not an rnn architecture JSON"):
        RnnArc.from_json("[1, 2]")


def test_check_arc_against_the_config():
    arc = RnnArc.from_string(README_ARC)
    with pytest.raises(ArchitectureError, match="8 nodes but --child_num_layers=9"):
        rnn.check_arc(arc, _child_config(num_layers=9))
    with pytest.raises(ArchitectureError,
                       match=r"node 1 func \(token 1\) is 2 \(sigmoid\).*child_num_branches=2"):
        rnn.check_arc(arc, _child_config(num_branches=2))
    with pytest.raises(ArchitectureError, match="child_num_branches=5"):
        rnn.check_arc(arc, _child_config(num_branches=5))


# --- the models ---------------------------------------------------------------------------------
def test_shapes_and_pinned_parameter_counts(shared_model, tokens):
    arc = RnnArc.from_string(README_ARC)
    logits, state = shared_model(tokens, np.asarray(arc.to_tokens(), np.int32), None)
    assert tuple(logits.shape) == (3, 6, VOCAB) and tuple(state.shape) == (3, HIDDEN)
    # V*H + (2H)^2 + F*(1+2+...+N)*H*2H = 160 + 256 + 4*36*128: one matrix per (node, func, prev)
    assert shared_model.count_params() == 18848
    fixed = rnn.build_fixed_child(arc, _child_config(), VOCAB)
    assert fixed.count_params() == 1440 == rnn.num_fixed_params(8, HIDDEN, VOCAB)  # 160 + 256 + 8*128


@pytest.mark.parametrize("text", [README_ARC, "0 3 0 1 1 3 0 0 3 2 2 1 6 1 0 3"])
def test_shared_equals_fixed_and_numpy_reference(shared_model, tokens, text):
    arc = RnnArc.from_string(text)
    fixed = rnn.build_fixed_child(arc, _child_config(), VOCAB)
    _copy_shared_to_fixed(shared_model, fixed, arc)
    state = np.random.default_rng(3).normal(size=(3, HIDDEN)).astype(np.float32)
    shared_logits, shared_state = shared_model(tokens, np.asarray(arc.to_tokens(), np.int32), state)
    fixed_logits, fixed_state = fixed(tokens, state)
    np.testing.assert_allclose(shared_logits, fixed_logits, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(shared_state, fixed_state, rtol=1e-5, atol=1e-5)
    kernels = [k.numpy() for k in fixed.node_kernels]
    reference_logits, reference_state = _numpy_reference(
        arc, fixed.embedding.numpy(), fixed.w_prev.numpy(), kernels, tokens, state)
    np.testing.assert_allclose(fixed_logits, reference_logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(fixed_state, reference_state, rtol=1e-4, atol=1e-4)


def test_changing_one_token_changes_the_output(shared_model, tokens):
    base = RnnArc.from_string(README_ARC).to_tokens()
    reference, _ = shared_model(tokens, np.asarray(base, np.int32), None)
    for position, value in ((6, 1), (7, 3), (15, 0), (14, 0)):  # node 4 prev/func, node 8 func/prev
        changed = list(base)
        changed[position] = value
        logits, _ = shared_model(tokens, np.asarray(changed, np.int32), None)
        assert np.abs(np.asarray(logits) - np.asarray(reference)).max() > 1e-4, position


def test_one_trace_serves_every_architecture_and_length(shared_model):
    step = tf.function(lambda t, a, s: shared_model(t, a, s),
                       input_signature=[tf.TensorSpec([3, None], tf.int32), tf.TensorSpec([16], tf.int32),
                                        tf.TensorSpec([3, HIDDEN], tf.float32)])
    rng = np.random.default_rng(4)
    for length in (1, 4, 7, 2, 5, 3):
        arc = rnn.random_arc(8, rng=rng)
        tokens = rng.integers(0, VOCAB, (3, length)).astype(np.int32)
        logits, _ = step(tokens, np.asarray(arc.to_tokens(), np.int32), np.zeros((3, HIDDEN), np.float32))
        assert logits.shape[1] == length
    assert step.experimental_get_tracing_count() == 1


def test_gradients_reach_only_the_chosen_bank_rows(shared_model, tokens):
    arc = RnnArc.from_string(README_ARC)
    with tf.GradientTape() as tape:
        logits, _ = shared_model(tokens, np.asarray(arc.to_tokens(), np.int32), None)
        loss = tf.reduce_sum(logits ** 2)
    grad = tf.convert_to_tensor(tape.gradient(loss, shared_model.node_bank))
    norms = tf.reduce_sum(tf.abs(grad), axis=[1, 2]).numpy()
    chosen = {shared_model.bank_row(node + 1, func, prev)
              for node, (prev, func) in enumerate(zip(arc.prevs, arc.funcs))}
    for row, norm in enumerate(norms):
        assert (norm > 0) == (row in chosen), row


def test_uniform_model_gives_vocabulary_size_perplexity(tokens):
    model = rnn.build_shared_child(_child_config(), VOCAB)
    model.embedding.assign(np.zeros(model.embedding.shape, np.float32))
    logits, _ = model(tokens, np.asarray(RnnArc.from_string(README_ARC).to_tokens(), np.int32), None)
    loss = keras.ops.sparse_categorical_crossentropy(tokens, logits, from_logits=True)
    assert float(np.exp(np.mean(loss))) == pytest.approx(VOCAB, rel=1e-5)


def test_dropout_is_variational_and_only_in_training(tokens):
    keras.utils.set_random_seed(5)
    arc = RnnArc.from_string(README_ARC)
    # V == H and an identity embedding: logits = h_t * output_mask, so logits / h is the mask itself.
    model = rnn.build_fixed_child(arc, _child_config(output_keep=0.5), HIDDEN)
    model.embedding.assign(np.eye(HIDDEN, dtype=np.float32))
    ids = tokens % HIDDEN
    logits, _, hiddens = model(ids, None, training=True, return_hiddens=True)
    ratio = np.asarray(logits) / np.asarray(hiddens)
    assert set(np.round(np.unique(ratio), 4)) == {0.0, 2.0}
    np.testing.assert_allclose(ratio, np.repeat(ratio[:, :1], ids.shape[1], axis=1))  # same mask at every t
    eval_logits, _, eval_hiddens = model(ids, None, training=False, return_hiddens=True)
    np.testing.assert_allclose(eval_logits, eval_hiddens, rtol=1e-6)
    np.testing.assert_allclose(hiddens, eval_hiddens, rtol=1e-6)  # only the output was dropped
    keeps = dict(embed_keep=0.5, input_keep=0.5, hidden_keep=0.5)
    dropped = rnn.build_fixed_child(arc, _child_config(**keeps), VOCAB)
    train_logits, _ = dropped(tokens, None, training=True)
    assert np.abs(np.asarray(train_logits) - np.asarray(dropped(tokens, None)[0])).max() > 0


def test_config_round_trip_and_keras_file(tmp_path, tokens):
    arc = RnnArc.from_string(README_ARC)
    fixed = rnn.build_fixed_child(arc, _child_config(hidden_keep=0.7), VOCAB)
    clone = RnnFixedChild.from_config(fixed.get_config())
    assert clone.get_config() == fixed.get_config() and clone.arc_tokens == arc.to_tokens()
    shared = rnn.build_shared_child(_child_config(num_branches=2), VOCAB)
    shared_clone = RnnSharedChild.from_config(shared.get_config())
    assert shared_clone.count_params() == shared.count_params() and shared_clone.num_branches == 2
    path = str(tmp_path / "fixed.keras")
    fixed.save(path)
    loaded = keras.saving.load_model(path)
    state = np.ones((3, HIDDEN), np.float32) * 0.1
    np.testing.assert_array_equal(loaded(tokens, state)[0], fixed(tokens, state)[0])


# --- registration and description ---------------------------------------------------------------
def test_space_is_registered_and_describes_arcs():
    space = get_space("rnn")
    assert space.task == "language" and space.arc_type is RnnArc
    arc = space.parse_arc(README_ARC, _child_config())
    assert space.arc_from_tokens(np.asarray(arc.to_tokens()), _child_config()) == arc
    text = space.describe(arc, _child_config(), VOCAB, None)
    lines = text.splitlines()
    assert "trainable parameters: 1,440" in text
    assert sum(line.startswith("node ") for line in lines) == 9  # node 0 and 8 searched nodes
    assert "node 4: highway sigmoid  (node 2)" in lines
    dot = space.to_dot(arc)
    assert dot.startswith("digraph rnn {") and dot.rstrip().endswith("}")
    assert "node2 -> node4;" in dot and "node8 -> avg" in dot
