"""The macro search space (ENAS section 3.2), registered as ``"macro"``.

* :mod:`enas.spaces.macro.arc`: the architecture value (:class:`MacroArc`), the op table, the token
  layout and the controller's decisions; no model code.
* :mod:`enas.spaces.macro.shared`: the shared-weight search child (one graph for every architecture).
* :mod:`enas.spaces.macro.fixed`: the final network of one architecture.

The child modules import :mod:`~enas.spaces.macro.arc`, never the reverse; they are imported here
only when a model is built, so parsing and describing architectures stays free of TensorFlow.
"""

from __future__ import annotations

import math

from enas.spaces import Space, register_space
from enas.spaces.macro.arc import (NUM_OPS, OP_KINDS, OP_NAMES, OPS, MacroArc, check_arc,  # noqa: F401
                                   controller_space, decision_space, is_read_after, num_tokens, op_position,
                                   pool_layers, random_arc, to_dot)
from enas.spaces.macro.arc import _layer_shapes, _skip_sources


def build_shared_child(child_config, num_classes: int, input_shape):
    """The shared-weight search child (:class:`enas.spaces.macro.shared.MacroSharedChild`)."""
    from enas.spaces.macro import shared  # pylint: disable=import-outside-toplevel
    return shared.build_shared_child(child_config, num_classes, input_shape)


def build_static_search_child(arc: MacroArc, child_config, num_classes: int, input_shape):
    """Search semantics of one architecture without a switch (tests and benchmarks)."""
    from enas.spaces.macro import shared  # pylint: disable=import-outside-toplevel
    check_arc(arc, child_config)
    return shared.build_static_search_child(arc, child_config, num_classes, input_shape)


def build_fixed_child(arc: MacroArc, child_config, num_classes: int, input_shape):
    """The final (paper) network of one architecture, a functional Keras model."""
    from enas.spaces.macro import fixed  # pylint: disable=import-outside-toplevel
    check_arc(arc, child_config)
    return fixed.build_fixed_child(arc, child_config, num_classes, input_shape)


def describe(arc: MacroArc, child_config, num_classes: int, input_shape) -> str:
    """Parameters, multiply-adds and a one-line-per-layer diagram of the fixed child."""
    from enas.spaces.macro import fixed  # pylint: disable=import-outside-toplevel
    model = build_fixed_child(arc, child_config, num_classes, input_shape)
    params = sum(math.prod(weight.shape) for weight in model.trainable_weights)
    madds = fixed.multiply_adds(model)
    variant = ("separable ops built as full k x k convolutions, as the official code (--child_sep_as_conv)"
               if getattr(child_config, "sep_as_conv", False) else
               "real separable convolutions (the official code's full convolutions: --child_sep_as_conv)")
    lines = [f"macro architecture, {arc.num_layers} layers, C={child_config.out_filters} "
             f"(doubled after layers {list(pool_layers(arc.num_layers))}), input {tuple(input_shape)}, "
             f"{num_classes} classes",
             f"arc: {arc.to_string(grouped=True)}",
             f"variant: {variant}",
             f"trainable parameters: {params:,}",
             f"multiply-adds per image: {madds:,} ({madds / 1e6:.1f}M)",
             f"stem: conv_3x3 -> {(input_shape[0], input_shape[1], child_config.out_filters)}"]
    for layer, shape in enumerate(_layer_shapes(arc, child_config, input_shape)):
        sources = _skip_sources(arc, layer)
        reduce = "  then factorized reduction" if layer in pool_layers(arc.num_layers) else ""
        lines.append(f"layer {layer:2d}: {OP_NAMES[arc.ops[layer]]:<13} -> {shape}  "
                     f"skips: {', '.join(sources) if sources else '-'}{reduce}")
    lines.append(f"head: global_avg_pool -> dropout(keep {child_config.keep_prob}) -> dense({num_classes})")
    return "\n".join(lines)


SPACE = register_space(Space(
    name="macro", task="image", arc_type=MacroArc, controller_space=controller_space,
    build_shared_child=build_shared_child, build_fixed_child=build_fixed_child,
    check_arc=check_arc, describe=describe, to_dot=to_dot,
    # The search child keeps moving statistics, so all three modes exist. "batch" is the cheapest; it ranked
    # like stand-alone training on a 6-layer measurement where "moving" ranked backwards, though the efficacy
    # protocol did not separate the modes (README: "Does the search beat random?").
    reward_bn_modes=("moving", "batch", "recalibrate"), default_reward_bn="batch",
    supports_mixture=True))
