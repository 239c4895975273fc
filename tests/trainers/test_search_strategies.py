"""Search strategies behind the seam: random search, the registry, health warnings, bad input."""

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from enas.config import SearchConfig
from enas.controller import Controller, Reinforce
from enas.errors import ConfigError, OutputDirError
from enas.spaces import get_space
from enas.strategies import SearchStrategy, available_strategies, get_strategy, make_strategy, register_strategy
from enas.trainers import search as search_module
from enas.trainers.health import HealthMonitor


def _random_config(tiny_config, path, **run):
    config = tiny_config(path, **run)
    return dataclasses.replace(config, search=SearchConfig(strategy="random", reward_bn="batch"))


def test_random_strategy_proposes_uniform_architectures(tiny_config, tmp_path):
    config = _random_config(tiny_config, tmp_path / "r")
    strategy = make_strategy(get_space("macro"), config)
    num_choices = np.asarray(strategy.decisions.num_choices)
    draws = np.stack([np.asarray(strategy.propose()) for _ in range(3000)])
    assert draws.shape == (3000, len(num_choices)) and (draws >= 0).all() and (draws < num_choices).all()
    for position, choices in enumerate(num_choices):
        counts = np.bincount(draws[:, position], minlength=choices)
        expected = len(draws) / choices
        chi_square = float(np.sum((counts - expected) ** 2 / expected))
        # 99.9% quantile of chi-square with 5 degrees of freedom is 20.5 (with 1: 10.8).
        assert chi_square < (20.5 if choices == 6 else 10.8), (position, counts)
    first, again = strategy.candidates(50, seed=4), strategy.candidates(50, seed=4)
    assert len(first) == 50 and all((a == b).all() and p == q for (a, p), (b, q) in zip(first, again))


