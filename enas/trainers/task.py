"""The two interfaces between the generic loops and a task (a child model with its data).

The search loop (``enas.trainers.search``) and the final-training loop (``enas.trainers.final``)
know nothing of images, text or any search space: they drive a :class:`SearchTask` or a
:class:`FinalTask`. ``enas.trainers.image_task`` implements both for image classification (macro,
micro); ``enas.trainers.language_task`` for the Penn Treebank language model (rnn).

Architectures cross these interfaces as int32 tensors of controller tokens (``[num_tokens]``).
Metrics come back as dicts of Python floats. A task's step functions are compiled once
(``tf.function``) so that one traced graph serves every architecture.
"""

from __future__ import annotations

import abc
from typing import Any, Callable, Mapping, Optional

from enas.errors import ConfigError


class SearchTask(abc.ABC):
    """A shared-weight child and its data, as the search loop drives it."""

    #: the shared-weight child model (a Keras model).
    model: Any

    @abc.abstractmethod
    def steps_per_epoch(self) -> int:
        """Child training steps in one epoch (after any cap from the run config)."""

    @abc.abstractmethod
    def begin_epoch(self, epoch: int, skip_steps: int = 0) -> None:
        """Prepares epoch ``epoch``: its learning rate and its data, with the first ``skip_steps``
        training batches skipped (resuming mid-epoch sees the batches an uninterrupted run would)."""

    @abc.abstractmethod
    def train_step(self, arc) -> Mapping[str, float]:
        """One child minibatch with architecture ``arc``; returns at least ``loss``, ``lr``."""

    #: the reward batch-norm modes (``--child_reward_bn``) the child can score with; () without BN.
    reward_modes: tuple = ()

    @abc.abstractmethod
    def reward(self, arc, mode: Optional[str] = None) -> float:
        """The reward of ``arc`` on the next validation minibatch (without entropy bonus).

        ``mode``: a reward batch-norm mode of :attr:`reward_modes` (None: the run's mode).
        """

    @abc.abstractmethod
    def evaluate(self, split: str, sample_arc: Callable[[], Any], max_batches: int = 0,
                 mode: Optional[str] = None) -> Mapping[str, float]:
        """Evaluates on ``split`` (``valid`` or ``test``); each batch uses ``sample_arc()``."""

    @abc.abstractmethod
    def score(self, arc, num_batches: int, mode: Optional[str] = None) -> float:
        """Shared-weight score of one architecture on the first ``num_batches`` validation batches
        (0: all), the same batches for every architecture."""

    @abc.abstractmethod
    def trackables(self) -> Mapping[str, Any]:
        """Objects ``tf.train.Checkpoint`` saves for this task (model, optimizer, counters)."""

    # -- the continuous relaxation (DARTS), for a child with a mixture mode -----------------------------
    # ``weights``: float ``[num_tokens, M]``, per token of the architecture's layout the weights of its
    # choices (see ``enas.spaces.Space.supports_mixture``). Each is a compiled function of its own,
    # traced once, so the single-path steps above keep their graphs.

    def mixture_train_step(self, weights) -> Mapping[str, float]:
        """One child minibatch (the next training batch) with the mixture forward of ``weights``, the
        child's optimizer and learning rate as :meth:`train_step`; returns at least ``loss``, ``lr``."""
        raise ConfigError(self._no_mixture())

    def mixture_valid_gradient(self, weights) -> tuple:
        """``(loss, gradient)``: the mixture's loss on the next validation minibatch (the one
        :meth:`reward` would read) and its gradient w.r.t. ``weights`` (``[num_tokens, M]``); the child's
        weights are unchanged."""
        raise ConfigError(self._no_mixture())

    def _no_mixture(self) -> str:
        space = getattr(getattr(self, "space", None), "name", "?")
        return (f"the {space} space's shared child has no mixture mode (continuous relaxation), which "
                "--search_strategy=darts needs; use --search_strategy=enas or random")


class FinalTask(abc.ABC):
    """A fixed-architecture child and its data, as the final-training loop drives it."""

    #: the fixed child model (a Keras model).
    model: Any

    @abc.abstractmethod
    def steps_per_epoch(self) -> int:
        """Training steps in one epoch (after any cap from the run config)."""

    @abc.abstractmethod
    def begin_epoch(self, epoch: int, skip_steps: int = 0) -> None:
        """Prepares epoch ``epoch`` (learning rate, data), skipping ``skip_steps`` batches."""

    @abc.abstractmethod
    def train_step(self) -> Mapping[str, float]:
        """One training minibatch; returns at least ``loss`` and ``lr``."""

    @abc.abstractmethod
    def evaluate(self, split: str, max_batches: int = 0) -> Mapping[str, float]:
        """Evaluates on ``split`` (``valid`` or ``test``)."""

    @abc.abstractmethod
    def trackables(self) -> Mapping[str, Any]:
        """Objects ``tf.train.Checkpoint`` saves for this task."""

    def observe_validation(self, metrics: Mapping[str, float]) -> None:
        """Told each epoch's validation metrics (the language task's averaging trigger reads them)."""

    @abc.abstractmethod
    def export(self, path: str) -> None:
        """Writes the trained model to ``path`` (a ``.keras`` file)."""


def check_num_classes(data_config, actual: int, noun: str = "classes") -> None:
    """Raises ConfigError when ``--num_classes`` is set and differs from the data's ``actual`` count."""
    expected = data_config.num_classes
    if expected and expected != actual:
        raise ConfigError(f"--num_classes={expected}, but the {data_config.dataset} data has {actual} {noun}; "
                          f"pass --num_classes={actual} (or 0 to take it from the data)")
