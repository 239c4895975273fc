"""The registry of search spaces: what the trainers need to know about one space, by name.

A search space is a plug-in (one module per role under one name: ``macro``, ``micro``, ``rnn``).
Its child-model module builds a :class:`Space` and calls :func:`register_space` at import time, so
adding a space means adding files, not editing the trainers. The trainers only ever call the
members below.

Conventions every space follows:

* An architecture is a typed value (``space.arc_type``) with ``from_string(text)``,
  ``from_tokens(tokens)``, ``to_tokens() -> list[int]``, ``to_string()``, ``to_json()`` and
  ``from_json(text)``. Its tokens are the official ENAS integers, identical to the controller's
  token sequence for the space, so a sampled token tensor goes straight into the shared child.
* ``build_shared_child(child_config, num_classes, input_shape)`` returns a Keras model whose
  ``call(inputs, arc, training=...)`` takes the architecture as an int32 tensor ``[num_tokens]``.
* ``build_fixed_child(arc, child_config, num_classes, input_shape)`` returns a Keras model of one
  architecture that outputs logits, or ``(logits, aux_logits)`` when it has an auxiliary head.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable, Optional

from enas.errors import ConfigError

# Built-in spaces: name -> module that registers it when imported.
_BUILTIN_MODULES = {
    "macro": "enas.child_models.macro",
    "micro": "enas.child_models.micro",
    "rnn": "enas.child_models.rnn",
}
_REGISTRY: dict[str, "Space"] = {}


@dataclasses.dataclass(frozen=True)
class Space:
    """One search space, as the trainers see it.

    Args:
      name: registry name (the ``--search_for`` value).
      task: ``"image"`` (classification, reward = accuracy) or ``"language"`` (reward = c / ppl).
      arc_type: the architecture value class.
      controller_space: ``child_config -> enas.controller.SearchSpace`` of the same token layout.
      build_shared_child: builds the shared-weight child (see the module docstring).
      build_fixed_child: builds the child of one architecture (see the module docstring).
      check_arc: ``(arc, child_config) -> None``; raises ``ArchitectureError`` when the architecture
        does not fit the configuration (for example a layer count other than ``child_num_layers``).
      describe: ``(arc, child_config, num_classes, input_shape) -> str``, a text diagram.
      to_dot: ``(arc) -> str``, a graphviz DOT diagram, or None when the space has none.
      reward_bn_modes: the ``--child_reward_bn`` modes its shared child supports (``moving``,
        ``batch``, ``recalibrate``; empty for a child without batch norm).
      default_reward_bn: the mode used when ``--child_reward_bn`` is not set (one of the above).
    """

    name: str
    task: str
    arc_type: type
    controller_space: Callable[[Any], Any]
    build_shared_child: Callable[..., Any]
    build_fixed_child: Callable[..., Any]
    check_arc: Callable[[Any, Any], None]
    describe: Optional[Callable[..., str]] = None
    to_dot: Optional[Callable[[Any], str]] = None
    reward_bn_modes: tuple = ()
    default_reward_bn: str = ""

    def reward_bn(self, search_config) -> str:
        """The reward batch-norm mode of a search (``search_config.reward_bn`` or the default).

        Raises:
          ConfigError: a mode this space's shared child does not support.
        """
        mode = search_config.reward_bn or self.default_reward_bn
        if mode and mode not in self.reward_bn_modes:
            supported = ", ".join(self.reward_bn_modes) or "no mode (its child has no batch norm; leave it unset)"
            raise ConfigError(f"--child_reward_bn: the {self.name} space supports {supported}, not {mode!r}")
        return mode

    def parse_arc(self, text: str, child_config) -> Any:
        """Parses an architecture string and checks it against the configuration."""
        arc = self.arc_type.from_string(text)
        self.check_arc(arc, child_config)
        return arc

    def arc_from_tokens(self, tokens, child_config) -> Any:
        """Builds the architecture value from controller tokens and checks it."""
        arc = self.arc_type.from_tokens([int(t) for t in tokens])
        self.check_arc(arc, child_config)
        return arc


def register_space(space: Space) -> Space:
    """Registers ``space`` under ``space.name`` (the last registration of a name wins)."""
    if space.task not in ("image", "language"):
        raise ValueError(f"space {space.name!r}: task must be 'image' or 'language', got {space.task!r}")
    _REGISTRY[space.name] = space
    return space


def available_spaces() -> list[str]:
    """Names of the registered and built-in spaces."""
    return sorted(set(_REGISTRY) | set(_BUILTIN_MODULES))


def get_space(name: str) -> Space:
    """The registered space called ``name``; imports built-in spaces on first use."""
    if name not in _REGISTRY and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    if name not in _REGISTRY:
        raise ConfigError(f"--search_for: unknown search space {name!r}; "
                          f"expected one of {', '.join(available_spaces())}")
    return _REGISTRY[name]


def set_training_progress(model, fraction: float) -> None:
    """Tells every layer of ``model`` that has ``set_progress`` how far training is (0..1).

    Schedules inside a fixed child (micro drop-path) read it; the final trainer calls this once
    per step.
    """
    for layer in model._flatten_layers(include_self=False, recursive=True):  # pylint: disable=protected-access
        setter = getattr(layer, "set_progress", None)
        if callable(setter):
            setter(fraction)
