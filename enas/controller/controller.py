"""The ENAS controller: an LSTM that samples a search space's decisions autoregressively.

Backend-agnostic: only ``keras.layers``/``keras.ops``/``keras.random``. The unrolled LSTM is a
pure function of the weights and one input tensor (uniform noise for sampling, the tokens for
scoring; :meth:`Controller.sample_graph`, :meth:`Controller.log_prob_graph`), so it can be wrapped
in ``tf.function`` once; :meth:`Controller.sample`, :meth:`Controller.log_prob` and
:meth:`Controller.greedy` do that through :func:`enas.controller.compile.compile_function` (one
trace for every batch size under TensorFlow).

Feeding follows the reference controllers (reference section 2): the start embedding ``g_emb``
first; after a categorical decision the embedding of the choice; after an input choice the chosen
anchor (PTB: divided by ``0.1 + distance``); after skip bits the mean of the selected anchors
``sum / (1 + #skips)`` (``g_emb`` at layer 0); after an anchor step ``g_emb``.

Deliberate choices:
* the entropy is the full categorical entropy ``-sum p log p`` of every decision (each skip bit a
  two-way choice), summed over decisions; the official macro and PTB code use the sampled-action
  form ``-p(a) log p(a)``;
* the macro skip KL penalty uses the probability the bit is sampled with, ``softmax([-q', q'])``;
  the official code uses ``sigmoid(q')`` there (reference defect 5), so its penalty drove the rate
  to ``sigmoid(2 logit(target))`` rather than to the target;
* sampling uses the Gumbel-max trick on uniform noise drawn once per call, which is exactly
  categorical sampling and makes the sampler a pure function of (weights, noise).
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Union

import keras
import numpy as np
from keras import ops

from enas.config import ControllerConfig
from enas.controller.compile import compile_function
from enas.controller.search_space import (Anchor, Categorical, InputChoice, SearchSpace,
                                          SkipConnections)
from enas.errors import ConfigError

_NOISE_MIN = 1e-20  # uniform noise lower bound: keeps -log(-log(u)) finite


class Samples(NamedTuple):
    """Architectures with their scores under the controller (backend tensors).

    Attributes:
      tokens: int32 ``[B, T]`` in the space's token layout (the official ENAS integers).
      log_prob: ``[B]`` summed log-likelihood of all decisions (positive log-prob, <= 0).
      entropy: ``[B]`` summed full categorical entropy of all decisions.
      skip_penalty: ``[B]`` macro KL(skip probabilities || target), mean over layers with skips;
        zeros where the space has no skip connections.
      skip_rate: ``[B]`` fraction of skip bits set (0 where there are none).
    """

    tokens: object
    log_prob: object
    entropy: object
    skip_penalty: object
    skip_rate: object

    def numpy(self) -> "Samples":
        """The same result with NumPy arrays."""
        return Samples(*(ops.convert_to_numpy(value) for value in self))

    def token_lists(self) -> list:
        """The architectures as lists of Python ints."""
        return ops.convert_to_numpy(self.tokens).tolist()


class _FunctionCache:
    """Plain holder (not tracked by Keras or checkpoints) of compiled functions and trace counts."""

    def __init__(self):
        self.functions = {}
        self.traces = {"sample": 0, "log_prob": 0, "greedy": 0}


# The keyword defaults are the config's (one source of truth), with the CIFAR code's official values
# for the space-dependent ones.
_DEFAULTS = ControllerConfig().resolved()


class Controller(keras.Model):
    """LSTM controller (no biases, learned start embedding) over a :class:`SearchSpace`.

    Args:
      space: the search space.
      lstm_size: LSTM units (ENAS: 64).
      lstm_num_layers: stacked LSTM layers (ENAS: 1).
      temperature: logits are divided by it (0: none).
      tanh_constant: logits become ``tanh_constant * tanh(logits)`` (0: none).
      op_tanh_reduce: decisions marked ``op_tanh_reduce`` use ``tanh_constant / op_tanh_reduce``.
      skip_target: target skip rate of the KL penalty (macro; main.py's 0.8, the macro search script's 0.4).
      init_range: weights start uniform in ``[-init_range, init_range]`` (ENAS 0.1, enas_lm 0.01).
      seed: seed of the initial weights and of the sampling stream (``None``: random).
      name: the Keras model name.
    """

    def __init__(self, space: SearchSpace, lstm_size: int = _DEFAULTS.lstm_size,
                 lstm_num_layers: int = _DEFAULTS.lstm_num_layers, temperature: float = _DEFAULTS.temperature,
                 tanh_constant: float = _DEFAULTS.tanh_constant, op_tanh_reduce: float = _DEFAULTS.op_tanh_reduce,
                 skip_target: float = _DEFAULTS.skip_target, init_range: float = _DEFAULTS.init_range,
                 seed: Optional[int] = None, name: str = "controller"):
        super().__init__(name=name)
        if not isinstance(space, SearchSpace):
            raise ConfigError(f"Controller needs a SearchSpace, got {type(space).__name__}")
        for flag, ok, value in (("lstm_size", lstm_size > 0, lstm_size),
                                ("lstm_num_layers", lstm_num_layers > 0, lstm_num_layers),
                                ("temperature", temperature >= 0, temperature),
                                ("tanh_constant", tanh_constant >= 0, tanh_constant),
                                ("op_tanh_reduce", op_tanh_reduce > 0, op_tanh_reduce),
                                ("skip_target", 0 < skip_target < 1, skip_target),
                                ("init_range", init_range > 0, init_range)):
            if not ok:
                raise ConfigError(f"Controller {flag} is out of range: {value!r}")
        self.space = space
        self.lstm_size = int(lstm_size)
        self.lstm_num_layers = int(lstm_num_layers)
        self.temperature = float(temperature)
        self.tanh_constant = float(tanh_constant)
        self.op_tanh_reduce = float(op_tanh_reduce)
        self.skip_target = float(skip_target)
        self.init_range = float(init_range)
        self.seed = seed
        self._cache = _FunctionCache()
        self._build_weights(seed)
        # Noise slots: one uniform per option of every sampled token.
        self.noise_size = max(1, sum(
            len(step.positions) * (step.decision.num_choices if isinstance(step.decision, Categorical)
                                   else 2 if isinstance(step.decision, SkipConnections)
                                   else step.num_candidates)
            for step in space.steps))
        inverse = [0] * space.num_tokens
        for sampled, position in enumerate(space.token_order):
            inverse[position] = sampled
        self._inverse_order = None if inverse == list(range(space.num_tokens)) else inverse
        self.built = True

    @classmethod
    def from_config(cls, space_or_config: Union[SearchSpace, dict],
                    config: Optional[ControllerConfig] = None, custom_objects=None) -> "Controller":
        """``from_config(space, ControllerConfig)``, or Keras-style ``from_config(get_config())``.

        The ControllerConfig's REINFORCE fields go to :meth:`Reinforce.from_config`. An unset
        ``init_range`` takes the official value of the space's name (``rnn``: 0.01, else 0.1).
        """
        if isinstance(space_or_config, SearchSpace):
            config = (config or ControllerConfig()).validate().resolved(space_or_config.name)
            return cls(space_or_config, lstm_size=config.lstm_size,
                       lstm_num_layers=config.lstm_num_layers, temperature=config.temperature,
                       tanh_constant=config.tanh_constant, op_tanh_reduce=config.op_tanh_reduce,
                       skip_target=config.skip_target, init_range=config.init_range, seed=config.seed)
        values = dict(space_or_config)
        values["space"] = SearchSpace.from_config(values["space"])
        return cls(**values)

    def get_config(self) -> dict:
        return {"space": self.space.get_config(), "lstm_size": self.lstm_size,
                "lstm_num_layers": self.lstm_num_layers, "temperature": self.temperature,
                "tanh_constant": self.tanh_constant, "op_tanh_reduce": self.op_tanh_reduce,
                "skip_target": self.skip_target, "init_range": self.init_range, "seed": self.seed,
                "name": self.name}

    # ------------------------------------------------------------------------------- weights
    def _build_weights(self, seed: Optional[int]) -> None:
        size, counter = self.lstm_size, [0]

        def uniform(shape, name):
            counter[0] += 1
            init = keras.initializers.RandomUniform(
                -self.init_range, self.init_range, seed=None if seed is None else seed + counter[0])
            return self.add_weight(shape=shape, initializer=init, name=name)

        self.lstm_kernels = [uniform((2 * size, 4 * size), f"lstm_kernel_{layer}")
                             for layer in range(self.lstm_num_layers)]
        self.start_embedding = uniform((1, size), "start_embedding")
        self.embeddings, self.softmax_kernels, self.softmax_biases = {}, {}, {}
        for table, decision in self.space.tables.items():
            key = _weight_name(table)
            self.embeddings[table] = uniform((decision.num_choices, size), f"embedding_{key}")
            if not decision.tied:
                self.softmax_kernels[table] = uniform((size, decision.num_choices), f"softmax_{key}")
            if decision.bias_init is not None:
                self.softmax_biases[table] = self.add_weight(
                    shape=(decision.num_choices,), name=f"softmax_bias_{key}",
                    initializer=keras.initializers.Constant(list(decision.bias_init)))
        if any(isinstance(s.decision, (InputChoice, SkipConnections)) for s in self.space.steps):
            self.attention_w1 = uniform((size, size), "attention_w1")
            self.attention_w2 = uniform((size, size), "attention_w2")
            self.attention_v = uniform((size, 1), "attention_v")
        # Sampling stream (base seed, calls so far): checkpointed with the weights.
        base = int(np.random.SeedSequence(seed).generate_state(1)[0] & 0x7FFFFFFF)
        self.rng_state = self.add_weight(shape=(2,), dtype="int64", trainable=False, name="rng_state",
                                         initializer=keras.initializers.Constant([base, 0]))
        # Weights kept in lists and dicts are invisible to ``tf.train.Checkpoint(controller=...)``;
        # name each one as an attribute too, so checkpointing the controller alone saves everything.
        track = getattr(self, "_track_trackable", None)  # TensorFlow backend only
        if track is not None:
            for variable in self.variables:
                track(variable, name="weight_" + variable.name, overwrite=True)

    # ------------------------------------------------------------------------- public calls
    def sample(self, batch_size: int = 1, seed: Optional[int] = None) -> Samples:
        """Sample ``batch_size`` architectures (compiled once; vectorised over the batch).

        Args:
          batch_size: number of architectures.
          seed: an int makes the call repeatable; ``None`` draws from the controller's own
            checkpointed stream (advanced by every such call).
        """
        if int(batch_size) != batch_size or batch_size < 1:
            raise ConfigError(f"batch_size must be a positive integer, got {batch_size!r}")
        return self._compiled("sample")(self.draw_noise(int(batch_size), seed))

    def log_prob(self, tokens) -> Samples:
        """Re-score given architectures with teacher forcing; ``tokens`` is ``[B, T]`` or ``[T]``.

        A ``[T]`` sequence is scored as a batch of one. Tokens are validated first.

        Raises:
          ArchitectureError: wrong length or a token out of range (the message names it).
        """
        array = self.space.validate(tokens).reshape(-1, self.space.num_tokens)
        return self._compiled("log_prob")(ops.convert_to_tensor(array, dtype="int32"))

    def greedy(self) -> Samples:
        """The most likely architecture under greedy decoding (argmax at every step), batch of one."""
        return self._compiled("greedy")(ops.ones((1, 1), dtype="float32"))

    def call(self, tokens):
        """Keras entry point: :meth:`log_prob_graph` (no validation)."""
        return self.log_prob_graph(tokens)

    @property
    def num_traces(self) -> dict:
        """How many times each compiled function was traced (diagnostics; 1 each is expected)."""
        return dict(self._cache.traces)

    # ------------------------------------------------------------ pure functions (traceable)
    def draw_noise(self, batch_size: int, seed: Optional[int] = None):
        """Uniform noise ``[batch_size, noise_size]`` for :meth:`sample_graph`."""
        if seed is None:
            base, calls = (int(v) for v in self.rng_state.numpy())
            self.rng_state.assign(ops.convert_to_tensor([base, calls + 1], dtype="int64"))
            seed = _mix(base, calls)
        return keras.random.uniform((batch_size, self.noise_size), minval=_NOISE_MIN,
                                    maxval=1.0, seed=int(seed) & 0xFFFFFFFF)

    def sample_graph(self, noise) -> Samples:
        """Sample with the given uniform noise ``[B, noise_size]``; pure, for ``tf.function``."""
        self._cache.traces["sample"] += 1
        return self._unroll(ops.ones_like(noise[:, :1]), noise=noise)

    def log_prob_graph(self, tokens) -> Samples:
        """Teacher-forced scores of int32 ``tokens [B, T]`` (not validated); pure and differentiable."""
        self._cache.traces["log_prob"] += 1
        tokens = ops.cast(tokens, "int32")
        return self._unroll(ops.cast(ops.ones_like(tokens[:, :1]), "float32"), tokens=tokens)

    def _greedy_graph(self, batch_ones) -> Samples:
        self._cache.traces["greedy"] += 1
        return self._unroll(batch_ones)

    def _compiled(self, kind: str):
        functions = self._cache.functions
        if kind not in functions:
            graph, signature = {
                "sample": (self.sample_graph, [((None, self.noise_size), "float32")]),
                "log_prob": (self.log_prob_graph, [((None, self.space.num_tokens), "int32")]),
                "greedy": (self._greedy_graph, [((1, 1), "float32")]),
            }[kind]
            # A per-instance closure: TensorFlow counts traces per Python function, and a bound
            # method would make many controllers (a sweep, a test suite) warn about retracing.
            functions[kind] = compile_function(lambda inputs: graph(inputs), signature)
        return functions[kind]

    # ---------------------------------------------------------------------------- the unroll
    def _unroll(self, batch_ones, noise=None, tokens=None) -> Samples:
        """Run every step; pick tokens from ``tokens``, else Gumbel-max on ``noise``, else argmax."""
        start = batch_ones * self.start_embedding  # [B, H]
        zeros = ops.zeros_like(start)
        state = [(zeros, zeros)] * self.lstm_num_layers
        inputs, anchors, keys, pieces = start, [], [], []
        log_prob = entropy = zeros[:, 0]
        penalties, num_bits, bits_set, offset = [], 0, zeros[:, 0], 0
        for step in self.space.steps:
            decision = step.decision
            if isinstance(decision, Anchor):
                if decision.restart:
                    anchors, keys = [], []
                if decision.lstm_step:
                    output, state = self._lstm(inputs, state)
                    keys.append(ops.matmul(output, self.attention_w1))
                    anchors.append(zeros if decision.zero_value else output)
                else:
                    keys.append(zeros)
                    anchors.append(zeros)
                inputs = start
                continue
            output, state = self._lstm(inputs, state)
            count = step.num_candidates
            if isinstance(decision, SkipConnections) and count == 0:
                inputs = start  # layer 0: nothing to choose; the reference feeds g_emb
            elif isinstance(decision, Categorical):
                logits = self._categorical_logits(step, output)
                choice, offset = self._pick(logits, step, noise, tokens, offset)
                log_prob, entropy = _accumulate(logits, choice, log_prob, entropy)
                inputs = ops.matmul(ops.one_hot(choice, decision.num_choices), self.embeddings[step.table])
                pieces.append(ops.expand_dims(choice, 1))
            elif isinstance(decision, InputChoice):
                logits = self._transform(self._attend(keys[:count], output), self.tanh_constant)
                if decision.distance_penalty:  # PTB: favour recent nodes, -(j - i)^2 / 6
                    distance = count - np.arange(count, dtype="float32")
                    logits = logits - ops.convert_to_tensor(distance ** 2 / 6.0)
                choice, offset = self._pick(logits, step, noise, tokens, offset)
                log_prob, entropy = _accumulate(logits, choice, log_prob, entropy)
                selected = ops.one_hot(choice, count)
                inputs = ops.sum(ops.expand_dims(selected, -1) * ops.stack(anchors[:count], 1), axis=1)
                if decision.scale_by_distance:  # PTB feed-back h_prev / (0.1 + (j - prev))
                    inputs = inputs / (0.1 + ops.cast(count - choice, "float32"))[:, None]
                pieces.append(ops.expand_dims(choice, 1))
            else:  # skip connections: one two-way choice [-q, q] per earlier anchor
                query = self._attend(keys[:count], output)
                logits = ops.stack([self._transform(-query, self.tanh_constant),
                                    self._transform(query, self.tanh_constant)], axis=-1)
                choice, offset = self._pick(logits, step, noise, tokens, offset)
                log_prob, entropy = _accumulate(logits, choice, log_prob, entropy)
                bits = ops.cast(choice, "float32")  # [B, n]
                total = ops.sum(bits, axis=1, keepdims=True)
                inputs = ops.sum(ops.expand_dims(bits, -1) * ops.stack(anchors[:count], 1), 1) / (1.0 + total)
                penalties.append(self._skip_kl(logits))
                num_bits, bits_set = num_bits + count, bits_set + total[:, 0]
                pieces.append(choice)
            if isinstance(decision, SkipConnections) or getattr(decision, "creates_anchor", False):
                keys.append(ops.matmul(output, self.attention_w1))
                anchors.append(output)
        sampled = ops.concatenate(pieces, axis=1)
        tokens_out = sampled if self._inverse_order is None else ops.take(
            sampled, np.asarray(self._inverse_order, dtype="int32"), axis=1)
        skip_penalty = sum(penalties) / len(penalties) if penalties else zeros[:, 0]
        skip_rate = bits_set / num_bits if num_bits else zeros[:, 0]
        return Samples(ops.cast(tokens_out, "int32"), log_prob, entropy, skip_penalty, skip_rate)

    def _lstm(self, inputs, state):
        """One step of the stacked LSTM without biases (gates i, f, o, g)."""
        new_state = []
        for kernel, (cell, hidden) in zip(self.lstm_kernels, state):
            gates = ops.matmul(ops.concatenate([inputs, hidden], axis=-1), kernel)
            in_gate, forget_gate, out_gate, candidate = ops.split(gates, 4, axis=-1)
            cell = ops.sigmoid(in_gate) * ops.tanh(candidate) + ops.sigmoid(forget_gate) * cell
            hidden = ops.sigmoid(out_gate) * ops.tanh(cell)
            new_state.append((cell, hidden))
            inputs = hidden
        return inputs, new_state

    def _transform(self, logits, tanh_constant: float):
        if self.temperature > 0:
            logits = logits / self.temperature
        if tanh_constant > 0:
            logits = tanh_constant * ops.tanh(logits)
        return logits

    def _categorical_logits(self, step, output):
        decision = step.decision
        if decision.tied:  # enas_lm: the op softmax is the embedding table
            logits = ops.matmul(output, ops.transpose(self.embeddings[step.table]))
        else:
            logits = ops.matmul(output, self.softmax_kernels[step.table])
        if step.table in self.softmax_biases:
            logits = logits + self.softmax_biases[step.table]
        tanh_constant = self.tanh_constant
        if decision.op_tanh_reduce:
            tanh_constant = tanh_constant / self.op_tanh_reduce
        logits = self._transform(logits, tanh_constant)
        if decision.fixed_bias is not None:
            logits = logits + ops.convert_to_tensor(np.asarray(decision.fixed_bias, dtype="float32"))
        return logits

    def _attend(self, keys, output):
        """Additive attention ``v . tanh(W1 anchor_i + W2 h)`` over the anchors: ``[B, n]``."""
        query = ops.expand_dims(ops.matmul(output, self.attention_w2), 1)
        hidden = ops.tanh(ops.stack(keys, axis=1) + query)
        return ops.squeeze(ops.matmul(hidden, self.attention_v), -1)

    def _skip_kl(self, logits):
        """KL(Bernoulli(p_skip) || Bernoulli(target)) summed over this layer's bits: ``[B]``."""
        log_probs = ops.log_softmax(logits, axis=-1)
        log_target = np.log(np.asarray([1.0 - self.skip_target, self.skip_target], dtype="float32"))
        return ops.sum(ops.exp(log_probs) * (log_probs - log_target), axis=(1, 2))

    def _pick(self, logits, step, noise, tokens, offset):
        """Choose tokens for one step: teacher forcing, Gumbel-max sampling or argmax."""
        count, options = len(step.positions), logits.shape[-1]
        if tokens is not None:
            choice = ops.take(tokens, np.asarray(step.positions, dtype="int32"), axis=1)
            choice = choice[:, 0] if len(logits.shape) == 2 else choice
            return choice, offset
        if noise is not None:
            uniform = noise[:, offset:offset + count * options]
            uniform = ops.reshape(uniform, (-1, options) if len(logits.shape) == 2 else (-1, count, options))
            logits = logits - ops.log(-ops.log(uniform))
            offset += count * options
        return ops.cast(ops.argmax(logits, axis=-1), "int32"), offset


def _accumulate(logits, choice, log_prob, entropy):
    """Add the log-likelihood of ``choice`` and the entropy of ``logits`` (summed per sample)."""
    log_probs = ops.log_softmax(logits, axis=-1)
    chosen = ops.sum(ops.one_hot(choice, logits.shape[-1]) * log_probs, axis=-1)
    step_entropy = -ops.sum(ops.exp(log_probs) * log_probs, axis=-1)
    if len(logits.shape) == 3:  # skip bits: sum over the layer's bits
        chosen, step_entropy = ops.sum(chosen, axis=1), ops.sum(step_entropy, axis=1)
    return log_prob + chosen, entropy + ops.stop_gradient(step_entropy)


def _mix(base: int, calls: int) -> int:
    """A 32-bit seed for call ``calls`` of the stream ``base`` (splitmix64 finaliser)."""
    value = (base * 0x9E3779B97F4A7C15 + calls + 1) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return (value ^ (value >> 31)) & 0xFFFFFFFF


def _weight_name(table: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in table)
