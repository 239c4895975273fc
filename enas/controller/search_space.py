"""Search spaces as declarative sequences of controller decisions (pure Python, no TensorFlow).

A :class:`SearchSpace` is the ordered list of steps the ENAS controller LSTM takes. Each step is
one of four kinds:

* :class:`Categorical` -- pick one of ``num_choices`` options (an op, an activation). Decisions
  that name the same ``table`` share one embedding table and one softmax.
* :class:`InputChoice` -- pick one earlier *anchor* by pointer attention (a micro cell input, the
  previous node of a PTB cell).
* :class:`SkipConnections` -- one independent bit per earlier anchor (the macro skip connections).
* :class:`Anchor` -- no token: an LSTM step whose output becomes an attention target (the micro
  cell inputs and nodes).

The steps are listed in the order the controller samples them; ``token_order`` says where each
sampled token goes in the architecture string, so the token layout is exactly the official ENAS
integer format that the child models read:

* ``SearchSpace.macro(L)``: per layer ``i`` an op id then ``i`` skip bits (``L + L(L-1)/2`` ints);
* ``SearchSpace.micro(B)``: normal cell then reduction cell, each node ``index1 op1 index2 op2``
  (``8B`` ints);
* ``SearchSpace.rnn(N)``: per node ``j = 1..N`` a pair ``(prev, func)`` (``2N`` ints, enas_lm).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional, Sequence, Union

import numpy as np

from enas.errors import ArchitectureError, ConfigError


def _float_tuple(values: Optional[Sequence[float]]) -> Optional[tuple]:
    return None if values is None else tuple(float(v) for v in values)


@dataclasses.dataclass(frozen=True)
class Categorical:
    """Pick one of ``num_choices`` options; one token in ``[0, num_choices - 1]``.

    Args:
      name: label used in error messages (``"layer 3, op"``).
      num_choices: number of options.
      table: name of the embedding table and softmax; decisions naming the same table share them
        (and must agree on ``num_choices``, ``bias_init`` and ``tied``). ``None``: a private table.
      bias_init: initial values of a learned logit bias (``None``: no bias), as the micro
        controller's ``[10, 10, 0, 0, 0]``.
      fixed_bias: constant added to the logits after the tanh (micro normal cell's +-0.25).
      tied: logits are ``h . embedding^T`` instead of a separate softmax matrix (enas_lm).
      op_tanh_reduce: use ``tanh_constant / op_tanh_reduce`` for these logits (micro ops).
    """

    name: str
    num_choices: int
    table: Optional[str] = None
    bias_init: Optional[tuple] = None
    fixed_bias: Optional[tuple] = None
    tied: bool = False
    op_tanh_reduce: bool = False

    def __post_init__(self):
        object.__setattr__(self, "bias_init", _float_tuple(self.bias_init))
        object.__setattr__(self, "fixed_bias", _float_tuple(self.fixed_bias))


@dataclasses.dataclass(frozen=True)
class InputChoice:
    """Pick one of the anchors created so far by pointer attention; one token.

    The attention logits are ``v . tanh(W1 anchor_i + W2 h)`` over the anchors ``0..n-1`` that
    exist when the step is taken (``n`` is derived by the space), so the token is in ``[0, n-1]``.

    Args:
      name: label used in error messages.
      creates_anchor: after choosing, this step's LSTM output becomes anchor ``n`` (PTB nodes).
      distance_penalty: subtract ``(n - i)^2 / 6`` from logit ``i`` after the tanh (PTB).
      scale_by_distance: feed back ``anchor / (0.1 + n - choice)`` instead of the anchor (PTB).
    """

    name: str
    creates_anchor: bool = False
    distance_penalty: bool = False
    scale_by_distance: bool = False


@dataclasses.dataclass(frozen=True)
class SkipConnections:
    """One independent bit per existing anchor (macro skips); the step then becomes an anchor.

    Bit ``j`` has logits ``[-q_j, q_j]`` with ``q_j = v . tanh(W1 anchor_j + W2 h)``. The next
    input is the mean of the selected anchors ``sum / (1 + #skips)``, or the start embedding when
    there are no earlier anchors. The controller reports a KL penalty toward a target skip rate.

    Args:
      name: label used in error messages (``"layer 5"`` gives ``"layer 5, skip bit 2"``).
    """

    name: str


@dataclasses.dataclass(frozen=True)
class Anchor:
    """No token: create an attention target; the next input is the start embedding.

    Args:
      zero_value: the anchor's value (fed back when chosen) is zeros; its attention key is still
        ``W1 h`` (the micro cell inputs).
      lstm_step: take an LSTM step whose output is the anchor. ``False``: a zero anchor with a
        zero key and no step (node 0 of the PTB cell).
      restart: forget earlier anchors first (the start of a new cell).
    """

    zero_value: bool = False
    lstm_step: bool = True
    restart: bool = False


Decision = Union[Categorical, InputChoice, SkipConnections, Anchor]
_KINDS = {cls.__name__: cls for cls in (Categorical, InputChoice, SkipConnections, Anchor)}


@dataclasses.dataclass(frozen=True)
class Step:
    """A decision with what the space derived for it.

    Args:
      decision: the decision.
      num_candidates: anchors it can choose from (input choices and skips; 0 otherwise).
      positions: token positions it writes, in sampling order (``()`` for an anchor).
      table: the resolved table name (categorical decisions; ``""`` otherwise).
    """

    decision: Decision
    num_candidates: int
    positions: tuple
    table: str = ""


class SearchSpace:
    """An ordered sequence of controller decisions and the token layout they produce.

    Args:
      decisions: the steps in sampling order (:class:`Categorical`, :class:`InputChoice`,
        :class:`SkipConnections`, :class:`Anchor`).
      token_order: for each sampled token, in sampling order, its position in the token sequence
        (a permutation of ``range(num_tokens)``; default: sampling order).
      name: a name used in messages (``macro``, ``micro``, ``rnn``, ``custom``).

    Raises:
      ConfigError: an empty space, no token-producing decision, an input choice with no earlier
        anchor, tables with inconsistent sizes, or a bad ``token_order``.
    """

    def __init__(self, decisions: Sequence[Decision], token_order: Optional[Sequence[int]] = None,
                 name: str = "custom"):
        self.name = name
        self.decisions = tuple(decisions)
        if not self.decisions:
            raise ConfigError(f"search space {name!r} is empty: give at least one decision "
                              "(Categorical, InputChoice or SkipConnections)")
        sampled_choices, sampled_labels, steps_raw = [], [], []
        tables: dict[str, Categorical] = {}
        num_anchors = 0
        for index, decision in enumerate(self.decisions):
            where = f"search space {name!r}, decision {index}"
            if isinstance(decision, Anchor):
                num_anchors = (0 if decision.restart else num_anchors) + 1
                steps_raw.append((decision, 0, 0, ""))
            elif isinstance(decision, Categorical):
                if int(decision.num_choices) < 1:
                    raise ConfigError(f"{where} ({decision.name}): num_choices must be >= 1, "
                                      f"got {decision.num_choices}")
                table = decision.table or f"decision_{index}"
                for field, size in (("bias_init", decision.bias_init),
                                    ("fixed_bias", decision.fixed_bias)):
                    if size is not None and len(size) != decision.num_choices:
                        raise ConfigError(f"{where} ({decision.name}): {field} has {len(size)} "
                                          f"values for {decision.num_choices} choices")
                first = tables.setdefault(table, decision)
                if (first.num_choices, first.bias_init, first.tied) != (
                        decision.num_choices, decision.bias_init, decision.tied):
                    raise ConfigError(f"{where} ({decision.name}) shares table {table!r} with "
                                      f"{first.name!r} but differs in num_choices, bias_init or tied")
                sampled_choices.append(decision.num_choices)
                sampled_labels.append(decision.name)
                steps_raw.append((decision, 0, 1, table))
            elif isinstance(decision, InputChoice):
                if num_anchors == 0:
                    raise ConfigError(f"{where} ({decision.name}): an input choice needs an earlier "
                                      "anchor (an Anchor step or a creates_anchor input choice)")
                sampled_choices.append(num_anchors)
                sampled_labels.append(decision.name)
                steps_raw.append((decision, num_anchors, 1, ""))
                num_anchors += int(decision.creates_anchor)
            elif isinstance(decision, SkipConnections):
                sampled_choices.extend([2] * num_anchors)
                sampled_labels.extend(f"{decision.name}, skip bit {j}" for j in range(num_anchors))
                steps_raw.append((decision, num_anchors, num_anchors, ""))
                num_anchors += 1
            else:
                raise ConfigError(f"{where}: expected Categorical, InputChoice, SkipConnections or "
                                  f"Anchor, got {type(decision).__name__}")
        self.num_tokens = len(sampled_choices)
        if self.num_tokens == 0:
            raise ConfigError(f"search space {name!r} has no decision that produces a token")
        order = list(range(self.num_tokens)) if token_order is None else [int(p) for p in token_order]
        if sorted(order) != list(range(self.num_tokens)):
            raise ConfigError(f"search space {name!r}: token_order must be a permutation of "
                              f"range({self.num_tokens}), got {list(token_order)}")
        self.token_order = tuple(order)
        steps, cursor = [], 0
        for decision, candidates, count, table in steps_raw:
            steps.append(Step(decision, candidates, tuple(order[cursor:cursor + count]), table))
            cursor += count
        self.steps = tuple(steps)
        self.num_choices = [0] * self.num_tokens  # per token position
        self.labels = [""] * self.num_tokens
        for sampled, position in enumerate(order):
            self.num_choices[position] = sampled_choices[sampled]
            self.labels[position] = sampled_labels[sampled]
        self._upper = np.asarray(self.num_choices, dtype=np.int64)
        self.tables = dict(tables)

    # ----------------------------------------------------------------------------------- builders
    # Conveniences: each space's package owns its decision sequence (``decision_space``); these
    # return it, so ``SearchSpace.macro(12)`` and the macro space's controller agree by construction.
    @classmethod
    def macro(cls, num_layers: int, *args, **kwargs) -> "SearchSpace":
        """The macro space: per layer an op (``num_branches`` options) and one bit per earlier layer
        (:func:`enas.spaces.macro.arc.decision_space`)."""
        from enas.spaces.macro.arc import decision_space  # pylint: disable=import-outside-toplevel
        return decision_space(num_layers, *args, **kwargs)

    @classmethod
    def micro(cls, *args, **kwargs) -> "SearchSpace":
        """The micro space: a normal cell then a reduction cell of ``num_cells`` nodes each
        (:func:`enas.spaces.micro.arc.decision_space`, which documents the arguments)."""
        from enas.spaces.micro.arc import decision_space  # pylint: disable=import-outside-toplevel
        return decision_space(*args, **kwargs)

    @classmethod
    def rnn(cls, num_nodes: int, *args, **kwargs) -> "SearchSpace":
        """The PTB recurrent cell of enas_lm: per node ``j = 1..N`` a previous node and a function
        (:func:`enas.spaces.rnn.arc.decision_space`)."""
        from enas.spaces.rnn.arc import decision_space  # pylint: disable=import-outside-toplevel
        return decision_space(num_nodes, *args, **kwargs)

    # --------------------------------------------------------------------------------- queries
    @property
    def num_skip_bits(self) -> int:
        """Total number of skip-connection bits in a token sequence."""
        return sum(s.num_candidates for s in self.steps if isinstance(s.decision, SkipConnections))

    def validate(self, tokens: Any) -> np.ndarray:
        """Check a token sequence ``[T]`` or a batch ``[B, T]``; return it as int32 numpy.

        Raises:
          ArchitectureError: wrong rank or length, non-integer values, or a token out of range
            (the message names the position, e.g. ``token 17 (layer 5, skip bit 2) is 3; expected
            0 or 1``).
        """
        try:
            array = np.asarray(tokens)
        except Exception as error:  # e.g. ragged nested lists
            raise ArchitectureError(f"{self.name} architecture: cannot read tokens ({error})") from None
        if array.dtype == object or array.ndim not in (1, 2):
            raise ArchitectureError(f"{self.name} architecture: expected a sequence of "
                                    f"{self.num_tokens} integers or a batch [B, {self.num_tokens}]; "
                                    f"got an array of shape {array.shape}")
        if array.shape[-1] != self.num_tokens:
            raise ArchitectureError(f"{self.name} architecture: expected {self.num_tokens} tokens, "
                                    f"got {array.shape[-1]}")
        if array.dtype.kind not in "iub":
            if array.dtype.kind != "f" or not np.all(np.isfinite(array) & (array == np.round(array))):
                raise ArchitectureError(f"{self.name} architecture: tokens must be integers, got "
                                        f"dtype {array.dtype}")
        batch = array.reshape(-1, self.num_tokens).astype(np.int64)
        bad = (batch < 0) | (batch >= self._upper)
        if bad.any():
            row, position = (int(i) for i in np.argwhere(bad)[0])
            prefix = f"architecture {row}: " if array.ndim == 2 else ""
            raise ArchitectureError(
                f"{prefix}{self.name} token {position} ({self.labels[position]}) is "
                f"{batch[row, position]}; expected {_expected(self.num_choices[position])}")
        return array.astype(np.int32)

    def random_tokens(self, batch_size: int = 1, seed: Optional[int] = None) -> np.ndarray:
        """Uniformly random valid tokens ``[batch_size, T]`` (for tests and random search)."""
        rng = np.random.default_rng(seed)
        return (rng.random((batch_size, self.num_tokens)) * self._upper).astype(np.int32)

    # ---------------------------------------------------------------------------- serialisation
    def get_config(self) -> dict:
        """A JSON-serialisable description; :meth:`from_config` inverts it."""
        return {"name": self.name, "token_order": list(self.token_order),
                "decisions": [{"kind": type(d).__name__, **dataclasses.asdict(d)}
                              for d in self.decisions]}

    @classmethod
    def from_config(cls, config: dict) -> "SearchSpace":
        """Inverse of :meth:`get_config`."""
        decisions = []
        for item in config["decisions"]:
            fields = dict(item)
            kind = fields.pop("kind")
            if kind not in _KINDS:
                raise ConfigError(f"unknown decision kind {kind!r}; expected one of {sorted(_KINDS)}")
            decisions.append(_KINDS[kind](**fields))
        return cls(decisions, token_order=config.get("token_order"), name=config.get("name", "custom"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((self.name, self.decisions, self.token_order))

    def __repr__(self) -> str:
        return (f"SearchSpace(name={self.name!r}, num_tokens={self.num_tokens}, "
                f"decisions={len(self.decisions)})")


def positive(value: int, name: str) -> None:
    if int(value) != value or value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {value!r}")


def _expected(num_choices: int) -> str:
    if num_choices == 1:
        return "0"
    if num_choices == 2:
        return "0 or 1"
    return f"an integer in [0, {num_choices - 1}]"
