"""The micro (cell) search space of ENAS, registered as ``"micro"``.

* :mod:`enas.spaces.micro.arc`: the architecture value (:class:`MicroArc`), the op table, the token
  layout and the controller's decisions; no model code.
* :mod:`enas.spaces.micro.cell_ops`: the switchable cell building blocks of the shared child.
* :mod:`enas.spaces.micro.shared`: the shared-weight search child (one graph for every architecture).
* :mod:`enas.spaces.micro.fixed`: the final network of one architecture.

The child modules import :mod:`~enas.spaces.micro.arc`, never the reverse; they are imported here
only when a model is built or described.
"""

from __future__ import annotations

from enas.spaces import Space, register_space
from enas.spaces.micro.arc import (CELL_KINDS, IDENTITY_OP, NUM_OPS, OP_KINDS, OP_NAMES, OPS,  # noqa: F401
                                   POOL_OPS, PUBLISHED_FINAL_ARC, SEP_CONV_OPS, MicroArc, MicroNode, check_arc,
                                   controller_space, decision_space, random_arc, reduction_cell_ids, to_dot)
from enas.spaces.micro.arc import _layout_text, _node_text


def build_shared_child(child_config, num_classes: int, input_shape):
    """The shared-weight search child (:class:`enas.spaces.micro.shared.SharedMicroChild`)."""
    from enas.spaces.micro import shared  # pylint: disable=import-outside-toplevel
    return shared.build_shared_child(child_config, num_classes, input_shape)


def build_static_search_child(arc: MicroArc, child_config, num_classes: int, input_shape):
    """Search semantics of one architecture without a switch (tests and benchmarks)."""
    from enas.spaces.micro import shared  # pylint: disable=import-outside-toplevel
    return shared.build_static_search_child(arc, child_config, num_classes, input_shape)


def build_fixed_child(arc: MicroArc, child_config, num_classes: int, input_shape, name: str = "micro_fixed_child"):
    """The final network of one architecture (:func:`enas.spaces.micro.fixed.build_fixed_child`)."""
    from enas.spaces.micro import fixed  # pylint: disable=import-outside-toplevel
    return fixed.build_fixed_child(arc, child_config, num_classes, input_shape, name=name)


def describe(arc: MicroArc, child_config, num_classes: int, input_shape) -> str:
    """A text description: both cells' nodes, and the fixed child's size (parameters, multiply-adds)."""
    check_arc(arc, child_config)
    model = build_fixed_child(arc, child_config, num_classes, input_shape)
    from enas.spaces.micro import fixed  # pylint: disable=import-outside-toplevel
    cost = fixed.count_cost(model)
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


SPACE = register_space(Space(
    name="micro",
    task="image",
    arc_type=MicroArc,
    controller_space=controller_space,
    build_shared_child=build_shared_child,
    build_fixed_child=build_fixed_child,
    check_arc=check_arc,
    describe=describe,
    to_dot=to_dot,
    # The search cells normalise with batch statistics always and keep no moving averages (as the
    # official micro search graph), so "batch" is the only reward mode.
    reward_bn_modes=("batch",),
    default_reward_bn="batch",
    supports_mixture=True,
))
