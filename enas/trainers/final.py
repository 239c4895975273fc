"""Final training: one fixed architecture trained from scratch, evaluated on the test set.

Writes ``config.json`` before step 0, ``train_log.jsonl`` (one line an epoch), TensorBoard scalars,
checkpoints (resumable: run the same command again), and at the end ``final_metrics.json`` and
``model.keras``. Like the search loop, it knows no search space: the space's final task does.
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from enas.config import Config
from enas.errors import ConfigError, TrainingError
from enas.spaces import get_space
from enas.trainers import run_dir
from enas.trainers.checkpoints import RunCheckpoint
from enas.trainers.progress import ProgressReporter, report_epoch
from enas.trainers.tasks import make_final_task

TRAIN_LOG = "train_log.jsonl"
METRICS_FILE = "final_metrics.json"
MODEL_FILE = "model.keras"


class FinalRun:
    """Final training of one architecture.

    Args:
      config: the run's :class:`enas.config.Config`; the architecture is ``child.fixed_arc`` unless
        ``arc`` is given.
      arc: an architecture value of the space (optional).
      data: optional preloaded data for the task.
    """

    def __init__(self, config: Config, arc=None, data=None):
        self.config = config.validate()
        self.space = get_space(config.child.search_for)
        if arc is None:
            if not config.child.fixed_arc:
                raise ConfigError("--child_fixed_arc: required for final training (or pass --derived_json)")
            arc = self.space.parse_arc(config.child.fixed_arc, config.child)
        else:
            self.space.check_arc(arc, config.child)
        self.arc = arc
        self.output_dir = config.run.output_dir
        run_dir.check_output_dir(config, "final")  # before the data is loaded; writes nothing
        keras.utils.set_random_seed(config.run.seed)
        self.task = make_final_task(self.space, arc, config, data)
        run_dir.prepare_output_dir(config, "final")  # inputs are valid: config.json
        # The epoch's loss sum is checkpointed so that a resumed epoch logs the same mean.
        self.epoch_loss = {name: tf.Variable(0.0, dtype=tf.float64, trainable=False, name=name)
                           for name in ("loss_sum", "loss_steps")}
        self.checkpoint = RunCheckpoint(os.path.join(self.output_dir, "checkpoints"),
                                        {**self.task.trackables(), "epoch_loss": self.epoch_loss},
                                        ("epoch", "step_in_epoch", "global_step"), run_config=config.run)
        self.checkpoint.restore()
        self.log = run_dir.JsonlLog(os.path.join(self.output_dir, TRAIN_LOG))
        self.log.drop_after(self.checkpoint["epoch"])  # epochs logged after the checkpoint are redone
        self.writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "tensorboard"))

    def _has_valid(self) -> bool:
        return self.config.data.valid_size > 0 or self.space.task == "language"

    def run(self) -> dict[str, Any]:
        """Trains (or resumes) to ``num_epochs``; returns the final metrics."""
        ckpt, run = self.checkpoint, self.config.run
        steps = self.task.steps_per_epoch()
        with run_dir.InterruptGuard() as guard:
            while ckpt["epoch"] < run.num_epochs:
                epoch, start = ckpt["epoch"], time.time()
                self._train_epoch(epoch, steps, guard)
                loss_sum, loss_steps = (float(v.numpy()) for v in self.epoch_loss.values())
                record = {"epoch": epoch + 1, "global_step": ckpt["global_step"],
                          "seconds": round(time.time() - start, 3),
                          "train_loss": loss_sum / loss_steps if loss_steps else float("nan")}
                if (epoch + 1) % run.eval_every_epochs == 0 and self._has_valid():
                    valid = self.task.evaluate("valid", max_batches=run.max_eval_batches)
                    self.task.observe_validation(valid)
                    record.update({f"valid_{k}": v for k, v in valid.items() if k != "examples"})
                report_epoch(record, self.writer, self.log)
                ckpt["epoch"], ckpt["step_in_epoch"] = epoch + 1, 0
                for var in self.epoch_loss.values():
                    var.assign(0.0)
                self.checkpoint.save()
        return self._finish()

    def _train_epoch(self, epoch: int, steps: int, guard) -> None:
        ckpt = self.checkpoint
        if ckpt["step_in_epoch"] >= steps:
            return
        self.task.begin_epoch(epoch, skip_steps=ckpt["step_in_epoch"])
        bar = ProgressReporter(steps, f"epoch {epoch + 1}/{self.config.run.num_epochs}", self.config.run,
                               start=ckpt["step_in_epoch"])
        while ckpt["step_in_epoch"] < steps:
            metrics = self.task.train_step()
            if not math.isfinite(metrics["loss"]):
                raise TrainingError(
                    f"non-finite loss {metrics['loss']} at epoch {epoch}, step {ckpt['step_in_epoch']} training "
                    f"{self.arc.to_string()}; the last checkpoint in {self.output_dir} is intact")
            self.epoch_loss["loss_sum"].assign_add(metrics["loss"])
            self.epoch_loss["loss_steps"].assign_add(1.0)
            ckpt["step_in_epoch"] = ckpt["step_in_epoch"] + 1
            ckpt["global_step"] = ckpt["global_step"] + 1
            with self.writer.as_default(step=ckpt["global_step"]):
                tf.summary.scalar("train/loss", metrics["loss"])
                tf.summary.scalar("train/lr", metrics["lr"])
            bar.update(ckpt["step_in_epoch"], loss=metrics["loss"], lr=metrics["lr"])
            if guard.requested:
                path = self.checkpoint.save()
                raise run_dir.Interrupted(f"{guard.signal_name}: checkpoint written to {path}; run the same "
                                          "command again to resume")
            ckpt.maybe_save()

    def _finish(self) -> dict[str, Any]:
        run = self.config.run
        metrics: dict[str, Any] = {"arc": self.arc.to_string(), "search_for": self.space.name,
                                   "epochs": run.num_epochs,
                                   "num_params": int(sum(int(np.prod(v.shape)) for v in self.task.model.weights))}
        if self._has_valid():
            metrics.update({f"valid_{k}": v for k, v in self.task.evaluate("valid", run.max_eval_batches).items()})
        metrics.update({f"test_{k}": v for k, v in self.task.evaluate("test", run.max_eval_batches).items()})
        with self.writer.as_default(step=run.num_epochs):  # the final numbers in TensorBoard too
            for key, value in metrics.items():
                if key.startswith(("valid_", "test_")) and isinstance(value, float) and math.isfinite(value):
                    tf.summary.scalar(f"final/{key}", value)
        self.writer.flush()
        self.task.export(os.path.join(self.output_dir, MODEL_FILE))
        run_dir.atomic_write_json(os.path.join(self.output_dir, METRICS_FILE), metrics)
        return metrics


def train_final(config: Config, arc=None, data=None) -> dict[str, Any]:
    """Trains (or resumes) the final model of one architecture; returns ``final_metrics.json``."""
    return FinalRun(config, arc, data).run()


def arc_from_derived(path: str) -> str:
    """The best architecture string of a ``derived.json`` file (or of a search output directory)."""
    return run_dir.read_derived_arc(path)
