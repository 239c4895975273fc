"""The shared-weight child of the micro space: one traced graph runs every cell architecture.

Search semantics follow the official search graph (reference section 1.2):

* stem 3x3 conv (3 -> 3C) + BN; both inputs of the first cell are the stem output;
* ``L + 2`` cells, reduction cells at ``L//3`` and ``2*(L//3)+1``, where C doubles; before a
  reduction cell the previous output ``h`` goes through a factorized reduction FR(h, 2C) and the
  cell reads ``[h, FR(h)]`` (``h_{i-2}`` is dropped; calibration reduces ``h`` again); all ops run at
  stride 1;
* input calibration: input 0 gets ReLU -> FR when it is spatially twice input 1, else ReLU -> 1x1 ->
  BN when its channels differ from C; input 1 gets ReLU -> 1x1 -> BN when its channels differ;
* node j = op1(node[index1]) + op2(node[index2]) with per-(cell, node, slot, op, input) weights
  (:class:`enas.spaces.micro.cell_ops.SharedSlot`);
* cell output: all B + 2 nodes concatenated, the read ones masked to 0, ReLU -> 1x1 conv to C -> BN
  (:class:`enas.spaces.micro.cell_ops.LooseEndProjection`);
* head ReLU -> global average pool -> dropout -> dense (no bias, as in the official code);
* with ``use_aux_heads`` (as the official micro search script), an auxiliary head on the output of
  cell ``2*(L//3)+2`` (the first normal cell of the last stage), as in the fixed child but with
  batch-statistics BN: ``call(..., training=True)`` then returns ``(logits, aux_logits)``, which the
  trainer weights 0.4; any other call returns the logits alone.

Batch norm uses batch statistics ALWAYS, also with ``training=False``: the official code forces
``is_training=True`` for every micro search graph (train, valid, test, reward), so the search child
keeps no moving averages (the BN inside factorized reductions, shared with the macro space, is called
with ``training=True``; its moving averages are never read). ``training`` switches dropout (and the
auxiliary head); ``call(..., dropout=True)`` keeps dropout on in an inference call, which is how the
official micro search computed its rewards (``reward_dropout``, ``--child_reward_dropout``); a boolean
tensor ``dropout`` decides in the graph, so rewards and evaluation share one traced function.
"""

from __future__ import annotations

import keras
from keras import ops

from enas.spaces.micro.cell_ops import (LooseEndProjection, SearchBatchNorm, SearchReluConvBN, SharedSlot,
                                        choose_inputs)
from enas.spaces.layers import FactorizedReduction, he_normal
from enas.spaces.micro import arc as micro
from enas.errors import ConfigError

NUM_OPS = micro.NUM_OPS
AUX_PREFIX = micro.AUX_PREFIX


