"""Keras layers of the micro (cell) search space: shared op banks, loose ends, search BN, drop-path.

The shared-weight (search) layers take the architecture either as int32 scalar tensors, chosen in the
graph with ``keras.ops.switch`` so one trace serves every architecture, or as Python ints, chosen in
Python (the static search-semantics model of one architecture). With ``compiled_switches``
(``--child_compiled_switches``), the op switch of a slot is one compiled function per channel count
(:func:`enas.spaces.layers.compiled_once`), which every slot of every cell calls with its own input and
weights, and the input switch one per node count. Everything is ``keras.layers`` / ``keras.ops`` only, NHWC.
"""

from __future__ import annotations

import functools
import math
import numbers

import keras
from keras import ops

from enas.spaces.layers import (compiled_once, he_normal, max_pool_3x3, recomputed, replica_moments,
                                sync_batch_norm_default)
from enas.spaces.micro import arc as micro

SEP_CONV_SIZES = tuple(micro.OP_KINDS[op][1] for op in micro.SEP_CONV_OPS)  # kernel sizes of the sep-conv ops
SEP_CONV_UNITS = 2       # a sep-conv op is 2 stacked [ReLU -> depthwise -> pointwise -> BN] units
BN_EPSILON = 1e-5


def is_static(choice) -> bool:
    """True when an architecture choice is a Python integer (decided at build time)."""
    return isinstance(choice, numbers.Integral)


def batch_stat_norm(x, scale, offset, synchronized: bool = False):
    """Batch normalisation with the minibatch's own mean and (biased) variance (NHWC); ``synchronized``:
    the global batch's, over every replica (:func:`enas.spaces.layers.replica_moments`)."""
    moments = replica_moments(x, [0, 1, 2]) if synchronized else None
    if moments is not None:
        mean, variance = moments
        return (x - mean) * (scale * ops.rsqrt(variance + BN_EPSILON)) + offset
    # Written out rather than ops.moments + ops.batch_normalization: half the graph ops, and the
    # shared child traces one copy of this per sep-conv unit per slot.
    centered = x - ops.mean(x, axis=[0, 1, 2])
    variance = ops.mean(ops.square(centered), axis=[0, 1, 2])
    return centered * (scale * ops.rsqrt(variance + BN_EPSILON)) + offset


def _stacked_he_normal(slice_shape):
    """He-normal initialiser for a bank of kernels: each slice scaled as Keras scales one such kernel."""
    fan_in = slice_shape[-2] * math.prod(slice_shape[:-2])
    # 0.8796... corrects the standard deviation of a normal truncated at two standard deviations.
    return keras.initializers.TruncatedNormal(stddev=math.sqrt(2.0 / fan_in) / 0.87962566103423978)


@keras.saving.register_keras_serializable(package="enas")
class SearchBatchNorm(keras.layers.Layer):
    """Batch norm that always normalises with batch statistics and keeps no moving averages.

    The official micro search graphs force ``is_training=True`` for training, validation, test and
    reward passes alike, so every search-time BN uses the statistics of the current minibatch; with no
    moving averages nothing changes state during evaluation.

    Args:
      channels: number of channels (last axis).
      synchronized: statistics over every replica of a distribution (``--child_sync_bn``); by default
        as :func:`enas.spaces.layers.synchronized_batch_norm` says where the layer is made.
    """

    def __init__(self, channels: int, synchronized=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.synchronized = sync_batch_norm_default() if synchronized is None else bool(synchronized)

    def build(self, input_shape=None):
        self.scale = self.add_weight(shape=(self.channels,), initializer="ones", name="scale")
        self.offset = self.add_weight(shape=(self.channels,), initializer="zeros", name="offset")

    def call(self, inputs):
        return batch_stat_norm(inputs, self.scale, self.offset, self.synchronized)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "synchronized": self.synchronized}


@keras.saving.register_keras_serializable(package="enas")
class SearchReluConvBN(keras.layers.Layer):
    """ReLU -> 1x1 conv -> batch-statistics BN: the search cells' input calibration.

    Args:
      filters: output channels.
      input_channels: input channels (``build`` needs no input shape).
    """

    def __init__(self, filters: int, input_channels: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.input_channels = int(filters), int(input_channels)
        self.conv = keras.layers.Conv2D(self.filters, 1, use_bias=False, kernel_initializer=he_normal, name="conv")
        self.norm = SearchBatchNorm(self.filters, name="bn")

    def build(self, input_shape=None):
        self.conv.build((None, None, None, self.input_channels))
        self.norm.build()

    def call(self, inputs):
        return self.norm(self.conv(ops.relu(inputs)))

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "input_channels": self.input_channels}


