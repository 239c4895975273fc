"""The fixed micro child: the final network of one cell architecture, as a Keras functional model.

It follows the paper's final network (the official code's fixed mode, reference section 1.2):

* stem 3x3 conv (3 -> 3C) + BN; ``L + 2`` cells, reduction cells at ``L//3`` and ``2*(L//3)+1``
  where C doubles; every cell reads ``[h_{i-2}, h_{i-1}]``;
* calibration: input 0 gets ReLU -> FR when it is spatially twice input 1, else ReLU -> 1x1 -> BN
  when its channels differ from C; input 1 gets ReLU -> 1x1 -> BN when its channels differ, then
  always one more ReLU -> 1x1 -> BN (the official ``layer_base``);
* in a reduction cell the ops reading node 0 or 1 run at stride 2 (identity at stride 2 is a
  factorized reduction); sep-conv = 2 x [ReLU -> separable conv -> BN], stride on the first unit;
  pools get ReLU -> 1x1 -> BN first only when channels differ;
* drop-path (:class:`enas.spaces.micro.cell_ops.DropPath`) on every non-identity branch in training;
* cell output: the loose ends concatenated (k·C channels, FR on the spatially larger ones), no
  projection; the next cell's calibration brings it back to C;
* head ReLU -> global average pool -> dropout -> dense (no bias, as in the official code);
* with ``use_aux_heads``, an auxiliary head on the output of cell ``2*(L//3)+2`` (the first normal
  cell of the last stage), so the model outputs ``[logits, aux_logits]``. Unlike the official code,
  its weights are ordinary trainable weights (the trainer weights its loss by 0.4).
"""

from __future__ import annotations

import math

import keras

from enas.spaces.micro.cell_ops import DropPath
from enas.spaces.micro import arc as micro
from enas.spaces.layers import FactorizedReduction, batch_norm, he_normal

SEP_CONV, POOLS, IDENTITY = micro.SEP_CONV_OPS, micro.POOL_OPS, micro.IDENTITY_OP
AUX_PREFIX = micro.AUX_PREFIX


def _relu_conv_bn(x, filters: int, name: str):
    x = keras.layers.ReLU(name=f"{name}_relu")(x)
    x = keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=he_normal, name=f"{name}_conv")(x)
    return batch_norm(name=f"{name}_bn")(x)


def _op(x, op: int, filters: int, stride: int, name: str):
    """One branch of a node: ``op`` applied to ``x`` at ``stride``."""
    if op in SEP_CONV:
        size = micro.OP_KINDS[op][1]
        for unit in range(2):
            x = keras.layers.ReLU(name=f"{name}_sep{size}_unit{unit}_relu")(x)
            x = keras.layers.SeparableConv2D(
                filters, size, strides=stride if unit == 0 else 1, padding="same", use_bias=False,
                depthwise_initializer=he_normal, pointwise_initializer=he_normal,
                name=f"{name}_sep{size}_unit{unit}_conv")(x)
            x = batch_norm(name=f"{name}_sep{size}_unit{unit}_bn")(x)
        return x
    if op in POOLS:
        if x.shape[-1] != filters:
            x = _relu_conv_bn(x, filters, f"{name}_pool_input")
        kind, size = micro.OP_KINDS[op]
        pool = keras.layers.AveragePooling2D if kind == "avg" else keras.layers.MaxPooling2D
        return pool(size, strides=stride, padding="same", name=f"{name}_{kind}_pool")(x)
    if stride > 1:
        x = FactorizedReduction(filters, name=f"{name}_identity_reduction")(x)
    if x.shape[-1] != filters:
        x = _relu_conv_bn(x, filters, f"{name}_identity")
    return x


def _cell(inputs, nodes, filters: int, stride: int, cell_id: int, drop_path):
    """The output of one cell of architecture ``nodes`` (a tuple of ``MicroNode``) on [h_{i-2}, h_{i-1}]."""
    name = f"cell{cell_id}"
    previous, last = inputs
    if previous.shape[1] != last.shape[1]:
        previous = keras.layers.ReLU(name=f"{name}_input0_relu")(previous)
        previous = FactorizedReduction(filters, name=f"{name}_input0_reduction")(previous)
    elif previous.shape[-1] != filters:
        previous = _relu_conv_bn(previous, filters, f"{name}_input0")
    if last.shape[-1] != filters:
        last = _relu_conv_bn(last, filters, f"{name}_input1")
    last = _relu_conv_bn(last, filters, f"{name}_base")
    outputs = [previous, last]
    for node_id, node in enumerate(nodes, start=2):
        branches = []
        for slot, index, op in (("x", node.index1, node.op1), ("y", node.index2, node.op2)):
            branch = _op(outputs[index], op, filters, stride if index < 2 else 1, f"{name}_node{node_id}_{slot}")
            if op != IDENTITY and drop_path is not None:
                branch = drop_path(branch, cell_index=cell_id)
            branches.append(branch)
        outputs.append(keras.layers.Add(name=f"{name}_node{node_id}")(branches))
    used = {index for node in nodes for index in (node.index1, node.index2)}
    loose = [(i, outputs[i]) for i in range(len(outputs)) if i not in used]
    size = min(t.shape[1] for _, t in loose)
    loose = [FactorizedReduction(filters, name=f"{name}_output{i}_reduction")(t) if t.shape[1] > size else t
             for i, t in loose]
    return keras.layers.Concatenate(name=f"{name}_output")(loose) if len(loose) > 1 else loose[0]


