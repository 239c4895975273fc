"""Progress of long loops: a live bar on a terminal, plain lines in a log file, per-epoch lines.

``run.progress`` turns the step-level progress on or off; the one line per epoch is always printed.
When stdout is not a terminal (a batch job writing to a file) the bar's carriage returns and colour
codes would garble the file, so plain ``step current/total ...`` lines are printed instead.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import keras
import tensorflow as tf


def format_value(value: Any) -> str:
    """A number as printed in progress lines: 4 significant digits (``5e-05``, not ``0.0001``)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def report_epoch(record: dict[str, Any], writer, log, show: bool = True) -> None:
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
        print(" ".join(f"{k}={format_value(v)}" for k, v in record.items() if not isinstance(v, list)), flush=True)


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class ProgressReporter:
    """Shows ``current/total`` steps with running metrics.

    Args:
      total: steps in the loop.
      title: printed above the bar (and at the start of each plain line).
      run_config: :class:`enas.config.RunConfig` (``progress`` turns it on, ``log_every`` sets how
        often it is redrawn or a plain line is printed).
      start: the step the loop starts from (when resuming).
      stream: where to write (default ``sys.stdout``); a non-terminal gets plain lines.
    """

    def __init__(self, total: int, title: str, run_config, start: int = 0, stream=None):
        self.enabled = bool(run_config.progress)
        self.every = max(1, int(run_config.log_every))
        self.total = total
        self.title = title
        self.stream = stream if stream is not None else sys.stdout
        self._bar = None
        if self.enabled and _is_terminal(self.stream):
            print(title, file=self.stream, flush=True)
            self._bar = keras.utils.Progbar(total, stateful_metrics=["loss", "lr"])
            if start:
                self._bar.update(start)

    def update(self, current: int, **metrics) -> None:
        if not self.enabled or (current % self.every != 0 and current != self.total):
            return
        if self._bar is not None:
            self._bar.update(current, values=list(metrics.items()))
        else:
            values = " ".join(f"{key}={format_value(float(value))}" for key, value in metrics.items())
            print(f"{self.title} step {current}/{self.total} {values}".rstrip(), file=self.stream, flush=True)
