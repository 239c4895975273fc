"""Keras layers and helpers shared by every image child model (macro and micro spaces).

Everything here is plain Keras 3 (``keras.layers`` / ``keras.ops``), NHWC, and registered for
``.keras`` serialisation under the ``enas`` package.
"""

from __future__ import annotations

import contextlib
import functools
import threading

import keras
from keras import ops

# ENAS initialises every conv and dense kernel with He-normal (``tf.keras.initializers.he_normal``
# in the official code).
he_normal = "he_normal"


_synchronized = threading.local()


@contextlib.contextmanager
def _thread_setting(store: threading.local, name: str, value):
    """``store.name = value`` on this thread inside the block, restored after it."""
    previous = getattr(store, name, None)
    setattr(store, name, value)
    try:
        yield
    finally:
        setattr(store, name, previous)


def synchronized_batch_norm(enabled: bool = True):
    """Batch norms built inside the block by :func:`batch_norm` compute their training statistics over
    every replica of a distribution strategy (Keras' ``synchronized=True``, ``--child_sync_bn``, reduced
    as :func:`summed_over_replicas` says); without a strategy they are the usual batch statistics."""
    return _thread_setting(_synchronized, "enabled", bool(enabled))


_replica_sum = threading.local()


def summed_over_replicas(fn):
    """Inside the block, synchronized batch norms (:func:`synchronized_batch_norm`) get their global
    statistics from ``fn``: a float tensor of this replica -> its sum over every replica (set by the
    distributed trainer around each replica's trace; differentiable, and safe inside the architecture
    switch). Without it they use Keras' own synchronized moments."""
    return _thread_setting(_replica_sum, "fn", fn)


def replica_moments(x, axes):
    """Mean and variance of ``x`` over ``axes`` and over every replica's share of the global batch, in
    float32: each replica's sums, squared sums and count, summed over replicas in one reduction by the
    function :func:`summed_over_replicas` installed; None when none is (then the caller's own moments).
    The reduced axes are all but the last (channels)."""
    summed = getattr(_replica_sum, "fn", None)
    if summed is None:
        return None
    x = ops.cast(x, "float32")
    channels = x.shape[-1]
    count = ops.cast(ops.size(x), "float32") / channels
    local = ops.concatenate([ops.sum(x, axis=axes), ops.sum(ops.square(x), axis=axes),
                             ops.reshape(count, (1,))], axis=0)
    total = summed(local)
    count = ops.maximum(total[2 * channels], 1.0)
    mean = total[:channels] / count
    variance = ops.maximum(total[channels:2 * channels] / count - ops.square(mean), 0.0)
    return mean, variance


def sync_batch_norm_default() -> bool:
    """Whether batch norms built now synchronize their statistics (:func:`synchronized_batch_norm`)."""
    return bool(getattr(_synchronized, "enabled", False))


def batch_norm(**kwargs) -> "BatchNorm":
    """ENAS batch norm: decay 0.9, epsilon 1e-5 (keyword arguments override or add to those)."""
    settings = dict(momentum=0.9, epsilon=1e-5)
    if sync_batch_norm_default():
        settings["synchronized"] = True
    settings.update(kwargs)
    return BatchNorm(**settings)


#: Statistics modes of :class:`BatchNorm` outside training (see :func:`statistics_mode`).
STATISTICS_MODES = ("moving", "batch", "collect")
_statistics = threading.local()


def statistics_mode(mode: str, collect_weight=None):
    """Sets how every :class:`BatchNorm` normalises in inference calls made inside the block.

    Read when a function is traced, so wrap the body of a ``tf.function`` with it: each mode is one
    traced graph, whatever architecture tensor the function is called with.

    * ``moving``: the moving statistics (Keras' inference mode, the default);
    * ``batch``: the statistics of the current minibatch; nothing is updated;
    * ``collect``: the minibatch statistics, and each layer that runs adds ``collect_weight`` times
      the batch mean to its moving mean and ``collect_weight`` times the batch's E[x^2] to its moving
      variance. Used to re-estimate the statistics of one architecture (``enas.trainers.bn_stats``).

    Training calls (``training=True``) are unaffected: batch statistics and momentum updates.
    """
    if mode not in STATISTICS_MODES:
        raise ValueError(f"statistics mode must be one of {STATISTICS_MODES}, got {mode!r}")
    return _thread_setting(_statistics, "mode", (mode, collect_weight))