def _aux_head(x, num_classes: int):
    """ReLU -> avg-pool 5x5/3 VALID -> 1x1 conv 128 + BN + ReLU -> map-size conv 768 (SAME) + BN + ReLU -> GAP
    -> dense."""
    x = keras.layers.ReLU(name=f"{AUX_PREFIX}_relu")(x)
    # The official 5x5 pool, shrunk to the feature map when that is smaller (small test images).
    pool = min(5, x.shape[1], x.shape[2])
    x = keras.layers.AveragePooling2D(pool, strides=3, padding="valid", name=f"{AUX_PREFIX}_pool")(x)
    x = keras.layers.Conv2D(128, 1, use_bias=False, kernel_initializer=he_normal, name=f"{AUX_PREFIX}_proj_conv")(x)
    x = keras.layers.ReLU(name=f"{AUX_PREFIX}_proj_relu")(batch_norm(name=f"{AUX_PREFIX}_proj_bn")(x))
    # A kernel the size of the map, SAME padding as the official code (a 2x2 map stays 2x2 before GAP).
    x = keras.layers.Conv2D(768, (x.shape[1], x.shape[2]), padding="same", use_bias=False,
                            kernel_initializer=he_normal, name=f"{AUX_PREFIX}_conv")(x)
    x = keras.layers.ReLU(name=f"{AUX_PREFIX}_conv_relu")(batch_norm(name=f"{AUX_PREFIX}_conv_bn")(x))
    x = keras.layers.GlobalAveragePooling2D(name=f"{AUX_PREFIX}_gap")(x)
    return keras.layers.Dense(num_classes, use_bias=False, kernel_initializer=he_normal,
                              name=f"{AUX_PREFIX}_classifier")(x)


def build_fixed_child(arc, child_config, num_classes: int, input_shape, name: str = "micro_fixed_child"):
    """The final network of ``arc`` (a ``MicroArc``) as a functional ``keras.Model``.

    Outputs the logits, or ``[logits, aux_logits]`` when ``child_config.use_aux_heads``. Call
    ``enas.spaces.set_training_progress(model, (step + 1) / total_steps)`` every step to drive the
    drop-path schedule.
    """
    arc.check_config(child_config)
    num_layers, filters = child_config.num_layers, child_config.out_filters
    reductions = micro.reduction_cell_ids(num_layers)
    aux_cell = reductions[-1] + 1
    drop_path = (DropPath(child_config.drop_path_keep_prob, num_layers + 2, name="drop_path")
                 if child_config.drop_path_keep_prob < 1.0 else None)
    images = keras.Input(shape=tuple(input_shape), name="images")
    x = keras.layers.Conv2D(3 * filters, 3, padding="same", use_bias=False, kernel_initializer=he_normal,
                            name="stem_conv")(images)
    x = batch_norm(name="stem_bn")(x)
    layers, aux_logits = [x, x], None
    for cell_id in range(num_layers + 2):
        reduction = cell_id in reductions
        if reduction:
            filters *= 2
        x = _cell(layers, arc.reduction if reduction else arc.normal, filters, 2 if reduction else 1, cell_id,
                  drop_path)
        layers = [layers[-1], x]
        if child_config.use_aux_heads and cell_id == aux_cell:
            aux_logits = _aux_head(x, num_classes)
    x = keras.layers.ReLU(name="head_relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="head_gap")(x)
    x = keras.layers.Dropout(1.0 - child_config.keep_prob, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, use_bias=False, kernel_initializer=he_normal, name="classifier")(x)
    outputs = logits if aux_logits is None else [logits, aux_logits]
    return keras.Model(images, outputs, name=name)


def count_cost(model) -> dict:
    """Trainable parameters (and those of the aux head) and multiply-adds per image of the inference path."""
    def size(weight):
        return math.prod(weight.shape)

    trainable = sum(size(w) for w in model.trainable_weights)
    aux = sum(size(w) for w in model.trainable_weights if w.path.startswith(AUX_PREFIX))
    multiply_adds = 0
    for layer in model.layers:
        if layer.name.startswith(AUX_PREFIX):
            continue
        if isinstance(layer, (keras.layers.SeparableConv2D, keras.layers.Conv2D, FactorizedReduction)):
            _, height, width, channels_out = layer.output.shape
            channels_in = layer.input.shape[-1]
            if isinstance(layer, keras.layers.SeparableConv2D):
                per_pixel = math.prod(layer.kernel_size) * channels_in + channels_in * channels_out
            elif isinstance(layer, keras.layers.Conv2D):
                per_pixel = math.prod(layer.kernel_size) * channels_in * channels_out
            else:  # two 1x1 convs to half the channels each
                per_pixel = channels_in * channels_out
            multiply_adds += height * width * per_pixel
        elif isinstance(layer, keras.layers.Dense):
            multiply_adds += layer.input.shape[-1] * layer.units
    return {"trainable_params": trainable, "aux_params": aux, "multiply_adds": multiply_adds}
