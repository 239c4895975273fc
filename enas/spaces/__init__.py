"""The registry of search spaces: what the trainers need to know about one space, by name.

A search space is a plug-in: one package. The built-in ones are the subpackages of this package
(``enas.spaces.macro``, ``enas.spaces.micro``, ``enas.spaces.rnn``), each with an ``arc`` module
that owns the architecture value, the op table and the token layout (and builds the controller's
decisions), and model modules (``shared``, ``fixed``) that import it, never the reverse. A
package's ``__init__`` builds a :class:`Space` and calls :func:`register_space` at import time.

Adding a space adds one package and edits nothing else: a subpackage of ``enas.spaces`` is found by
its name; a space in another distribution is found through the ``enas.spaces`` entry-point group
(``name = "package.module"``, imported on first use of ``name``), or registered by research code with
:func:`register_space`. A space whose ``task`` is ``image`` or ``language`` reuses that task's
trainers as they are. The trainers only ever call the members below.

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
import importlib.metadata
import pkgutil
from typing import Any, Callable, Optional

from enas.errors import ConfigError

_REGISTRY: dict[str, "Space"] = {}
#: the entry-point group through which other distributions provide spaces.
ENTRY_POINT_GROUP = "enas.spaces"


def _builtin_packages() -> dict[str, str]:
    """Space name -> module, for the subpackages of this package (found, not listed)."""
    return {info.name: f"{__name__}.{info.name}" for info in pkgutil.iter_modules(__path__) if info.ispkg}


def _entry_point_modules() -> dict[str, str]:
    """Space name -> module, from the installed distributions' ``enas.spaces`` entry points."""
    try:
        return {entry.name: entry.value for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    except Exception:  # pylint: disable=broad-except  (broken metadata must not break the built-in spaces)
        return {}


def _known_modules() -> dict[str, str]:
    return {**_entry_point_modules(), **_builtin_packages()}


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
      supports_mixture: its shared child has a continuous relaxation, ``mixture_call(inputs, weights,
        ...)`` with ``weights`` float ``[num_tokens, M]`` (one row of choice weights per token), which
        the ``darts`` search strategy needs.
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
    supports_mixture: bool = False

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
    """Names of the registered, built-in and entry-point spaces."""
    return sorted(set(_REGISTRY) | set(_known_modules()))


def get_space(name: str) -> Space:
    """The registered space called ``name``; imports a built-in or entry-point space on first use."""
    if name not in _REGISTRY:
        module = _known_modules().get(name)
        if module is not None:
            importlib.import_module(module.split(":")[0])
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
