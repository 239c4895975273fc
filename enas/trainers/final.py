"""Final training: one fixed architecture trained from scratch, evaluated on the test set.

Writes ``config.json`` before step 0, ``train_log.jsonl`` (one line an epoch), TensorBoard scalars,
checkpoints (resumable: run the same command again), and at the end ``final_metrics.json`` and
``model.keras``. Like the search loop, it knows no search space: the space's final task does.
"""

from __future__ import annotations

import math
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from enas.config import Config
from enas.errors import ConfigError
from enas.spaces import get_space
from enas.trainers import distribute, run_dir
from enas.trainers.loop import BASE_COUNTERS, EpochLoop
from enas.trainers.tasks import make_final_task
from enas.trainers.timing import FINAL_PHASES

TRAIN_LOG = "train_log.jsonl"
METRICS_FILE = "final_metrics.json"
MODEL_FILE = "model.keras"


class FinalRun(EpochLoop):
    """Final training of one architecture (the epoch loop is :class:`EpochLoop`).

    Args:
      config: the run's :class:`enas.config.Config`; the architecture is ``child.fixed_arc`` unless
        ``arc`` is given.
      arc: an architecture value of the space (optional).
      data: optional preloaded data for the task.
    """

    log_name = TRAIN_LOG
    summary_prefix = "train"
    timer_phases = FINAL_PHASES
    train_phase = "train"
    _sums_key = "epoch_loss"  # the checkpoint key of the epoch's loss sum (older checkpoints stay readable)

    def __init__(self, config: Config, arc=None, data=None):
        config = distribute.start(config)  # --distribution: the strategy first; workers but the chief write elsewhere
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
        self._open(self.task.trackables(), BASE_COUNTERS, ("loss_sum", "loss_steps"))

    def _has_valid(self) -> bool:
        return self.config.data.valid_size > 0 or self.space.task == "language"

    def run(self) -> dict[str, Any]:
        """Trains (or resumes) to ``num_epochs``; returns the final metrics."""
        self.run_epochs()
        return self._finish()

    # -- the epoch loop's hooks -------------------------------------------------------------------
    def train_step(self):
        return self.task.train_step()

    def nonfinite_message(self, epoch: int, step: int, metrics) -> str:
        return (f"non-finite loss {metrics['loss']} at epoch {epoch}, step {step} training "
                f"{self.arc.to_string()}; the last checkpoint in {self.output_dir} is intact")

    def accumulate(self, metrics) -> None:
        self.sums["loss_sum"].assign_add(metrics["loss"])
        self.sums["loss_steps"].assign_add(1.0)

    def epoch_record(self, epoch: int) -> dict[str, Any]:
        run = self.config.run
        loss_sum, loss_steps = (float(self.sums[name].numpy()) for name in ("loss_sum", "loss_steps"))
        record = {"epoch": epoch + 1, "global_step": self.checkpoint["global_step"],
                  "train_loss": loss_sum / loss_steps if loss_steps else float("nan")}
        if (epoch + 1) % run.eval_every_epochs == 0 and self._has_valid():
            with self.timer.phase("eval"):
                valid = self.task.evaluate("valid", max_batches=run.max_eval_batches)
            self.task.observe_validation(valid)
            record.update({f"valid_{k}": v for k, v in valid.items() if k != "examples"})
        return record

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
