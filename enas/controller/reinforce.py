"""REINFORCE with a moving-average baseline: the ENAS controller update.

The update step is TF-specific, like the trainers' steps (``tf.GradientTape``, a ``tf.Variable``
baseline, one ``tf.function``); the controller it trains is backend-agnostic.

For a batch of ``N`` architectures with rewards ``R_n`` (one call of :meth:`Reinforce.update`):

* the entropy bonus is added to the reward, as in the reference: ``R'_n = R_n + entropy_weight *
  H_n`` (``H_n`` the sample's summed entropy, no gradient), and the baseline tracks ``R'``;
* ``loss = mean_n[-(R'_n - b) * log_prob_n + skip_weight * skip_penalty_n]`` where ``b`` is the
  baseline *before* this update (so a sample's reward never enters its own baseline);
* one Adam step (CIFAR ENAS: beta1 = 0, epsilon 1e-3; enas_lm: 0.9, 1e-8) on the gradient of that mean, i.e. gradients
  averaged over the ``N`` samples (the reference's ``num_aggregate`` window is one call with
  ``N = num_aggregate``), optionally clipped to a global norm;
* then the baseline takes the ``N`` rewards in order, ``b <- b - (1 - decay)(b - R'_n)``.

Inputs are checked before anything changes: a reward batch of the wrong size or with NaN or
infinite values raises :class:`RewardError`, bad tokens :class:`enas.errors.ArchitectureError`,
and neither the weights, the optimizer, the baseline nor the step counter move.
"""

from __future__ import annotations


import keras
import numpy as np
import tensorflow as tf

from enas.config import ControllerConfig
from enas.controller.controller import Controller
from enas.errors import ConfigError, TrainingError

METRIC_NAMES = ("loss", "baseline", "reward", "reward_with_entropy", "entropy", "log_prob",
                "skip_rate", "skip_penalty", "grad_norm")


class RewardError(TrainingError, ValueError):
    """Rewards that cannot train the controller: wrong batch size, NaN or infinite values."""


# The keyword defaults are the config's (one source of truth), with the CIFAR code's official values
# for the space-dependent ones.
_DEFAULTS = ControllerConfig().resolved()


