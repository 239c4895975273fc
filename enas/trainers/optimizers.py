"""Child optimizers: Keras SGD with momentum whose per-variable update is one fused TensorFlow op.

A shared-weight child has many small variables (every op of every layer owns its weights) and the
L2 penalty reaches all of them, so every step updates every variable. Keras's SGD spends about six
graph ops per variable on a momentum update; ``ResourceApplyKerasMomentum`` computes the same update
(Keras's formula, Nesterov included) in one. Measured on the macro child at 6 layers, 16 channels,
16x16 inputs: step 24.1 ms -> 21.8 ms (the static child of the same architecture: 17.9 ms).
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="enas")
class MomentumSGD(keras.optimizers.SGD):
    """``keras.optimizers.SGD`` whose momentum update is one fused op per variable on TensorFlow.

    Same arguments, state (the ``momentums`` slots) and results as ``keras.optimizers.SGD`` (to float
    rounding). Plain SGD (``momentum=0``) and other backends use the Keras update. Under a
    ``tf.distribute`` strategy the update runs once per replica on that replica's copies (inside
    ``strategy.extended.update``, where a mirrored slot's ``handle`` is the local copy's).
    """

    def update_step(self, gradient, variable, learning_rate):
        if self.momentum == 0 or keras.backend.backend() != "tensorflow":
            return super().update_step(gradient, variable, learning_rate)
        momentum = self.momentums[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyKerasMomentum(
            var=variable.handle, accum=momentum.handle, lr=tf.cast(learning_rate, variable.dtype),
            grad=tf.cast(tf.convert_to_tensor(gradient), variable.dtype),
            momentum=tf.cast(self.momentum, variable.dtype), use_nesterov=self.nesterov)

    #: set by ``enas.trainers.distribute`` while it applies gradients it has already summed over the
    #: replicas (to clip the global gradient): they are then not all-reduced a second time.
    gradients_summed = False

    def _all_reduce_sum_gradients(self, grads_and_vars):
        if self.gradients_summed:
            return list(grads_and_vars)
        return super()._all_reduce_sum_gradients(grads_and_vars)
