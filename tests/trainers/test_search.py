"""The search loop end to end on tiny data: logs, derivation, one trace, resume, bad input."""

import dataclasses
import json
import os
import signal

import numpy as np
import pytest

from enas.errors import CheckpointError, OutputDirError, TrainingError
from enas.trainers import search as search_module, timing
from enas.trainers.derive import derive
from enas.trainers.run_dir import Interrupted


def test_smoke_search_writes_logs_checkpoints_and_derivation(tmp_path, embedded_data, tiny_config):
    config = tiny_config(tmp_path / "run")
    derived = search_module.search(config, data=embedded_data)
    out = config.run.output_dir
    records = [json.loads(line) for line in open(os.path.join(out, "search_log.jsonl"))]
    assert [r["epoch"] for r in records] == [1, 2]
    for record in records:
        assert record["controller_updates"] == 2
        for key in ("child_loss", "child_accuracy", "mean_reward", "baseline", "entropy", "skip_rate",
                    "child_lr", "controller_lr", "seconds", "valid_accuracy"):
            assert key in record, key
        assert 0.0 <= record["mean_reward"] <= 1.0 and np.isfinite(record["child_loss"])
        # Where the epoch's time went: the phases add up to its seconds.
        phases = {key: value for key, value in record.items() if key.startswith("time_")}
        assert set(phases) == {"time_" + name for name in timing.PHASES}
        assert all(value >= 0.0 for value in phases.values())
        assert sum(phases.values()) == pytest.approx(record["seconds"], abs=0.01)
        assert phases["time_child_train"] > 0 and phases["time_reward"] > 0 and phases["time_eval"] > 0
    assert records[1]["time_checkpoint"] > 0  # epoch 1's end-of-epoch checkpoint, written after its line
    assert json.load(open(os.path.join(out, "config.json")))["kind"] == "search"
    assert os.listdir(os.path.join(out, "tensorboard"))
    on_disk = json.load(open(os.path.join(out, "derived.json")))
    assert on_disk["best"]["arc"] == derived["best"]["arc"]
    assert 1 <= len(on_disk["top"]) <= 2
    assert on_disk["top"][0]["score"] >= on_disk["top"][-1]["score"]
    assert len(on_disk["best"]["arc"].split()) == 3 + 3  # L + L(L-1)/2 tokens for L=3
    assert os.path.exists(os.path.join(out, "derived.dot"))


@pytest.mark.parametrize("space", ["macro", pytest.param("micro", marks=pytest.mark.slow)])
def test_each_step_function_traces_once_over_20_architectures(tmp_path, embedded_data, tiny_config, space):
    run = search_module.SearchRun(tiny_config(tmp_path / "run", space), data=embedded_data)
    task = run.task
    task.begin_epoch(0)
    arcs = {tuple(np.asarray(run.sample_arc()).tolist()) for _ in range(200)}
    arcs = [np.array(a, np.int32) for a in sorted(arcs)[:20]]
    assert len(arcs) == 20
    for arc in arcs:
        task.train_step(arc)
        task.reward(arc)
    assert task._train_fn.experimental_get_tracing_count() == 1
    # Rewards (micro: with dropout on, --child_reward_dropout, a tensor argument), evaluation and
    # derivation scores share one compiled forward pass.
    assert task._batch_eval_fn.experimental_get_tracing_count() == 1
    for arc in arcs[:2]:
        task.evaluate("valid", lambda arc=arc: arc, max_batches=1)
    assert task.reward_bn == "batch"  # both spaces' default
    assert task._batch_eval_fn.experimental_get_tracing_count() == 1
    assert task._eval_fn.experimental_get_tracing_count() == 0
    sample = run.strategy.controller.sample(2)
    for _ in range(3):
        run.strategy.reinforce.update(np.asarray(sample.tokens), np.array([0.5, 0.25], np.float32))
    assert run.strategy.reinforce._update_function.experimental_get_tracing_count() == 1
    assert run.strategy.controller.num_traces["sample"] == 1