@keras.saving.register_keras_serializable(package="enas")
class SearchCell(keras.layers.Layer):
    """A search cell: calibrates its two inputs, computes B nodes from the arc, projects the loose ends.

    Args:
      num_cells: B, computed nodes.
      filters: C of this cell.
      input_channels: channels of the two inputs [h_{i-2}, h_{i-1}].
      num_branches: candidate ops per slot.
      reduce_input0: input 0 is spatially twice input 1: ReLU -> FR (else ReLU -> 1x1 -> BN when its
        channels differ from C).
      compiled_switches: the op and input switches as compiled functions shared by every cell
        (``--child_compiled_switches``; :mod:`enas.spaces.micro.cell_ops`).
      recompute: the slots' op switches recompute their activations in the backward pass
        (``--child_recompute``).

    Input 1 gets ReLU -> 1x1 -> BN when its channels differ from C. ``build`` creates every weight
    from the constructor arguments alone.
    """

    def __init__(self, num_cells: int, filters: int, input_channels, num_branches: int = NUM_OPS,
                 reduce_input0: bool = False, compiled_switches: bool = False, recompute: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.compiled_switches, self.recompute = bool(compiled_switches), bool(recompute)
        self.num_cells, self.filters, self.num_branches = int(num_cells), int(filters), int(num_branches)
        self.input_channels, self.reduce_input0 = tuple(int(c) for c in input_channels), bool(reduce_input0)
        channels0, channels1 = self.input_channels
        self.input0_layer = self.input1_layer = None
        if self.reduce_input0:
            self.input0_layer = FactorizedReduction(self.filters, name="input0_reduction")
        elif channels0 != self.filters:
            self.input0_layer = SearchReluConvBN(self.filters, channels0, name="input0_conv")
        if channels1 != self.filters:
            self.input1_layer = SearchReluConvBN(self.filters, channels1, name="input1_conv")
        self.slots = [SharedSlot(self.filters, node_id, self.num_branches, compiled_switch=self.compiled_switches,
                                 recompute=self.recompute, name=f"node{node_id}_{slot}")
                      for node_id in range(2, self.num_cells + 2) for slot in ("x", "y")]
        self.loose_ends = LooseEndProjection(self.num_cells + 2, self.filters, compiled_switch=self.compiled_switches,
                                             name="loose_ends")

    def build(self, input_shape=None):
        channels0, channels1 = self.input_channels
        if self.input0_layer is not None:
            self.input0_layer.build((None, None, None, channels0))
        if self.input1_layer is not None:
            self.input1_layer.build((None, None, None, channels1))
        for slot in self.slots:
            slot.build()
        self.loose_ends.build()

    def _calibrated(self, inputs) -> list:
        """The cell's two inputs brought to C channels at this cell's size: nodes 0 and 1."""
        previous, last = inputs
        if self.reduce_input0:
            previous = self.input0_layer(ops.relu(previous), training=True)
        elif self.input0_layer is not None:
            previous = self.input0_layer(previous)
        if self.input1_layer is not None:
            last = self.input1_layer(last)
        return [previous, last]

    def call(self, inputs, cell_tokens):
        """``inputs``: [h_{i-2}, h_{i-1}]; ``cell_tokens``: this cell's 4B tokens (int32 tensor or ints)."""
        nodes = self._calibrated(inputs)
        for node in range(self.num_cells):
            index1, op1, index2, op2 = (cell_tokens[4 * node + k] for k in range(4))
            x, y = choose_inputs(nodes, index1, index2, compiled=self.compiled_switches)
            x = self.slots[2 * node](x, index=index1, op=op1)
            y = self.slots[2 * node + 1](y, index=index2, op=op2)
            nodes.append(x + y)
        return self.loose_ends(nodes, cell_tokens=cell_tokens)

    def mixture_call(self, inputs, cell_weights):
        """The relaxed cell (DARTS): ``cell_weights`` float ``[4B, M]``, per node the rows of
        ``index1 op1 index2 op2`` (index rows: weights of the j readable nodes; op rows: of the ops).
        A node is a loose end with probability ``prod (1 - a_s[node])`` over the index rows ``a_s`` that
        can read it. One-hot rows give :meth:`call` with that cell's tokens."""
        nodes = self._calibrated(inputs)
        num_nodes = self.num_cells + 2
        loose = [1.0] * num_nodes
        for node in range(self.num_cells):
            count = node + 2
            index1, op1, index2, op2 = (cell_weights[4 * node + k] for k in range(4))
            x = self.slots[2 * node].mixture(nodes, index1[:count], op1[:self.num_branches])
            y = self.slots[2 * node + 1].mixture(nodes, index2[:count], op2[:self.num_branches])
            for i in range(count):
                loose[i] = loose[i] * (1.0 - index1[i]) * (1.0 - index2[i])
            nodes.append(x + y)
        return self.loose_ends.mixture(nodes, loose)

    def get_config(self):
        return {**super().get_config(), "num_cells": self.num_cells, "filters": self.filters,
                "input_channels": list(self.input_channels), "num_branches": self.num_branches,
                "reduce_input0": self.reduce_input0, "compiled_switches": self.compiled_switches,
                "recompute": self.recompute}


@keras.saving.register_keras_serializable(package="enas")
class SearchAuxHead(keras.layers.Layer):
    """The auxiliary head of the search child, batch-statistics BN (the official search graph's).

    ReLU -> avg-pool 5x5 stride 3 VALID -> 1x1 conv 128 + BN + ReLU -> conv 768 with a kernel the
    size of the map, SAME padding, + BN + ReLU -> global average pool -> dense (no bias).

    Args:
      channels: input channels.
      spatial: input height (= width) at the head, which fixes the pool and kernel sizes.
      num_classes: classifier outputs.
    """

    def __init__(self, channels: int, spatial: int, num_classes: int, **kwargs):
        super().__init__(**kwargs)
        self.channels, self.spatial, self.num_classes = int(channels), int(spatial), int(num_classes)
        self.pool_size = min(5, self.spatial)  # the official 5x5, shrunk for small test images
        self.map_size = (self.spatial - self.pool_size) // 3 + 1
        self.pool = keras.layers.AveragePooling2D(self.pool_size, strides=3, padding="valid", name="pool")
        self.proj_conv = keras.layers.Conv2D(128, 1, use_bias=False, kernel_initializer=he_normal, name="proj_conv")
        self.proj_bn = SearchBatchNorm(128, name="proj_bn")
        self.conv = keras.layers.Conv2D(768, self.map_size, padding="same", use_bias=False,
                                        kernel_initializer=he_normal, name="conv")
        self.conv_bn = SearchBatchNorm(768, name="conv_bn")
        self.classifier = keras.layers.Dense(self.num_classes, use_bias=False, kernel_initializer=he_normal,
                                             name="classifier")

    def build(self, input_shape=None):
        self.proj_conv.build((None, self.map_size, self.map_size, self.channels))
        self.proj_bn.build()
        self.conv.build((None, self.map_size, self.map_size, 128))
        self.conv_bn.build()
        self.classifier.build((None, 768))

    def call(self, x):
        x = self.pool(ops.relu(x))
        x = ops.relu(self.proj_bn(self.proj_conv(x)))
        x = ops.relu(self.conv_bn(self.conv(x)))
        return self.classifier(ops.mean(x, axis=[1, 2]))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "spatial": self.spatial,
                "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="enas")
class SharedMicroChild(keras.Model):
    """The micro search child; ``call(images, arc, training=None)`` with ``arc`` int32 ``[8B]``.

    ``arc`` is the token tensor (normal cell, then reduction cell). Out-of-range tokens are clipped
    silently inside the graph: validate architectures (``MicroArc``) before they become tensors.

    Args:
      num_layers: L (``child_num_layers``); the child has L + 2 cells.
      num_cells: B (``child_num_cells``), computed nodes per cell.
      out_filters: C of the first stage (``child_out_filters``).
      num_branches: candidate ops (``child_num_branches``, at most 5).
      keep_prob: dropout keep probability before the classifier (``child_keep_prob``).
      num_classes: classifier outputs.
      use_aux_heads: the auxiliary head (``child_use_aux_heads``); training calls return
        ``(logits, aux_logits)``.
      reward_dropout: whether rewards should be computed with dropout on (``child_reward_dropout``);
        read by the trainer, which then calls with ``dropout=True``.
      compiled_switches: the cells' op and input switches as compiled functions they share
        (``child_compiled_switches``): the same computation, a smaller step graph.
      recompute: the cells' op switches recompute their activations in the backward pass instead of
        keeping them (``child_recompute``): the same computation, less memory, more compute.
    """

    def __init__(self, num_layers: int, num_cells: int, out_filters: int, num_branches: int = NUM_OPS,
                 keep_prob: float = 1.0, num_classes: int = 10, use_aux_heads: bool = False,
                 reward_dropout: bool = False, compiled_switches: bool = False, recompute: bool = False,
                 **kwargs):
        super().__init__(**kwargs)
        self.compiled_switches, self.recompute = bool(compiled_switches), bool(recompute)
        if not 1 <= num_branches <= NUM_OPS:
            raise ConfigError(f"--child_num_branches: the micro space has {NUM_OPS} ops; got {num_branches}")
        self.num_layers, self.num_cells, self.out_filters = int(num_layers), int(num_cells), int(out_filters)
        self.num_branches, self.keep_prob, self.num_classes = int(num_branches), float(keep_prob), int(num_classes)
        self.use_aux_heads, self.reward_dropout = bool(use_aux_heads), bool(reward_dropout)
        self.reduction_ids = micro.reduction_cell_ids(self.num_layers)
        stem_filters = 3 * self.out_filters
        self.stem_conv = keras.layers.Conv2D(stem_filters, 3, padding="same", use_bias=False,
                                             kernel_initializer=he_normal, name="stem_conv")
        self.stem_bn = SearchBatchNorm(stem_filters, name="stem_bn")
        self.input_reductions, self.cells, self._reduction_input_channels = [], [], []
        # (channels, stage) of the two previous outputs decide each cell's calibration statically.
        previous, last = (stem_filters, 0), (stem_filters, 0)
        filters, stage = self.out_filters, 0
        for cell_id in range(self.num_layers + 2):
            if cell_id in self.reduction_ids:
                filters, stage = 2 * filters, stage + 1
                self.input_reductions.append(FactorizedReduction(filters, name=f"cell{cell_id}_input_reduction"))
                self._reduction_input_channels.append(last[0])
                previous, last = last, (filters, stage)
            self.cells.append(SearchCell(self.num_cells, filters, (previous[0], last[0]), self.num_branches,
                                         reduce_input0=previous[1] < last[1],
                                         compiled_switches=self.compiled_switches, recompute=self.recompute,
                                         name=f"cell{cell_id}"))
            previous, last = last, (filters, stage)
        self.dropout = keras.layers.Dropout(1.0 - self.keep_prob, name="dropout")
        self.classifier = keras.layers.Dense(self.num_classes, use_bias=False, kernel_initializer=he_normal,
                                             name="classifier")
        self._final_filters = filters
        self.aux_cell = self.reduction_ids[-1] + 1
        self.aux_head = None

    def build(self, input_shape):
        """Creates every weight; the stem depends on ``input_shape``'s channels, the aux head on its size."""
        if self.use_aux_heads and self.aux_head is None:
            spatial = int(input_shape[1])
            for _ in self.reduction_ids:  # each factorized reduction halves the map (rounding up)
                spatial = (spatial + 1) // 2
            self.aux_head = SearchAuxHead(self._final_filters, spatial, self.num_classes, name=AUX_PREFIX)
            self.aux_head.build()
        self.stem_conv.build(input_shape)
        self.stem_bn.build()
        for reduction, channels in zip(self.input_reductions, self._reduction_input_channels):
            reduction.build((None, None, None, channels))
        for cell in self.cells:
            cell.build()
        self.classifier.build((None, self._final_filters))

    def call(self, images, arc, training=None, dropout=None):
        return self.forward(images, ops.convert_to_tensor(arc, "int32"), training, dropout)

    def _cells(self, images, run_cell, training):
        """The stem and the cells, each cell run by ``run_cell(cell, [h_{i-2}, h_{i-1}], is_reduction)``
        (single path or mixture); returns the pooled features and the aux logits (None without them)."""
        aux_logits = None
        x = self.stem_bn(self.stem_conv(images))
        layers = [x, x]
        reductions = iter(self.input_reductions)
        for cell_id, cell in enumerate(self.cells):
            is_reduction = cell_id in self.reduction_ids
            if is_reduction:
                x = next(reductions)(x, training=True)
                layers = [layers[-1], x]
            x = run_cell(cell, layers, is_reduction)
            layers = [layers[-1], x]
            if self.aux_head is not None and training is True and cell_id == self.aux_cell:
                aux_logits = self.aux_head(x)
        return ops.mean(ops.relu(x), axis=[1, 2]), aux_logits

    def forward(self, images, tokens, training=None, dropout=None):
        """Logits for ``tokens``: an int32 tensor (chosen in the graph) or a tuple of ints (in Python).

        ``training=True`` with the aux head returns ``(logits, aux_logits)``; ``dropout`` (default:
        ``training``) switches the head's dropout alone, batch norm being batch-statistics anyway.
        """
        normal, reduction = tokens[:4 * self.num_cells], tokens[4 * self.num_cells:]
        x, aux_logits = self._cells(
            images, lambda cell, layers, is_reduction: cell(layers, cell_tokens=reduction if is_reduction else normal),
            training)
        dropout = training if dropout is None else dropout
        if dropout is None or isinstance(dropout, bool):
            logits = self.classifier(self.dropout(x, training=dropout))
        else:  # a boolean tensor: one graph scores with dropout (rewards) and without (evaluation)
            logits = ops.cond(dropout, lambda: self.classifier(self.dropout(x, training=True)),
                              lambda: self.classifier(x))
        return logits if aux_logits is None else (logits, aux_logits)

    def mixture_call(self, images, weights, training=None, dropout=None):
        """Logits of the continuous relaxation (DARTS) of the cell space; ``weights`` float ``[8B, M]``
        (``M`` at least ``max(B + 1, num_branches)``), one row per token of the layout (normal cell,
        then reduction cell; see :meth:`SearchCell.mixture_call`). Every candidate (input, op) pair
        runs. With one-hot rows it equals :meth:`forward` of that architecture, same weights; outputs
        as :meth:`forward` (``(logits, aux_logits)`` for a training call with the aux head)."""
        weights = ops.cast(weights, self.compute_dtype)
        normal, reduction = weights[:4 * self.num_cells], weights[4 * self.num_cells:]
        x, aux_logits = self._cells(
            images, lambda cell, layers, is_reduction: cell.mixture_call(layers, reduction if is_reduction else normal),
            training)
        logits = self.classifier(self.dropout(x, training=training if dropout is None else dropout))
        return logits if aux_logits is None else (logits, aux_logits)

    def get_config(self):
        return {**super().get_config(), "num_layers": self.num_layers, "num_cells": self.num_cells,
                "out_filters": self.out_filters, "num_branches": self.num_branches,
                "keep_prob": self.keep_prob, "num_classes": self.num_classes, "use_aux_heads": self.use_aux_heads,
                "reward_dropout": self.reward_dropout, "compiled_switches": self.compiled_switches,
                "recompute": self.recompute}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="enas")