def sep_conv_layout(filters: int) -> list[tuple[int, int, str, tuple]]:
    """``(size, unit, kind, shape)`` of each weight packed, in this order, in a slot's weight row."""
    return [(size, unit, kind, shape)
            for size in SEP_CONV_SIZES for unit in range(SEP_CONV_UNITS)
            for kind, shape in (("depthwise", (size, size, filters, 1)), ("pointwise", (1, 1, filters, filters)),
                                ("scale", (filters,)), ("offset", (filters,)))]


class _SepConvBankInitializer:
    """Initial rows of a packed sep-conv bank: He-normal kernels (as Keras scales each kernel), BN 1/0."""

    def __init__(self, filters: int):
        self.layout = sep_conv_layout(filters)

    def __call__(self, shape, dtype=None):
        rows = shape[0]
        pieces = []
        for _, _, kind, piece_shape in self.layout:
            size = math.prod(piece_shape)
            if kind == "scale":
                pieces.append(ops.ones((rows, size), dtype))
            elif kind == "offset":
                pieces.append(ops.zeros((rows, size), dtype))
            else:
                pieces.append(_stacked_he_normal(piece_shape)((rows, size), dtype))
        return ops.concatenate(pieces, axis=1)


@keras.saving.register_keras_serializable(package="enas")
class SharedSlot(keras.layers.Layer):
    """One slot (x or y) of one node of a search cell: applies the chosen op to the chosen input.

    As in the official code, its sep-conv weights have one row per possible input node, so a weight
    is specific to (cell, node, slot, op, input index). All sep-conv weights of one row (both sizes,
    both units: depthwise, pointwise, BN scale and offset; :func:`sep_conv_layout`) are packed in one
    vector, so a step gathers one row and the op switch captures two tensors (input, row): the fixed
    cost of each switch is what separates the shared child's step time from a static graph's. The
    pools and the identity have no weights (a search cell's nodes all have ``filters`` channels).
    The input itself is chosen by the cell (:func:`choose_inputs`).

    Args:
      filters: channels C of every node of the cell.
      num_inputs: how many nodes the slot can read (node j reads nodes 0..j-1, so j).
      num_branches: candidate ops, the first ``num_branches`` of sep3, sep5, avg, max, identity.
      compiled_switch: the op switch as the compiled function that every slot with ``filters``
        channels calls (:func:`_slot_switch`) rather than a copy in the calling graph.
      recompute: the op switch keeps no activations for the backward pass, which runs it again
        (:func:`enas.spaces.layers.recomputed`): less memory, one more forward pass of the op.
      synchronized: its sep-conv batch norms use the statistics of every replica (``--child_sync_bn``;
        by default as :func:`enas.spaces.layers.synchronized_batch_norm` says where it is made). Not
        with ``compiled_switch``: one compiled function serves every replica, and each replica
        all-reduces on its own device.
    """

    def __init__(self, filters: int, num_inputs: int, num_branches: int = 5, compiled_switch: bool = False,
                 recompute: bool = False, synchronized=None, **kwargs):
        super().__init__(**kwargs)
        self.compiled_switch, self.recompute = bool(compiled_switch), bool(recompute)
        self.synchronized = sync_batch_norm_default() if synchronized is None else bool(synchronized)
        if self.synchronized and self.compiled_switch:
            raise ValueError("synchronized batch norms need copied op switches (compiled_switch=False)")
        self.filters, self.num_inputs, self.num_branches = int(filters), int(num_inputs), int(num_branches)
        self.layout = sep_conv_layout(self.filters)
        sizes = [math.prod(shape) for _, _, _, shape in self.layout]
        self.offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]

    def build(self, input_shape=None):
        self.bank = self.add_weight(shape=(self.num_inputs, self.offsets[-1]), name="sep_conv_bank",
                                    initializer=_SepConvBankInitializer(self.filters))

    def call(self, x, index, op):
        """``op(x)`` where ``x`` is node ``index``; ``index``, ``op``: int32 scalar tensors or Python ints."""
        row = ops.take(self.bank, index, axis=0)
        if is_static(op):
            branches = _slot_branches(self.filters, self.num_branches, False, synchronized=self.synchronized)
            return branches[int(op)](x, row)
        if self.compiled_switch:
            # The op switch is the same computation in every slot of every cell with C channels: one
            # compiled function, traced once per process and input shape, that each slot calls.
            return _slot_switch(self.filters, self.num_branches, self.recompute)(x, row, op)
        switch = _op_switch(_slot_branches(self.filters, self.num_branches, True, synchronized=self.synchronized))
        return (recomputed(switch) if self.recompute else switch)(x, row, op)

    def mixture(self, nodes, index_weights, op_weights):
        """The continuous relaxation (DARTS): ``sum_i a_i sum_k b_k op_k(nodes[i])``, each (input, op)
        with its own weights as in :meth:`call`. ``index_weights``: ``[num_inputs]`` (softmax over the
        readable nodes); ``op_weights``: ``[num_branches]``. One-hot weights give :meth:`call`'s output."""
        branches = _slot_branches(self.filters, self.num_branches, False, synchronized=self.synchronized)
        total = None
        for index, x in enumerate(nodes[:self.num_inputs]):
            row = self.bank[index]
            mixed = None
            for op, branch in enumerate(branches):
                term = op_weights[op] * branch(x, row)
                mixed = term if mixed is None else mixed + term
            term = index_weights[index] * mixed
            total = term if total is None else total + term
        return total

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "num_inputs": self.num_inputs,
                "num_branches": self.num_branches, "compiled_switch": self.compiled_switch,
                "recompute": self.recompute, "synchronized": self.synchronized}