def _traced_functions(obj):
    """(name, tf.function) of every compiled function held in an attribute of ``obj``."""
    import tensorflow as tf

    found = []
    for name, value in vars(obj).items():
        if isinstance(value, tf.types.experimental.PolymorphicFunction):
            found.append((f"{type(obj).__name__}.{name}", value))
    return found


@pytest.mark.parametrize("space", ["macro", pytest.param("micro", marks=pytest.mark.slow), "micro_compiled"])
def test_a_smoke_search_with_derivation_traces_each_function_once(tmp_path, embedded_data, tiny_config, space):
    """Child steps, rewards, evaluation and derivation: no step function is traced twice, and the
    forward pass of rewards, evaluation and derivation scores is one trace (also with the micro
    child's switches compiled once: --child_compiled_switches)."""
    config = tiny_config(tmp_path / "run", space.split("_")[0], derive_num_samples=6, derive_num_batches=2,
                         max_eval_batches=2)
    if space.startswith("micro"):
        config = config.replace(child=dataclasses.replace(config.child, compiled_switches=space == "micro_compiled"))
    run = search_module.SearchRun(config, data=embedded_data)
    run.run()
    task, strategy = run.task, run.strategy
    functions = dict(_traced_functions(task) + _traced_functions(strategy.reinforce))
    counts = {name: fn.experimental_get_tracing_count() for name, fn in functions.items()}
    assert counts.pop("ImageSearchTask._train_fn") == 1
    assert counts.pop("ImageSearchTask._batch_eval_fn") == 1  # rewards, evaluation, derivation
    assert counts.pop("ImageSearchTask._eval_fn") == 0
    assert all(count <= 1 for count in counts.values()), counts
    assert all(count <= 1 for count in strategy.controller.num_traces.values()), strategy.controller.num_traces
    assert json.load(open(os.path.join(run.output_dir, "derived.json")))["num_unique"] >= 2


def test_interrupted_search_resumes_from_its_checkpoint(tmp_path, embedded_data, tiny_config):
    config = tiny_config(tmp_path / "run", num_epochs=2)
    first = search_module.SearchRun(config, data=embedded_data)
    original = first.task.train_step
    calls = []

    def train_step_then_sigterm(arc):
        calls.append(1)
        metrics = original(arc)
        if len(calls) == 6:  # the second step of epoch 2
            os.kill(os.getpid(), signal.SIGTERM)
        return metrics

    first.task.train_step = train_step_then_sigterm
    with pytest.raises(Interrupted, match="SIGTERM.*resume"):
        first.run()
    saved_controller = [np.array(w) for w in first.strategy.controller.get_weights()]
    resumed = search_module.SearchRun(config, data=embedded_data)
    assert resumed.resuming
    assert (resumed.checkpoint["epoch"], resumed.checkpoint["step_in_epoch"]) == (1, 2)
    assert resumed.checkpoint["global_step"] == 6
    for saved, restored in zip(saved_controller, resumed.strategy.controller.get_weights()):
        np.testing.assert_array_equal(saved, restored)
    resumed.run()
    records = [json.loads(line) for line in open(os.path.join(config.run.output_dir, "search_log.jsonl"))]
    assert [r["epoch"] for r in records] == [1, 2]
    assert records[-1]["global_step"] == 8


