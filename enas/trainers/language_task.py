"""Penn Treebank language-model tasks (rnn space): the child's steps, compiled once.

TensorFlow-specific by design (``tf.function``, ``tf.GradientTape``); the child models use only
Keras. Every step function has a fixed input signature -- tokens ``[B, None]`` (any window length),
the architecture as an int32 tensor ``[2N]`` -- so one traced graph serves every architecture and
every BPTT length.

Training follows enas_lm (reference: its ``child.py`` and ``fixed_lib.py``): plain SGD with the
constant ``child_lr`` scaled by ``length / bptt`` for variable windows, global-norm clipping at
``child_grad_bound``, and the loss

    mean token cross-entropy
    + child_l2_reg * sum(w^2)              (child's ``decayed_weights``: search W_prev and the node
                                            matrices in use, fixed every weight, embedding included)
    + child_alpha * mean(h_t^2)            (activation regulariser; enas_lm final training 0.7)
    + child_rnn_slowness_reg * mean((h_t - h_{t-1})^2)   (within the window; enas_lm search 1.0)

with ``h_t`` the cell outputs before output dropout. Deliberately not reproduced: enas_lm's search
decay ``l2_loss(w ** 2)`` (a sum of w^4 / 2 that skips node 1's matrix) and DropConnect (its
``drop_w`` is 0 in both recipes).

Hidden state: training carries it from one window to the next (truncated BPTT) and resets it to
zeros at the start of every epoch (not when resuming mid-epoch: the checkpointed state is kept).
Each controller reward reads one validation minibatch -- ``batch_size`` streams by ``bptt_steps``
tokens, the next window in turn -- from a zero state (enas_lm resets the batch state after each
controller sample). Evaluation (``eval_batch_size`` streams, fixed windows) carries its own state
from zeros over the split.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Optional

import keras
import numpy as np
import tensorflow as tf

from enas.config import Config
from enas.data.ptb import batchify, bptt_windows, load_ptb, num_windows, window_batch
from enas.errors import ConfigError
from enas.spaces import Space
from enas.trainers.task import FinalTask, SearchTask, check_num_classes

# Reward = REWARD_CONSTANT / validation perplexity (ENAS, enas_lm).
REWARD_CONSTANT = 80.0


def _token_cross_entropy(targets, logits):
    return keras.ops.sparse_categorical_crossentropy(targets, logits, from_logits=True)


def _slowness(hiddens):
    """Mean squared change of the cell output between consecutive steps of the window."""
    diff = hiddens[:, 1:] - hiddens[:, :-1]
    return tf.reduce_sum(tf.square(diff)) / tf.cast(tf.maximum(tf.size(diff), 1), diff.dtype)


def regularisers(child, hiddens, decayed_weights):
    """The training loss's penalties: L2 on ``decayed_weights``, activation (alpha), slowness (beta)."""
    total = tf.zeros([], hiddens.dtype)
    if child.activation_reg > 0:
        total += child.activation_reg * tf.reduce_mean(tf.square(hiddens))
    if child.slowness_reg > 0:
        total += child.slowness_reg * _slowness(hiddens)
    if child.l2_reg > 0:
        total += child.l2_reg * tf.add_n([tf.reduce_sum(tf.square(w)) for w in decayed_weights])
    return total