def unpack_sep_conv(row, size: int, layout, offsets) -> list[tuple]:
    """The (depthwise, pointwise, scale, offset) weights of each unit of sep-conv ``size`` in a packed
    weight row (:func:`sep_conv_layout`; ``offsets``: the running sums of its entries' sizes)."""
    first = [i for i, entry in enumerate(layout) if entry[0] == size]
    part = row[offsets[first[0]]:offsets[first[-1] + 1]]
    pieces = ops.split(part, [offsets[i] - offsets[first[0]] for i in first[1:]])
    weights = [ops.reshape(piece, layout[i][3]) for i, piece in zip(first, pieces)]
    return [tuple(weights[4 * unit:4 * unit + 4]) for unit in range(SEP_CONV_UNITS)]


def _slot_branches(filters: int, num_branches: int, in_switch: bool, in_function: bool = False,
                   synchronized: bool = False) -> list:
    """The functions ``(x, packed weight row) -> y`` of the first ``num_branches`` entries of the op table
    (``synchronized``: their batch norms use every replica's statistics)."""
    layout = sep_conv_layout(filters)
    sizes = [math.prod(shape) for _, _, _, shape in layout]
    offsets = [sum(sizes[:i]) for i in range(len(sizes) + 1)]

    def sep_conv(x, row, size):
        for depthwise, pointwise, scale, offset in unpack_sep_conv(row, size, layout, offsets):
            x = ops.separable_conv(ops.relu(x), depthwise, pointwise, padding="same")
            x = batch_stat_norm(x, scale, offset, synchronized)
        return x

    def branch(kind: str, size: int):
        if kind == "sep":
            return lambda x, row: sep_conv(x, row, size)
        if kind == "avg":
            return lambda x, row: ops.average_pool(x, size, strides=1, padding="same")
        if kind == "max":
            return lambda x, row: max_pool_3x3(x, in_switch=in_switch, in_function=in_function)
        return lambda x, row: x

    return [branch(kind, size) for kind, size in micro.OP_KINDS[:num_branches]]


@functools.lru_cache(maxsize=None)
def _slot_switch(filters: int, num_branches: int, recompute: bool = False):
    """``(x, row, op) -> branches[op](x, row)`` for slots of ``filters`` channels, compiled once per
    process (:func:`enas.spaces.layers.compiled_once`): every slot with C channels shares its trace.
    ``recompute``: its gradient runs it again rather than keeping its activations."""
    switch = _op_switch(_slot_branches(filters, num_branches, in_switch=True, in_function=True))
    return compiled_once(recomputed(switch) if recompute else switch)


