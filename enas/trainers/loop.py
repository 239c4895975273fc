"""The epoch loop search and final training share.

One epoch: the task's training steps (each checked for a non-finite loss, counted in checkpointed
position counters, summarised in TensorBoard, shown in the progress bar, checkpointed on an
interrupt and every ``--checkpoint_every_*``), then what the run does after its steps (a search:
the strategy's phase), then one log line (``report_epoch``, with the seconds of each phase of the
epoch: :mod:`enas.trainers.timing`) and the epoch-end checkpoint. The
per-epoch sums behind the log line are checkpointed variables, so a resumed epoch logs what an
uninterrupted one would. :class:`enas.trainers.search.SearchRun` and
:class:`enas.trainers.final.FinalRun` fill in the hooks.
"""

from __future__ import annotations

import abc
import math
import os
from typing import Any, Mapping

import tensorflow as tf

from enas.errors import TrainingError
from enas.trainers import distribute, run_dir
from enas.trainers.checkpoints import RunCheckpoint
from enas.trainers.progress import ProgressReporter, report_epoch
from enas.trainers.timing import EpochTimer

#: position counters every run has; a run may add its own (reset to 0 at each epoch's end).
BASE_COUNTERS = ("epoch", "step_in_epoch", "global_step")


class EpochLoop(abc.ABC):
    """Drives ``task`` for ``config.run.num_epochs`` epochs with interruption-safe checkpoints.

    Subclasses set :attr:`log_name` and :attr:`summary_prefix`, call :meth:`_open` once their task
    and trackables exist, and implement :meth:`train_step`, :meth:`accumulate`,
    :meth:`nonfinite_message` and :meth:`epoch_record`; :meth:`after_steps` is optional.
    """

    #: the per-epoch JSON-lines log in the output directory.
    log_name: str = ""
    #: TensorBoard scalars of each step: ``<prefix>/loss`` and ``<prefix>/lr``.
    summary_prefix: str = ""
    #: the phases of the epoch's time (``time_<phase>`` keys, adding up to ``seconds``), the phase of
    #: the training steps and that of :meth:`after_steps` (None: not timed apart).
    timer_phases: tuple = ()
    train_phase: str = ""
    after_steps_phase = None

    def _open(self, trackables: Mapping[str, Any], counters, sum_names) -> None:
        """The checkpoint (restored when one exists), the epoch sums, the log and the summary writer."""
        self.sums = {name: tf.Variable(0.0, dtype=tf.float64, trainable=False, name=name) for name in sum_names}
        self.checkpoint = RunCheckpoint(os.path.join(self.output_dir, "checkpoints"),
                                        {**trackables, self._sums_key: self.sums}, counters,
                                        run_config=self.config.run,
                                        restore_directory=distribute.chief_checkpoints(self.output_dir))
        self.checkpoint.restore()
        self.log = run_dir.JsonlLog(os.path.join(self.output_dir, self.log_name))
        self.log.drop_after(self.checkpoint["epoch"])  # epochs logged after the checkpoint are redone
        self.writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "tensorboard"))
        self.timer = EpochTimer(self.timer_phases)  # each epoch line's seconds per phase

    #: checkpoint key of the epoch sums (kept per run kind so older checkpoints stay readable).
    _sums_key = "epoch_sums"

    # -- hooks ------------------------------------------------------------------------------------
    @abc.abstractmethod
    def train_step(self) -> Mapping[str, float]:
        """One training step of the task; returns at least ``loss`` and ``lr``."""

    @abc.abstractmethod
    def accumulate(self, metrics: Mapping[str, float]) -> None:
        """Adds one step's metrics to the epoch sums."""

    @abc.abstractmethod
    def nonfinite_message(self, epoch: int, step: int, metrics: Mapping[str, float]) -> str:
        """The error of a non-finite loss at ``step`` of ``epoch`` (what to do included)."""

    def after_steps(self, epoch: int, guard) -> None:
        """Runs after an epoch's training steps, before its log line (a search's strategy phase)."""

    @abc.abstractmethod
    def epoch_record(self, epoch: int) -> dict[str, Any]:
        """The epoch's log line (evaluation included, timed in the ``eval`` phase), from the sums; the
        loop adds ``seconds`` and the ``time_*`` keys."""

    # -- the loop ---------------------------------------------------------------------------------
    def run_epochs(self) -> None:
        """Runs (or resumes) the epochs up to ``config.run.num_epochs``."""
        ckpt, run = self.checkpoint, self.config.run
        steps = self.task.steps_per_epoch()
        self.timer.start()
        with run_dir.InterruptGuard() as guard:
            while ckpt["epoch"] < run.num_epochs:
                epoch = ckpt["epoch"]
                with self.timer.phase(self.train_phase):
                    self._train_epoch(epoch, steps, guard)
                if self.after_steps_phase:
                    with self.timer.phase(self.after_steps_phase):
                        self.after_steps(epoch, guard)
                else:
                    self.after_steps(epoch, guard)
                record = self.epoch_record(epoch)
                # ``seconds`` is the whole epoch, and the ``time_*`` keys add up to it. The epoch-end
                # checkpoint is written after the line (resume redoes a logged epoch otherwise), so its
                # time counts in the next epoch's ``time_checkpoint``.
                record.update(self.timer.record())
                report_epoch(record, self.writer, self.log)
                self.timer.start()
                for var in self.sums.values():
                    var.assign(0.0)
                for name in ckpt.counters:
                    if name not in ("epoch", "global_step"):
                        ckpt[name] = 0
                ckpt["epoch"] = epoch + 1
                with self.timer.phase("checkpoint"):
                    ckpt.save()

    def checkpoint_and_stop(self, guard) -> None:
        """Saves a checkpoint and ends the run with :class:`run_dir.Interrupted` (a signal arrived)."""
        path = self.checkpoint.save()
        raise run_dir.Interrupted(
            f"{guard.signal_name}: checkpoint written to {path} (epoch {self.checkpoint['epoch']}, step "
            f"{self.checkpoint['step_in_epoch']}); run the same command again to resume")

    def _train_epoch(self, epoch: int, steps: int, guard) -> None:
        ckpt = self.checkpoint
        if ckpt["step_in_epoch"] >= steps:
            return
        self.task.begin_epoch(epoch, skip_steps=ckpt["step_in_epoch"])
        bar = ProgressReporter(steps, f"epoch {epoch + 1}/{self.config.run.num_epochs}", self.config.run,
                               start=ckpt["step_in_epoch"])
        while ckpt["step_in_epoch"] < steps:
            metrics = self.train_step()
            if not math.isfinite(metrics["loss"]):
                raise TrainingError(self.nonfinite_message(epoch, ckpt["step_in_epoch"], metrics))
            ckpt["step_in_epoch"] = ckpt["step_in_epoch"] + 1
            ckpt["global_step"] = ckpt["global_step"] + 1
            self.accumulate(metrics)
            with self.writer.as_default(step=ckpt["global_step"]):
                tf.summary.scalar(f"{self.summary_prefix}/loss", metrics["loss"])
                tf.summary.scalar(f"{self.summary_prefix}/lr", metrics["lr"])
            bar.update(ckpt["step_in_epoch"], loss=metrics["loss"], lr=metrics["lr"])
            if guard.requested:
                self.checkpoint_and_stop(guard)
            with self.timer.phase("checkpoint"):
                ckpt.maybe_save()
