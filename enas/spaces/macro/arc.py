"""The macro search space (ENAS section 3.2): architecture value, op table and token layout.

An architecture chooses, for each of ``L`` layers, one op (ids below) and a skip bit per earlier
layer. Its string is the official ENAS integer format: for layer i an op id followed by i skip bits,
``L + L(L-1)/2`` integers in all (78 for L=12, 300 for L=24). Layers may be separated by ``|`` for
readability (``0 | 3 0 | 0 1 0``); the separators must then fall on layer boundaries.

Skip indexing follows the official child: the layer list is ``[stem, out_0, out_1, ...]`` and skip
bit j of layer i selects entry j (the stem for j = 0), so the direct predecessor is never a skip.

This module owns everything the space *is* (the architecture value, the op table, the token layout
and the controller's decision sequence); it imports no model code. The two child models,
:mod:`enas.spaces.macro.shared` (search, shared weights) and :mod:`enas.spaces.macro.fixed` (final
training), import it; :mod:`enas.spaces.macro` registers the space as ``"macro"``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
import random
from typing import Any, Sequence

from enas.spaces.tokens import integer_tokens
from enas.errors import ArchitectureError

# The op table of the official macro space, by id: (name, kind, kernel size). A configuration searches
# the first ``num_branches`` of them. Both children build their branches from this table.
OPS = (("conv_3x3", "conv", 3), ("sep_conv_3x3", "sep", 3), ("conv_5x5", "conv", 5),
       ("sep_conv_5x5", "sep", 5), ("avg_pool_3x3", "avg", 3), ("max_pool_3x3", "max", 3))
OP_NAMES = tuple(name for name, _, _ in OPS)
OP_KINDS = tuple((kind, size) for _, kind, size in OPS)
NUM_OPS = len(OPS)


def num_tokens(num_layers: int) -> int:
    """Token count of an ``num_layers``-layer architecture: L ops plus L(L-1)/2 skip bits."""
    return num_layers + num_layers * (num_layers - 1) // 2


def op_position(layer: int) -> int:
    """Index of layer ``layer``'s op token (its skip bits follow it)."""
    return layer * (layer + 1) // 2