class _LanguageTaskBase:
    """What the search and final language tasks share: data, optimizer, state, train/eval steps."""

    def __init__(self, config: Config, data):
        if config.run.jit_compile:
            raise ConfigError("--jit_compile: the language model's time loop has a dynamic window length, "
                              "which XLA cannot compile; drop --jit_compile")
        self.config = config
        self.data = data if data is not None else load_ptb(config.data)
        check_num_classes(config.data, self.data.vocab_size, "words in its vocabulary")
        self.hidden_size = config.child.hidden_size
        self.optimizer = keras.optimizers.SGD(learning_rate=config.child.lr)
        self.train_state = tf.Variable(tf.zeros([self.data.train.shape[0], self.hidden_size]),
                                       trainable=False, name="train_state")
        self._windows: Optional[list] = None
        self._cursor = self._epoch = 0

    # --- epochs ---------------------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        steps = num_windows(self.data.train.shape[1], self.config.data.bptt_steps)
        cap = self.config.run.max_steps_per_epoch
        return min(steps, cap) if cap else steps

    def begin_epoch(self, epoch: int, skip_steps: int = 0) -> None:
        data_config = self.config.data
        windows = bptt_windows(self.data.train.shape[1], data_config.bptt_steps,
                               variable=data_config.variable_bptt, seed=data_config.seed, epoch=epoch)
        self._windows, self._cursor, self._epoch = windows[:self.steps_per_epoch()], skip_steps, epoch
        if skip_steps == 0:  # a resumed epoch keeps the checkpointed state
            self.train_state.assign(tf.zeros_like(self.train_state))

    def _next_window(self):
        if self._windows is None:
            raise RuntimeError("begin_epoch() must be called before train_step()")
        if self._cursor >= len(self._windows):
            raise RuntimeError(f"epoch has {len(self._windows)} steps; call begin_epoch() for the next one")
        window = self._windows[self._cursor]
        self._cursor += 1
        return window

    # --- compiled steps -------------------------------------------------------------------------
    def _token_spec(self, batch: Optional[int]):
        return tf.TensorSpec([batch, None], tf.int32)

    def _make_train_fn(self, forward: Callable, decayed_weights: Callable, extra_specs: list):
        """One SGD step on a window: CE + :func:`regularisers`, clipping, state carried to the next window."""
        model, optimizer, child, state = self.model, self.optimizer, self.config.child, self.train_state

        def step(inputs, targets, lr, *extra):
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                logits, new_state, hiddens = forward(inputs, state.read_value(), *extra)
                loss = tf.reduce_mean(_token_cross_entropy(targets, logits))
                total = loss + regularisers(child, hiddens, decayed_weights(*extra))
            grads = tape.gradient(total, variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            grad_norm = tf.linalg.global_norm(grads)
            if child.grad_bound > 0:
                grads, _ = tf.clip_by_global_norm(grads, child.grad_bound, use_norm=grad_norm)
            optimizer.learning_rate = lr
            optimizer.apply_gradients(zip(grads, variables))
            state.assign(tf.stop_gradient(new_state))
            return loss, grad_norm, total

        batch = self.data.train.shape[0]
        signature = [self._token_spec(batch), self._token_spec(batch), tf.TensorSpec([], tf.float32),
                     *extra_specs]
        return tf.function(step, input_signature=signature)

    def _make_eval_fn(self, forward: Callable, extra_specs: list):
        """Summed token cross-entropy of a window from ``state``; returns it and the new state."""

        def evaluate_window(inputs, targets, state, *extra):
            logits, new_state = forward(inputs, state, *extra)
            return tf.reduce_sum(_token_cross_entropy(targets, logits)), new_state

        signature = [self._token_spec(None), self._token_spec(None),
                     tf.TensorSpec([None, self.hidden_size]), *extra_specs]
        return tf.function(evaluate_window, input_signature=signature)

    def _run_train_step(self, *extra, train_fn=None) -> Mapping[str, float]:
        window = self._next_window()
        inputs, targets = window_batch(self.data.train, window)
        lr = self.config.child.lr * window.lr_scale
        loss, grad_norm, total = (train_fn or self._train_fn)(inputs, targets, tf.constant(lr, tf.float32), *extra)
        loss = float(loss)
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0)), "lr": lr, "grad_norm": float(grad_norm),
                "bptt": float(window.length), "total_loss": float(total)}

    def _evaluate(self, split: str, max_batches: int, next_extra: Callable[[], tuple]) -> Mapping[str, float]:
        """Mean per-token loss and perplexity over ``split`` (fixed windows, state carried from zeros)."""
        if split not in ("valid", "test"):
            raise ValueError(f"evaluate() reads 'valid' or 'test', not {split!r}")
        data = self.data.split(split)
        windows = bptt_windows(data.shape[1], self.config.data.bptt_steps)
        if max_batches:
            windows = windows[:max_batches]
        state = tf.zeros([data.shape[0], self.hidden_size])
        total, count = 0.0, 0
        for window in windows:
            inputs, targets = window_batch(data, window)
            loss_sum, state = self._eval_fn(inputs, targets, state, *next_extra())
            total += float(loss_sum)
            count += targets.size
        loss = total / max(count, 1)
        return {"loss": loss, "ppl": math.exp(min(loss, 700.0))}