def statistics_state():
    """The statistics mode set on this thread (None: the default), for :func:`statistics_restored`."""
    return getattr(_statistics, "mode", None)


def statistics_restored(state):
    """Sets a :func:`statistics_state` on this thread inside the block (a tf.distribute replica traces
    on a thread of its own, which does not see the caller's :func:`statistics_mode`)."""
    return _thread_setting(_statistics, "mode", state)


@keras.saving.register_keras_serializable(package="enas")
class BatchNorm(keras.layers.BatchNormalization):
    """Keras batch norm whose inference calls follow :func:`statistics_mode`.

    Same weights, initialisers and training behaviour as ``keras.layers.BatchNormalization``; only
    inference-mode calls inside a ``statistics_mode("batch" | "collect")`` block differ. A shared child
    needs this to score an architecture with its own statistics rather than the moving averages that
    every sampled architecture wrote into.
    """

    def call(self, inputs, training=None, mask=None):
        mode = getattr(_statistics, "mode", None)
        if (training and self.trainable) or mode is None or mode[0] == "moving":
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, "float32")
        mean, variance = self._moments(x, None)
        if mode[0] == "collect":
            weight = ops.cast(mode[1], "float32")
            self.moving_mean.assign_add(weight * mean)
            self.moving_variance.assign_add(weight * (variance + ops.square(mean)))
        outputs = ops.batch_normalization(x, mean=mean, variance=variance, axis=self.axis,
                                          offset=self.beta if self.center else None,
                                          scale=self.gamma if self.scale else None, epsilon=self.epsilon)
        return ops.cast(outputs, self.compute_dtype)

    def _moments(self, inputs, mask):
        """Batch mean and variance; for a synchronized batch norm under :func:`summed_over_replicas`,
        over the global batch: this replica's sums, squared sums and count, summed over replicas in one
        reduction (Keras' own synchronized moments reduce with ``merge_call``, which cannot run inside the
        architecture switch of a shared child)."""
        moments = replica_moments(inputs, self._reduction_axes) if self.synchronized and mask is None else None
        return super()._moments(inputs, mask) if moments is None else moments


