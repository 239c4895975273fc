"""The Penn Treebank recurrent cell space (ENAS section 3.1, corrected ``enas_lm`` design).

A cell has a fixed node 0 and ``N`` searched nodes. Node 0 is a tanh highway on the input and the
previous hidden state: ``c, g = split([x_t, h_{t-1}] W_prev)``, ``s_0 = h_{t-1} + sigmoid(g) *
(tanh(c) - h_{t-1})``. Node ``j`` (1..N) reads one earlier node ``prev_j`` in ``0..j-1`` and applies
activation ``func_j``: ``c, g = split(s_prev W_j)``, ``s_j = s_prev + sigmoid(g) * (f(c) - s_prev)``.
The cell output (and next hidden state) is the average of nodes 1..N, all of them as in enas_lm.

An architecture's string is the enas_lm integer format, ``prev_1 func_1 prev_2 func_2 ...`` (2N
integers); activation ids follow enas_lm: 0 tanh, 1 ReLU, 2 sigmoid, 3 identity. The enas_lm README
cell ``0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2`` has 8 nodes.

This module imports no model code. The child models (:mod:`enas.spaces.rnn.shared`,
:mod:`enas.spaces.rnn.fixed`, on the common :mod:`enas.spaces.rnn.models`) import it;
:mod:`enas.spaces.rnn` registers the space as ``"rnn"`` (task ``"language"``).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Sequence

from enas.spaces.tokens import integer_tokens
from enas.errors import ArchitectureError

# Activation ids of enas_lm; a configuration searches the first ``num_branches`` of them.
ACTIVATION_NAMES = ("tanh", "relu", "sigmoid", "identity")
NUM_ACTIVATIONS = len(ACTIVATION_NAMES)


def _token_role(position: int) -> str:
    return f"node {position // 2 + 1} {'prev' if position % 2 == 0 else 'func'}"


@dataclasses.dataclass(frozen=True)
class RnnArc:
    """One recurrent cell.

    Args:
      prevs: ``prevs[j - 1]`` is the node (0..j-1) that searched node j reads.
      funcs: ``funcs[j - 1]`` is node j's activation id (index into ``ACTIVATION_NAMES``).
    """

    prevs: tuple[int, ...]
    funcs: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "prevs", tuple(int(p) for p in self.prevs))
        object.__setattr__(self, "funcs", tuple(int(f) for f in self.funcs))
        if not self.prevs:
            raise ArchitectureError("an rnn architecture needs at least one node")
        if len(self.prevs) != len(self.funcs):
            raise ArchitectureError(f"prevs has {len(self.prevs)} nodes but funcs has {len(self.funcs)}")
        for index, (prev, func) in enumerate(zip(self.prevs, self.funcs)):
            node = index + 1
            if not 0 <= prev < node:
                raise ArchitectureError(
                    f"node {node} prev (token {2 * index}) is {prev}; expected 0..{node - 1}")
            if not 0 <= func < NUM_ACTIVATIONS:
                raise ArchitectureError(f"node {node} func (token {2 * index + 1}) is {func}; expected "
                                        f"0..{NUM_ACTIVATIONS - 1} ({', '.join(ACTIVATION_NAMES)})")

    @property
    def num_nodes(self) -> int:
        return len(self.prevs)

    @property
    def func_names(self) -> tuple[str, ...]:
        return tuple(ACTIVATION_NAMES[f] for f in self.funcs)

    # --- tokens -------------------------------------------------------------------------------
    @classmethod
    def from_tokens(cls, tokens: Sequence[Any]) -> "RnnArc":
        """The architecture of an enas_lm integer sequence (a controller sample)."""
        return cls._from_values(integer_tokens(tokens, _token_role))

    @classmethod
    def _from_values(cls, values: list[int]) -> "RnnArc":
        if not values or len(values) % 2:
            raise ArchitectureError(
                f"an rnn architecture has 2 tokens (prev, func) per node; got {len(values)}")
        return cls(tuple(values[0::2]), tuple(values[1::2]))

    def to_tokens(self) -> list[int]:
        """The enas_lm integer sequence ``prev_1 func_1 ... prev_N func_N``."""
        return [value for pair in zip(self.prevs, self.funcs) for value in pair]

    # --- strings ------------------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> "RnnArc":
        """Parses the whitespace-separated enas_lm string (``|`` separators are ignored)."""
        return cls._from_values(integer_tokens(text.replace("|", " ").split(), _token_role, from_text=True))

    def to_string(self) -> str:
        return " ".join(str(t) for t in self.to_tokens())

    def __str__(self) -> str:
        return self.to_string()

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"space": "rnn", "prevs": list(self.prevs), "funcs": list(self.funcs)})

    @classmethod
    def from_json(cls, text: str) -> "RnnArc":
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
            space, prevs, funcs = data.get("space", "rnn"), data["prevs"], data["funcs"]
        except (ValueError, AttributeError, KeyError, TypeError) as error:
            raise ArchitectureError(f"not an rnn architecture JSON object ({error}): {text[:80]!r}") from None
        if space != "rnn":
            raise ArchitectureError(f"JSON architecture is for space {space!r}, not 'rnn'")
        return cls(tuple(prevs), tuple(funcs))


def random_arc(num_nodes: int, num_branches: int = NUM_ACTIVATIONS, rng=None) -> RnnArc:
    """A uniformly random cell (``rng``: a ``random.Random`` or ``numpy`` Generator)."""
    import random  # pylint: disable=import-outside-toplevel
    rng = rng or random.Random()
    draw = (lambda n: int(rng.integers(n))) if hasattr(rng, "integers") else (lambda n: rng.randrange(n))
    return RnnArc(tuple(draw(j) for j in range(1, num_nodes + 1)),
                  tuple(draw(num_branches) for _ in range(num_nodes)))


def check_arc(arc: RnnArc, child_config) -> None:
    """Raises ArchitectureError when ``arc`` does not fit ``child_config`` (names the flag)."""
    if not isinstance(arc, RnnArc):
        raise ArchitectureError(f"expected an RnnArc, got {type(arc).__name__}")
    if arc.num_nodes != child_config.num_layers:
        raise ArchitectureError(f"architecture has {arc.num_nodes} nodes but --child_num_layers="
                                f"{child_config.num_layers}")
    if not 0 < child_config.num_branches <= NUM_ACTIVATIONS:
        raise ArchitectureError(f"--child_num_branches={child_config.num_branches}: the rnn space has "
                                f"{NUM_ACTIVATIONS} activations ({', '.join(ACTIVATION_NAMES)})")
    for index, func in enumerate(arc.funcs):
        if func >= child_config.num_branches:
            raise ArchitectureError(
                f"node {index + 1} func (token {2 * index + 1}) is {func} ({ACTIVATION_NAMES[func]}); "
                f"expected an activation id below --child_num_branches={child_config.num_branches}")


def num_fixed_params(num_nodes: int, hidden_size: int, vocab_size: int) -> int:
    """Parameters of the fixed child: tied embedding, W_prev, one [H, 2H] matrix per node."""
    hidden = hidden_size
    return vocab_size * hidden + (2 * hidden) * (2 * hidden) + num_nodes * hidden * (2 * hidden)


def describe(arc: RnnArc, child_config, num_classes: int, input_shape=None) -> str:
    """Parameters and a one-line-per-node diagram of the fixed child (``num_classes``: vocabulary)."""
    del input_shape  # language models take token ids
    hidden = child_config.hidden_size
    params = num_fixed_params(arc.num_nodes, hidden, num_classes)
    lines = [f"rnn cell, {arc.num_nodes} searched nodes, hidden size {hidden}, vocabulary {num_classes}",
             f"arc: {arc.to_string()}",
             f"trainable parameters: {params:,} (embedding tied to the softmax: {num_classes * hidden:,})",
             "node 0: highway tanh([x_t, h_(t-1)])"]
    for index, (prev, func) in enumerate(zip(arc.prevs, arc.funcs)):
        lines.append(f"node {index + 1}: highway {ACTIVATION_NAMES[func]:<8} (node {prev})")
    lines.append(f"output: h_t = mean(node 1..{arc.num_nodes}); logits = h_t embedding^T (no bias)")
    return "\n".join(lines)


def to_dot(arc: RnnArc) -> str:
    """A graphviz DOT diagram of the cell: nodes labelled with their activation, all averaged."""
    lines = ["digraph rnn {", "  rankdir=TB;", "  node [shape=box, style=rounded];",
             '  x [label="x_t", shape=ellipse];', '  h_prev [label="h_(t-1)", shape=ellipse];',
             '  node0 [label="0: tanh"];', "  x -> node0;", "  h_prev -> node0;"]
    for index, (prev, func) in enumerate(zip(arc.prevs, arc.funcs)):
        lines.append(f'  node{index + 1} [label="{index + 1}: {ACTIVATION_NAMES[func]}"];')
        lines.append(f"  node{prev} -> node{index + 1};")
    lines.append('  avg [label="mean", shape=circle];')
    lines.extend(f"  node{j} -> avg [style=dashed];" for j in range(1, arc.num_nodes + 1))
    lines.append('  h [label="h_t", shape=ellipse];')
    lines.append("  avg -> h;")
    lines.append("}")
    return "\n".join(lines)


def decision_space(num_nodes: int, num_funcs: int = NUM_ACTIVATIONS):
    """The controller's decisions (:class:`enas.controller.SearchSpace`): per node ``j = 1..N`` a
    previous node and an activation, the token layout of :class:`RnnArc` (enas_lm's controller)."""
    # Imported lazily: the controller package imports Keras; the architecture value does not need it.
    from enas.controller.search_space import Anchor, Categorical, InputChoice, SearchSpace, positive

    positive(num_nodes, "num_nodes")
    positive(num_funcs, "num_funcs")
    decisions: list = [Anchor(zero_value=True, lstm_step=False)]
    for node in range(1, num_nodes + 1):
        decisions.append(InputChoice(f"node {node}, prev", creates_anchor=True,
                                     distance_penalty=True, scale_by_distance=True))
        decisions.append(Categorical(f"node {node}, func", num_funcs, table="func", tied=True))
    return SearchSpace(decisions, name="rnn")


def controller_space(child_config):
    """:func:`decision_space` of a configuration (``child_num_layers`` nodes, ``child_num_branches``)."""
    return decision_space(child_config.num_layers, child_config.num_branches)
