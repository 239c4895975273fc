"""Aging evolution with weight sharing (``--search_strategy=evolution``): mutation, aging, tournament, resume."""

import dataclasses
import json
import os
import signal

import numpy as np
import pytest

from enas.config import ChildConfig, Config, SearchConfig
from enas.errors import ConfigError
from enas.spaces import get_space
from enas.strategies import make_strategy
from enas.strategies.evolution import EvolutionStrategy, mutable_positions, mutate_tokens
from enas.trainers import search as search_module
from enas.trainers.run_dir import Interrupted

_CHILDREN = {  # controller layouts only (no model is built): bigger than the tiny runs, to cover more positions
    "macro": ChildConfig(search_for="macro", num_layers=6, num_branches=6),
    "micro": ChildConfig(search_for="micro", num_cells=4, num_branches=5),
    "rnn": ChildConfig(search_for="rnn", num_layers=6, num_branches=4),
}


def _strategy(space, population=6, tournament=3, seed=1):
    config = Config(child=_CHILDREN[space], search=SearchConfig(
        strategy="evolution", evolution_population=population, evolution_tournament_size=tournament))
    config = config.replace(run=dataclasses.replace(config.run, seed=seed))
    return make_strategy(get_space(space), config)


def _evolution_config(tiny_config, path, population=4, tournament=2, **run):
    config = tiny_config(path, **run)
    return dataclasses.replace(config, search=SearchConfig(
        strategy="evolution", reward_bn="batch", evolution_population=population,
        evolution_tournament_size=tournament))


class _FakeTask:
    """Rewards a fixed random linear function of the tokens; counts the calls."""

    def __init__(self, num_tokens, seed=0):
        self.weights = np.random.default_rng(seed).random(num_tokens)
        self.scored = []

    def reward(self, arc, mode=None):
        self.scored.append(np.asarray(arc).copy())
        return float(np.dot(np.asarray(arc, np.float64), self.weights))


@pytest.mark.parametrize("space", ["macro", "micro", "rnn"])
def test_a_mutation_changes_exactly_one_decision_to_another_valid_value(space):
    strategy = _strategy(space)
    decisions, child_config = strategy.decisions, _CHILDREN[space]
    num_choices = np.asarray(decisions.num_choices)
    parents = decisions.random_tokens(300, seed=3)
    changed_positions, changed_to = set(), set()
    for parent in parents:
        for _ in range(5):
            child = strategy.mutate(parent)
            diff = np.flatnonzero(child != parent)
            assert len(diff) == 1, (parent, child)
            position = int(diff[0])
            assert num_choices[position] > 1
            decisions.validate(child)
            get_space(space).arc_from_tokens(child, child_config)  # the space's own check
            changed_positions.add(position)
            changed_to.add((position, int(child[position])))
    # Every decision with a choice is mutated and reaches every value (1500 mutations cover them).
    assert changed_positions == set(mutable_positions(num_choices).tolist())
    assert changed_to == {(p, v) for p in changed_positions for v in range(num_choices[p])}
    if space == "rnn":
        assert 0 not in changed_positions  # node 1 can only follow node 0: not a decision
    if space == "micro":  # the first node's inputs are 0 or 1, the last node's 0..B (num_choices says so)
        assert num_choices[0] == 2 and num_choices[4 * 3] == 5
    for draw in (0.0, 0.999999999, 1.0 - 1e-16):  # the ends of the draws stay in range
        for parent in parents[:20]:
            child = mutate_tokens(parent, num_choices, draw, draw)
            assert (child != parent).sum() == 1
            decisions.validate(child)


