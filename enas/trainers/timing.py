"""Where each search epoch's time goes: seconds per phase, for the epoch's log line and TensorBoard.

:class:`EpochTimer` runs one clock per epoch and charges every second to exactly one phase: the
innermost :meth:`EpochTimer.phase` block open at the time (a nested block's time is taken out of the
block around it), and whatever no block covers to ``time_other`` (health statistics, logging). So the
``time_*`` keys of an epoch add up to its ``seconds``.

The epoch's clock starts where the previous epoch's line was written (at the start of the run for the
first epoch), so the previous epoch's end-of-epoch checkpoint, written after its line, counts in this
epoch's ``time_checkpoint``.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

#: The phases of a search epoch (the log keys are ``time_<phase>``).
PHASES = ("child_train", "propose", "strategy", "reward", "eval", "checkpoint", "other")


class EpochTimer:
    """Seconds per phase since :meth:`start`; see the module docstring."""

    def __init__(self):
        self._stack: list[str] = []
        self.start()

    def start(self) -> None:
        """Starts a new epoch's clock (all phases at zero)."""
        self.seconds = dict.fromkeys(PHASES, 0.0)
        self._began = self._since = time.perf_counter()

    def _charge(self) -> None:
        now = time.perf_counter()
        self.seconds[self._stack[-1] if self._stack else "other"] += now - self._since
        self._since = now

    @contextlib.contextmanager
    def phase(self, name: str):
        """Charges the time spent inside the block to ``name`` (minus nested phases)."""
        if name not in self.seconds:
            raise ValueError(f"unknown phase {name!r}; one of {PHASES}")
        self._charge()
        self._stack.append(name)
        try:
            yield
        finally:
            self._charge()
            self._stack.pop()

    def record(self) -> dict[str, float]:
        """``{"seconds": total, "time_<phase>": ...}`` since :meth:`start`, rounded to milliseconds."""
        self._charge()
        record = {"seconds": round(time.perf_counter() - self._began, 3)}
        record.update({f"time_{name}": round(value, 3) for name, value in self.seconds.items()})
        return record


class TimedRewards:
    """A search task whose ``reward`` calls are charged to the ``reward`` phase (all else delegated)."""

    def __init__(self, task, timer: EpochTimer):
        self._task, self._timer = task, timer

    def reward(self, *args, **kwargs):
        with self._timer.phase("reward"):
            return self._task.reward(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._task, name)
