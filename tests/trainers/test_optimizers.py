"""The fused momentum SGD matches Keras's SGD."""

import numpy as np
import pytest
import tensorflow as tf
import keras

from enas.trainers.optimizers import MomentumSGD


def _run(optimizer, compiled):
    rng = np.random.default_rng(0)
    variables = [keras.Variable(rng.standard_normal(shape).astype("float32")) for shape in [(3, 4), (5,)]]
    optimizer.build(variables)
    grads = [[tf.constant(rng.standard_normal(v.shape).astype("float32")) for v in variables] for _ in range(4)]
    # The gathered rows of a bank give sparse gradients.
    grads[1][0] = tf.IndexedSlices(tf.constant(rng.standard_normal((1, 4)).astype("float32")),
                                   tf.constant([2]), tf.constant([3, 4]))

    def apply(step_grads):
        optimizer.apply_gradients(zip(step_grads, variables))

    apply = tf.function(apply) if compiled else apply
    for step, step_grads in enumerate(grads):
        optimizer.learning_rate = 0.1 / (step + 1)
        apply(step_grads)
    return [v.numpy() for v in variables] + [m.numpy() for m in optimizer.momentums]


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("compiled", [True, False])
def test_matches_keras_sgd(nesterov, compiled):
    expected = _run(keras.optimizers.SGD(0.1, momentum=0.9, nesterov=nesterov), compiled)
    actual = _run(MomentumSGD(0.1, momentum=0.9, nesterov=nesterov), compiled)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-7)
    assert not np.allclose(expected[0], _run(keras.optimizers.SGD(0.1), compiled)[0])  # momentum mattered