def test_population_stays_p_the_oldest_dies_and_the_tournament_picks_the_fittest():
    strategy = _strategy("macro", population=6, tournament=3)
    task = _FakeTask(strategy.decisions.num_tokens)
    assert strategy.policy_entropy() == pytest.approx(np.mean(np.log(strategy.decisions.num_choices)))
    for step in range(6):  # initialisation: uniform members, each scored
        assert not strategy.full
        strategy.phase_step(task)
        tokens, fitness, birth = strategy.members()
        assert len(tokens) == step + 1 and birth.tolist() == list(range(step + 1))
    assert strategy.full
    tournaments = []
    original = strategy.tournament

    def spy():
        parent, drawn = original()
        tournaments.append((parent, drawn, strategy.state.fitness.numpy().copy(),
                            strategy.state.tokens.numpy().copy()))
        return parent, drawn

    strategy.tournament = spy
    for cycle in range(30):
        before_tokens, before_fitness, before_birth = strategy.members()
        metrics = strategy.phase_step(task)
        tokens, fitness, birth = strategy.members()
        assert len(tokens) == 6  # constant size
        # The oldest (first) member is gone, the others kept in order, the child appended last.
        assert birth.tolist() == before_birth[1:].tolist() + [6 + cycle]
        np.testing.assert_array_equal(tokens[:-1], before_tokens[1:])
        np.testing.assert_array_equal(fitness[:-1], before_fitness[1:])
        parent, drawn, slot_fitness, slot_tokens = tournaments[-1]
        assert len(drawn) == 3 and parent in drawn.tolist()
        assert slot_fitness[parent] == max(slot_fitness[drawn])  # the fittest of the sample
        child = tokens[-1]
        np.testing.assert_array_equal(child, task.scored[-1])
        assert (child != slot_tokens[parent]).sum() == 1  # the parent's one-decision mutant
        assert fitness[-1] == pytest.approx(metrics["fitness"]) == pytest.approx(task.reward(child))
    assert len(task.scored) == 6 + 30 * 2  # one reward per phase step (plus the checks above)
    proposals = {tuple(np.asarray(strategy.propose()).tolist()) for _ in range(200)}
    assert proposals <= {tuple(row) for row in strategy.members()[0].tolist()}  # the child trains on members


def test_the_tournament_is_uniform_with_replacement_and_breaks_ties_by_draw_order():
    strategy = _strategy("macro", population=4, tournament=4)
    task = _FakeTask(strategy.decisions.num_tokens)
    for _ in range(4):
        strategy.phase_step(task)
    strategy.state.fitness.assign([0.5, 0.9, 0.1, 0.9])
    counts = np.zeros(4)
    for _ in range(300):
        parent, drawn = strategy.tournament()
        counts += np.bincount(drawn, minlength=4)
        best = drawn[np.isin(drawn, [1, 3])]
        if len(best):
            assert parent == best[0]
        else:
            assert parent == (0 if 0 in drawn else 2)
    assert counts.min() > 0.8 * counts.mean()  # every member drawn about equally often


def test_candidates_rank_the_population_and_leave_the_search_streams_alone():
    strategy = _strategy("micro", population=5, tournament=2)
    task = _FakeTask(strategy.decisions.num_tokens)
    uniform = strategy.candidates(3, seed=9)  # before any phase: uniform architectures
    assert len(uniform) == 3
    for _ in range(12):
        strategy.phase_step(task)
    state = strategy.state.generator.state.numpy().copy()
    tokens, fitness, _ = strategy.members()
    top = strategy.candidates(3, seed=9)
    assert [prior for _, prior in top] == sorted(fitness.tolist(), reverse=True)[:3]
    many = strategy.candidates(12, seed=9)
    assert len(many) == 12 and [p for _, p in many[:5]] == sorted(fitness.tolist(), reverse=True)
    for index, (mutant, _) in enumerate(many[5:]):  # mutations of the members, fittest first
        assert (mutant != many[index % 5][0]).sum() == 1
        strategy.decisions.validate(mutant)
    again = strategy.candidates(12, seed=9)
    assert all((a == b).all() and p == q for (a, p), (b, q) in zip(many, again))
    np.testing.assert_array_equal(strategy.state.generator.state.numpy(), state)
    assert 0 <= strategy.policy_entropy() < np.mean(np.log(strategy.decisions.num_choices))