@keras.saving.register_keras_serializable(package="enas")
class FactorizedReduction(keras.layers.Layer):
    """Halves the spatial size and maps to ``filters`` channels without losing half the pixels.

    path1 = stride-2 subsample -> 1x1 conv to ``filters // 2``; path2 = shift by one pixel (pad
    bottom/right, crop top/left) -> stride-2 subsample -> 1x1 conv to ``filters - filters // 2``;
    concatenate, then batch norm. No ReLU inside (the caller decides).

    Args:
      filters: output channels.
      **kwargs: ``keras.layers.Layer`` arguments (``name``, ...).
    """

    def __init__(self, filters: int, **kwargs):
        super().__init__(**kwargs)
        self.filters = int(filters)
        self.path1_conv = keras.layers.Conv2D(
            self.filters // 2, 1, use_bias=False, kernel_initializer=he_normal, name="path1_conv")
        self.path2_conv = keras.layers.Conv2D(
            self.filters - self.filters // 2, 1, use_bias=False, kernel_initializer=he_normal,
            name="path2_conv")
        self.bn = batch_norm(name="bn")

    def build(self, input_shape):
        # Build sub-layers eagerly so weights exist (and can be copied) before the first call.
        height, width = input_shape[1], input_shape[2]
        half = (input_shape[0], None if height is None else (height + 1) // 2,
                None if width is None else (width + 1) // 2, input_shape[3])
        self.path1_conv.build(half)
        self.path2_conv.build(half)
        self.bn.build(half[:3] + (self.filters,))

    def call(self, inputs, training=None):
        path1 = self.path1_conv(inputs[:, ::2, ::2, :])
        # Shift by one pixel: pad one row/column at the bottom/right, drop the first row/column.
        shifted = ops.pad(inputs, [[0, 0], [0, 1], [0, 1], [0, 0]])[:, 1:, 1:, :]
        path2 = self.path2_conv(shifted[:, ::2, ::2, :])
        return self.bn(ops.concatenate([path1, path2], axis=-1), training=training)

    def compute_output_shape(self, input_shape):
        height, width = input_shape[1], input_shape[2]
        return (input_shape[0], None if height is None else (height + 1) // 2,
                None if width is None else (width + 1) // 2, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters)
        return config


def compiled_once(fn):
    """``fn`` as a compiled function of its own, that graphs call rather than copy.

    For a computation repeated many times in a child with the same shapes and different weights
    passed as arguments (the micro op switch of every slot of every cell with C channels): the
    calling graph holds one call op per use instead of a copy of the body, so tracing, optimising
    and instantiating a training step cost about one copy per distinct input shape (measured:
    ``bench/startup.py``). On TensorFlow it is a ``tf.function`` that is not inlined into its
    callers, traced once per concrete input shape (no shape is left free: with unknown shapes
    TensorFlow picks other kernels, whose float32 rounding differs from the inlined graph's); on other
    backends ``fn`` itself.
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf  # only here, like _switch_max_pool_fn: the layers stay backend-agnostic

    return tf.function(fn, experimental_attributes={"_noinline": True})


def recomputed(fn):
    """``fn`` whose gradient recomputes its forward pass instead of keeping its intermediate tensors.

    Gradient checkpointing for a pure function of tensors (no variables, no state): the backward
    pass runs ``fn`` again on the same inputs and differentiates that copy, so between the forward and
    the backward pass only ``fn``'s inputs and outputs are kept, at the price of a second forward pass.
    The forward values are ``fn``'s exactly; floating inputs get gradients, integer inputs (an
    architecture choice) none. On TensorFlow a ``tf.custom_gradient``; on other backends ``fn``.
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf  # only here, like compiled_once: the layers stay backend-agnostic

    @tf.custom_gradient
    def forward(*args):
        def grad(*upstream):
            floating = [i for i, arg in enumerate(args) if arg.dtype.is_floating]
            with tf.GradientTape() as tape:
                tape.watch([args[i] for i in floating])
                again = fn(*args)
            single = not isinstance(again, (list, tuple))
            gradients = tape.gradient(again, [args[i] for i in floating],
                                      output_gradients=upstream[0] if single else list(upstream))
            result = [None] * len(args)
            for i, gradient in zip(floating, gradients):
                result[i] = gradient
            return result
        return fn(*args), grad

    return forward


def _plain_max_pool(x):
    return ops.max_pool(x, 3, strides=1, padding="same")


@functools.lru_cache(maxsize=None)
def _switch_max_pool_fn():
    """The max pool for switch branches: on TensorFlow, one that recomputes itself in its gradient."""
    if keras.backend.backend() != "tensorflow":
        return _plain_max_pool
    import tensorflow as tf  # only here: a kernel workaround; the layers stay backend-agnostic

    @tf.custom_gradient
    def max_pool(x):
        def grad(upstream):
            # Recomputing the pool here puts forward and gradient in one function body, where
            # TensorFlow's oneDNN rewrite pairs them; otherwise the gradient falls back to a slow kernel.
            with tf.GradientTape() as tape:
                tape.watch(x)
                pooled = _plain_max_pool(x)
            return tape.gradient(pooled, x, output_gradients=upstream)
        return _plain_max_pool(x), grad

    return max_pool


@functools.lru_cache(maxsize=None)
def _function_max_pool_fn():
    """:func:`_switch_max_pool_fn`'s pool as a function of its own (TensorFlow), for switches inside
    :func:`compiled_once` functions."""
    pool = _switch_max_pool_fn()
    if keras.backend.backend() != "tensorflow":
        return pool
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return tf.function(pool)


def max_pool_3x3(x, in_switch: bool = False, in_function: bool = False):
    """3x3 stride-1 SAME max pool; ``in_switch=True`` inside a ``keras.ops.switch`` branch, and
    ``in_function=True`` too when that switch is in a :func:`compiled_once` function.

    On TensorFlow's CPU build, the gradient of a max pool whose forward ran in a switch branch loses
    its oneDNN kernel (measured 24 ms instead of 3.3 ms for a 64x32x32x20 batch). In a branch, the
    pool is therefore recomputed inside its own gradient, which restores the fast kernel at the cost of
    one extra pool. Elsewhere, and on other backends, it is the plain pool.

    In a switch of a :func:`compiled_once` function, TensorFlow cannot differentiate that custom
    gradient where it stands (an assertion in its cond gradient); wrapped in a function of its own it
    can, so there the pool is that function (measured on a 64x32x32x20 batch, pool and gradient: 40 ms,
    against 161 ms for the plain pool in such a switch).
    """
    if not in_switch:
        return _plain_max_pool(x)
    return (_function_max_pool_fn() if in_function else _switch_max_pool_fn())(x)