class LanguageSearchTask(_LanguageTaskBase, SearchTask):
    """The shared-weight recurrent child of ``space`` on PTB with SGD.

    Args:
      space: a registered language :class:`enas.spaces.Space` (``rnn``).
      config: the run's :class:`enas.config.Config`.
      data: an already loaded :class:`enas.data.ptb.PtbData` (loaded from ``config.data`` when None).
    """

    def __init__(self, space: Space, config: Config, data=None):
        super().__init__(config, data)
        self.space = space
        self.model = space.build_shared_child(config.child, self.data.vocab_size, None)
        self.num_tokens = 2 * config.child.num_layers  # (prev, func) per searched node
        model = self.model
        self.optimizer.build(model.trainable_variables)
        arc_spec = tf.TensorSpec([self.num_tokens], tf.int32)
        self._train_fn = self._make_train_fn(
            lambda inputs, state, arc: model(inputs, arc, state, training=True, return_hiddens=True),
            model.decayed_weights, [arc_spec])
        self._eval_fn = self._make_eval_fn(
            lambda inputs, state, arc: model(inputs, arc, state, training=False), [arc_spec])
        self.reward_cursor = tf.Variable(0, dtype=tf.int64, trainable=False, name="reward_cursor")
        # The reward minibatch has batch_size streams, like a training batch: the validation tokens
        # (rows of the eval-batchified array are consecutive chunks) re-cut into batch_size streams.
        self._reward_data = batchify(self.data.valid.reshape(-1), config.data.batch_size)
        self._reward_windows = bptt_windows(self._reward_data.shape[1], config.data.bptt_steps)
        self._mixture_train_fn = self._mixture_valid_fn = None  # built on first use (darts)

    def _build_mixture_functions(self) -> None:
        """The mixture's train step and validation gradient, each its own compiled function."""
        if self._mixture_train_fn is not None:
            return
        if not self.space.supports_mixture or not hasattr(self.model, "mixture_call"):
            raise ConfigError(self._no_mixture())
        model, hidden = self.model, self.hidden_size
        weights_spec = tf.TensorSpec([self.num_tokens, None], tf.float32)
        self._mixture_train_fn = self._make_train_fn(
            lambda inputs, state, weights: model.mixture_call(inputs, weights, state, training=True,
                                                              return_hiddens=True),
            model.mixture_decayed_weights, [weights_spec])

        def valid_gradient(inputs, targets, weights):
            state = tf.zeros([tf.shape(inputs)[0], hidden])
            with tf.GradientTape() as tape:
                tape.watch(weights)
                logits, _ = model.mixture_call(inputs, weights, state, training=False)
                loss = tf.reduce_mean(_token_cross_entropy(targets, logits))
            return loss, tape.gradient(loss, weights)

        self._mixture_valid_fn = tf.function(valid_gradient, input_signature=[
            self._token_spec(None), self._token_spec(None), weights_spec])

    def mixture_train_step(self, weights) -> Mapping[str, float]:
        self._build_mixture_functions()
        return self._run_train_step(tf.convert_to_tensor(weights, tf.float32), train_fn=self._mixture_train_fn)

    def mixture_valid_gradient(self, weights) -> tuple:
        """The reward window of :meth:`reward` (the next one in turn), from a zero state."""
        self._build_mixture_functions()
        index = int(self.reward_cursor.numpy()) % len(self._reward_windows)
        self.reward_cursor.assign_add(1)
        inputs, targets = window_batch(self._reward_data, self._reward_windows[index])
        loss, gradient = self._mixture_valid_fn(inputs, targets, tf.convert_to_tensor(weights, tf.float32))
        return float(loss), gradient

    def _arc(self, arc) -> tf.Tensor:
        """Checks an architecture (tokens, tensor or RnnArc) and returns its int32 token tensor."""
        tokens = arc.to_tokens() if hasattr(arc, "to_tokens") else np.asarray(arc).reshape(-1).tolist()
        self.space.arc_from_tokens(tokens, self.config.child)  # ArchitectureError instead of a clipped index
        return tf.constant(tokens, tf.int32)

    def train_step(self, arc) -> Mapping[str, float]:
        return self._run_train_step(self._arc(arc))

    #: the language child has no batch norm: no reward batch-norm modes.
    reward_modes: tuple = ()

    def reward(self, arc, mode: Optional[str] = None) -> float:
        index = int(self.reward_cursor.numpy()) % len(self._reward_windows)
        self.reward_cursor.assign_add(1)
        inputs, targets = window_batch(self._reward_data, self._reward_windows[index])
        state = tf.zeros([self._reward_data.shape[0], self.hidden_size])
        loss_sum, _ = self._eval_fn(inputs, targets, state, self._arc(arc))
        return REWARD_CONSTANT / math.exp(min(float(loss_sum) / targets.size, 700.0))

    def evaluate(self, split: str, sample_arc: Callable[[], Any],
                 max_batches: int = 0, mode: Optional[str] = None) -> Mapping[str, float]:
        return self._evaluate(split, max_batches, lambda: (self._arc(sample_arc()),))

    def score(self, arc, num_batches: int, mode: Optional[str] = None) -> float:
        # The same first validation windows for every architecture, so scores are comparable.
        return REWARD_CONSTANT / self.evaluate("valid", lambda: arc, max_batches=num_batches)["ppl"]

    def trackables(self) -> Mapping[str, Any]:
        return {"child": self.model, "child_optimizer": self.optimizer, "child_train_state": self.train_state,
                "reward_cursor": self.reward_cursor}


