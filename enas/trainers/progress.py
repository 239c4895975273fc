"""A progress bar for long loops (Keras' Progbar), silent when ``run.progress`` is off."""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf


def report_epoch(record: dict[str, Any], writer, log, show: bool) -> None:
    """Writes an epoch's record: TensorBoard scalars ``epoch/<key>``, one line of ``log``, and prints it.

    ``writer`` is a ``tf.summary`` writer, ``log`` a :class:`enas.trainers.run_dir.JsonlLog`; ``show``
    prints the record as ``key=value`` pairs. Counters (epoch, global_step) are not plotted.
    """
    with writer.as_default(step=record["epoch"]):
        for key, value in record.items():
            if key not in ("epoch", "global_step") and isinstance(value, float) and math.isfinite(value):
                tf.summary.scalar(f"epoch/{key}", value)
    writer.flush()
    log.append(record)
    if show:
        # Lists (per-decision choice frequencies, warnings) stay in the log; warnings print on their own.
        print(" ".join(f"{k}={round(v, 4) if isinstance(v, float) else v}" for k, v in record.items()
                       if not isinstance(v, list)), flush=True)


class ProgressReporter:
    """Shows ``current/total`` steps with running metrics.

    Args:
      total: steps in the loop.
      title: printed above the bar.
      run_config: :class:`enas.config.RunConfig` (``progress`` turns the bar on, ``log_every`` sets
        how often it is redrawn).
      start: the step the loop starts from (when resuming).
    """

    def __init__(self, total: int, title: str, run_config, start: int = 0):
        self.enabled = bool(run_config.progress)
        self.every = max(1, int(run_config.log_every))
        self.total = total
        self._bar = None
        if self.enabled:
            print(title, flush=True)
            self._bar = keras.utils.Progbar(total, stateful_metrics=["loss", "lr"])
            if start:
                self._bar.update(start)

    def update(self, current: int, **metrics) -> None:
        if self._bar is not None and (current % self.every == 0 or current == self.total):
            self._bar.update(current, values=list(metrics.items()))
