"""The search loop: alternate child epochs and search-strategy phases, then derive.

Nothing here knows which search space or strategy it runs: the space's task (``enas.trainers.tasks``)
owns the child model and its data, the strategy (``enas.strategies``, ``--search_strategy``) proposes
architectures. Per epoch (reference, "Training loop"):

1. train the shared child for one epoch, one ``strategy.child_step`` per minibatch (ENAS, random: a
   fresh architecture proposed for every minibatch; DARTS: the mixture of all candidates, each step
   after an update of its architecture weights on a validation minibatch);
2. the strategy's phase, if due (ENAS: every ``controller.train_every`` epochs, ``train_steps``
   REINFORCE updates of ``num_aggregate`` samples, each rewarded by the child on one validation
   minibatch, child frozen; random search: none);
3. evaluate on the validation split (each batch its own proposed architecture), log the epoch with
   the search's health (``enas.trainers.health``), checkpoint.

Then derivation (``enas.trainers.derive``) writes ``derived.json``.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from enas.config import Config
from enas.spaces import get_space
from enas.strategies import make_strategy
from enas.trainers import distribute, run_dir
from enas.trainers.health import HealthMonitor
from enas.trainers.loop import EpochLoop
from enas.trainers.tasks import make_search_task
from enas.trainers.timing import PHASES, TimedTask

SEARCH_LOG = "search_log.jsonl"
# "controller_step" counts the strategy's phase steps (the name keeps older checkpoints readable).
_COUNTERS = ("epoch", "step_in_epoch", "controller_step", "global_step")
_CHILD_SUMS = ("child_loss", "child_accuracy", "child_ppl", "child_steps", "controller_updates", "child_lr")


class SearchRun(EpochLoop):
    """One search: its task, strategy, checkpoint and logs (the epoch loop is :class:`EpochLoop`).

    Args:
      config: the run's :class:`enas.config.Config` (``child.search_for`` names the space,
        ``search.strategy`` the strategy).
      data: optional preloaded data for the task (tests share one dataset between runs).
    """

    log_name = SEARCH_LOG
    summary_prefix = "child"
    timer_phases = PHASES
    train_phase = "child_train"
    after_steps_phase = "strategy"

    def __init__(self, config: Config, data=None):
        config = distribute.start(config)  # --distribution: the strategy first; workers but the chief write elsewhere
        self.config = config.validate()
        self.space = get_space(config.child.search_for)
        self.space.reward_bn(config.search)  # an unsupported reward mode fails before anything is written
        from enas.strategies import get_strategy  # pylint: disable=import-outside-toplevel

        get_strategy(config.search.strategy).check_space(self.space, config)  # likewise an unknown strategy
        self.output_dir = config.run.output_dir
        run_dir.check_output_dir(config, "search")  # before the data is loaded; writes nothing
        keras.utils.set_random_seed(config.run.seed)
        self.task = make_search_task(self.space, config, data)
        self.strategy = make_strategy(self.space, config)
        self.resuming = run_dir.prepare_output_dir(config, "search")  # inputs are valid: config.json
        self.health = HealthMonitor(self.strategy.decisions, config.run.num_epochs)
        trackables = dict(self.task.trackables())
        trackables.update(self.strategy.trackables())
        trackables.update(health=self.health)
        self._open(trackables, _COUNTERS, _CHILD_SUMS + tuple(self.strategy.metric_names))
        self.health.start(self.strategy)
        # What the strategy sees of the task: its calls are charged to the phases of the epoch's time.
        self.timed_task = TimedTask(self.task, self.timer)

    def sample_arc(self):
        """One architecture (int32 tokens) proposed by the strategy."""
        return self.strategy.propose()

    def run(self) -> dict[str, Any]:
        """Runs (or resumes) the search to ``num_epochs`` and the derivation; returns ``derived``."""
        self.run_epochs()
        from enas.trainers.derive import derive_and_write  # pylint: disable=import-outside-toplevel
        return derive_and_write(self.config, self.space, self.task, self.strategy, self.output_dir,
                                writer=self.writer)

    # -- the epoch loop's hooks -------------------------------------------------------------------
    def train_step(self):
        # The strategy trains the child (default: one proposed architecture, ``task.train_step``); its
        # own time in the step (proposing, for DARTS its logits' step) is charged to "propose" and
        # "strategy", the child's to "child_train".
        with self.timer.phase("propose"):
            self._arc, metrics = self.strategy.child_step(self.timed_task)
        self.health.observe(self._arc)
        return metrics

    def nonfinite_message(self, epoch: int, step: int, metrics) -> str:
        return (f"non-finite child loss {metrics['loss']} at epoch {epoch}, step {step} with "
                f"architecture {' '.join(str(int(t)) for t in np.asarray(self._arc))}; the last checkpoint in "
                f"{self.output_dir} is intact: lower the learning rate (--child_lr_max; --child_lr for rnn) or set "
                "--child_grad_bound, then resume")

    def accumulate(self, metrics) -> None:
        self.sums["child_loss"].assign_add(metrics["loss"])
        for key in ("accuracy", "ppl"):  # image tasks report accuracy, language tasks perplexity
            if key in metrics:
                self.sums["child_" + key].assign_add(metrics[key])
        self.sums["child_steps"].assign_add(1.0)
        self.sums["child_lr"].assign(metrics["lr"])  # checkpointed: a resumed epoch logs it too

    def after_steps(self, epoch: int, guard) -> None:
        """The strategy's phase (ENAS: REINFORCE updates of the controller)."""
        ckpt = self.checkpoint
        while ckpt["controller_step"] < self.strategy.phase_steps(epoch):
            metrics = self.strategy.phase_step(self.timed_task)
            for name in self.strategy.metric_names:
                self.sums[name].assign_add(float(metrics.get(name, 0.0)))
            self.sums["controller_updates"].assign_add(1.0)
            ckpt["controller_step"] = ckpt["controller_step"] + 1
            if guard.requested:
                self.checkpoint_and_stop(guard)
            with self.timer.phase("checkpoint"):
                ckpt.maybe_save()

    def epoch_record(self, epoch: int) -> dict[str, Any]:
        ckpt, run = self.checkpoint, self.config.run
        sums = {name: float(var.numpy()) for name, var in self.sums.items()}
        child_steps, updates = max(sums["child_steps"], 1.0), int(sums["controller_updates"])
        record = {
            "epoch": epoch + 1, "global_step": ckpt["global_step"],
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
