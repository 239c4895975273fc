"""The Penn Treebank recurrent cell space (enas_lm), registered as ``"rnn"`` (task ``"language"``).

* :mod:`enas.spaces.rnn.arc`: the architecture value (:class:`RnnArc`), the activation table, the
  token layout and the controller's decisions; no model code.
* :mod:`enas.spaces.rnn.models`: the language model both children are (embedding, node 0, dropout,
  time loop); :mod:`enas.spaces.rnn.shared` the shared-weight search child,
  :mod:`enas.spaces.rnn.fixed` the child of one cell.

The model modules import :mod:`~enas.spaces.rnn.arc`, never the reverse; they are imported here only
when a model is built.
"""

from __future__ import annotations

from enas.errors import ArchitectureError
from enas.spaces import Space, register_space
from enas.spaces.rnn.arc import (ACTIVATION_NAMES, NUM_ACTIVATIONS, RnnArc, check_arc,  # noqa: F401
                                 controller_space, decision_space, describe, num_fixed_params, random_arc, to_dot)


def _init_range(child_config, default: float) -> float:
    value = getattr(child_config, "init_range", None)
    return default if value is None else value


def build_shared_child(child_config, num_classes: int, input_shape=None):
    """The shared-weight search child (:class:`enas.spaces.rnn.shared.RnnSharedChild`); ``num_classes``:
    the vocabulary size."""
    from enas.spaces.rnn import models, shared  # pylint: disable=import-outside-toplevel
    del input_shape
    if not 0 < child_config.num_branches <= NUM_ACTIVATIONS:
        raise ArchitectureError(f"--child_num_branches={child_config.num_branches}: the rnn space has "
                                f"{NUM_ACTIVATIONS} activations ({', '.join(ACTIVATION_NAMES)})")
    return shared.RnnSharedChild(
        vocab_size=num_classes, hidden_size=child_config.hidden_size, num_nodes=child_config.num_layers,
        num_branches=child_config.num_branches, **models.keep_probs(child_config),
        init_range=_init_range(child_config, models.SEARCH_INIT_RANGE))


def build_fixed_child(arc: RnnArc, child_config, num_classes: int, input_shape=None):
    """The child of one cell for final training (:class:`enas.spaces.rnn.fixed.RnnFixedChild`)."""
    from enas.spaces.rnn import fixed, models  # pylint: disable=import-outside-toplevel
    del input_shape
    check_arc(arc, child_config)
    return fixed.RnnFixedChild(
        arc_tokens=arc.to_tokens(), vocab_size=num_classes, hidden_size=child_config.hidden_size,
        **models.keep_probs(child_config), init_range=_init_range(child_config, models.FIXED_INIT_RANGE))


SPACE = register_space(Space(
    name="rnn", task="language", arc_type=RnnArc, controller_space=controller_space,
    build_shared_child=build_shared_child, build_fixed_child=build_fixed_child,
    check_arc=check_arc, describe=describe, to_dot=to_dot, supports_mixture=True))
