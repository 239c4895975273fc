"""The search loop: alternate child epochs and search-strategy phases, then derive.

Nothing here knows which search space or strategy it runs: the space's task (``enas.trainers.tasks``)
owns the child model and its data, the strategy (``enas.strategies``, ``--search_strategy``) proposes
architectures. Per epoch (reference, "Training loop"):

1. train the shared child for one epoch, a fresh architecture proposed for every minibatch;
2. the strategy's phase, if due (ENAS: every ``controller.train_every`` epochs, ``train_steps``
   REINFORCE updates of ``num_aggregate`` samples, each rewarded by the child on one validation
   minibatch, child frozen; random search: none);
3. evaluate on the validation split (each batch its own proposed architecture), log the epoch with
   the search's health (``enas.trainers.health``), checkpoint.

Then derivation (``enas.trainers.derive``) writes ``derived.json``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from enas.config import Config
from enas.errors import TrainingError
from enas.spaces import get_space
from enas.strategies import make_strategy
from enas.trainers import run_dir
from enas.trainers.checkpoints import RunCheckpoint
from enas.trainers.health import HealthMonitor
from enas.trainers.progress import ProgressReporter, report_epoch
from enas.trainers.tasks import make_search_task
from enas.trainers.timing import EpochTimer, TimedRewards

SEARCH_LOG = "search_log.jsonl"
# "controller_step" counts the strategy's phase steps (the name keeps older checkpoints readable).
_COUNTERS = ("epoch", "step_in_epoch", "controller_step", "global_step")
_CHILD_SUMS = ("child_loss", "child_accuracy", "child_ppl", "child_steps", "controller_updates", "child_lr")


class SearchRun:
    """One search: its task, strategy, checkpoint and logs.

    Args:
      config: the run's :class:`enas.config.Config` (``child.search_for`` names the space,
        ``search.strategy`` the strategy).
      data: optional preloaded data for the task (tests share one dataset between runs).
    """

    def __init__(self, config: Config, data=None):
        self.config = config.validate()
        self.space = get_space(config.child.search_for)
        self.space.reward_bn(config.search)  # an unsupported reward mode fails before anything is written
        from enas.strategies import get_strategy  # pylint: disable=import-outside-toplevel

        get_strategy(config.search.strategy)  # likewise an unknown strategy
        self.output_dir = config.run.output_dir
        run_dir.check_output_dir(config, "search")  # before the data is loaded; writes nothing
        keras.utils.set_random_seed(config.run.seed)
        self.task = make_search_task(self.space, config, data)
        self.strategy = make_strategy(self.space, config)
        self.resuming = run_dir.prepare_output_dir(config, "search")  # inputs are valid: config.json
        self.health = HealthMonitor(self.strategy.decisions, config.run.num_epochs)
        names = _CHILD_SUMS + tuple(self.strategy.metric_names)
        self.sums = {name: tf.Variable(0.0, dtype=tf.float64, trainable=False, name=name) for name in names}
        trackables = dict(self.task.trackables())
        trackables.update(self.strategy.trackables())
        trackables.update(epoch_sums=self.sums, health=self.health)
        self.checkpoint = RunCheckpoint(os.path.join(self.output_dir, "checkpoints"), trackables, _COUNTERS,
                                        run_config=config.run)
        self.checkpoint.restore()
        self.health.start(self.strategy)
        self.log = run_dir.JsonlLog(os.path.join(self.output_dir, SEARCH_LOG))
        self.log.drop_after(self.checkpoint["epoch"])  # epochs logged after the checkpoint are redone
        self.writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "tensorboard"))
        self.timer = EpochTimer()  # each epoch line's seconds per phase (enas.trainers.timing)

    def sample_arc(self):
        """One architecture (int32 tokens) proposed by the strategy."""
        return self.strategy.propose()

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Runs (or resumes) the search to ``num_epochs`` and the derivation; returns ``derived``."""
        ckpt, run = self.checkpoint, self.config.run
        steps = self.task.steps_per_epoch()
        self.timer.start()
        with run_dir.InterruptGuard() as guard:
            while ckpt["epoch"] < run.num_epochs:
                epoch = ckpt["epoch"]
                with self.timer.phase("child_train"):
                    self._train_child_epoch(epoch, steps, guard)
                with self.timer.phase("strategy"):
                    self._strategy_phase(epoch, guard)
                self._end_epoch(epoch)
        from enas.trainers.derive import derive_and_write  # pylint: disable=import-outside-toplevel
        return derive_and_write(self.config, self.space, self.task, self.strategy, self.output_dir,
                                writer=self.writer)

    def _checkpoint_and_stop(self, guard) -> None:
        path = self.checkpoint.save()
        raise run_dir.Interrupted(
            f"{guard.signal_name}: checkpoint written to {path} (epoch {self.checkpoint['epoch']}, step "
            f"{self.checkpoint['step_in_epoch']}); run the same command again to resume")

    def _train_child_epoch(self, epoch: int, steps: int, guard) -> None:
        ckpt = self.checkpoint
        if ckpt["step_in_epoch"] >= steps:
            return
        self.task.begin_epoch(epoch, skip_steps=ckpt["step_in_epoch"])
        bar = ProgressReporter(steps, f"epoch {epoch + 1}/{self.config.run.num_epochs}", self.config.run,
                               start=ckpt["step_in_epoch"])
        while ckpt["step_in_epoch"] < steps:
            with self.timer.phase("propose"):
                arc = self.sample_arc()
            self.health.observe(arc)
            metrics = self.task.train_step(arc)
            if not math.isfinite(metrics["loss"]):
                raise TrainingError(
                    f"non-finite child loss {metrics['loss']} at epoch {epoch}, step {ckpt['step_in_epoch']} with "
                    f"architecture {' '.join(str(int(t)) for t in np.asarray(arc))}; the last checkpoint in "
                    f"{self.output_dir} is intact: lower the learning rate (--child_lr_max; --child_lr for rnn) or set "
                    "--child_grad_bound, then resume")
            ckpt["step_in_epoch"] = ckpt["step_in_epoch"] + 1
            ckpt["global_step"] = ckpt["global_step"] + 1
            self.sums["child_loss"].assign_add(metrics["loss"])
            for key in ("accuracy", "ppl"):  # image tasks report accuracy, language tasks perplexity
                if key in metrics:
                    self.sums["child_" + key].assign_add(metrics[key])
            self.sums["child_steps"].assign_add(1.0)
            with self.writer.as_default(step=ckpt["global_step"]):
                tf.summary.scalar("child/loss", metrics["loss"])
                tf.summary.scalar("child/lr", metrics["lr"])
            bar.update(ckpt["step_in_epoch"], loss=metrics["loss"], lr=metrics["lr"])
            self.sums["child_lr"].assign(metrics["lr"])  # checkpointed: a resumed epoch logs it too
            if guard.requested:
                self._checkpoint_and_stop(guard)
            with self.timer.phase("checkpoint"):
                ckpt.maybe_save()

    def _strategy_phase(self, epoch: int, guard) -> None:
        ckpt = self.checkpoint
        while ckpt["controller_step"] < self.strategy.phase_steps(epoch):
            metrics = self.strategy.phase_step(TimedRewards(self.task, self.timer))
            for name in self.strategy.metric_names:
                self.sums[name].assign_add(float(metrics.get(name, 0.0)))
            self.sums["controller_updates"].assign_add(1.0)
            ckpt["controller_step"] = ckpt["controller_step"] + 1
            if guard.requested:
                self._checkpoint_and_stop(guard)
            with self.timer.phase("checkpoint"):
                ckpt.maybe_save()

    def _end_epoch(self, epoch: int) -> dict[str, Any]:
        ckpt, run = self.checkpoint, self.config.run
        sums = {name: float(var.numpy()) for name, var in self.sums.items()}
        child_steps, updates = max(sums["child_steps"], 1.0), int(sums["controller_updates"])
        record = {
            "epoch": epoch + 1, "global_step": ckpt["global_step"], "seconds": 0.0,
            "child_loss": sums["child_loss"] / child_steps,
            f"child_{self._child_metric}": sums[f"child_{self._child_metric}"] / child_steps,
            "child_lr": sums["child_lr"] if sums["child_steps"] else float("nan"),
        }
        record.update(self.strategy.epoch_record(
            {name: sums[name] / max(updates, 1) for name in self.strategy.metric_names}, updates))
        if (epoch + 1) % run.eval_every_epochs == 0 and self._has_valid():
            with self.timer.phase("eval"):
                valid = self.task.evaluate("valid", self.sample_arc, max_batches=run.max_eval_batches)
            record.update({f"valid_{key}": value for key, value in valid.items() if key != "examples"})
        self.health.end_epoch(record, self.strategy, self.writer, epoch)
        record.update(self.timer.record())  # seconds, and time_<phase> adding up to it
        report_epoch(record, self.writer, self.log)
        self.timer.start()  # the checkpoint below is written after the line: the next epoch's time
        for var in self.sums.values():
            var.assign(0.0)
        ckpt["epoch"], ckpt["step_in_epoch"], ckpt["controller_step"] = epoch + 1, 0, 0
        with self.timer.phase("checkpoint"):
            self.checkpoint.save()
        return record

    @property
    def _child_metric(self) -> str:
        return "ppl" if self.space.task == "language" else "accuracy"

    def _has_valid(self) -> bool:
        return self.config.data.valid_size > 0 or self.space.task == "language"


def search(config: Config, data=None) -> dict[str, Any]:
    """Runs (or resumes) a search in ``config.run.output_dir`` and derives the architecture.

    Returns the contents of ``derived.json`` (best architecture string, score, top-k).
    """
    return SearchRun(config, data).run()
