"""The final macro network of one architecture (the paper's model), as a functional Keras model.

Per reference section 1.1 (fixed mode) with the official code's gaps filled as the paper describes:

* stem: 3x3 conv(C) + BN, no ReLU;
* conv ops: ReLU -> 1x1 conv -> BN -> ReLU -> kxk conv -> BN;
* sep-conv ops: the same with a *real* separable kxk conv (depthwise, multiplier 1, then pointwise);
  the official code built them as full kxk convs, which ``ChildConfig.sep_as_conv``
  (``--child_sep_as_conv``) reproduces (the published 24-layer arc at C=96: 42,559,392 trainable
  parameters that way, 30,947,424 with real separable convs);
* pooling ops (unimplemented in the official code): ReLU -> 1x1 conv -> BN -> 3x3 pool, stride 1,
  SAME, i.e. the conv ops' pre-activated 1x1 projection followed by the pool;
* layer i > 0: ``out = BN(1x1 conv(ReLU(concat[selected earlier layers..., op_out])))`` projected
  back to the current width (also when no skip is selected); layer 0 is its op alone, as in the
  official code;
* after each pool layer (``macro.pool_layers``) the width doubles (C -> 2C -> 4C) and every stored
  layer that a later layer still reads goes through its own factorized reduction. The official code
  also built reductions for layers nobody reads again; they cannot change the output, so we leave
  them out (an architecture with such layers then counts fewer parameters than the official graph;
  in the published 24-layer arc every stored layer is read after both pooling layers, so nothing is
  left out and the counts above are the official graph's);
* head: global average pool -> dropout(1 - keep_prob) -> dense(num_classes, no bias).

Only built-in Keras layers and the registered ``FactorizedReduction`` are used, so the model saves
as ``.keras`` and reloads without custom objects beyond ``import enas.spaces.macro``.
"""

from __future__ import annotations

import math

import keras

from enas.spaces.macro import arc as macro
from enas.spaces.layers import FactorizedReduction, batch_norm, he_normal


def _conv(filters: int, size: int, name: str) -> keras.layers.Conv2D:
    return keras.layers.Conv2D(filters, size, padding="same", use_bias=False,
                               kernel_initializer=he_normal, name=name)


def _fixed_op(x, op_id: int, filters: int, prefix: str, sep_as_conv: bool = False):
    """The body of op ``op_id`` at width ``filters`` (``sep_as_conv``: sep ops as full convs)."""
    kind, size = macro.OP_KINDS[op_id]
    if kind == "sep" and sep_as_conv:
        kind = "conv"
    x = keras.layers.ReLU(name=f"{prefix}_input_relu")(x)
    x = _conv(filters, 1, f"{prefix}_input_conv")(x)
    x = batch_norm(name=f"{prefix}_input_bn")(x)
    if kind == "conv":
        x = keras.layers.ReLU(name=f"{prefix}_relu")(x)
        x = _conv(filters, size, f"{prefix}_conv")(x)
        return batch_norm(name=f"{prefix}_bn")(x)
    if kind == "sep":
        x = keras.layers.ReLU(name=f"{prefix}_relu")(x)
        x = keras.layers.SeparableConv2D(
            filters, size, padding="same", depth_multiplier=1, use_bias=False,
            depthwise_initializer=he_normal, pointwise_initializer=he_normal, name=f"{prefix}_sep_conv")(x)
        return batch_norm(name=f"{prefix}_bn")(x)
    pool = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
    return pool(size, strides=1, padding="same", name=f"{prefix}_{kind}_pool")(x)


def build_fixed_child(arc, child_config, num_classes: int, input_shape) -> keras.Model:
    """The functional final network of ``arc`` (a ``macro.MacroArc``) for images of ``input_shape``."""
    filters = child_config.out_filters
    images = keras.Input(shape=tuple(input_shape), name="images")
    x = _conv(filters, 3, "stem_conv")(images)
    stored = [batch_norm(name="stem_bn")(x)]
    for layer, op_id in enumerate(arc.ops):
        prefix = f"layer{layer}_{macro.OP_NAMES[op_id]}"
        out = _fixed_op(stored[-1], op_id, filters, prefix, getattr(child_config, "sep_as_conv", False))
        if layer > 0:
            inputs = [stored[j] for j, bit in enumerate(arc.skips[layer]) if bit] + [out]
            x = keras.layers.Concatenate(name=f"layer{layer}_concat")(inputs) if len(inputs) > 1 else out
            x = keras.layers.ReLU(name=f"layer{layer}_skip_relu")(x)
            x = _conv(filters, 1, f"layer{layer}_skip_conv")(x)
            out = batch_norm(name=f"layer{layer}_skip_bn")(x)
        stored.append(out)
        if layer in macro.pool_layers(arc.num_layers):
            filters *= 2
            # Entries nobody reads again become None, keeping list positions = skip indices.
            stored = [FactorizedReduction(filters, name=f"reduce{layer}_{j}")(entry)
                      if entry is not None and macro.is_read_after(arc, j, layer) else None
                      for j, entry in enumerate(stored)]
    x = keras.layers.GlobalAveragePooling2D(name="global_pool")(stored[-1])
    x = keras.layers.Dropout(1.0 - child_config.keep_prob, name="dropout")(x)
    logits = keras.layers.Dense(num_classes, use_bias=False, kernel_initializer=he_normal,
                                name="classifier")(x)
    return keras.Model(images, logits, name="macro_fixed_child")


def multiply_adds(model: keras.Model) -> int:
    """Multiply-adds of one image through ``model``'s convolutions and dense layers.

    Counted from each layer's kernel and output shape (stride-1 SAME convs: one kernel application
    per output pixel); BN, ReLU, pooling, concat and additions are not counted.
    """
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            total += math.prod(layer.kernel.shape)
            continue
        if isinstance(layer, keras.layers.SeparableConv2D):
            kernels = [layer.depthwise_kernel, layer.pointwise_kernel]
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
            kernels = [layer.kernel]
        elif isinstance(layer, FactorizedReduction):
            kernels = [layer.path1_conv.kernel, layer.path2_conv.kernel]
        else:
            continue
        height, width = layer.output.shape[1:3]
        total += height * width * sum(math.prod(kernel.shape) for kernel in kernels)
    return int(total)
