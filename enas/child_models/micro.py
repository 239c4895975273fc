"""The micro (cell) search space of ENAS: the architecture value, its checks, diagrams and registration.

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

The child models live in :mod:`enas.child_models.micro_shared` (one graph for every architecture,
search semantics) and :mod:`enas.child_models.micro_fixed` (the final network of one architecture);
importing this module registers the space as ``"micro"`` in :mod:`enas.spaces`.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import random
import re
from typing import NamedTuple, Sequence

from enas import spaces
from enas.child_models import micro_fixed, micro_shared
from enas.child_models.arc_tokens import integer_tokens
from enas.errors import ArchitectureError, ConfigError

OP_NAMES = ("sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3", "identity")
CELL_KINDS = ("normal", "reduction")
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


def _node_text(node: MicroNode) -> str:
    return (f"{OP_NAMES[node.op1]}(node {node.index1}) + {OP_NAMES[node.op2]}(node {node.index2})")


def _layout_text(num_layers: int) -> str:
    """``5N R 5N R 5N``-style run-length text of the cell layout."""
    reductions = micro_shared.reduction_cell_ids(num_layers)
    kinds = ["R" if cell in reductions else "N" for cell in range(num_layers + 2)]
    runs, start = [], 0
    for stop in range(1, len(kinds) + 1):
        if stop == len(kinds) or kinds[stop] != kinds[start]:
            count = stop - start
            runs.append(kinds[start] if count == 1 else f"{count}{kinds[start]}")
            start = stop
    return " ".join(runs)


def describe(arc: MicroArc, child_config, num_classes: int, input_shape) -> str:
    """A text description: both cells' nodes, and the fixed child's size (parameters, multiply-adds)."""
    check_arc(arc, child_config)
    model = micro_fixed.build_fixed_child(arc, child_config, num_classes, input_shape)
    cost = micro_fixed.count_cost(model)
    filters = [child_config.out_filters * 2 ** stage for stage in range(3)]
    lines = [f"micro architecture: B={arc.num_cells} computed nodes per cell", f"  tokens: {arc.to_string()}"]
    for kind in CELL_KINDS:
        lines.append(f"  {kind} cell:")
        for node_id, node in enumerate(arc.cell(kind), start=2):
            lines.append(f"    node {node_id} = {_node_text(node)}")
        lines.append(f"    output = concat({', '.join(f'node {i}' for i in arc.loose_ends(kind))})  (loose ends)")
    height, width, channels = input_shape
    lines += [
        f"fixed child: {child_config.num_layers + 2} cells ({_layout_text(child_config.num_layers)}), "
        f"C = {' -> '.join(str(f) for f in filters)}, input {height}x{width}x{channels}, {num_classes} classes",
        f"  trainable parameters: {cost['trainable_params']:,}"
        + (f" ({cost['trainable_params'] - cost['aux_params']:,} without the auxiliary head)"
           if cost["aux_params"] else ""),
        f"  all weights (count_params, with batch-norm statistics): {model.count_params():,}",
        f"  multiply-adds per image (inference path): {cost['multiply_adds'] / 1e6:,.1f}M",
    ]
    return "\n".join(lines)


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


def _controller_space(child_config):
    # Imported lazily: the controller package does not depend on the child models, nor they on it.
    import enas.controller  # pylint: disable=import-outside-toplevel
    return enas.controller.SearchSpace.micro(child_config.num_cells, child_config.num_branches)


# The builders, re-exported: the child modules check the architecture against the configuration.
build_shared_child = micro_shared.build_shared_child
build_static_search_child = micro_shared.build_static_search_child
build_fixed_child = micro_fixed.build_fixed_child


SPACE = spaces.register_space(spaces.Space(
    name="micro",
    task="image",
    arc_type=MicroArc,
    controller_space=_controller_space,
    build_shared_child=build_shared_child,
    build_fixed_child=build_fixed_child,
    check_arc=check_arc,
    describe=describe,
    to_dot=to_dot,
    # The search cells normalise with batch statistics always and keep no moving averages (as the
    # official micro search graph), so "batch" is the only reward mode.
    reward_bn_modes=("batch",),
    default_reward_bn="batch",
))