def test_random_search_never_touches_a_controller(tmp_path, embedded_data, tiny_config, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("random search built a controller")

    monkeypatch.setattr(Controller, "__init__", refuse)
    monkeypatch.setattr(Reinforce, "__init__", refuse)
    config = _random_config(tiny_config, tmp_path / "run")
    derived = search_module.search(config, data=embedded_data)
    assert derived["strategy"] == "random" and derived["reward_bn"] == "batch"
    assert "greedy" not in derived
    records = [json.loads(line) for line in open(os.path.join(config.run.output_dir, "search_log.jsonl"))]
    assert all("mean_reward" not in r and "controller_updates" not in r for r in records)
    assert all(len(r["choice_freq"]) == 6 for r in records)


def test_random_search_resumes_the_same_proposals(tmp_path, embedded_data, tiny_config):
    config = _random_config(tiny_config, tmp_path / "run", num_epochs=1)
    run = search_module.SearchRun(config, data=embedded_data)
    run.checkpoint.save()
    expected = [np.asarray(run.sample_arc()).tolist() for _ in range(5)]
    again = search_module.SearchRun(config, data=embedded_data)  # resumes from the checkpoint
    assert [np.asarray(again.sample_arc()).tolist() for _ in range(5)] == expected


def test_strategy_registry_and_bad_names(tmp_path, embedded_data, tiny_config):
    assert {"enas", "random"} <= set(available_strategies())
    with pytest.raises(ConfigError, match="--search_strategy: unknown strategy 'bogus'"):
        get_strategy("bogus")
    config = dataclasses.replace(tiny_config(tmp_path / "bad"), search=SearchConfig(strategy="bogus"))
    with pytest.raises(ConfigError, match="unknown strategy"):
        search_module.SearchRun(config, data=embedded_data)
    assert not os.path.exists(tmp_path / "bad")  # refused before anything was written

    @register_strategy
    class FirstChoice(SearchStrategy):  # a research plug-in: registered, then selectable by name
        name = "first_choice_test"

        def propose(self):
            return np.zeros(self.decisions.num_tokens, np.int32)

        def candidates(self, num_samples, seed):
            return [(np.zeros(self.decisions.num_tokens, np.int32), 0.0)]

    config = dataclasses.replace(tiny_config(tmp_path / "plug", num_epochs=1),
                                 search=SearchConfig(strategy="first_choice_test", reward_bn="batch"))
    derived = search_module.search(config, data=embedded_data)
    assert derived["best"]["arc"] == " ".join(["0"] * 6)


def test_resuming_with_another_strategy_is_refused(tmp_path, embedded_data, tiny_config):
    config = tiny_config(tmp_path / "run", num_epochs=1)
    search_module.search(config, data=embedded_data)
    before = sorted(os.listdir(config.run.output_dir))
    other = dataclasses.replace(config, search=SearchConfig(strategy="random"))
    with pytest.raises(OutputDirError, match="search.strategy: 'enas' -> 'random'"):
        search_module.SearchRun(other, data=embedded_data)
    assert sorted(os.listdir(config.run.output_dir)) == before


class _Writer:
    def __init__(self, path):
        self.writer = tf.summary.create_file_writer(str(path))

    def as_default(self, step):
        return self.writer.as_default(step=step)


def _enas_strategy(tiny_config, path, lr=0.001):
    config = tiny_config(path)
    # No tanh bound on the logits: with tanh_constant 1.5 a macro policy cannot go below ~60% of its entropy.
    config = config.replace(controller=dataclasses.replace(config.controller, learning_rate=lr, skip_weight=0.0,
                                                           entropy_weight=0.0, num_aggregate=8, tanh_constant=0.0))
    return make_strategy(get_space("macro"), config)


def test_collapse_warning_fires_on_a_collapsed_controller_only(tmp_path, tiny_config, capsys):
    fresh = _enas_strategy(tiny_config, tmp_path / "fresh")
    monitor = HealthMonitor(fresh.decisions, num_epochs=10)
    monitor.start(fresh)
    record = {}
    assert monitor.end_epoch(record, fresh, _Writer(tmp_path / "tb1"), epoch=0) == []
    assert record["policy_entropy"] > 0 and "warnings" not in record

    collapsed = _enas_strategy(tiny_config, tmp_path / "collapsed", lr=0.05)
    monitor = HealthMonitor(collapsed.decisions, num_epochs=10)
    monitor.start(collapsed)
    target = np.array([2, 1, 0, 3, 1, 0])  # drive the controller to this one architecture
    for _ in range(200):
        tokens = np.asarray(collapsed.controller.sample(8).tokens)
        collapsed.reinforce.update(tokens, (tokens == target).mean(axis=1) ** 4)
    record = {}
    warnings = monitor.end_epoch(record, collapsed, _Writer(tmp_path / "tb2"), epoch=2)
    assert len(warnings) == 1 and "policy collapsed" in warnings[0], record.get("policy_entropy")
    assert "warning: the policy collapsed" in capsys.readouterr().err
    assert monitor.end_epoch({}, collapsed, _Writer(tmp_path / "tb2"), epoch=3) == []  # once per run
    distinct = {tuple(row) for row in np.asarray(collapsed.controller.sample(50, seed=1).tokens).tolist()}
    assert len(distinct) < 10  # it really samples few architectures


def test_stall_warning_when_the_mean_reward_stops_rising(tmp_path, tiny_config):
    strategy = make_strategy(get_space("macro"), _random_config(tiny_config, tmp_path / "r"))
    monitor = HealthMonitor(strategy.decisions, num_epochs=10)  # patience 3
    writer = _Writer(tmp_path / "tb")
    rewards = [0.1, 0.2, 0.3, 0.3, 0.29, 0.3]
    fired = [monitor.end_epoch({"mean_reward": r}, strategy, writer, epoch=e) for e, r in enumerate(rewards)]
    assert [bool(w) for w in fired] == [False] * 5 + [True]
    assert "has not risen for 3 epochs" in fired[-1][0]
