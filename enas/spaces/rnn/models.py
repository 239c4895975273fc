"""The recurrent language model both children of the rnn space are: shared-weight (search) and fixed (final).

Both are Keras 3 models (``keras.ops`` only) with the same structure, from the corrected enas_lm
code: a tied embedding / softmax (no bias), node 0 a tanh highway on ``[x_t, h_{t-1}]``, searched
nodes ``s_j = s_prev + sigmoid(g) (f(c) - s_prev)`` with ``c, g = split(s_prev W_j)``, and the
output ``h_t`` the mean of nodes 1..N. They differ only in where ``W_j``, ``prev_j`` and ``f_j``
come from:

* :class:`~enas.spaces.rnn.shared.RnnSharedChild` takes the architecture as an int32 tensor ``[2N]`` at call time. Its
  weights are shared per (node, activation, previous node), as enas_lm's ``w_skip`` (node j owns an
  ``[F, j, H, 2H]`` block): a bank ``node_bank[F * N (N + 1) / 2, H, 2H]`` whose row
  ``F j (j - 1) / 2 + f j + prev`` is node j's matrix for activation f reading node prev. The rows
  the architecture chooses are gathered once per call, before the time loop; inside it,
  ``keras.ops.switch`` on ``prev_j`` picks the earlier node state and ``keras.ops.switch`` on
  ``f_j`` applies the activation (only the chosen branch runs; the others get zero gradient). On
  CPU this measured faster than stacking the candidates and indexing (``ops.take``) or one-hot
  weighted sums. One traced graph serves every architecture; the caller must validate the
  architecture first, as ``ops.switch`` and the gather clip an out-of-range index silently.
* :class:`~enas.spaces.rnn.fixed.RnnFixedChild` is built for one architecture: one ``[H, 2H]`` matrix per node, the
  previous node and the activation chosen in Python.

Call: ``model(tokens [B, T], arc, state [B, H], training) -> (logits [B, T, V], new_state [B, H])``
(the fixed child has no ``arc``); ``return_hiddens=True`` also returns the cell outputs ``[B, T, H]``
(before output dropout) for the slowness regulariser. The state is the previous window's last
``h``; pass None for zeros. The caller truncates backpropagation by not differentiating through it.

Time loop: ``keras.ops.scan`` over the time axis (a ``tf.while_loop`` with TensorArrays on the
TensorFlow backend). The window length is dynamic, so one trace serves fixed and variable-length
BPTT windows alike; the input half of node 0 (``x_t W_x``) is computed for the whole window in one
matmul before the loop.

Dropout is variational (one mask per call, the same at every time step of the window), as in
enas_lm / AWD-LSTM, with keep probabilities (``child_lstm_*_keep``):

* ``embed_keep`` (enas_lm ``drop_e``): word dropout -- whole embedding rows (words) dropped, every
  occurrence alike;
* ``embedding_keep`` (enas_lm ``drop_i``): a ``[B, H]`` mask on the embedded input ``x_t``;
* ``input_keep`` (enas_lm ``drop_x``): a second, independent ``[B, H]`` mask on ``x_t`` where it
  enters node 0 (enas_lm applies both, to the same tensor);
* ``hidden_keep`` (enas_lm ``drop_l``): one ``[B, H]`` mask on ``h_{t-1}`` into node 0 and on every
  node's input ``s_prev`` (the highway's carry term stays unmasked);
* ``output_keep`` (enas_lm ``drop_o``): a ``[B, H]`` mask on ``h_t`` before the softmax.

Evaluation (``training=False``) applies none of them.
"""

from __future__ import annotations

import keras
from keras import ops

from enas.spaces.rnn import arc as rnn

# The activation functions by name; their order (the token ids) is the space's,
# :data:`enas.spaces.rnn.arc.ACTIVATION_NAMES`.
ACTIVATION_FUNCTIONS = {"tanh": ops.tanh, "relu": ops.relu, "sigmoid": ops.sigmoid, "identity": lambda x: x}
ACTIVATIONS = tuple(ACTIVATION_FUNCTIONS[name] for name in rnn.ACTIVATION_NAMES)
# Uniform initialisation range of every weight: enas_lm's search child +-0.04, fixed child +-0.05.
SEARCH_INIT_RANGE = 0.04
FIXED_INIT_RANGE = 0.05


def keep_probs(child_config) -> dict:
    """The five keep probabilities of a ``ChildConfig`` as model keyword arguments."""
    return dict(embed_keep=child_config.embed_keep, input_keep=child_config.input_keep,
                hidden_keep=child_config.hidden_keep, output_keep=child_config.output_keep,
                embedding_keep=getattr(child_config, "embedding_keep", 1.0))


def highway(s_prev, cg, activation):
    """``s_prev + sigmoid(g) * (activation(c) - s_prev)`` with ``c, g = split(cg)``."""
    c, g = ops.split(cg, 2, axis=-1)
    return s_prev + ops.sigmoid(g) * (activation(c) - s_prev)


def _masked(x, mask):
    return x if mask is None else x * mask


