"""First-order DARTS (Liu, Simonyan and Yang, 2019) on the same shared child as ENAS and random search.

The discrete choices of the space become a continuous relaxation: every token of the architecture's
layout gets a vector of logits over its ``num_choices`` (macro: each layer's ops, and each skip bit as a
2-way choice whose weight of bit = 1 gates the skip; micro: each node's two inputs over the earlier nodes
and two ops; rnn: each node's previous node and activation). Their softmax weights the candidates in the
child's mixture mode (``mixture_call``: every candidate runs and the outputs are summed, weighted).

Alternation (DARTS' Algorithm 1, first order): every child step of the search loop is

1. one Adam step of the architecture logits on the next validation minibatch (the batch stream the ENAS
   rewards read), the gradient of the mixture's validation loss w.r.t. the logits, plus L2 decay
   ``darts_arch_weight_decay`` (coupled, as DARTS' ``torch.optim.Adam(weight_decay=...)``);
2. one step of the child's weights on the next training minibatch with the mixture forward, the child's
   own optimizer and learning-rate schedule.

There is no strategy phase. Derivation scores, single-path with the shared weights, the argmax
architecture (per token the most likely of its valid choices) and architectures sampled from the
softmax; the argmax is also reported as ``argmax``. The loop's evaluation and search health use the
argmax architecture.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import keras
import numpy as np
import tensorflow as tf

from enas.errors import ConfigError
from enas.strategies.base import SearchStrategy, register_strategy

# DARTS' Adam betas for the architecture parameters.
ARCH_BETA_1, ARCH_BETA_2 = 0.5, 0.999
_MASKED = -1e30  # logit of a padded (invalid) choice: softmax weight exactly 0


def choice_mask(num_choices) -> np.ndarray:
    """bool ``[T, max(num_choices)]``: True for token t's valid choices ``0..num_choices[t]-1``."""
    num_choices = np.asarray(num_choices, np.int64)
    return np.arange(int(num_choices.max()))[None, :] < num_choices[:, None]


def one_hot_weights(tokens, num_choices) -> np.ndarray:
    """float32 ``[T, max(num_choices)]``: the mixture weights of one architecture (rows one-hot)."""
    tokens = np.asarray(tokens, np.int64).reshape(-1)
    weights = np.zeros([len(tokens), int(np.max(num_choices))], np.float32)
    weights[np.arange(len(tokens)), tokens] = 1.0
    return weights


class DartsState(tf.Module):
    """The checkpointed state of a DARTS search: logits, their optimizer, the epoch's sums."""

    def __init__(self, num_choices, learning_rate: float):
        super().__init__(name="darts")
        mask = choice_mask(num_choices)
        # One padded variable for all tokens (padded entries stay 0: no gradient, no decay).
        self.logits = tf.Variable(tf.zeros(mask.shape, tf.float32), name="arch_logits")
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=ARCH_BETA_1, beta_2=ARCH_BETA_2)
        self.optimizer.build([self.logits])  # slots exist before any restore
        self.loss_sum = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="arch_loss_sum")
        self.steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="arch_steps")


