"""Checkpoints of a run: everything needed to resume exactly, written at least once an epoch.

A checkpoint that cannot be read or does not match the model stops the run with
:class:`enas.errors.CheckpointError` naming the file and what to do; it never silently restarts the
run. Several checkpoints are kept, so the previous one is there when the newest is damaged.
Checkpoints may also be written within an epoch, every N steps or every N minutes.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import signal
import time
from typing import Any, Mapping, Optional

import keras
import tensorflow as tf

from enas.errors import CheckpointError

INDEX_FILE = "checkpoint"
# Test hook: ``ENAS_TEST_KILL_IN_SAVE=N`` kills the process (SIGKILL) inside the N-th save of this
# process, after the data files are written and before the index names them: a deterministic
# "killed during a checkpoint save" for the chaos tests.
KILL_IN_SAVE_ENV = "ENAS_TEST_KILL_IN_SAVE"
_CKPT_NAME = re.compile(r"^ckpt-(\d+)\.index$")


def _model_variables(trackables: Mapping[str, Any]) -> dict[str, list]:
    """Every variable of every Keras model among ``trackables``, listed explicitly.

    ``tf.train.Checkpoint`` does not reach all of a Keras 3 model's variables through its attributes
    (layers kept in lists or dicts, seed-generator states of dropout): without this list a resumed
    run would restart some BN moving statistics and dropout streams.
    """
    return {f"{name}_variables": list(value.variables) for name, value in trackables.items()
            if isinstance(value, keras.Model)}


def remove_stale_temporaries(directory: str) -> list[str]:
    """Deletes the ``ckpt-N_temp`` folders a save killed midway leaves behind; returns them."""
    stale = [path for path in glob.glob(os.path.join(directory, "ckpt-*_temp")) if os.path.isdir(path)]
    stale += glob.glob(os.path.join(directory, INDEX_FILE + ".tmp*"))
    for path in stale:
        shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    return stale


def _numbered_files(directory: str) -> list[str]:
    """``ckpt-N`` prefixes whose ``.index`` file exists, oldest first."""
    found = [(int(m.group(1)), name) for name in os.listdir(directory) if (m := _CKPT_NAME.match(name))]
    return [os.path.join(directory, name[:-len(".index")]) for _, name in sorted(found)]


class RunCheckpoint:
    """A ``tf.train.Checkpoint`` of ``trackables`` plus the loop's position counters.

    Args:
      directory: where checkpoints go (``<output_dir>/checkpoints``).
      trackables: named objects to save (models, optimizers, controller, ``tf.Variable`` s).
      counters: names of int64 position counters (e.g. ``epoch``, ``step_in_epoch``) this object owns.
      max_to_keep: checkpoints kept on disk (more than one: the previous one survives a damaged newest).
      run_config: optional :class:`enas.config.RunConfig`; its ``checkpoint_every_steps`` and
        ``checkpoint_every_minutes`` drive :meth:`maybe_save`.
    """

    def __init__(self, directory: str, trackables: Mapping[str, Any], counters=(), max_to_keep: int = 3,
                 run_config=None, restore_directory: Optional[str] = None):
        self.directory = directory
        # A multi-worker run's other workers save to a scratch directory and restore the chief's
        # checkpoints, read-only (``enas.trainers.distribute``).
        self.restore_directory = restore_directory
        self.counters = {name: tf.Variable(0, dtype=tf.int64, trainable=False, name=name) for name in counters}
        self.checkpoint = tf.train.Checkpoint(**trackables, **self.counters, **_model_variables(trackables))
        self.max_to_keep = max_to_keep
        self.every_steps = int(getattr(run_config, "checkpoint_every_steps", 0) or 0)
        self.every_seconds = 60.0 * float(getattr(run_config, "checkpoint_every_minutes", 0) or 0)
        self._steps_since_save, self._last_save = 0, time.monotonic()
        self._saves = 0
        self.manager = self._make_manager()

    def _make_manager(self) -> tf.train.CheckpointManager:
        # CheckpointManager writes the data files first and updates its index last, so an interrupted
        # save leaves the previous checkpoint as the latest one.
        return tf.train.CheckpointManager(self.checkpoint, self.directory, max_to_keep=self.max_to_keep)

    def __getitem__(self, name: str) -> int:
        return int(self.counters[name].numpy())

    def __setitem__(self, name: str, value: int) -> None:
        self.counters[name].assign(value)

    @property
    def latest(self):
        return self.manager.latest_checkpoint

    def _advice(self, damaged: str) -> str:
        older = [path for path in _numbered_files(self.directory) if path != damaged
                 and _checkpoint_number(path) < _checkpoint_number(damaged)]
        if older:
            return (f"to resume from the previous checkpoint {older[-1]}, delete {damaged}.index and "
                    f"{damaged}.data-* and run the same command again; or pass --reset_output_dir to start over")
        return "no older checkpoint is left: pass --reset_output_dir to start over"

    def _latest_intact_path(self) -> Optional[str]:
        """The newest checkpoint to restore: the index's, or the newest file when the index is gone."""
        index = os.path.join(self.directory, INDEX_FILE)
        files = _numbered_files(self.directory) if os.path.isdir(self.directory) else []
        if os.path.exists(index):
            state = tf.train.get_checkpoint_state(self.directory)  # None when unparseable
            if state is None or not state.model_checkpoint_path:
                newest = f" (the newest checkpoint file is {files[-1]})" if files else ""
                raise CheckpointError(
                    f"the checkpoint index {index} is unreadable{newest}; delete it to resume from the newest "
                    "checkpoint file, or pass --reset_output_dir to start over")
            # get_checkpoint_state has already joined relative entries with the directory.
            listed = [*state.all_model_checkpoint_paths, state.model_checkpoint_path]
            present = [path for path in listed if os.path.exists(path + ".index") or glob.glob(path + ".data-*")]
            if not present:
                raise CheckpointError(f"the checkpoint index {index} names {listed[-1]}, whose files are missing; "
                                      + self._advice(listed[-1]))
            return max(present, key=_checkpoint_number)
        if files:  # the index was deleted (or never written): rebuild it from the files present
            tf.compat.v1.train.update_checkpoint_state(self.directory, files[-1], files[-self.max_to_keep:])
            self.manager = self._make_manager()
            return files[-1]
        return None

    def restore(self, partial: bool = False) -> bool:
        """Restores the latest checkpoint; returns False when there is none.

        ``partial``: the checkpoint may hold more objects than are restored (derivation); every
        object given must still be found in it. Raises :class:`CheckpointError` when the checkpoint
        cannot be read or does not match.
        """
        if self.restore_directory:
            return self._restore_read_only(partial)
        if os.path.isdir(self.directory):
            remove_stale_temporaries(self.directory)
        path = self._latest_intact_path()
        if path is None:
            return False
        if not os.path.exists(path + ".index") or not glob.glob(path + ".data-*"):
            raise CheckpointError(f"checkpoint {path} is incomplete (its .index or .data files are missing); "
                                  + self._advice(path))
        try:
            status = self.checkpoint.restore(path)
            if partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
            if not partial:
                status.assert_consumed()
        except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError, TypeError) as error:
            reason = " ".join(str(error).split())[:300]
            raise CheckpointError(f"checkpoint {path} cannot be restored ({type(error).__name__}: {reason}); "
                                  + self._advice(path)) from None
        return True

    def _restore_read_only(self, partial: bool) -> bool:
        """Restores the newest checkpoint the index of :attr:`restore_directory` names; writes nothing."""
        path = tf.train.latest_checkpoint(self.restore_directory)
        if path is None:
            return False
        try:
            status = self.checkpoint.restore(path)
            if partial:
                status.expect_partial()
            status.assert_existing_objects_matched()
        except (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError, TypeError) as error:
            reason = " ".join(str(error).split())[:300]
            raise CheckpointError(f"checkpoint {path} cannot be restored ({type(error).__name__}: {reason})") from None
        return True

    def save(self) -> str:
        """Writes a checkpoint now; returns its path."""
        os.makedirs(self.directory, exist_ok=True)
        self._saves += 1
        if os.environ.get(KILL_IN_SAVE_ENV) == str(self._saves):
            number = int(self.checkpoint.save_counter.numpy()) + 1
            self.checkpoint.write(os.path.join(self.directory, f"ckpt-{number}"))
            os.makedirs(os.path.join(self.directory, f"ckpt-{number + 1}_temp"), exist_ok=True)
            os.kill(os.getpid(), signal.SIGKILL)
        path = self.manager.save()
        self._steps_since_save, self._last_save = 0, time.monotonic()
        return path

    def maybe_save(self) -> Optional[str]:
        """Counts one training step; saves when ``checkpoint_every_steps`` or ``..._minutes`` is due."""
        self._steps_since_save += 1
        if ((self.every_steps and self._steps_since_save >= self.every_steps)
                or (self.every_seconds and time.monotonic() - self._last_save >= self.every_seconds)):
            return self.save()
        return None


def _checkpoint_number(path: str) -> int:
    match = re.search(r"ckpt-(\d+)$", path)
    return int(match.group(1)) if match else -1