def test_resumed_run_matches_an_uninterrupted_one(tmp_path, embedded_data, tiny_config):
    plain = tiny_config(tmp_path / "plain", num_epochs=2)
    search_module.search(plain, data=embedded_data)
    split = tiny_config(tmp_path / "split", num_epochs=1)
    search_module.search(split, data=embedded_data)
    longer = split.replace(run=dataclasses.replace(split.run, num_epochs=2))
    search_module.search(longer, data=embedded_data)
    logs = [[json.loads(line) for line in open(os.path.join(c.run.output_dir, "search_log.jsonl"))]
            for c in (plain, split)]
    for a, b in zip(*logs):
        for key in ("child_loss", "mean_reward", "baseline"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_a_micro_search_with_recomputed_activations_is_the_same_search(tmp_path, embedded_data, tiny_config):
    """--child_recompute changes what the backward pass keeps, not what the search computes: same losses,
    rewards and architectures, the same derived architecture; and a run may switch it on when resumed."""
    kept = tiny_config(tmp_path / "kept", "micro", num_epochs=2)
    search_module.search(kept, data=embedded_data)
    first = tiny_config(tmp_path / "recomputed", "micro", num_epochs=1)
    search_module.search(first, data=embedded_data)  # epoch 1 keeps its activations, epoch 2 recomputes
    resumed = first.replace(run=dataclasses.replace(first.run, num_epochs=2),
                            child=dataclasses.replace(first.child, recompute=True))
    search_module.search(resumed, data=embedded_data)
    logs = [[json.loads(line) for line in open(os.path.join(c.run.output_dir, "search_log.jsonl"))]
            for c in (kept, resumed)]
    assert len(logs[0]) == len(logs[1]) == 2
    for a, b in zip(*logs):
        for key in ("child_loss", "mean_reward", "baseline", "valid_accuracy"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-7), key
    derived = [json.load(open(os.path.join(c.run.output_dir, "derived.json"))) for c in (kept, resumed)]
    assert [t["arc"] for t in derived[0]["top"]] == [t["arc"] for t in derived[1]["top"]]
    assert [t["score"] for t in derived[1]["top"]] == pytest.approx([t["score"] for t in derived[0]["top"]], abs=1e-6)
    assert json.load(open(os.path.join(resumed.run.output_dir, "config.json")))["config"]["child"]["recompute"] is True


def test_refuses_an_output_dir_of_another_space(tmp_path, embedded_data, tiny_config):
    config = tiny_config(tmp_path / "run", num_epochs=1)
    search_module.search(config, data=embedded_data)
    other = config.replace(child=dataclasses.replace(config.child, num_layers=4))
    with pytest.raises(OutputDirError, match="child.num_layers: 3 -> 4"):
        search_module.SearchRun(other, data=embedded_data)


def test_nan_loss_stops_with_step_and_architecture(tmp_path, embedded_data, tiny_config):
    config = tiny_config(tmp_path / "run", num_epochs=1)
    run = search_module.SearchRun(config, data=embedded_data)
    run.task.train_step = lambda arc: {"loss": float("nan"), "lr": 0.1}
    with pytest.raises(TrainingError, match=r"epoch 0, step 0 with architecture \d"):
        run.run()
    assert not os.path.exists(os.path.join(config.run.output_dir, "checkpoints", "checkpoint"))


def test_rederivation_from_the_output_dir(tmp_path, embedded_data, tiny_config):
    config = tiny_config(tmp_path / "run", num_epochs=1)
    search_module.search(config, data=embedded_data)
    derived = derive(config.run.output_dir, num_samples=6, top_k=3)
    assert derived["num_samples"] == 6 and len(derived["top"]) <= 3
    with pytest.raises(OutputDirError, match="config.json is missing"):
        derive(str(tmp_path / "nothing"))
    # A damaged checkpoint index stops the search and the derivation; it never restarts from epoch 0.
    out = config.run.output_dir
    log_before = open(os.path.join(out, "search_log.jsonl")).read()
    with open(os.path.join(out, "checkpoints", "checkpoint"), "w") as handle:
        handle.write("damaged")
    longer = config.replace(run=dataclasses.replace(config.run, num_epochs=2))
    with pytest.raises(CheckpointError, match="checkpoint index .* is unreadable"):
        search_module.SearchRun(longer, data=embedded_data)
    with pytest.raises(CheckpointError, match="unreadable"):
        derive(out)
    assert open(os.path.join(out, "search_log.jsonl")).read() == log_before
