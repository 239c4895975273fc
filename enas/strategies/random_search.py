"""Random search with weight sharing (Li and Talwalkar, 2019): the control for every ENAS result.

The shared child trains on uniformly random architectures, one per step; derivation scores
``derive_num_samples`` uniform architectures with the shared weights, the same budget as ENAS's
derivation. No controller exists.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import tensorflow as tf

from enas.strategies.base import SearchStrategy, register_strategy, uniform_log_prob


@register_strategy
class RandomStrategy(SearchStrategy):
    """Uniform architectures for the child; derivation by shared-weight score of uniform samples."""

    name = "random"

    def __init__(self, space, decisions, config):
        super().__init__(space, decisions, config)
        self.num_choices = np.asarray(decisions.num_choices, np.int64)
        # A checkpointed generator: a resumed search proposes what an uninterrupted one would.
        self.generator = tf.random.Generator.from_seed(config.run.seed)
        self._upper = tf.constant(self.num_choices, tf.int64)

    def propose(self):
        uniform = self.generator.uniform([len(self.num_choices)], dtype=tf.float64)
        return tf.cast(tf.minimum(tf.cast(tf.floor(uniform * tf.cast(self._upper, tf.float64)), tf.int64),
                                  self._upper - 1), tf.int32)

    def candidates(self, num_samples: int, seed: int) -> list[tuple[np.ndarray, float]]:
        tokens = self.decisions.random_tokens(num_samples, seed=seed)
        prior = uniform_log_prob(self.num_choices)
        return [(row, prior) for row in tokens]

    def policy_entropy(self) -> Optional[float]:
        return float(np.mean(np.log(self.num_choices)))

    def trackables(self) -> Mapping[str, Any]:
        return {"strategy_generator": self.generator}
