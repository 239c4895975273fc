"""Tests of the shared ops of the child models."""

import numpy as np
import tensorflow as tf
from keras import ops

from enas.spaces.layers import max_pool_3x3


def test_switch_max_pool_has_the_plain_pools_value_and_gradient():
    x = tf.constant(np.random.default_rng(0).standard_normal((2, 6, 5, 3)).astype("float32"))
    upstream = tf.constant(np.random.default_rng(1).standard_normal((2, 6, 5, 3)).astype("float32"))

    @tf.function
    def value_and_grad(index, in_switch):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = ops.switch(index, [lambda t: t * 2.0, lambda t: max_pool_3x3(t, in_switch=in_switch)], x)
            loss = tf.reduce_sum(y * upstream)
        return y, tape.gradient(loss, x)

    y_switch, grad_switch = value_and_grad(tf.constant(1), True)
    y_plain, grad_plain = value_and_grad(tf.constant(1), False)
    expected = tf.nn.max_pool2d(x, 3, 1, "SAME")
    np.testing.assert_array_equal(y_switch.numpy(), expected.numpy())
    # Different kernels (oneDNN and Eigen) may sum a pixel's contributions in another order.
    np.testing.assert_allclose(grad_switch.numpy(), grad_plain.numpy(), rtol=1e-5, atol=1e-6)
    assert np.count_nonzero(grad_switch.numpy()) > 0
    _, grad_other = value_and_grad(tf.constant(0), True)
    np.testing.assert_allclose(grad_other.numpy(), 2.0 * upstream.numpy())
