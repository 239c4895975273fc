"""Checkpoints of a run: everything needed to resume exactly, written at least once an epoch."""

from __future__ import annotations

import os
from typing import Any, Mapping

import keras
import tensorflow as tf


def _model_variables(trackables: Mapping[str, Any]) -> dict[str, list]:
    """Every variable of every Keras model among ``trackables``, listed explicitly.

    ``tf.train.Checkpoint`` does not reach all of a Keras 3 model's variables through its attributes
    (layers kept in lists or dicts, seed-generator states of dropout): without this list a resumed
    run would restart some BN moving statistics and dropout streams.
    """
    return {f"{name}_variables": list(value.variables) for name, value in trackables.items()
            if isinstance(value, keras.Model)}


class RunCheckpoint:
    """A ``tf.train.Checkpoint`` of ``trackables`` plus the loop's position counters.

    Args:
      directory: where checkpoints go (``<output_dir>/checkpoints``).
      trackables: named objects to save (models, optimizers, controller, ``tf.Variable`` s).
      counters: names of int64 position counters (e.g. ``epoch``, ``step_in_epoch``) this object owns.
      max_to_keep: checkpoints kept on disk.
    """

    def __init__(self, directory: str, trackables: Mapping[str, Any], counters=(), max_to_keep: int = 2):
        self.counters = {name: tf.Variable(0, dtype=tf.int64, trainable=False, name=name) for name in counters}
        self.checkpoint = tf.train.Checkpoint(**trackables, **self.counters, **_model_variables(trackables))
        # CheckpointManager writes the data files first and updates its index last, so an interrupted
        # save leaves the previous checkpoint as the latest one.
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep=max_to_keep)

    def __getitem__(self, name: str) -> int:
        return int(self.counters[name].numpy())

    def __setitem__(self, name: str, value: int) -> None:
        self.counters[name].assign(value)

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def restore(self, partial: bool = False) -> bool:
        """Restores the latest checkpoint; returns False when there is none."""
        if not self.latest:
            return False
        status = self.checkpoint.restore(self.latest)
        if partial:
            status.expect_partial()
        return True

    def save(self) -> str:
        os.makedirs(self.manager.directory, exist_ok=True)
        return self.manager.save()