class StaticSearchChild(SharedMicroChild):
    """Search semantics for one architecture, every choice made in Python; ``call(images, training)``.

    It has exactly the variables of :class:`SharedMicroChild` (``set_weights`` copies between them);
    it exists to check the shared child and to time it against a static graph.

    Args:
      arc_tokens: the 8B tokens of the architecture.
      **kwargs: the :class:`SharedMicroChild` arguments.
    """

    def __init__(self, arc_tokens, **kwargs):
        super().__init__(**kwargs)
        self.arc_tokens = tuple(int(t) for t in arc_tokens)

    def call(self, images, training=None, dropout=None):
        return self.forward(images, self.arc_tokens, training, dropout)

    def get_config(self):
        return {**super().get_config(), "arc_tokens": list(self.arc_tokens)}


def _child_arguments(child_config, num_classes: int) -> dict:
    return dict(num_layers=child_config.num_layers, num_cells=child_config.num_cells,
                out_filters=child_config.out_filters, num_branches=child_config.num_branches,
                keep_prob=child_config.keep_prob, num_classes=num_classes,
                use_aux_heads=child_config.use_aux_heads,
                reward_dropout=getattr(child_config, "reward_dropout", False),
                compiled_switches=getattr(child_config, "compiled_switches", False),
                recompute=getattr(child_config, "recompute", False))


def build_shared_child(child_config, num_classes: int, input_shape) -> SharedMicroChild:
    """The built shared-weight micro child for images of ``input_shape`` (H, W, channels)."""
    model = SharedMicroChild(**_child_arguments(child_config, num_classes), name="micro_shared_child")
    model.build((None,) + tuple(input_shape))
    return model


def build_static_search_child(arc, child_config, num_classes: int, input_shape) -> StaticSearchChild:
    """The built search-semantics child of one architecture ``arc`` (a ``MicroArc``)."""
    arc.check_config(child_config)
    model = StaticSearchChild(arc.to_tokens(), **_child_arguments(child_config, num_classes),
                              name="micro_static_search_child")
    model.build((None,) + tuple(input_shape))
    return model
