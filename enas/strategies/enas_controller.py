"""ENAS: the LSTM controller proposes, REINFORCE with a moving-average baseline trains it."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np

from enas.controller import Controller, Reinforce
from enas.strategies.base import SearchStrategy, register_strategy

# Samples and seed of the policy-entropy estimate (a seeded call leaves the sampling stream alone).
_ENTROPY_SAMPLES, _ENTROPY_SEED = 64, 104729


@register_strategy
class EnasStrategy(SearchStrategy):
    """The paper's strategy: a fresh controller sample for every child step; after every
    ``controller.train_every`` epochs, ``controller.train_steps`` REINFORCE updates of
    ``controller.num_aggregate`` samples, each rewarded on one validation minibatch (child frozen).
    """

    name = "enas"
    metric_names = ("reward", "baseline", "entropy", "skip_rate", "controller_loss")

    def __init__(self, space, decisions, config):
        super().__init__(space, decisions, config)
        self.controller = Controller.from_config(decisions, config.controller)
        self.reinforce = Reinforce.from_config(self.controller, config.controller)
        self._has_skips = decisions.num_skip_bits > 0

    def propose(self):
        return self.controller.sample(1).tokens[0]

    def phase_steps(self, epoch: int) -> int:
        cc = self.config.controller
        return cc.train_steps if cc.train_steps > 0 and (epoch + 1) % cc.train_every == 0 else 0

    def phase_step(self, task) -> Mapping[str, float]:
        sample = self.controller.sample(self.config.controller.num_aggregate)
        tokens = np.asarray(sample.tokens)
        rewards = np.array([task.reward(tokens[i]) for i in range(tokens.shape[0])], np.float32)
        metrics = self.reinforce.update(tokens, rewards)
        return {"reward": float(metrics["reward"]), "baseline": float(metrics["baseline"]),
                "entropy": float(metrics["entropy"]), "skip_rate": float(metrics.get("skip_rate", 0.0)),
                "controller_loss": float(metrics["loss"])}

    def epoch_record(self, means: Mapping[str, float], steps: int) -> dict[str, Any]:
        record: dict[str, Any] = {"controller_lr": self.config.controller.learning_rate, "controller_updates": steps}
        if steps:
            for name in self.metric_names:
                if name == "skip_rate" and not self._has_skips:
                    continue  # a space without skip bits has no skip rate
                record["mean_reward" if name == "reward" else name] = means[name]
        return record

    def candidates(self, num_samples: int, seed: int) -> list[tuple[np.ndarray, float]]:
        sample = self.controller.sample(num_samples, seed=seed)
        return list(zip(np.asarray(sample.tokens), np.asarray(sample.log_prob).astype(float)))

    def extra_candidates(self) -> dict[str, np.ndarray]:
        return {"greedy": np.asarray(self.controller.greedy().tokens).reshape(-1)}

    def policy_entropy(self) -> Optional[float]:
        sample = self.controller.sample(_ENTROPY_SAMPLES, seed=_ENTROPY_SEED)
        return float(np.mean(np.asarray(sample.entropy))) / self.decisions.num_tokens

    def trackables(self) -> Mapping[str, Any]:
        return {"controller": self.controller, "reinforce": self.reinforce}