class LanguageFinalTask(_LanguageTaskBase, FinalTask):
    """A fixed recurrent cell trained from scratch on PTB (SGD, clipping, L2, variational dropout).

    Weight averaging (the ASGD-style average of enas_lm / AWD-LSTM) starts on enas_lm's trigger:
    with ``average_patience`` k > 0, once a validation perplexity (:meth:`observe_validation`)
    is worse than the best of all evaluations before the last k, every later training step adds
    the weights to a running average, and :meth:`evaluate` and :meth:`export` use the averaged
    weights.

    Args:
      space: a registered language :class:`enas.spaces.Space` (``rnn``).
      arc: the architecture value (``space.arc_type``).
      config: the run's :class:`enas.config.Config`.
      data: an already loaded :class:`enas.data.ptb.PtbData` (loaded from ``config.data`` when None).
      average_patience: the trigger's k (0: no averaging); defaults to
        ``config.child.average_patience``.
    """

    def __init__(self, space: Space, arc, config: Config, data=None, *,
                 average_patience: Optional[int] = None):
        super().__init__(config, data)
        self.space, self.arc = space, arc
        self.model = space.build_fixed_child(arc, config.child, self.data.vocab_size, None)
        model = self.model
        self.optimizer.build(model.trainable_variables)
        self._train_fn = self._make_train_fn(
            lambda inputs, state: model(inputs, state, training=True, return_hiddens=True),
            model.decayed_weights, [])
        self._eval_fn = self._make_eval_fn(lambda inputs, state: model(inputs, state, training=False), [])
        if average_patience is None:
            average_patience = config.child.average_patience
        self.average_patience = int(average_patience)
        self.averages = [tf.Variable(tf.convert_to_tensor(v), trainable=False, name="average")
                         for v in model.trainable_variables]
        self.average_count = tf.Variable(0, dtype=tf.int64, trainable=False, name="average_count")
        self.averaging = tf.Variable(False, trainable=False, name="averaging")
        # Validation perplexities seen so far (checkpointed: a resumed run keeps its trigger).
        self.valid_history = tf.Variable(tf.zeros([0]), shape=tf.TensorShape([None]), trainable=False,
                                         name="valid_history")

    def observe_validation(self, metrics: Mapping[str, float]) -> None:
        """Records one validation evaluation; starts averaging on enas_lm's trigger."""
        history = self.valid_history.numpy().tolist()
        ppl, patience = float(metrics["ppl"]), self.average_patience
        if (patience and not bool(self.averaging.numpy()) and len(history) > patience
                and ppl > min(history[:-patience])):
            self.averaging.assign(True)
        self.valid_history.assign(np.asarray(history + [ppl], np.float32))

    def train_step(self) -> Mapping[str, float]:
        metrics = self._run_train_step()
        if bool(self.averaging.numpy()):
            self._accumulate_average()
        return metrics

    @tf.function
    def _accumulate_average(self):
        count = self.average_count.assign_add(1)
        weight = 1.0 / tf.cast(count, tf.float32)
        for average, variable in zip(self.averages, self.model.trainable_variables):
            average.assign_add(weight * (variable - average))

    def _with_averages(self, fn: Callable):
        """Runs ``fn()`` with the averaged weights in the model (if averaging has started)."""
        if int(self.average_count.numpy()) == 0:
            return fn()
        variables = self.model.trainable_variables
        current = [v.numpy() for v in variables]
        for variable, average in zip(variables, self.averages):
            variable.assign(average)
        try:
            return fn()
        finally:
            for variable, value in zip(variables, current):
                variable.assign(value)

    def evaluate(self, split: str, max_batches: int = 0) -> Mapping[str, float]:
        return self._with_averages(lambda: self._evaluate(split, max_batches, tuple))

    def trackables(self) -> Mapping[str, Any]:
        return {"child": self.model, "child_optimizer": self.optimizer, "child_train_state": self.train_state,
                "child_averages": self.averages, "child_average_count": self.average_count,
                "child_averaging": self.averaging, "child_valid_history": self.valid_history}

    def export(self, path: str) -> None:
        self._with_averages(lambda: self.model.save(path))
