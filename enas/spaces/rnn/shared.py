"""The shared-weight search child of the rnn space (the architecture is a tensor at call time)."""

from __future__ import annotations

import keras
from keras import ops

from enas.spaces.rnn.models import (ACTIVATIONS, FIXED_INIT_RANGE, SEARCH_INIT_RANGE,  # noqa: F401
                                    RnnLanguageModel, _masked, highway)


@keras.saving.register_keras_serializable(package="enas")
class RnnSharedChild(RnnLanguageModel):
    """The shared-weight search child: the architecture is an int32 tensor ``[2N]`` at call time.

    Args:
      vocab_size, hidden_size, num_nodes: see :class:`RnnLanguageModel`.
      num_branches: F, activations searched (the first F of tanh, relu, sigmoid, identity).
      **kwargs: keep probabilities, ``init_range``, ``seed`` and ``keras.Model`` arguments.
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_nodes: int,
                 num_branches: int = len(ACTIVATIONS), **kwargs):
        kwargs.setdefault("init_range", SEARCH_INIT_RANGE)
        super().__init__(vocab_size, hidden_size, num_nodes, **kwargs)
        self.num_branches = int(num_branches)
        hidden, nodes = self.hidden_size, self.num_nodes
        # Node j (1..N) owns rows offset_j + f * j + prev, offset_j = F * j (j - 1) / 2.
        self.row_offsets = [self.num_branches * j * (j - 1) // 2 for j in range(1, nodes + 1)]
        self.node_bank = self._uniform_weight(
            (self.num_branches * nodes * (nodes + 1) // 2, hidden, 2 * hidden), "node_bank")

    def get_config(self):
        config = super().get_config()
        config.update(num_nodes=self.num_nodes, num_branches=self.num_branches)
        return config

    def bank_row(self, node: int, func, prev):
        """Row of the bank holding node ``node``'s (1-based) matrix for activation ``func`` on ``prev``."""
        return self.row_offsets[node - 1] + func * node + prev

    def node_weights(self, arc):
        """``[N, H, 2H]``: the bank rows of the (previous node, activation) pairs ``arc`` chooses."""
        arc = ops.cast(arc, "int32")
        nodes = ops.arange(1, self.num_nodes + 1, dtype="int32")
        rows = ops.convert_to_tensor(self.row_offsets, "int32") + arc[1::2] * nodes + arc[0::2]
        return ops.take(self.node_bank, rows, axis=0)

    def decayed_weights(self, arc) -> list:
        return [self.w_prev, self.node_weights(arc)]

    def call(self, tokens, arc, state=None, training=False, return_hiddens=False):
        arc = ops.cast(arc, "int32")
        prevs = [arc[2 * i] for i in range(self.num_nodes)]
        funcs = [arc[2 * i + 1] for i in range(self.num_nodes)]
        weights = ops.unstack(self.node_weights(arc), self.num_nodes, axis=0)
        activations = ACTIVATIONS[:self.num_branches]

        def cell(xw_t, h, w_h, h_mask):
            states = [self._node0(xw_t, h, w_h, h_mask)]
            for index in range(self.num_nodes):
                # Node 1 can only read node 0: no selection needed.
                s_prev = states[0] if index == 0 else ops.switch(
                    prevs[index], [lambda s=s: s for s in states])
                c, g = ops.split(ops.matmul(_masked(s_prev, h_mask), weights[index]), 2, axis=-1)
                states.append(s_prev + ops.sigmoid(g) * (ops.switch(funcs[index], activations, c) - s_prev))
            return ops.mean(ops.stack(states[1:]), axis=0)

        return self._run(tokens, state, training, cell, return_hiddens)

    def _mixture_matrices(self) -> list:
        """Per node j (1..N) and previous node p: ``[H, F * 2H]``, its F activation matrices side by side."""
        matrices = []
        for node in range(1, self.num_nodes + 1):
            per_prev = []
            for prev in range(node):
                rows = [self.bank_row(node, func, prev) for func in range(self.num_branches)]
                per_prev.append(ops.concatenate([self.node_bank[row] for row in rows], axis=-1))
            matrices.append(per_prev)
        return matrices

    def mixture_row_weights(self, weights):
        """``[rows of node_bank]``: each bank row's weight under the relaxation (prev weight x func weight)."""
        weights = ops.cast(weights, self.compute_dtype)
        row_weights = [None] * (self.num_branches * self.num_nodes * (self.num_nodes + 1) // 2)
        for index in range(self.num_nodes):
            node = index + 1
            for func in range(self.num_branches):
                for prev in range(node):
                    row = self.bank_row(node, func, prev)
                    row_weights[row] = weights[2 * index, prev] * weights[2 * index + 1, func]
        return ops.stack(row_weights)

    def mixture_decayed_weights(self, weights) -> list:
        """The L2 terms of the relaxation: W_prev, and every bank row scaled by the square root of its
        weight (so its penalty is the row's expected penalty; one-hot: :meth:`decayed_weights`)."""
        scale = ops.sqrt(ops.stop_gradient(self.mixture_row_weights(weights)))
        return [self.w_prev, self.node_bank * scale[:, None, None]]

    def mixture_call(self, tokens, weights, state=None, training=False, return_hiddens=False):
        """The continuous relaxation (DARTS) of the cell: ``weights`` float ``[2N, M]`` (``M`` at least
        ``max(N, F)``), per node a row over its previous nodes then a row over the activations::

            s_j = sum_p a_p sum_f b_f [s_p + sigmoid(g_pf) (f(c_pf) - s_p)],  c_pf, g_pf = split(s_p W_jfp)

        Every (previous node, activation) pair of every node runs. One-hot rows give :meth:`call`.
        """
        weights = ops.cast(weights, self.compute_dtype)
        matrices = self._mixture_matrices()
        activations = ACTIVATIONS[:self.num_branches]
        hidden = self.hidden_size

        def cell(xw_t, h, w_h, h_mask):
            states = [self._node0(xw_t, h, w_h, h_mask)]
            for index in range(self.num_nodes):
                total = None
                for prev, s_prev in enumerate(states):
                    cg = ops.matmul(_masked(s_prev, h_mask), matrices[index][prev])
                    mixed = None
                    for func, activation in enumerate(activations):
                        term = weights[2 * index + 1, func] * highway(
                            s_prev, cg[:, 2 * hidden * func:2 * hidden * (func + 1)], activation)
                        mixed = term if mixed is None else mixed + term
                    term = weights[2 * index, prev] * mixed
                    total = term if total is None else total + term
                states.append(total)
            return ops.mean(ops.stack(states[1:]), axis=0)

        return self._run(tokens, state, training, cell, return_hiddens)
