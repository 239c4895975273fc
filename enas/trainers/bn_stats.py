"""Scoring a shared child in each reward batch-norm mode (``--child_reward_bn``), compiled once per mode.

A shared child's moving batch-norm statistics are averages over every architecture sampled so far, so
an architecture scored with them is normalised with statistics it did not produce (measured on a
6-layer macro search: the moving-statistics reward ranked architectures backwards). The modes:

* ``moving``: Keras' inference mode, the moving statistics;
* ``batch``: the statistics of the scored minibatch itself (no state changes);
* ``recalibrate``: the statistics of the architecture re-estimated on fixed training batches (the
  single-path one-shot recipe), then the moving-statistics forward pass. The shared statistics are
  saved before and restored after, so the search state is unchanged.

Every function takes the architecture as an int32 tensor, so each mode is one traced graph.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Sequence

import keras
import tensorflow as tf

from enas.spaces.layers import statistics_mode

REWARD_BN_MODES = ("moving", "batch", "recalibrate")


def moving_statistics(model) -> list:
    """(moving_mean, moving_variance) of every Keras batch norm of ``model``, flattened."""
    stats = []
    for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
        if isinstance(layer, keras.layers.BatchNormalization):
            stats += [layer.moving_mean, layer.moving_variance]
    return stats


class Recalibrator:
    """Re-estimates the batch-norm statistics of one architecture, and puts the shared ones back.

    Args:
      model: the shared child (its ``keras.layers.BatchNormalization`` layers must be
        :class:`enas.spaces.layers.BatchNorm`, which ``collect``).
      forward: ``(images, arc) -> outputs``, the child's inference call.
      image_spec, arc_spec: ``tf.TensorSpec`` of a training batch and of the architecture.
      batches: the fixed ``(images, labels)`` batches to re-estimate on.
    """

    def __init__(self, model, forward: Callable, image_spec, arc_spec, batches: Sequence):
        self.stats = moving_statistics(model)
        self.batches = [images for images, _ in batches]
        # Kept outside the model: not weights, not checkpointed, no change to parameter counts.
        self.backup = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.stats]
        weight = 1.0 / max(len(self.batches), 1)

        def save_and_clear():
            for saved, variable in zip(self.backup, self.stats):
                saved.assign(variable)
                variable.assign(tf.zeros_like(variable))

        def collect(images, arc):
            with statistics_mode("collect", weight):
                forward(images, arc)

        def finish():
            # The moving variance collected E[x^2]; Var = E[x^2] - E[x]^2 over all the batches.
            for mean, second_moment in zip(self.stats[0::2], self.stats[1::2]):
                second_moment.assign(tf.maximum(second_moment - tf.square(mean), 0.0))

        def restore():
            for saved, variable in zip(self.backup, self.stats):
                variable.assign(saved)

        self._save = tf.function(save_and_clear)
        self._collect = tf.function(collect, input_signature=[image_spec, arc_spec])
        self._finish = tf.function(finish)
        self._restore = tf.function(restore)

    @contextlib.contextmanager
    def recalibrated(self, arc):
        """Inside the block the child's moving statistics are those of ``arc``; restored after."""
        self._save()
        try:
            for images in self.batches:
                self._collect(images, arc)
            self._finish()
            yield
        finally:
            self._restore()

    @property
    def num_traces(self) -> int:
        return self._collect.experimental_get_tracing_count()


def batch_statistics_function(fn: Callable, input_signature, jit_compile: bool = False):
    """``fn`` compiled with every batch norm on the minibatch's own statistics (mode ``batch``)."""

    def body(*args):
        with statistics_mode("batch"):
            return fn(*args)

    return tf.function(body, input_signature=input_signature, jit_compile=jit_compile)
