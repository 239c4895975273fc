"""Regularized (aging) evolution with weight sharing (Real et al., 2019), ``--search_strategy=evolution``.

A population of ``search.evolution_population`` (P) architectures, each with a fitness: the shared
child's reward of the architecture on the next validation minibatch (``task.reward(arc)``, in the
run's reward batch-norm mode), exactly the reward one ENAS controller sample gets.

* **A phase step is one birth.** While fewer than P members were born, it initialises: a uniform
  architecture, scored and appended. After that it is one cycle of aging evolution: draw
  ``search.evolution_tournament_size`` (S) members uniformly with replacement (the tournament), the
  fittest of them is the parent, the child is the parent with exactly one decision changed to another
  valid value (an op, an input, a skip bit), scored and appended, and the oldest member is removed.
* **Phases** come when ENAS's would: after every ``--controller_train_every`` epochs,
  ``--controller_train_steps`` x ``--controller_num_aggregate`` steps, the same number of rewards as an
  ENAS phase, the initialisation included (Real et al. count it in the budget too). With
  ``--nocontroller_training`` there is no phase: the population never fills and the search is random
  search.
* **The child trains** (:meth:`EvolutionStrategy.propose`) on members drawn uniformly from the
  population, or on uniform architectures while the population is still being initialised (the
  distribution the initial members come from).
* **Derivation** rescores the members (fittest first; the prior is the stored fitness) and, when
  ``derive_num_samples`` exceeds P, one-decision mutations of them.

Fitness is measured once, at birth, with the shared weights of that moment; aging removes every member
P births later, so stale fitness does not persist (the reason to prefer aging over removing the worst
with weights that keep training). The population lives in fixed-shape variables (tokens ``[P, T]``,
fitness ``[P]``, birth index ``[P]``, births so far) used as a ring buffer (the member born ``b`` sits in
slot ``b mod P``, so the oldest is always the next slot written), and every random draw comes from one
checkpointed ``tf.random.Generator``: a resumed search, even one interrupted mid-phase, continues exactly
as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

import numpy as np
import tensorflow as tf

from enas.errors import ConfigError
from enas.strategies.base import SearchStrategy, register_strategy, uniform_log_prob

# Added to the run seed for the evolution's generator (the child's own streams use the run seed).
_SEED_OFFSET = 4099


def mutable_positions(num_choices) -> np.ndarray:
    """Token positions with more than one valid value (the only ones a mutation can change)."""
    return np.flatnonzero(np.asarray(num_choices, np.int64) > 1)


def mutate_tokens(tokens, num_choices, position_draw: float, value_draw: float) -> np.ndarray:
    """``tokens`` with exactly one decision changed to another valid value.

    Token ``i`` is valid in ``[0, num_choices[i])``; the layout's ``num_choices`` already encodes what
    depends on the position (a micro node's input index ranges over the nodes before it, a macro layer
    has one skip bit per earlier layer, an rnn node's previous node over the nodes before it). The
    position is uniform over the positions with at least two choices (``position_draw`` in [0, 1)), the
    new value uniform over the other values of that position (``value_draw`` in [0, 1)).
    """
    num_choices = np.asarray(num_choices, np.int64)
    child = np.array(tokens, np.int32).reshape(-1)
    positions = mutable_positions(num_choices)
    position = int(positions[min(int(position_draw * len(positions)), len(positions) - 1)])
    choices = int(num_choices[position])
    offset = 1 + min(int(value_draw * (choices - 1)), choices - 2)  # 1 .. choices-1: never the old value
    child[position] = (int(child[position]) + offset) % choices
    return child


class EvolutionState(tf.Module):
    """The checkpointed population (a ring buffer of fixed size) and the evolution's random generator."""

    def __init__(self, population: int, num_tokens: int, seed: int):
        super().__init__(name="evolution")
        self.tokens = tf.Variable(tf.zeros([population, num_tokens], tf.int32), trainable=False, name="tokens")
        self.fitness = tf.Variable(tf.zeros([population], tf.float64), trainable=False, name="fitness")
        self.birth = tf.Variable(tf.fill([population], tf.constant(-1, tf.int64)), trainable=False, name="birth")
        self.born = tf.Variable(0, dtype=tf.int64, trainable=False, name="born")
        self.generator = tf.random.Generator.from_seed(seed)


@register_strategy
class EvolutionStrategy(SearchStrategy):
    """Aging evolution over the space's token layout, fitness by shared-weight reward (see the module)."""

    name = "evolution"
    metric_names = ("fitness",)

    def __init__(self, space, decisions, config):
        super().__init__(space, decisions, config)
        self.population = int(config.search.evolution_population)
        self.tournament_size = int(config.search.evolution_tournament_size)
        self.num_choices = np.asarray(decisions.num_choices, np.int64)
        if len(mutable_positions(self.num_choices)) == 0:
            raise ConfigError(f"--search_strategy=evolution: the {decisions.name} space has no decision with more "
                              "than one choice, so nothing can be mutated")
        self.state = EvolutionState(self.population, len(self.num_choices), config.run.seed + _SEED_OFFSET)
        self._upper = tf.constant(self.num_choices, tf.int64)

    # -- the population -----------------------------------------------------------------------------
    @property
    def born(self) -> int:
        """Members born so far (initial ones included)."""
        return int(self.state.born.numpy())

    @property
    def full(self) -> bool:
        """True once P members were born: the population is initialised and phase steps are cycles."""
        return self.born >= self.population

    def members(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The current members as ``(tokens [n, T], fitness [n], birth [n])``, oldest first."""
        count = min(self.born, self.population)
        birth = self.state.birth.numpy()[:count]
        order = np.argsort(birth, kind="stable")
        return self.state.tokens.numpy()[:count][order], self.state.fitness.numpy()[:count][order], birth[order]

    def _uniform_tokens(self):
        uniform = self.state.generator.uniform([len(self.num_choices)], dtype=tf.float64)
        return tf.cast(tf.minimum(tf.cast(tf.floor(uniform * tf.cast(self._upper, tf.float64)), tf.int64),
                                  self._upper - 1), tf.int32)

    def tournament(self) -> tuple[int, np.ndarray]:
        """Draws S slots uniformly with replacement; returns (the fittest's slot, the drawn slots).

        Ties go to the first drawn. Needs a full population.
        """
        drawn = self.state.generator.uniform([self.tournament_size], minval=0, maxval=self.population,
                                             dtype=tf.int64).numpy()
        fitness = self.state.fitness.numpy()[drawn]
        return int(drawn[int(np.argmax(fitness))]), drawn

    def mutate(self, tokens) -> np.ndarray:
        """``tokens`` with one decision changed (draws from the checkpointed generator)."""
        draws = self.state.generator.uniform([2], dtype=tf.float64).numpy()
        return mutate_tokens(tokens, self.num_choices, float(draws[0]), float(draws[1]))

    def _append(self, tokens, fitness: float) -> None:
        born = self.born
        slot = born % self.population  # the oldest member's slot once the population is full
        self.state.tokens[slot].assign(tf.convert_to_tensor(np.asarray(tokens, np.int32)))
        self.state.fitness[slot].assign(float(fitness))
        self.state.birth[slot].assign(born)
        self.state.born.assign(born + 1)

    # -- the strategy interface --------------------------------------------------------------------
    def propose(self):
        if not self.full:
            return self._uniform_tokens()
        slot = self.state.generator.uniform([], minval=0, maxval=self.population, dtype=tf.int64)
        return tf.gather(self.state.tokens, slot)

    def phase_steps(self, epoch: int) -> int:
        cc = self.config.controller
        due = cc.train_steps > 0 and (epoch + 1) % cc.train_every == 0
        return cc.train_steps * cc.num_aggregate if due else 0

    def phase_step(self, task) -> Mapping[str, float]:
        if self.full:
            parent, _ = self.tournament()
            child = self.mutate(self.state.tokens[parent].numpy())
        else:
            child = self._uniform_tokens().numpy()
        fitness = float(task.reward(child))
        self._append(child, fitness)
        return {"fitness": fitness}

    def epoch_record(self, means: Mapping[str, float], steps: int) -> dict[str, Any]:
        record: dict[str, Any] = {"evolution_steps": steps, "evolution_born": self.born}
        if steps:
            record["mean_reward"] = means["fitness"]  # of the members born this phase (the stall check reads it)
        _, fitness, birth = self.members()
        if len(fitness):
            record.update(population_size=len(fitness), population_mean_fitness=float(np.mean(fitness)),
                          population_best_fitness=float(np.max(fitness)),
                          population_mean_age=float(self.born - 1 - np.mean(birth)))
        return record

    def candidates(self, num_samples: int, seed: int) -> list[tuple[np.ndarray, float]]:
        tokens, fitness, birth = self.members()
        if len(tokens) == 0:  # no phase ran yet: what the child trained on, uniform architectures
            prior = uniform_log_prob(self.num_choices)
            return [(row, prior) for row in self.decisions.random_tokens(num_samples, seed=seed)]
        order = np.lexsort((-birth, -fitness))  # fittest first; ties: the younger (scored by later weights)
        ranked = [(tokens[i], float(fitness[i])) for i in order]
        chosen = ranked[:num_samples]
        rng = np.random.default_rng(seed)  # its own stream: the search's generator is not advanced
        for index in range(num_samples - len(chosen)):
            parent, prior = ranked[index % len(ranked)]
            draws = rng.random(2)
            chosen.append((mutate_tokens(parent, self.num_choices, draws[0], draws[1]), prior))
        return chosen

    def policy_entropy(self) -> Optional[float]:
        if not self.full:
            return float(np.mean(np.log(self.num_choices)))  # propose() is uniform until then
        tokens = self.state.tokens.numpy()
        entropies = []
        for position, choices in enumerate(self.num_choices):
            probs = np.bincount(tokens[:, position], minlength=int(choices)) / len(tokens)
            probs = probs[probs > 0]
            entropies.append(float(-(probs * np.log(probs)).sum()))
        return float(np.mean(entropies))

    def trackables(self) -> Mapping[str, Any]:
        return {"evolution": self.state}
