"""Where each epoch's time goes: seconds per phase, for the epoch's log line and TensorBoard.

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
#: The phases of a final-training epoch.
FINAL_PHASES = ("train", "eval", "checkpoint", "other")


class EpochTimer:
    """Seconds per phase since :meth:`start`; see the module docstring.

    Args:
      phases: the phase names (``other`` must be one of them); default :data:`PHASES`.
    """

    def __init__(self, phases=PHASES):
        if "other" not in phases:
            raise ValueError(f"the phases {phases} need 'other'")
        self.phases = tuple(phases)
        self._stack: list[str] = []
        self.start()

    def start(self) -> None:
        """Starts a new epoch's clock (all phases at zero)."""
        self.seconds = dict.fromkeys(self.phases, 0.0)
        self._began = self._since = time.perf_counter()

    def _charge(self) -> None:
        now = time.perf_counter()
        self.seconds[self._stack[-1] if self._stack else "other"] += now - self._since
        self._since = now

    @contextlib.contextmanager
    def phase(self, name: str):
        """Charges the time spent inside the block to ``name`` (minus nested phases)."""
        if name not in self.seconds:
            raise ValueError(f"unknown phase {name!r}; one of {self.phases}")
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


#: The search task's methods a strategy calls, and the phase each one's time is charged to.
SEARCH_TASK_PHASES = {"reward": "reward", "train_step": "child_train", "mixture_train_step": "child_train",
                      "mixture_valid_gradient": "strategy"}


class TimedTask:
    """A search task whose methods named in ``phases`` are charged to their phase (all else delegated).

    The search loop hands strategies this view of the task, so that a strategy's own time (ENAS:
    sampling and the REINFORCE update; DARTS: its logits' steps) and the child's time are told apart
    without any timing code in the strategies.
    """

    def __init__(self, task, timer: EpochTimer, phases=None):
        self._task, self._timer = task, timer
        self._phases = dict(SEARCH_TASK_PHASES if phases is None else phases)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._task, name)
        phase = self._phases.get(name)
        if phase is None or not callable(attribute):
            return attribute

        def timed(*args, **kwargs):
            with self._timer.phase(phase):
                return attribute(*args, **kwargs)

        return timed


def TimedRewards(task, timer: EpochTimer) -> TimedTask:  # noqa: N802  (kept for its first callers)
    """A :class:`TimedTask` that times only ``reward``."""
    return TimedTask(task, timer, {"reward": "reward"})
