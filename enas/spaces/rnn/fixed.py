"""The fixed child of one rnn cell, for final training."""

from __future__ import annotations

from typing import Sequence

import keras
from keras import ops

from enas.spaces.rnn.models import (ACTIVATIONS, FIXED_INIT_RANGE, SEARCH_INIT_RANGE,  # noqa: F401
                                    RnnLanguageModel, _masked, highway)


@keras.saving.register_keras_serializable(package="enas")
class RnnFixedChild(RnnLanguageModel):
    """The child of one architecture for final training: one ``[H, 2H]`` matrix per node.

    Args:
      arc_tokens: the architecture's tokens ``prev_1 func_1 ... prev_N func_N``.
      vocab_size, hidden_size: see :class:`RnnLanguageModel`.
      **kwargs: keep probabilities, ``init_range``, ``seed`` and ``keras.Model`` arguments.
    """

    def __init__(self, arc_tokens: Sequence[int], vocab_size: int, hidden_size: int, **kwargs):
        self.arc_tokens = [int(t) for t in arc_tokens]
        super().__init__(vocab_size, hidden_size, len(self.arc_tokens) // 2, **kwargs)
        self.prevs, self.funcs = self.arc_tokens[0::2], self.arc_tokens[1::2]
        hidden = self.hidden_size
        self.node_kernels = [self._uniform_weight((hidden, 2 * hidden), f"node_{j + 1}")
                             for j in range(self.num_nodes)]

    def get_config(self):
        config = super().get_config()
        config.update(arc_tokens=list(self.arc_tokens))
        return config

    def decayed_weights(self) -> list:
        return [self.embedding, self.w_prev, *self.node_kernels]

    def call(self, tokens, state=None, training=False, return_hiddens=False):
        def cell(xw_t, h, w_h, h_mask):
            states = [self._node0(xw_t, h, w_h, h_mask)]
            for prev, func, kernel in zip(self.prevs, self.funcs, self.node_kernels):
                s_prev = states[prev]
                states.append(highway(s_prev, ops.matmul(_masked(s_prev, h_mask), kernel), ACTIVATIONS[func]))
            return ops.mean(ops.stack(states[1:]), axis=0)

        return self._run(tokens, state, training, cell, return_hiddens)
