"""The micro (cell) search space of ENAS: the architecture value, op table, token layout and checks.

A micro architecture is two cells, a normal cell and a reduction cell, each of ``B`` computed nodes
(``child_num_cells``; the paper's B = 7 counts the two inputs too). Node ``j`` (``j = 2..B+1``; node 0
is ``h_{i-2}``, node 1 is ``h_{i-1}``) reads two earlier nodes and applies one op to each::

    node_j = op1(node[index1]) + op2(node[index2]),   index1, index2 in 0..j-1

with the ops ``0`` sep-conv 3x3, ``1`` sep-conv 5x5, ``2`` avg-pool 3x3, ``3`` max-pool 3x3, ``4``
identity. The official token string lists ``index1 op1 index2 op2`` for every node of the normal cell,
then for every node of the reduction cell (``8B`` integers), so the published ``micro_final`` arc loads
unchanged::

    arc = MicroArc.from_string("0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 "
                               "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1")

This module imports no model code. The child models, :mod:`enas.spaces.micro.shared` (one graph for
every architecture, search semantics) and :mod:`enas.spaces.micro.fixed` (the final network of one
architecture), import it; :mod:`enas.spaces.micro` registers the space as ``"micro"``.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import random
import re
from typing import NamedTuple, Sequence

from enas.spaces.tokens import integer_tokens
from enas.errors import ArchitectureError, ConfigError

# The op table, by id: (name, kind, kernel size). Both children build their branches from it.
OPS = (("sep_conv_3x3", "sep", 3), ("sep_conv_5x5", "sep", 5), ("avg_pool_3x3", "avg", 3),
       ("max_pool_3x3", "max", 3), ("identity", "identity", 1))
OP_NAMES = tuple(name for name, _, _ in OPS)
OP_KINDS = tuple((kind, size) for _, kind, size in OPS)
NUM_OPS = len(OPS)
SEP_CONV_OPS = tuple(op for op, (kind, _) in enumerate(OP_KINDS) if kind == "sep")
POOL_OPS = tuple(op for op, (kind, _) in enumerate(OP_KINDS) if kind in ("avg", "max"))
IDENTITY_OP = OP_KINDS.index(("identity", 1))
# The controller's op-logit bias starts at +10 for the separable convolutions (official [10, 10, 0, 0, 0]),
# and the normal cell adds a fixed +0.25 to them and -0.25 to the others after the tanh (reference
# section 2, issue #46).
OP_BIAS_LEAD = 10.0
NORMAL_FIXED_BIAS_LEAD = 0.25
CELL_KINDS = ("normal", "reduction")
# Layer names of the auxiliary head start with it, in the shared and the fixed child alike.
AUX_PREFIX = "aux_head"
_SLOT_NAMES = ("index1", "op1", "index2", "op2")

# The arc of the published micro_final.sh script (normal cell, then reduction cell).
PUBLISHED_FINAL_ARC = ("0 2 0 0 0 4 0 1 0 4 1 1 1 0 0 1 0 2 1 1 "
                       "1 0 1 0 0 3 0 2 1 1 3 1 1 0 0 4 0 3 1 1")


class MicroNode(NamedTuple):
    """One computed node: ``op1(node[index1]) + op2(node[index2])``."""

    index1: int
    op1: int
    index2: int
    op2: int


def _is_int(value) -> bool:
    # numbers.Integral covers NumPy integers too; a bool is not a token.
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class MicroArc:
    """A micro architecture: the nodes of the normal cell and of the reduction cell.

    Args:
      normal: ``B`` nodes of the normal cell (:class:`MicroNode` or 4-tuples), node 2 first.
      reduction: ``B`` nodes of the reduction cell.

    Raises:
      ArchitectureError: naming the cell, node, slot and token position of the first bad value.
    """

    normal: tuple
    reduction: tuple

    def __post_init__(self):
        if len(self.normal) != len(self.reduction) or not self.normal:
            raise ArchitectureError(f"the normal cell has {len(self.normal)} nodes and the reduction cell "
                                    f"{len(self.reduction)}; expected the same positive number")
        num_cells = len(self.normal)
        for cell_number, kind in enumerate(CELL_KINDS):
            nodes = []
            for offset, node in enumerate(getattr(self, kind)):
                node_id = offset + 2
                values = tuple(node)
                if len(values) != 4:
                    raise ArchitectureError(f"{kind} cell, node {node_id}: has {len(values)} values; expected 4 "
                                            "(index1 op1 index2 op2)")
                for slot, value in enumerate(values):
                    position = 4 * (cell_number * num_cells + offset) + slot
                    where = f"{kind} cell, node {node_id}, {_SLOT_NAMES[slot]} (token {position})"
                    if not _is_int(value):
                        raise ArchitectureError(f"{where} is {value!r}; expected an integer")
                    limit, meaning = ((node_id - 1, "an earlier node: 0 = h_{i-2}, 1 = h_{i-1}") if slot % 2 == 0
                                      else (len(OP_NAMES) - 1, ", ".join(f"{i} {n}" for i, n in enumerate(OP_NAMES))))
                    if not 0 <= value <= limit:
                        raise ArchitectureError(f"{where} is {value}; expected 0..{limit} ({meaning})")
                nodes.append(MicroNode(*(int(v) for v in values)))
            object.__setattr__(self, kind, tuple(nodes))

    @property
    def num_cells(self) -> int:
        """B, the number of computed nodes per cell (``child_num_cells``)."""
        return len(self.normal)

    def cell(self, kind: str) -> tuple:
        """The nodes of the ``"normal"`` or ``"reduction"`` cell."""
        return getattr(self, kind)

    def loose_ends(self, kind: str) -> list[int]:
        """Ids (0..B+1) of the nodes of a cell that no node reads: the cell output concatenates them."""
        used = {index for node in self.cell(kind) for index in (node.index1, node.index2)}
        return [node_id for node_id in range(self.num_cells + 2) if node_id not in used]

    def to_tokens(self) -> list[int]:
        """The official integer sequence: normal cell then reduction cell, ``index1 op1 index2 op2`` per node."""
        return [value for kind in CELL_KINDS for node in self.cell(kind) for value in node]

    @classmethod
    def from_tokens(cls, tokens: Sequence[int]) -> "MicroArc":
        """Inverse of :meth:`to_tokens`; B is the token count / 8."""
        tokens = list(tokens)
        if not tokens or len(tokens) % 8:
            raise ArchitectureError(f"a micro architecture has 8 tokens per node (4 in the normal cell, 4 in the "
                                    f"reduction cell); got {len(tokens)} tokens, not a positive multiple of 8")
        half = len(tokens) // 2
        groups = [tuple(tokens[start:start + 4]) for start in range(0, len(tokens), 4)]
        return cls(normal=tuple(groups[:half // 4]), reduction=tuple(groups[half // 4:]))

    def to_string(self) -> str:
        """Space-separated tokens (the ``--child_fixed_arc`` format)."""
        return " ".join(str(t) for t in self.to_tokens())

    @classmethod
    def from_string(cls, text: str) -> "MicroArc":
        """Parses integers separated by spaces and/or commas, as in the published ``fixed_arc`` strings."""
        pieces = [piece for piece in re.split(r"[\s,]+", text.strip().strip("[]")) if piece]
        return cls.from_tokens(integer_tokens(pieces, from_text=True))

    def to_json(self) -> str:
        """``{"space": "micro", "normal": [...], "reduction": [...]}`` with 4 integers per node."""
        return json.dumps({"space": "micro",
                           "normal": [v for node in self.normal for v in node],
                           "reduction": [v for node in self.reduction for v in node]})

    @classmethod
    def from_json(cls, text: str) -> "MicroArc":
        """Inverse of :meth:`to_json`."""
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise ArchitectureError(f"micro architecture JSON does not parse: {error}") from None
        if not isinstance(value, dict) or "normal" not in value or "reduction" not in value:
            raise ArchitectureError('micro architecture JSON needs the keys "normal" and "reduction"')
        if value.get("space", "micro") != "micro":
            raise ArchitectureError(f"architecture JSON is for the space {value['space']!r}, not 'micro'")
        normal, reduction = list(value["normal"]), list(value["reduction"])
        if len(normal) != len(reduction):
            raise ArchitectureError(f"micro architecture JSON: the normal cell has {len(normal)} tokens and the "
                                    f"reduction cell {len(reduction)}; expected the same number")
        return cls.from_tokens(normal + reduction)

    def check_config(self, child_config) -> None:
        """Raises ``ArchitectureError`` unless B == ``child_num_cells`` and every op < ``child_num_branches``."""
        if not 1 <= child_config.num_branches <= len(OP_NAMES):
            raise ConfigError(f"--child_num_branches: the micro space has {len(OP_NAMES)} ops "
                              f"({', '.join(OP_NAMES)}); got {child_config.num_branches}")
        if self.num_cells != child_config.num_cells:
            raise ArchitectureError(f"the architecture has {self.num_cells} nodes per cell ({8 * self.num_cells} "
                                    f"tokens) but --child_num_cells is {child_config.num_cells}")
        for position, value in enumerate(self.to_tokens()):
            if position % 2 and value >= child_config.num_branches:
                kind = CELL_KINDS[position // (4 * self.num_cells)]
                node_id = (position % (4 * self.num_cells)) // 4 + 2
                raise ArchitectureError(
                    f"{kind} cell, node {node_id}, {_SLOT_NAMES[position % 4]} (token {position}) is {value}; "
                    f"--child_num_branches={child_config.num_branches} allows ops 0..{child_config.num_branches - 1}")


def random_arc(num_cells: int, num_branches: int = len(OP_NAMES), rng=None) -> MicroArc:
    """A uniformly random valid architecture with ``num_cells`` nodes per cell.

    ``rng``: a ``random.Random`` or a ``numpy`` Generator (default: a fresh ``random.Random``).
    """
    rng = rng or random.Random()
    draw = (lambda n: int(rng.integers(n))) if hasattr(rng, "integers") else (lambda n: rng.randrange(n))
    return MicroArc.from_tokens([draw(node_id if slot % 2 == 0 else num_branches) for _ in CELL_KINDS
                                 for node_id in range(2, num_cells + 2) for slot in range(4)])


def check_arc(arc: MicroArc, child_config) -> None:
    """Raises ``ArchitectureError`` when ``arc`` does not fit ``child_config`` (see ``MicroArc.check_config``)."""
    if not isinstance(arc, MicroArc):
        raise ArchitectureError(f"expected a MicroArc, got {type(arc).__name__}")
    arc.check_config(child_config)


def reduction_cell_ids(num_layers: int) -> tuple[int, int]:
    """Indices of the two reduction cells among the ``num_layers + 2`` cells (official ``pool_layers``)."""
    return (num_layers // 3, 2 * (num_layers // 3) + 1)


def _node_text(node: MicroNode) -> str:
    return (f"{OP_NAMES[node.op1]}(node {node.index1}) + {OP_NAMES[node.op2]}(node {node.index2})")


def _layout_text(num_layers: int) -> str:
    """``5N R 5N R 5N``-style run-length text of the cell layout."""
    reductions = reduction_cell_ids(num_layers)
    kinds = ["R" if cell in reductions else "N" for cell in range(num_layers + 2)]
    runs, start = [], 0
    for stop in range(1, len(kinds) + 1):
        if stop == len(kinds) or kinds[stop] != kinds[start]:
            count = stop - start
            runs.append(kinds[start] if count == 1 else f"{count}{kinds[start]}")
            start = stop
    return " ".join(runs)


def to_dot(arc: MicroArc) -> str:
    """A graphviz DOT drawing of both cells: inputs, computed nodes with op-labelled edges, output concat."""
    lines = ["digraph micro_arc {", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    for kind in CELL_KINDS:
        stride_note = " (ops on h_{i-2}, h_{i-1} use stride 2)" if kind == "reduction" else ""
        lines += [f"  subgraph cluster_{kind} {{", f'    label="{kind} cell{stride_note}";',
                  f'    {kind}_0 [label="h_{{i-2}}", shape=ellipse];',
                  f'    {kind}_1 [label="h_{{i-1}}", shape=ellipse];']
        for node_id, node in enumerate(arc.cell(kind), start=2):
            lines.append(f'    {kind}_{node_id} [label="node {node_id}"];')
        lines.append(f'    {kind}_out [label="concat", shape=ellipse];')
        for node_id, node in enumerate(arc.cell(kind), start=2):
            for index, op in ((node.index1, node.op1), (node.index2, node.op2)):
                lines.append(f'    {kind}_{index} -> {kind}_{node_id} [label="{OP_NAMES[op]}"];')
        for node_id in arc.loose_ends(kind):
            lines.append(f"    {kind}_{node_id} -> {kind}_out;")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def decision_space(num_cells: int = 5, num_ops: int = NUM_OPS, op_bias_init="reference",
                   normal_fixed_bias="reference"):
    """The controller's decisions (:class:`enas.controller.SearchSpace`): a normal cell then a
    reduction cell of ``num_cells`` nodes, in the token layout of :class:`MicroArc`.

    Args:
      num_cells: computed nodes B per cell (node ids 2..B+1; 0 and 1 are the cell inputs).
      num_ops: candidate ops (the first ``num_ops`` of :data:`OP_NAMES`).
      op_bias_init: initial learned op-logit bias; ``"reference"`` is ``[10, 10, 0, ...]`` (the
        separable convolutions lead), ``None`` disables the learned bias.
      normal_fixed_bias: constant added to the normal cell's op logits after the tanh;
        ``"reference"`` is ``[0.25, 0.25, -0.25, ...]``, ``None`` disables it.
    """
    # Imported lazily: the controller package imports Keras; the architecture value does not need it.
    from enas.controller.search_space import Anchor, Categorical, InputChoice, SearchSpace, positive

    positive(num_cells, "num_cells")
    positive(num_ops, "num_ops")
    if isinstance(op_bias_init, str):
        op_bias_init = [OP_BIAS_LEAD if k in SEP_CONV_OPS else 0.0 for k in range(num_ops)]
    if isinstance(normal_fixed_bias, str):
        normal_fixed_bias = [NORMAL_FIXED_BIAS_LEAD * (1 if k in SEP_CONV_OPS else -1) for k in range(num_ops)]
    decisions, order = [], []
    for cell_index, cell in enumerate(CELL_KINDS):
        decisions += [Anchor(zero_value=True, restart=True), Anchor(zero_value=True)]
        fixed = normal_fixed_bias if cell == "normal" else None
        for node in range(2, num_cells + 2):
            label = f"{cell} cell, node {node}"
            decisions += [
                InputChoice(f"{label}, index 1"), InputChoice(f"{label}, index 2"),
                Categorical(f"{label}, op 1", num_ops, table="op", bias_init=op_bias_init,
                            fixed_bias=fixed, op_tanh_reduce=True),
                Categorical(f"{label}, op 2", num_ops, table="op", bias_init=op_bias_init,
                            fixed_bias=fixed, op_tanh_reduce=True),
                Anchor()]
            # The official controller samples both indices, then both ops; the string is
            # ``index1 op1 index2 op2``.
            base = 4 * (cell_index * num_cells + node - 2)
            order += [base, base + 2, base + 1, base + 3]
    return SearchSpace(decisions, token_order=order, name="micro")


def controller_space(child_config):
    """:func:`decision_space` of a configuration (``child_num_cells``, ``child_num_branches``)."""
    return decision_space(child_config.num_cells, child_config.num_branches)
