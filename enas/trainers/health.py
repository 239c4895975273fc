"""Search health: what the strategy samples, how sure it is, and warnings when the search stalls.

Every epoch the search log gets, for the architectures the child trained on that epoch, the frequency
of each choice of each decision (``choice_freq``) and the mean empirical per-decision entropy
(``decision_entropy``); the strategy's own mean per-decision entropy (``policy_entropy``) where it has
a distribution. TensorBoard gets a histogram of the per-decision entropies and an image of the
frequencies (one row per decision). A warning (log line ``warnings``, and the console) is given once
per run when the policy collapses early or the mean reward stops rising.
"""

from __future__ import annotations

import sys
from typing import Any, Optional

import numpy as np
import tensorflow as tf

# The policy has collapsed when its mean per-decision entropy falls under this fraction of its
# initial value while less than half of the epochs have run.
COLLAPSE_FRACTION = 0.1
# The mean reward has stalled when its best has not risen by this much in `stall_patience` epochs.
STALL_MIN_RISE = 1e-3
_COLLAPSE, _STALL = 1, 2


def stall_patience(num_epochs: int) -> int:
    """Epochs without a rise of the mean reward before the stall warning: a fifth of the run, at least 3."""
    return max(3, num_epochs // 5)


def entropy_of_counts(counts: np.ndarray) -> np.ndarray:
    """Per-row entropy (nats) of the empirical distributions given by ``counts`` ``[D, C]``."""
    totals = counts.sum(axis=1, keepdims=True)
    probs = np.divide(counts, totals, out=np.zeros_like(counts, dtype=np.float64), where=totals > 0)
    logs = np.log(np.where(probs > 0, probs, 1.0))
    return -(probs * logs).sum(axis=1)


class HealthMonitor(tf.Module):
    """Counts the choices of proposed architectures and checks the search's health each epoch.

    Args:
      decisions: the space's :class:`enas.controller.SearchSpace` (``num_choices`` per token).
      num_epochs: the run's epochs (the collapse check looks at the first half, stalls at a fifth).
    """

    def __init__(self, decisions, num_epochs: int):
        super().__init__(name="health")
        self.num_choices = np.asarray(decisions.num_choices, np.int64)
        self.labels = list(decisions.labels)
        self.num_epochs = int(num_epochs)
        shape = [len(self.num_choices), int(self.num_choices.max())]
        # Checkpointed with the run, so a resumed epoch reports what an uninterrupted one would.
        self.counts = tf.Variable(tf.zeros(shape, tf.float64), trainable=False, name="choice_counts")
        self.initial_entropy = tf.Variable(-1.0, dtype=tf.float64, trainable=False, name="initial_entropy")
        self.best_reward = tf.Variable(-np.inf, dtype=tf.float64, trainable=False, name="best_reward")
        self.best_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="best_epoch")
        self.warned = tf.Variable(0, dtype=tf.int64, trainable=False, name="warned")
        self._positions = tf.range(shape[0], dtype=tf.int64)

    def start(self, strategy) -> None:
        """Records the strategy's initial policy entropy (once per run)."""
        if float(self.initial_entropy.numpy()) < 0:
            entropy = strategy.policy_entropy()
            self.initial_entropy.assign(float("nan") if entropy is None else entropy)

    def observe(self, tokens) -> None:
        """Counts the choices of one proposed architecture (tokens ``[T]``)."""
        tokens = tf.cast(tf.reshape(tokens, [-1]), tf.int64)
        self.counts.scatter_nd_add(tf.stack([self._positions, tokens], axis=1),
                                   tf.ones_like(tokens, dtype=tf.float64))

    def end_epoch(self, record: dict[str, Any], strategy, writer, epoch: int) -> list[str]:
        """Adds the health keys to an epoch's ``record``, writes TensorBoard, returns new warnings.

        Resets the choice counts for the next epoch.
        """
        counts = self.counts.numpy()
        entropies = entropy_of_counts(counts)
        totals = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        frequencies = counts / totals
        record["choice_freq"] = [[round(float(f), 4) for f in row[:n]]
                                 for row, n in zip(frequencies, self.num_choices)]
        record["decision_entropy"] = float(entropies.mean())
        policy = strategy.policy_entropy()
        if policy is not None:
            record["policy_entropy"] = policy
        with writer.as_default(step=epoch + 1):
            tf.summary.histogram("health/decision_entropy", entropies)
            image = np.repeat(np.repeat(frequencies, 8, axis=0), 16, axis=1)  # one 8 x 16 block per cell
            tf.summary.image("health/choice_frequency", image[None, :, :, None].astype(np.float32))
        warnings = self._check(record, policy, epoch)
        if warnings:
            record["warnings"] = warnings
            for text in warnings:
                print(f"warning: {text}", file=sys.stderr, flush=True)
        self.counts.assign(tf.zeros_like(self.counts))
        return warnings

    def _check(self, record: dict[str, Any], policy: Optional[float], epoch: int) -> list[str]:
        warnings, warned = [], int(self.warned.numpy())
        initial = float(self.initial_entropy.numpy())
        if (policy is not None and not warned & _COLLAPSE and np.isfinite(initial) and initial > 0
                and epoch + 1 <= self.num_epochs / 2 and policy < COLLAPSE_FRACTION * initial):
            warned |= _COLLAPSE
            warnings.append(
                f"the policy collapsed at epoch {epoch + 1} of {self.num_epochs}: its mean per-decision entropy "
                f"{policy:.4f} is under {COLLAPSE_FRACTION:.0%} of the initial {initial:.4f}, so it samples few "
                "architectures; try a larger --controller_entropy_weight or --controller_tanh_constant, or a "
                "lower --controller_lr")
        reward = record.get("mean_reward")
        if reward is not None:
            if reward > float(self.best_reward.numpy()) + STALL_MIN_RISE:
                self.best_reward.assign(reward)
                self.best_epoch.assign(epoch + 1)
            patience = stall_patience(self.num_epochs)
            best_epoch = int(self.best_epoch.numpy())
            if not warned & _STALL and epoch + 1 - best_epoch >= patience:
                warned |= _STALL
                warnings.append(
                    f"the mean reward has not risen for {epoch + 1 - best_epoch} epochs (best "
                    f"{float(self.best_reward.numpy()):.4f} at epoch {best_epoch}); the controller may have "
                    "stopped learning: check the reward's noise (--child_reward_bn, --batch_size) and "
                    "--controller_lr")
        self.warned.assign(warned)
        return warnings
