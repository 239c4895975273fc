"""The search-strategy interface and its registry.

Per epoch the search loop runs the child's training steps through :meth:`SearchStrategy.child_step`
(by default: one architecture per step from :meth:`SearchStrategy.propose`, trained single-path),
then runs :meth:`SearchStrategy.phase_steps` strategy steps
(:meth:`SearchStrategy.phase_step`: for ENAS one REINFORCE update, rewarded by the child on validation
minibatches; a strategy may also train parameters of its own there). Derivation scores the strategy's
:meth:`SearchStrategy.candidates` with the shared weights. Everything a strategy must resume exactly
is in :meth:`SearchStrategy.trackables`, saved in the run's checkpoints.
"""

from __future__ import annotations

import abc
import importlib
import pkgutil
from typing import Any, Mapping, Optional, Sequence

import numpy as np

from enas.errors import ConfigError

_REGISTRY: dict[str, type] = {}


class SearchStrategy(abc.ABC):
    """Proposes architectures (int32 token arrays in the space's controller layout).

    Args:
      space: the :class:`enas.spaces.Space` searched.
      decisions: its decision sequence (:class:`enas.controller.SearchSpace`): token count and
        the number of choices of every token.
      config: the run's :class:`enas.config.Config`.

    Subclasses set :attr:`name` and :attr:`metric_names` and implement :meth:`propose` and
    :meth:`candidates`; a strategy with a phase of its own overrides :meth:`phase_steps`,
    :meth:`phase_step` and :meth:`epoch_record`.
    """

    #: the ``--search_strategy`` value.
    name: str = ""
    #: keys of the dict :meth:`phase_step` returns; the loop averages them over an epoch's phase.
    metric_names: tuple = ()

    def __init__(self, space, decisions, config):
        self.space, self.decisions, self.config = space, decisions, config

    @classmethod
    def check_space(cls, space, config) -> None:
        """Raises ConfigError when the strategy cannot search ``space`` (checked before anything is
        written or loaded); every space by default."""

    @abc.abstractmethod
    def propose(self) -> Any:
        """The architecture of the next child training step (or evaluation batch): tokens ``[T]``."""

    def child_step(self, task) -> tuple[Any, Mapping[str, float]]:
        """One child training step of the search loop: ``(tokens [T], metrics)``, the tokens being the
        architecture the loop's search health counts. The default trains the shared child on one
        :meth:`propose`d architecture; a strategy that trains the child otherwise (DARTS: the mixture of
        all candidates, alternating with updates of its own) overrides it."""
        arc = self.propose()
        return arc, task.train_step(arc)

    def phase_steps(self, epoch: int) -> int:
        """How many :meth:`phase_step` calls follow child epoch ``epoch`` (0-based); 0: none."""
        return 0

    def phase_step(self, task) -> Mapping[str, float]:
        """One strategy step; ``task`` (:class:`enas.trainers.task.SearchTask`) gives rewards."""
        raise ConfigError(f"search strategy {self.name!r} has no phase of its own")

    def epoch_record(self, means: Mapping[str, float], steps: int) -> dict[str, Any]:
        """The strategy's keys of an epoch's log line (``means``: :attr:`metric_names` averaged)."""
        return dict(means) if steps else {}

    @abc.abstractmethod
    def candidates(self, num_samples: int, seed: int) -> list[tuple[np.ndarray, float]]:
        """``num_samples`` architectures for derivation with a prior score each (ties are broken by
        it; ENAS: the log-probability). Repeatable for a seed; must not advance the search's streams."""

    def extra_candidates(self) -> dict[str, np.ndarray]:
        """Named architectures derivation also scores and reports (ENAS: ``greedy``)."""
        return {}

    def policy_entropy(self) -> Optional[float]:
        """Mean per-decision entropy (nats) of the strategy's current distribution; None if it has none."""
        return None

    def trackables(self) -> Mapping[str, Any]:
        """Objects saved in the run's checkpoints (its parameters, optimizer, random state)."""
        return {}


def register_strategy(cls: type) -> type:
    """Registers a :class:`SearchStrategy` subclass under ``cls.name`` (usable as a decorator)."""
    if not (isinstance(cls, type) and issubclass(cls, SearchStrategy)) or not cls.name:
        raise ConfigError(f"register_strategy needs a SearchStrategy subclass with a name, got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _import_builtin_strategies() -> None:
    package = importlib.import_module("enas.strategies")
    for module in pkgutil.iter_modules(package.__path__):
        if module.name != "base":
            importlib.import_module(f"enas.strategies.{module.name}")


def available_strategies() -> list[str]:
    """Names of the registered strategies (the built-in ones included)."""
    _import_builtin_strategies()
    return sorted(_REGISTRY)


def get_strategy(name: str) -> type:
    """The strategy class registered as ``name``."""
    if name not in _REGISTRY:
        _import_builtin_strategies()
    if name not in _REGISTRY:
        raise ConfigError(f"--search_strategy: unknown strategy {name!r}; expected one of "
                          f"{', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def make_strategy(space, config) -> SearchStrategy:
    """The strategy ``config.search.strategy`` for ``space``."""
    cls = get_strategy(config.search.strategy)
    cls.check_space(space, config)
    return cls(space, space.controller_space(config.child), config)


def uniform_log_prob(num_choices: Sequence[int]) -> float:
    """Log-probability of any one architecture under the uniform distribution."""
    return -float(np.sum(np.log(np.asarray(num_choices, np.float64))))