def _op_switch(branches):
    """``(x, row, op) -> branches[op](x, row)`` with ``op`` an int32 scalar tensor."""
    return lambda x, row, op: ops.switch(op, branches, x, row)


@functools.lru_cache(maxsize=None)
def _loose_end_switch():
    """``(is_loose, node, kernel) -> conv(relu(node), kernel) if is_loose else 0``: one loose-end term
    of :class:`LooseEndProjection` (:func:`_loose_end_term`), compiled once per process."""
    return compiled_once(_loose_end_term)


def _loose_end_term(is_loose, node, kernel):
    branches = [lambda node, kernel: ops.zeros_like(node),
                lambda node, kernel: ops.conv(ops.relu(node), kernel, padding="same")]
    return ops.switch(is_loose, branches, node, kernel)


def choose_inputs(nodes, index1, index2, compiled: bool = False):
    """``(nodes[index1], nodes[index2])``: the inputs of both slots of a node, in one switch.

    One switch over the ``j * j`` index pairs (instead of one per slot) halves the gradient tensors
    of the nodes a step does not read: the switch's gradient is one tensor per candidate node, zeros
    for those not chosen, and those zeros are summed into every node's gradient. ``compiled``: like the
    op switch, one compiled function per node count, which every node with ``j`` readable nodes calls.
    """
    if is_static(index1) and is_static(index2):
        return nodes[int(index1)], nodes[int(index2)]
    count = len(nodes)
    if compiled:
        return tuple(_pair_switch(count)(index1 * count + index2, *nodes))
    pairs = [functools.partial(lambda first, second: (first, second), nodes[first], nodes[second])
             for first in range(count) for second in range(count)]
    return tuple(ops.switch(index1 * count + index2, pairs))


@functools.lru_cache(maxsize=None)
def _pair_switch(count: int):
    """``(pair, *nodes) -> (nodes[pair // count], nodes[pair % count])``, compiled once per process."""
    pairs = [functools.partial(lambda first, second, *nodes: (nodes[first], nodes[second]), first, second)
             for first in range(count) for second in range(count)]
    return compiled_once(lambda pair, *nodes: tuple(ops.switch(pair, pairs, *nodes)))


def loose_end_mask(cell_tokens, num_nodes: int):
    """float32 ``[num_nodes]``: 1 for each node no node of the cell reads (a loose end), else 0.

    ``cell_tokens`` is the int32 tensor of one cell's ``4B`` tokens (``index1 op1 index2 op2`` per node).
    """
    indices = ops.reshape(ops.reshape(cell_tokens, (-1, 4))[:, 0::2], (-1,))
    used = ops.sum(ops.one_hot(indices, num_nodes), axis=0)
    return ops.cast(ops.equal(used, 0), "float32")


