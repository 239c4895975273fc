"""The ENAS search loop: alternate child epochs and controller phases, then derive.

Nothing here knows which search space it runs: the space's task (``enas.trainers.tasks``) owns the
child model and its data, the controller owns the decisions. Per epoch (reference, "Training loop"):

1. train the shared child for one epoch, a fresh architecture sampled for every minibatch;
2. every ``controller.train_every`` epochs, ``train_steps`` controller updates of ``num_aggregate``
   samples each, every sample rewarded by the child on one validation minibatch (child frozen);
3. evaluate on the validation split (each batch its own sampled architecture), log, checkpoint.

Then derivation (``enas.trainers.derive``) writes ``derived.json``.
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
from enas.controller import Controller, Reinforce
from enas.errors import TrainingError
from enas.spaces import get_space
from enas.trainers import run_dir
from enas.trainers.checkpoints import RunCheckpoint
from enas.trainers.progress import ProgressReporter, report_epoch
from enas.trainers.tasks import make_search_task

SEARCH_LOG = "search_log.jsonl"
_COUNTERS = ("epoch", "step_in_epoch", "controller_step", "global_step")
_SUMS = ("child_loss", "child_accuracy", "child_ppl", "child_steps", "reward", "baseline", "entropy", "skip_rate",
         "controller_loss", "controller_updates", "child_lr")


class SearchRun:
    """One search: its task, controller, REINFORCE update, checkpoint and logs.

    Args:
      config: the run's :class:`enas.config.Config` (``child.search_for`` names the space).
      data: optional preloaded data for the task (tests share one dataset between runs).
    """

    def __init__(self, config: Config, data=None):
        self.config = config.validate()
        self.space = get_space(config.child.search_for)
        self.output_dir = config.run.output_dir
        run_dir.check_output_dir(config, "search")  # before the data is loaded; writes nothing
        keras.utils.set_random_seed(config.run.seed)
        self.task = make_search_task(self.space, config, data)
        self.resuming = run_dir.prepare_output_dir(config, "search")  # inputs are valid: config.json
        self.controller = Controller.from_config(self.space.controller_space(config.child), config.controller)
        self.reinforce = Reinforce.from_config(self.controller, config.controller)
        self.sums = {name: tf.Variable(0.0, dtype=tf.float64, trainable=False, name=name) for name in _SUMS}
        trackables = dict(self.task.trackables())
        trackables.update(controller=self.controller, reinforce=self.reinforce, epoch_sums=self.sums)
        self.checkpoint = RunCheckpoint(os.path.join(self.output_dir, "checkpoints"), trackables, _COUNTERS,
                                        run_config=config.run)
        self.checkpoint.restore()
        self.log = run_dir.JsonlLog(os.path.join(self.output_dir, SEARCH_LOG))
        self.log.drop_after(self.checkpoint["epoch"])  # epochs logged after the checkpoint are redone
        self.writer = tf.summary.create_file_writer(os.path.join(self.output_dir, "tensorboard"))

    def sample_arc(self):
        """One architecture (int32 tokens) from the controller."""
        return self.controller.sample(1).tokens[0]

    # -- the loop ---------------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        """Runs (or resumes) the search to ``num_epochs`` and the derivation; returns ``derived``."""
        ckpt, run = self.checkpoint, self.config.run
        steps = self.task.steps_per_epoch()
        with run_dir.InterruptGuard() as guard:
            while ckpt["epoch"] < run.num_epochs:
                epoch, start = ckpt["epoch"], time.time()
                self._train_child_epoch(epoch, steps, guard)
                if self._controller_due(epoch):
                    self._train_controller(guard)
                self._end_epoch(epoch, time.time() - start)
        from enas.trainers.derive import derive_and_write  # pylint: disable=import-outside-toplevel
        return derive_and_write(self.config, self.space, self.task, self.controller, self.output_dir,
                                writer=self.writer)

    def _controller_due(self, epoch: int) -> bool:
        cc = self.config.controller
        return cc.train_steps > 0 and (epoch + 1) % cc.train_every == 0

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
            arc = self.sample_arc()
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
            ckpt.maybe_save()

    def _train_controller(self, guard) -> None:
        ckpt, cc = self.checkpoint, self.config.controller
        while ckpt["controller_step"] < cc.train_steps:
            sample = self.controller.sample(cc.num_aggregate)
            tokens = np.asarray(sample.tokens)
            rewards = np.array([self.task.reward(tokens[i]) for i in range(tokens.shape[0])], np.float32)
            metrics = self.reinforce.update(tokens, rewards)
            for name, key in (("reward", "reward"), ("baseline", "baseline"), ("entropy", "entropy"),
                              ("skip_rate", "skip_rate"), ("controller_loss", "loss")):
                self.sums[name].assign_add(float(metrics.get(key, 0.0)))
            self.sums["controller_updates"].assign_add(1.0)
            ckpt["controller_step"] = ckpt["controller_step"] + 1
            if guard.requested:
                self._checkpoint_and_stop(guard)
            ckpt.maybe_save()

    def _end_epoch(self, epoch: int, seconds: float) -> dict[str, Any]:
        ckpt, run = self.checkpoint, self.config.run
        sums = {name: float(var.numpy()) for name, var in self.sums.items()}
        child_steps, updates = max(sums["child_steps"], 1.0), sums["controller_updates"]
        record = {
            "epoch": epoch + 1, "global_step": ckpt["global_step"], "seconds": round(seconds, 3),
            "child_loss": sums["child_loss"] / child_steps,
            f"child_{self._child_metric}": sums[f"child_{self._child_metric}"] / child_steps,
            "child_lr": sums["child_lr"] if sums["child_steps"] else float("nan"),
            "controller_lr": self.config.controller.learning_rate, "controller_updates": int(updates),
        }
        if updates:
            for name in ("reward", "baseline", "entropy", "skip_rate", "controller_loss"):
                record[("mean_" if name == "reward" else "") + name] = sums[name] / updates
            if not self.controller.space.num_skip_bits:  # micro, rnn: no skip decisions to rate
                del record["skip_rate"]
        if (epoch + 1) % run.eval_every_epochs == 0 and self._has_valid():
            valid = self.task.evaluate("valid", self.sample_arc, max_batches=run.max_eval_batches)
            record.update({f"valid_{key}": value for key, value in valid.items() if key != "examples"})
        report_epoch(record, self.writer, self.log)
        for var in self.sums.values():
            var.assign(0.0)
        ckpt["epoch"], ckpt["step_in_epoch"], ckpt["controller_step"] = epoch + 1, 0, 0
        self.checkpoint.save()
        return record

    @property
    def _child_metric(self) -> str:
        return "ppl" if self.space.task == "language" else "accuracy"

    def _has_valid(self) -> bool:
        return self.config.data.valid_size > 0 or self.space.task == "language"


def search(config: Config, data=None) -> dict[str, Any]:
    """Runs (or resumes) an ENAS search in ``config.run.output_dir`` and derives the architecture.

    Returns the contents of ``derived.json`` (best architecture string, score, top-k).
    """
    return SearchRun(config, data).run()