@register_strategy
class DartsStrategy(SearchStrategy):
    """Architecture logits per token, trained by Adam on validation batches, alternating with mixture
    steps of the child on training batches (see the module docstring)."""

    name = "darts"

    @classmethod
    def check_space(cls, space, config) -> None:
        if not getattr(space, "supports_mixture", False):
            raise ConfigError(f"--search_strategy=darts: the {space.name} space's shared child has no mixture mode "
                              "(continuous relaxation); use --search_strategy=enas or random")
        if getattr(config.run, "distribution", "none") != "none":
            raise ConfigError(f"--search_strategy=darts: runs on one device (its mixture steps are not replicated); "
                              f"drop --distribution={config.run.distribution}")

    def __init__(self, space, decisions, config):
        self.check_space(space, config)
        super().__init__(space, decisions, config)
        self.num_choices = np.asarray(decisions.num_choices, np.int64)
        self.mask = choice_mask(self.num_choices)
        self._mask = tf.constant(self.mask)
        self.weight_decay = float(config.search.darts_arch_weight_decay)
        self.state = DartsState(self.num_choices, config.search.darts_arch_lr)

    # -- the relaxation ----------------------------------------------------------------------------
    def weights(self) -> tf.Tensor:
        """float32 ``[T, M]``: per token the softmax of its logits over its valid choices (padding 0)."""
        return tf.nn.softmax(tf.where(self._mask, self.state.logits, _MASKED), axis=-1)

    def probabilities(self) -> np.ndarray:
        """The softmax as float64 numpy, padded entries 0."""
        return self.weights().numpy().astype(np.float64)

    def arch_step(self, task) -> float:
        """One Adam step of the logits on the next validation minibatch; returns the validation loss."""
        logits = self.state.logits
        with tf.GradientTape() as tape:
            tape.watch(logits)
            weights = self.weights()
        loss, weight_gradient = task.mixture_valid_gradient(tf.stop_gradient(weights))
        gradient = tape.gradient(weights, logits, output_gradients=tf.convert_to_tensor(weight_gradient))
        if self.weight_decay:
            gradient = gradient + self.weight_decay * logits
        self.state.optimizer.apply_gradients([(gradient, logits)])
        self.state.loss_sum.assign_add(loss)
        self.state.steps.assign_add(1)
        return loss

    def child_step(self, task):
        self.arch_step(task)  # DARTS' order: the architecture first, then the weights
        metrics = task.mixture_train_step(self.weights())
        return self.argmax_tokens(), metrics

    # -- architectures -----------------------------------------------------------------------------
    def argmax_tokens(self) -> np.ndarray:
        """int32 ``[T]``: per token its most likely valid choice (ties: the lowest)."""
        logits = np.where(self.mask, self.state.logits.numpy(), -np.inf)
        return np.argmax(logits, axis=1).astype(np.int32)

    def propose(self):
        return tf.constant(self.argmax_tokens())

    def _log_prob(self, tokens: np.ndarray, probs: np.ndarray) -> float:
        picked = probs[np.arange(len(tokens)), tokens]
        return float(np.sum(np.log(np.maximum(picked, 1e-300))))

    def sample_tokens(self, num_samples: int, seed: int) -> np.ndarray:
        """int32 ``[num_samples, T]`` drawn from the softmax with a NumPy generator of ``seed``."""
        probs = self.probabilities()
        cdf = np.cumsum(probs, axis=1)
        uniform = np.random.default_rng(seed).random((num_samples, len(self.num_choices)))
        tokens = (uniform[:, :, None] >= cdf[None, :, :]).sum(axis=2)
        return np.minimum(tokens, self.num_choices[None, :] - 1).astype(np.int32)

    def candidates(self, num_samples: int, seed: int) -> list[tuple[np.ndarray, float]]:
        probs = self.probabilities()
        argmax = self.argmax_tokens()
        rows = [argmax] + list(self.sample_tokens(max(num_samples - 1, 0), seed))
        return [(row, self._log_prob(row, probs)) for row in rows]

    def extra_candidates(self) -> dict[str, np.ndarray]:
        return {"argmax": self.argmax_tokens()}

    def policy_entropy(self) -> Optional[float]:
        probs = self.probabilities()
        logs = np.log(np.where(probs > 0, probs, 1.0))
        return float(np.mean(-(probs * logs).sum(axis=1)))

    def epoch_record(self, means: Mapping[str, float], steps: int) -> dict[str, Any]:
        """Mean validation loss of the epoch's architecture steps, their count and learning rate; resets
        the sums for the next epoch."""
        count = int(self.state.steps.numpy())
        record: dict[str, Any] = {"arch_lr": float(self.config.search.darts_arch_lr), "arch_updates": count}
        if count:
            record["arch_valid_loss"] = float(self.state.loss_sum.numpy()) / count
        self.state.loss_sum.assign(0.0)
        self.state.steps.assign(0)
        return record

    def trackables(self) -> Mapping[str, Any]:
        return {"darts": self.state}