def pool_layers(num_layers: int) -> tuple[int, ...]:
    """Layers after which every stored layer is reduced (official ``[L//3 - 1, 2L//3 - 1]``)."""
    return tuple(p for p in (num_layers // 3 - 1, 2 * num_layers // 3 - 1) if p >= 0)


def is_read_after(arc: "MacroArc", entry: int, layer: int) -> bool:
    """Whether entry ``entry`` of ``[stem, out_0, ...]`` is read by a layer after ``layer``."""
    if entry == layer + 1:  # the newest entry is the next layer's op input
        return True
    return any(arc.skips[later][entry] for later in range(layer + 1, arc.num_layers))


def _layers_for_count(count: int) -> int:
    """The L with ``num_tokens(L) == count``; raises ArchitectureError naming nearby valid counts."""
    layers = int((math.isqrt(8 * count + 1) - 1) // 2)
    if count > 0 and num_tokens(layers) == count:
        return layers
    nearby = [(num_tokens(n), n) for n in (layers, layers + 1) if n > 0]
    options = " or ".join(f"{tokens} (L={n})" for tokens, n in nearby)
    raise ArchitectureError(
        f"a macro architecture has L + L(L-1)/2 tokens; got {count}, nearest valid counts: {options}")


def _token_role(position: int) -> str:
    layer = int((math.isqrt(8 * position + 1) - 1) // 2)
    offset = position - op_position(layer)
    return f"layer {layer}, op" if offset == 0 else f"layer {layer}, skip bit {offset - 1}"


@dataclasses.dataclass(frozen=True)
class MacroArc:
    """One macro architecture.

    Args:
      ops: op id (index into ``OP_NAMES``) of each layer.
      skips: ``skips[i]`` holds layer i's i skip bits (0/1); bit j selects entry j of
        ``[stem, out_0, out_1, ...]``.
    """

    ops: tuple[int, ...]
    skips: tuple[tuple[int, ...], ...]

    def __post_init__(self):
        try:
            object.__setattr__(self, "ops", tuple(operator.index(op) for op in self.ops))
            skips = tuple(tuple(operator.index(b) for b in bits) for bits in self.skips)
            object.__setattr__(self, "skips", skips)
        except TypeError as error:
            raise ArchitectureError(f"ops and skip bits must be integers ({error})") from None
        if not self.ops:
            raise ArchitectureError("a macro architecture needs at least one layer")
        if len(self.skips) != len(self.ops):
            raise ArchitectureError(f"ops has {len(self.ops)} layers but skips has {len(self.skips)}")
        for layer, (op, bits) in enumerate(zip(self.ops, self.skips)):
            if not 0 <= op < NUM_OPS:
                raise ArchitectureError(f"layer {layer}: op id {op}; expected 0..{NUM_OPS - 1}")
            if len(bits) != layer:
                raise ArchitectureError(f"layer {layer} has {len(bits)} skip bits; expected {layer}")
            for j, bit in enumerate(bits):
                if bit not in (0, 1):
                    raise ArchitectureError(f"layer {layer}, skip bit {j} is {bit}; expected 0 or 1")

    @property
    def num_layers(self) -> int:
        return len(self.ops)

    @property
    def op_names(self) -> tuple[str, ...]:
        return tuple(OP_NAMES[op] for op in self.ops)

    # --- tokens -------------------------------------------------------------------------------
    @classmethod
    def from_tokens(cls, tokens: Sequence[Any]) -> "MacroArc":
        """The architecture of an official integer sequence (a controller sample)."""
        values = integer_tokens(tokens, _token_role)
        return cls._from_values(values, [str(v) for v in values])

    @classmethod
    def _from_values(cls, values: list[int], texts: list[str]) -> "MacroArc":
        layers = _layers_for_count(len(values))
        ops, skips = [], []
        for layer in range(layers):
            start = op_position(layer)
            if not 0 <= values[start] < NUM_OPS:
                raise ArchitectureError(f"token {start} ({_token_role(start)}) is '{texts[start]}'; "
                                        f"expected an op id 0..{NUM_OPS - 1}")
            for position in range(start + 1, start + 1 + layer):
                if values[position] not in (0, 1):
                    raise ArchitectureError(f"token {position} ({_token_role(position)}) is "
                                            f"'{texts[position]}'; expected 0 or 1")
            ops.append(values[start])
            skips.append(tuple(values[start + 1:start + 1 + layer]))
        return cls(tuple(ops), tuple(skips))

    def to_tokens(self) -> list[int]:
        """The official integer sequence: per layer its op id then its skip bits."""
        tokens = []
        for op, bits in zip(self.ops, self.skips):
            tokens.append(op)
            tokens.extend(bits)
        return tokens

    # --- strings ------------------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> "MacroArc":
        """Parses the official whitespace-separated string (optionally ``|``-grouped by layer)."""
        groups = text.split("|")
        words = [word for group in groups for word in group.split()]
        values = integer_tokens(words, _token_role, from_text=True)
        if len(groups) > 1:
            for layer, group in enumerate(groups):
                count = len(group.split())
                if count != layer + 1:
                    raise ArchitectureError(
                        f"'|'-group {layer} has {count} tokens; expected {layer + 1} "
                        f"(layer {layer}: an op id and {layer} skip bits)")
        return cls._from_values(values, words)

    def to_string(self, grouped: bool = False) -> str:
        """The official string; ``grouped=True`` puts `` | `` between layers."""
        parts = [" ".join(str(t) for t in (op,) + bits) for op, bits in zip(self.ops, self.skips)]
        return (" | " if grouped else " ").join(parts)

    def __str__(self) -> str:
        return self.to_string()

    # --- JSON ---------------------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"space": "macro", "ops": list(self.ops), "skips": [list(b) for b in self.skips]})

    @classmethod
    def from_json(cls, text: str) -> "MacroArc":
        """Inverse of :meth:`to_json`."""
        try:
            data = json.loads(text)
            space = data.get("space", "macro")
            ops, skips = data["ops"], data["skips"]
        except (ValueError, AttributeError, KeyError, TypeError) as error:
            raise ArchitectureError(
                f"not a macro architecture JSON object ({error}): {text[:80]!r}") from None
        if space != "macro":
            raise ArchitectureError(f"JSON architecture is for space {space!r}, not 'macro'")
        return cls(tuple(ops), tuple(tuple(bits) for bits in skips))


def random_arc(num_layers: int, num_branches: int = NUM_OPS, rng=None) -> MacroArc:
    """A uniformly random architecture (``rng``: a ``random.Random`` or ``numpy`` Generator)."""
    rng = rng or random.Random()
    draw = (lambda n: int(rng.integers(n))) if hasattr(rng, "integers") else (lambda n: rng.randrange(n))
    return MacroArc(tuple(draw(num_branches) for _ in range(num_layers)),
                    tuple(tuple(draw(2) for _ in range(i)) for i in range(num_layers)))


def check_arc(arc: MacroArc, child_config) -> None:
    """Raises ArchitectureError when ``arc`` does not fit ``child_config`` (names the flag)."""
    if not isinstance(arc, MacroArc):
        raise ArchitectureError(f"expected a MacroArc, got {type(arc).__name__}")
    if arc.num_layers != child_config.num_layers:
        raise ArchitectureError(f"architecture has {arc.num_layers} layers but --child_num_layers="
                                f"{child_config.num_layers}")
    if not 0 < child_config.num_branches <= NUM_OPS:
        raise ArchitectureError(f"--child_num_branches={child_config.num_branches}: the macro space has "
                                f"{NUM_OPS} ops ({', '.join(OP_NAMES)})")
    for layer, op in enumerate(arc.ops):
        if op >= child_config.num_branches:
            raise ArchitectureError(
                f"token {op_position(layer)} (layer {layer}, op) is {op} ({OP_NAMES[op]}); "
                f"expected an op id below --child_num_branches={child_config.num_branches}")


def _layer_shapes(arc: MacroArc, child_config, input_shape) -> list[tuple[int, int, int]]:
    """(height, width, channels) of each layer's output in the fixed child."""
    height, width = input_shape[0], input_shape[1]
    channels, shapes = child_config.out_filters, []
    for layer in range(arc.num_layers):
        shapes.append((height, width, channels))
        if layer in pool_layers(arc.num_layers):
            height, width, channels = (height + 1) // 2, (width + 1) // 2, channels * 2
    return shapes


def _skip_sources(arc: MacroArc, layer: int) -> list[str]:
    return ["stem" if j == 0 else f"layer {j - 1}" for j, bit in enumerate(arc.skips[layer]) if bit]


def to_dot(arc: MacroArc) -> str:
    """A graphviz DOT diagram: layers labelled with their op, the chain solid, skips dashed."""
    reductions = pool_layers(arc.num_layers)
    lines = ["digraph macro {", "  rankdir=TB;", '  node [shape=box, style=rounded];',
             '  stem [label="stem\\nconv_3x3"];']
    for layer, op in enumerate(arc.ops):
        extra = "\\n(then reduce)" if layer in reductions else ""
        lines.append(f'  layer{layer} [label="{layer}: {OP_NAMES[op]}{extra}"];')
    lines.append('  head [label="global_avg_pool\\ndense"];')
    for layer in range(arc.num_layers):
        previous = "stem" if layer == 0 else f"layer{layer - 1}"
        lines.append(f"  {previous} -> layer{layer};")
        for j, bit in enumerate(arc.skips[layer]):
            if bit:
                source = "stem" if j == 0 else f"layer{j - 1}"
                lines.append(f"  {source} -> layer{layer} [style=dashed];")
    lines.append(f"  layer{arc.num_layers - 1} -> head;")
    lines.append("}")
    return "\n".join(lines)


def decision_space(num_layers: int, num_branches: int = NUM_OPS):
    """The controller's decisions (:class:`enas.controller.SearchSpace`): per layer an op (one of
    ``num_branches``) then one skip bit per earlier layer, the token layout of :class:`MacroArc`."""
    from enas.controller.search_space import Categorical, SearchSpace, SkipConnections, positive

    positive(num_layers, "num_layers")
    positive(num_branches, "num_branches")
    decisions = []
    for layer in range(num_layers):
        decisions.append(Categorical(f"layer {layer}, op", num_branches, table="op"))
        decisions.append(SkipConnections(f"layer {layer}"))
    return SearchSpace(decisions, name="macro")


def controller_space(child_config):
    """:func:`decision_space` of a configuration (``child_num_layers``, ``child_num_branches``)."""
    return decision_space(child_config.num_layers, child_config.num_branches)