@keras.saving.register_keras_serializable(package="enas")
class LooseEndProjection(keras.layers.Layer):
    """The search cell's output: the loose-end nodes concatenated, then ReLU -> 1x1 conv to C -> BN.

    The kernel covers all ``num_nodes`` nodes ((B+2)·C input rows); a cell uses the rows of its loose
    ends, as the official code gathers the loose ends and the matching kernel rows. With an int32
    token tensor, each node's 1x1 conv with its rows runs in a switch (zeros for a node that some node
    reads) and the results are summed, so shapes stay static; with Python-int tokens the loose ends
    and the kernel rows are gathered directly (same weights, same result).

    Args:
      num_nodes: B + 2.
      filters: channels C of every node and of the output.
      compiled_switch: each node's switch as the compiled function every cell calls
        (:func:`_loose_end_switch`) rather than a copy in the calling graph.
    """

    def __init__(self, num_nodes: int, filters: int, compiled_switch: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.num_nodes, self.filters = int(num_nodes), int(filters)
        self.compiled_switch = bool(compiled_switch)
        self.norm = SearchBatchNorm(self.filters, name="bn")

    def build(self, input_shape=None):
        self.kernel = self.add_weight(shape=(1, 1, self.num_nodes * self.filters, self.filters),
                                      initializer=he_normal, name="kernel")
        self.norm.build()

    def call(self, nodes, cell_tokens):
        """``nodes``: the B+2 node tensors; ``cell_tokens``: int32 ``[4B]`` tensor or Python ints."""
        if isinstance(cell_tokens, (list, tuple)):
            used = {int(t) for t in cell_tokens[0::2]}
            loose = [i for i in range(self.num_nodes) if i not in used]
            rows = [i * self.filters + c for i in loose for c in range(self.filters)]
            x = ops.concatenate([nodes[i] for i in loose], axis=-1)
            kernel = ops.take(self.kernel, rows, axis=2)
            return self.norm(ops.conv(ops.relu(x), kernel, padding="same"))
        # The 1x1 conv of the concatenation is the sum of each node's conv with its rows of the kernel;
        # a switch per node runs that conv only for loose ends. (Masking the concatenation instead
        # convolves all (B+2)·C channels: measured ~25% of a step at 32x32 with few loose ends.)
        is_loose = ops.cast(loose_end_mask(cell_tokens, self.num_nodes), "int32")
        switch = _loose_end_switch() if self.compiled_switch else _loose_end_term
        total = 0.0
        for i, node in enumerate(nodes):
            kernel = self.kernel[:, :, i * self.filters:(i + 1) * self.filters, :]
            total = total + switch(is_loose[i], node, kernel)
        return self.norm(total)

    def mixture(self, nodes, loose_weights):
        """The relaxed output: ``BN(sum_n w_n conv(relu(node_n), kernel rows of n)))``, ``loose_weights``
        ``[num_nodes]`` being each node's probability of being a loose end (1/0 for an architecture,
        which gives :meth:`call`'s output)."""
        total = 0.0
        for i, node in enumerate(nodes):
            kernel = self.kernel[:, :, i * self.filters:(i + 1) * self.filters, :]
            total = total + loose_weights[i] * ops.conv(ops.relu(node), kernel, padding="same")
        return self.norm(total)

    def get_config(self):
        return {**super().get_config(), "num_nodes": self.num_nodes, "filters": self.filters,
                "compiled_switch": self.compiled_switch}


@keras.saving.register_keras_serializable(package="enas")
class DropPath(keras.layers.Layer):
    """Drop-path of the final micro network: drops a whole branch of a sample, rescaling the rest.

    One instance serves every cell (``call(x, cell_index)``), so the schedule lives in one variable:
    for cell ``l`` of ``num_cells`` (= L + 2), ``keep_l = 1 - (l + 1) / num_cells * (1 - keep_prob)``,
    and at training progress ``t`` (``set_progress``, = (step + 1) / total_steps), ``keep = 1 -
    min(1, t) * (1 - keep_l)``. A sample survives with probability ``keep`` and is then divided by it.
    Inactive outside training.

    Args:
      keep_prob: ``child_drop_path_keep_prob``, the keep probability of the last cell at the end.
      num_cells: L + 2, the number of cells.
      seed: seed of the drop decisions (None: from the global Keras seed).
    """

    def __init__(self, keep_prob: float, num_cells: int, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.keep_prob, self.num_cells, self.seed = float(keep_prob), int(num_cells), seed
        # Non-trainable variable, so a compiled step reads the current value without retracing.
        self.progress = self.add_weight(shape=(), initializer="zeros", trainable=False, name="progress")
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def set_progress(self, fraction: float) -> None:
        """Sets the training progress (0..1; values past 1 act as 1)."""
        self.progress.assign(float(fraction))

    def keep_probability(self, cell_index: int):
        """The current keep probability of branches in cell ``cell_index`` (a scalar tensor)."""
        keep_layer = 1.0 - (cell_index + 1) / self.num_cells * (1.0 - self.keep_prob)
        progress = ops.clip(ops.convert_to_tensor(self.progress), 0.0, 1.0)
        return 1.0 - progress * (1.0 - keep_layer)

    def call(self, inputs, cell_index: int = 0, training=None):
        if not training:
            return inputs
        keep = self.keep_probability(cell_index)
        noise = keras.random.uniform((ops.shape(inputs)[0], 1, 1, 1), seed=self.seed_generator)
        return inputs / keep * ops.floor(keep + noise)

    def get_config(self):
        return {**super().get_config(), "keep_prob": self.keep_prob, "num_cells": self.num_cells,
                "seed": self.seed}