class Reinforce(tf.Module):
    """Trains a :class:`Controller` with REINFORCE; checkpoint it with ``tf.train.Checkpoint``.

    Args:
      controller: the controller to train.
      learning_rate: Adam learning rate (macro 1e-3, micro 3.5e-3).
      baseline_decay: EMA decay of the reward baseline (0.99).
      entropy_weight: weight of the entropy bonus added to the reward (ENAS 1e-4).
      skip_weight: weight of the macro skip KL penalty in the loss (ENAS 0.8).
      grad_bound: clip gradients to this global norm (0: no clipping, as ENAS).
      num_aggregate: samples per update the trainers should pass (informational; ``update``
        averages over however many samples it gets).
      initial_baseline: the baseline's starting value (ENAS: 0).
      adam_beta1, adam_epsilon: Adam's beta1 and epsilon (the CIFAR code: 0 and 1e-3; enas_lm:
        Adam's defaults 0.9 and 1e-8).
    """

    def __init__(self, controller: Controller, learning_rate: float = _DEFAULTS.learning_rate,
                 baseline_decay: float = _DEFAULTS.baseline_decay, entropy_weight: float = _DEFAULTS.entropy_weight,
                 skip_weight: float = _DEFAULTS.skip_weight, grad_bound: float = _DEFAULTS.grad_bound,
                 num_aggregate: int = _DEFAULTS.num_aggregate, initial_baseline: float = 0.0,
                 adam_beta1: float = _DEFAULTS.adam_beta1, adam_epsilon: float = _DEFAULTS.adam_epsilon):
        super().__init__(name="reinforce")
        for flag, ok, value in (("learning_rate", learning_rate > 0, learning_rate),
                                ("baseline_decay", 0 <= baseline_decay < 1, baseline_decay),
                                ("entropy_weight", entropy_weight >= 0, entropy_weight),
                                ("skip_weight", skip_weight >= 0, skip_weight),
                                ("grad_bound", grad_bound >= 0, grad_bound),
                                ("num_aggregate", num_aggregate >= 1, num_aggregate),
                                ("adam_beta1", 0 <= adam_beta1 < 1, adam_beta1),
                                ("adam_epsilon", adam_epsilon > 0, adam_epsilon)):
            if not ok:
                raise ConfigError(f"Reinforce {flag} is out of range: {value!r}")
        self.controller = controller
        self.baseline_decay = float(baseline_decay)
        self.entropy_weight = float(entropy_weight)
        self.skip_weight = float(skip_weight)
        self.grad_bound = float(grad_bound)
        self.num_aggregate = int(num_aggregate)
        self.optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=adam_beta1,
                                               epsilon=adam_epsilon)
        self.optimizer.build(controller.trainable_variables)  # slots exist before any restore
        self.baseline = tf.Variable(float(initial_baseline), dtype=tf.float32, trainable=False,
                                    name="baseline")
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._update_function = tf.function(self._update_graph, input_signature=[
            tf.TensorSpec([None, controller.space.num_tokens], tf.int32),
            tf.TensorSpec([None], tf.float32)])

    @classmethod
    def from_config(cls, controller: Controller, config: ControllerConfig) -> "Reinforce":
        """Build from a :class:`enas.config.ControllerConfig`."""
        config = config.validate().resolved(controller.space.name)
        return cls(controller, learning_rate=config.learning_rate,
                   baseline_decay=config.baseline_decay, entropy_weight=config.entropy_weight,
                   skip_weight=config.skip_weight, grad_bound=config.grad_bound,
                   num_aggregate=config.num_aggregate, adam_beta1=config.adam_beta1,
                   adam_epsilon=config.adam_epsilon)

    def update(self, tokens, rewards) -> dict:
        """One REINFORCE step on architectures ``tokens [N, T]`` with ``rewards [N]``.

        Returns:
          Python floats: ``loss``, ``baseline`` (after the update), ``reward`` (mean raw reward),
          ``reward_with_entropy``, ``entropy``, ``log_prob`` (means over the batch),
          ``skip_rate``, ``skip_penalty``, ``grad_norm`` (before clipping).

        Raises:
          ArchitectureError: a token sequence is malformed (nothing is updated).
          RewardError: the reward batch size differs from the token batch, or a reward is NaN
            or infinite (nothing is updated).
        """
        batch = self.controller.space.validate(tokens).reshape(-1, self.controller.space.num_tokens)
        try:
            values = np.asarray(rewards, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError) as error:
            raise RewardError(f"rewards must be numbers: {error}") from None
        if values.shape[0] != batch.shape[0]:
            raise RewardError(f"got {values.shape[0]} rewards for {batch.shape[0]} architectures; "
                              "pass one reward per architecture (nothing was updated)")
        bad = np.flatnonzero(~np.isfinite(values))
        if bad.size:
            raise RewardError(f"reward {int(bad[0])} is {values[bad[0]]}; rewards must be finite "
                              "(nothing was updated: weights, optimizer and baseline are unchanged)")
        metrics = self._update_function(tf.constant(batch, tf.int32), tf.constant(values, tf.float32))
        return {name: float(value) for name, value in zip(METRIC_NAMES, metrics.numpy())}

    @property
    def learning_rate(self) -> float:
        value = self.optimizer.learning_rate
        return float(value.numpy() if hasattr(value, "numpy") else value)

    def _update_graph(self, tokens, rewards):
        variables = self.controller.trainable_variables
        with tf.GradientTape() as tape:
            scores = self.controller.log_prob_graph(tokens)
            rewards_with_entropy = rewards + self.entropy_weight * tf.stop_gradient(scores.entropy)
            advantage = tf.stop_gradient(rewards_with_entropy - self.baseline)
            loss = tf.reduce_mean(-advantage * scores.log_prob + self.skip_weight * scores.skip_penalty)
        gradients = tape.gradient(loss, variables)
        gradients = [tf.zeros_like(v) if g is None else g for g, v in zip(gradients, variables)]
        grad_norm = tf.linalg.global_norm(gradients)
        if self.grad_bound > 0:
            gradients, _ = tf.clip_by_global_norm(gradients, self.grad_bound, use_norm=grad_norm)
        self.optimizer.apply_gradients(zip(gradients, variables))
        # b_N = d^N b_0 + (1 - d) sum_n d^(N-1-n) R'_n: the per-sample EMA applied in order.
        decay = tf.constant(self.baseline_decay, tf.float32)
        count = tf.shape(rewards)[0]
        powers = tf.pow(decay, tf.cast(tf.range(count - 1, -1, -1), tf.float32))
        new_baseline = (tf.pow(decay, tf.cast(count, tf.float32)) * self.baseline
                        + (1.0 - decay) * tf.reduce_sum(powers * rewards_with_entropy))
        self.baseline.assign(new_baseline)
        self.step.assign_add(1)
        return tf.stack([loss, new_baseline, tf.reduce_mean(rewards),
                         tf.reduce_mean(rewards_with_entropy), tf.reduce_mean(scores.entropy),
                         tf.reduce_mean(scores.log_prob), tf.reduce_mean(scores.skip_rate),
                         tf.reduce_mean(scores.skip_penalty), grad_norm])