@pytest.mark.parametrize("population, tournament, flag", [
    (1, 1, "--evolution_population: must be >= 2"),
    (5, 0, "--evolution_tournament_size: must be >= 1"),
    (5, 10, "--evolution_tournament_size: must be <= --evolution_population=5, got 10"),
])
def test_bad_population_or_tournament_names_the_flag(population, tournament, flag):
    config = SearchConfig(strategy="evolution", evolution_population=population,
                          evolution_tournament_size=tournament)
    with pytest.raises(ConfigError, match=flag):
        config.validate()


_UNINTERRUPTED = {}


@pytest.fixture
def uninterrupted(tiny_config, embedded_data, tmp_path_factory):
    """An uninterrupted tiny evolution search (run once for this module's tests)."""
    if not _UNINTERRUPTED:
        config = _evolution_config(tiny_config, tmp_path_factory.mktemp("evolution") / "run")
        run = search_module.SearchRun(config, data=embedded_data)
        derived = run.run()
        _UNINTERRUPTED.update(config=config, run=run, derived=derived)
    return _UNINTERRUPTED


def test_smoke_search_writes_derived_json_and_traces_once(uninterrupted):
    config, run, derived = uninterrupted["config"], uninterrupted["run"], uninterrupted["derived"]
    assert isinstance(run.strategy, EvolutionStrategy)
    out = config.run.output_dir
    on_disk = json.load(open(os.path.join(out, "derived.json")))
    assert on_disk["strategy"] == "evolution" and on_disk["best"]["arc"] == derived["best"]["arc"]
    assert len(on_disk["best"]["arc"].split()) == 6
    records = [json.loads(line) for line in open(os.path.join(out, "search_log.jsonl"))]
    # train_steps 2 x num_aggregate 2 = 4 phase steps per epoch: epoch 1 initialises P=4, epoch 2 has 4 cycles.
    assert [r["evolution_steps"] for r in records] == [4, 4]
    assert [r["evolution_born"] for r in records] == [4, 8]
    for record in records:
        assert record["population_size"] == 4
        assert 0.0 <= record["mean_reward"] <= 1.0
        assert record["population_mean_fitness"] <= record["population_best_fitness"] <= 1.0
        assert "policy_entropy" in record and "controller_updates" not in record
    _, _, birth = run.strategy.members()
    assert birth.tolist() == [4, 5, 6, 7]
    task = run.task
    assert task._train_fn.experimental_get_tracing_count() == 1
    assert task._batch_eval_fn.experimental_get_tracing_count() == 1  # rewards, validation and derivation


def test_interrupted_search_resumes_the_uninterrupted_population(uninterrupted, tiny_config, embedded_data,
                                                                 tmp_path):
    config = _evolution_config(tiny_config, tmp_path / "run")
    first = search_module.SearchRun(config, data=embedded_data)
    original, calls = first.strategy.phase_step, []

    def phase_step_then_sigterm(task):
        calls.append(1)
        metrics = original(task)
        if len(calls) == 6:  # the second cycle of epoch 2's phase: mid-phase, mid-evolution
            os.kill(os.getpid(), signal.SIGTERM)
        return metrics

    first.strategy.phase_step = phase_step_then_sigterm
    with pytest.raises(Interrupted, match="SIGTERM"):
        first.run()
    resumed = search_module.SearchRun(config, data=embedded_data)
    assert (resumed.checkpoint["epoch"], resumed.checkpoint["controller_step"]) == (1, 2)
    assert resumed.strategy.born == 6
    derived = resumed.run()
    plain = uninterrupted["run"].strategy
    for name in ("tokens", "birth", "born"):
        np.testing.assert_array_equal(getattr(resumed.strategy.state, name).numpy(),
                                      getattr(plain.state, name).numpy(), err_msg=name)
    np.testing.assert_allclose(resumed.strategy.state.fitness.numpy(), plain.state.fitness.numpy(), atol=1e-9)
    np.testing.assert_array_equal(resumed.strategy.state.generator.state.numpy(),
                                  plain.state.generator.state.numpy())
    assert derived["best"]["arc"] == uninterrupted["derived"]["best"]["arc"]
    assert [e["arc"] for e in derived["top"]] == [e["arc"] for e in uninterrupted["derived"]["top"]]