class RnnLanguageModel(keras.Model):
    """What both children share: tied embedding, node 0, dropout masks, the time loop.

    Each child also defines ``decayed_weights(...)``: the weights the L2 penalty covers (search:
    W_prev and the node matrices in use; fixed: every weight, the embedding included, as enas_lm);
    the shared child's takes the architecture.

    Args:
      vocab_size: words V (the softmax is tied to the ``[V, H]`` embedding).
      hidden_size: H, the embedding and hidden size.
      num_nodes: N, searched nodes after node 0.
      embed_keep, input_keep, hidden_keep, output_keep, embedding_keep: keep probabilities (module
        docstring).
      init_range: weights are uniform in ``[-init_range, init_range]``.
      seed: seed of the dropout masks (None: from Keras' global seed).
    """

    def __init__(self, vocab_size: int, hidden_size: int, num_nodes: int, embed_keep: float = 1.0,
                 input_keep: float = 1.0, hidden_keep: float = 1.0, output_keep: float = 1.0,
                 init_range: float = FIXED_INIT_RANGE, seed=None, embedding_keep: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size, self.hidden_size, self.num_nodes = int(vocab_size), int(hidden_size), int(num_nodes)
        self.embed_keep, self.input_keep = float(embed_keep), float(input_keep)
        self.hidden_keep, self.output_keep = float(hidden_keep), float(output_keep)
        self.embedding_keep = float(embedding_keep)
        self.init_range, self.seed = float(init_range), seed
        hidden = self.hidden_size
        self.embedding = self._uniform_weight((self.vocab_size, hidden), "embedding")
        # Rows: x_t then h_{t-1}; columns: c then g.
        self.w_prev = self._uniform_weight((2 * hidden, 2 * hidden), "w_prev")
        self.seed_generator = keras.random.SeedGenerator(seed, name="dropout_seed")
        self.built = True  # every weight is created here and in the subclasses' constructors

    def _uniform_weight(self, shape, name):
        initializer = keras.initializers.RandomUniform(-self.init_range, self.init_range)
        return self.add_weight(shape=shape, initializer=initializer, name=name)

    def build(self, input_shape=None):
        # Every weight is created in the constructors (shapes come from their arguments).
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update(vocab_size=self.vocab_size, hidden_size=self.hidden_size, embed_keep=self.embed_keep,
                      input_keep=self.input_keep, hidden_keep=self.hidden_keep, output_keep=self.output_keep,
                      init_range=self.init_range, seed=self.seed, embedding_keep=self.embedding_keep)
        return config

    # --- pieces ---------------------------------------------------------------------------------
    def _mask(self, shape, keep: float, training: bool):
        """A 0 / (1/keep) dropout mask, or None when not training or nothing is dropped."""
        if not training or keep >= 1.0:
            return None
        noise = keras.random.uniform(shape, seed=self.seed_generator)
        return ops.cast(noise < keep, self.compute_dtype) / keep

    def _node0(self, xw_t, h, w_h, h_mask):
        """Node 0: tanh highway; ``xw_t`` is ``x_t W_x`` (precomputed), ``w_h`` the h half of W_prev."""
        return highway(h, xw_t + ops.matmul(_masked(h, h_mask), w_h), ops.tanh)

    def _run(self, tokens, state, training, cell, return_hiddens):
        """Embeds, runs ``cell(xw_t, h, w_h, h_mask) -> h_t`` over time, applies the tied softmax."""
        tokens = ops.cast(tokens, "int32")
        batch = tokens.shape[0] if tokens.shape[0] is not None else ops.shape(tokens)[0]
        hidden = self.hidden_size
        if state is None:
            state = ops.zeros((batch, hidden), self.compute_dtype)
        x = ops.take(self.embedding, tokens, axis=0)  # [B, T, H]
        word_mask = self._mask((self.vocab_size,), self.embed_keep, training)
        if word_mask is not None:
            x = x * ops.expand_dims(ops.take(word_mask, tokens, axis=0), -1)
        for keep in (self.embedding_keep, self.input_keep):  # enas_lm's drop_i, then drop_x
            x_mask = self._mask((batch, hidden), keep, training)
            if x_mask is not None:
                x = x * ops.expand_dims(x_mask, 1)
        h_mask = self._mask((batch, hidden), self.hidden_keep, training)
        o_mask = self._mask((batch, hidden), self.output_keep, training)
        xw = ops.matmul(x, self.w_prev[:hidden])  # [B, T, 2H]: the input half of node 0, all steps
        w_h = self.w_prev[hidden:]

        def step(h, xw_t):
            h_t = cell(xw_t, h, w_h, h_mask)
            return h_t, h_t

        new_state, hiddens = ops.scan(step, state, ops.transpose(xw, (1, 0, 2)))
        hiddens = ops.transpose(hiddens, (1, 0, 2))  # [B, T, H]
        out = hiddens if o_mask is None else hiddens * ops.expand_dims(o_mask, 1)
        logits = ops.matmul(out, ops.transpose(self.embedding))
        return (logits, new_state, hiddens) if return_hiddens else (logits, new_state)
