"""First-order DARTS (``--search_strategy=darts``): the children's mixture mode, the alternation, derivation,
resume and bad input."""

import dataclasses
import json
import os
import signal

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas.config import ChildConfig, Config, DataConfig, RunConfig, SearchConfig
from enas.errors import ConfigError
from enas.spaces import get_space
from enas.strategies import make_strategy
from enas.strategies.darts import one_hot_weights
from enas.trainers import search as search_module
from enas.trainers.run_dir import Interrupted

TOLERANCE = 1e-5
IMAGE_CHILDREN = {
    "macro": ChildConfig(search_for="macro", num_layers=3, out_filters=4, num_branches=6, keep_prob=1.0),
    "micro": ChildConfig(search_for="micro", num_layers=1, num_cells=2, out_filters=4, num_branches=5,
                         keep_prob=1.0, use_aux_heads=True),
    "macro_concat": ChildConfig(search_for="macro", num_layers=3, out_filters=4, num_branches=6, keep_prob=1.0,
                                skip_mode="concat"),
}
RNN_CHILD = ChildConfig(search_for="rnn", num_layers=4, num_branches=4, hidden_size=8, embed_keep=1.0,
                        input_keep=1.0, hidden_keep=1.0, output_keep=1.0)


def _darts(config, **search):
    return dataclasses.replace(config, search=SearchConfig(strategy="darts", darts_arch_lr=0.01, **search))


def _max_difference(a, b):
    a = a[0] if isinstance(a, (list, tuple)) else a
    b = b[0] if isinstance(b, (list, tuple)) else b
    return float(tf.reduce_max(tf.abs(a - b)))


@pytest.mark.parametrize("child_name", ["macro", "micro", "macro_concat"])
def test_one_hot_mixture_equals_the_single_path(child_name):
    keras.utils.set_random_seed(3)
    child = IMAGE_CHILDREN[child_name]
    space_name = child.search_for
    space = get_space(space_name)
    decisions = space.controller_space(child)
    model = space.build_shared_child(child, 10, (8, 8, 1))
    images = tf.random.normal([4, 8, 8, 1])
    single = tf.function(lambda x, arc, training: model(x, arc, training=training), reduce_retracing=True)
    mixture = tf.function(lambda x, w, training: model.mixture_call(x, w, training=training), reduce_retracing=True)
    for seed in range(3):
        tokens = decisions.random_tokens(1, seed=seed)[0]
        weights = tf.constant(one_hot_weights(tokens, decisions.num_choices))
        # training=True: batch statistics (and the micro aux head); False: macro's moving statistics,
        # micro's batch statistics (its search cells have no other).
        for training in (True, False):
            reference = single(images, tf.constant(tokens, tf.int32), training)
            assert _max_difference(reference, mixture(images, weights, training)) < TOLERANCE, (seed, training)
            if training and space_name == "micro":
                assert _max_difference(reference[1], mixture(images, weights, training)[1]) < TOLERANCE


def test_one_hot_mixture_equals_the_single_path_rnn():
    keras.utils.set_random_seed(3)
    space = get_space("rnn")
    decisions = space.controller_space(RNN_CHILD)
    model = space.build_shared_child(RNN_CHILD, 30, None)
    inputs = tf.random.uniform([3, 5], 0, 30, tf.int32)
    state = tf.random.normal([3, 8])
    for seed in range(4):
        tokens = decisions.random_tokens(1, seed=seed)[0]
        weights = tf.constant(one_hot_weights(tokens, decisions.num_choices))
        for training in (True, False):
            logits, new_state = model(inputs, tf.constant(tokens, tf.int32), state, training=training)
            mixed, mixed_state = model.mixture_call(inputs, weights, state, training=training)
            assert _max_difference(logits, mixed) < TOLERANCE and _max_difference(new_state, mixed_state) < TOLERANCE
        penalty = [float(tf.reduce_sum(tf.square(w))) for w in model.decayed_weights(tf.constant(tokens))]
        mixed_penalty = [float(tf.reduce_sum(tf.square(w))) for w in model.mixture_decayed_weights(weights)]
        np.testing.assert_allclose(mixed_penalty, penalty, rtol=1e-5)


def test_each_step_trains_only_its_own_parameters(tmp_path, embedded_data, tiny_config):
    run = search_module.SearchRun(_darts(tiny_config(tmp_path / "run", num_epochs=1)), data=embedded_data)
    task, strategy = run.task, run.strategy
    task.begin_epoch(0)
    child_before = [v.numpy().copy() for v in task.model.variables]
    logits_before = strategy.state.logits.numpy().copy()
    task.mixture_train_step(strategy.weights())  # the child's step: the logits are not touched
    np.testing.assert_array_equal(strategy.state.logits.numpy(), logits_before)
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(child_before, task.model.trainable_variables))
    child_before = [v.numpy().copy() for v in task.model.variables]  # moving statistics included
    batches = int(task.reward_batches.numpy())
    strategy.arch_step(task)  # the architecture's step: a validation batch, the child is not touched
    for before, variable in zip(child_before, task.model.variables):
        np.testing.assert_array_equal(before, variable.numpy())
    assert int(task.reward_batches.numpy()) == batches + 1
    changed = strategy.state.logits.numpy() != logits_before
    assert changed[strategy.mask].all() and not changed[~strategy.mask].any()  # padding stays 0


@pytest.mark.parametrize("space_name", ["macro", "micro", "rnn"])
def test_derivation_yields_the_argmax_and_valid_architectures(space_name, tmp_path):
    child = RNN_CHILD if space_name == "rnn" else IMAGE_CHILDREN[space_name]
    config = Config(child=child, run=RunConfig(output_dir=str(tmp_path), seed=0),
                    search=SearchConfig(strategy="darts"))
    space = get_space(space_name)
    strategy = make_strategy(space, config)
    rng = np.random.default_rng(0)
    for trial in range(5):
        # Random logits everywhere, padding included: only valid choices may come out.
        strategy.state.logits.assign(rng.normal(0.0, 3.0, strategy.state.logits.shape).astype(np.float32))
        logits = strategy.state.logits.numpy().copy()
        argmax = strategy.argmax_tokens()
        expected = [int(np.argmax(row[:n])) for row, n in zip(logits, strategy.num_choices)]
        assert argmax.tolist() == expected
        candidates = strategy.candidates(20, seed=trial)
        assert candidates[0][0].tolist() == expected and strategy.extra_candidates()["argmax"].tolist() == expected
        assert len(candidates) == 20
        for tokens, log_prob in candidates:
            space.arc_from_tokens(tokens, child)  # raises ArchitectureError for an invalid one
            assert np.isfinite(log_prob) and log_prob <= 0
        again = strategy.candidates(20, seed=trial)
        assert all((a == b).all() for (a, _), (b, _) in zip(candidates, again))
        np.testing.assert_array_equal(strategy.state.logits.numpy(), logits)
    assert int(strategy.state.optimizer.iterations.numpy()) == 0  # derivation trains nothing
    strategy.state.logits.assign(tf.zeros_like(strategy.state.logits))
    assert strategy.policy_entropy() == pytest.approx(float(np.mean(np.log(strategy.num_choices))))


@pytest.mark.parametrize("space_name", ["macro", pytest.param("micro", marks=pytest.mark.slow)])
def test_darts_smoke_search(space_name, tmp_path, embedded_data, tiny_config):
    config = _darts(tiny_config(tmp_path / "run", space_name, num_epochs=1, max_steps_per_epoch=3))
    run = search_module.SearchRun(config, data=embedded_data)
    derived = run.run()
    on_disk = json.load(open(os.path.join(config.run.output_dir, "derived.json")))
    assert on_disk["strategy"] == "darts" and on_disk["best"]["arc"] == derived["best"]["arc"]
    assert on_disk["argmax"]["arc"] == " ".join(str(t) for t in run.strategy.argmax_tokens())
    record = json.loads(open(os.path.join(config.run.output_dir, "search_log.jsonl")).readline())
    assert record["arch_updates"] == 3 and np.isfinite(record["arch_valid_loss"]) and "policy_entropy" in record
    # Each mixture function traced once; the single-path train step is never used.
    assert run.task._mixture_train_fn.experimental_get_tracing_count() == 1
    assert run.task._mixture_valid_fn.experimental_get_tracing_count() == 1
    assert run.task._train_fn.experimental_get_tracing_count() == 0


@pytest.mark.slow
def test_darts_smoke_search_rnn(tmp_path):
    from enas.data.ptb import write_synthetic_ptb

    data_dir = write_synthetic_ptb(str(tmp_path / "ptb"), vocab_size=24, lines=(60, 20, 20))
    child = dataclasses.replace(RNN_CHILD, lr=1.0, grad_bound=0.25)
    config = Config(data=DataConfig(dataset="ptb", data_dir=data_dir, batch_size=4, eval_batch_size=3, bptt_steps=5),
                    child=child, search=SearchConfig(strategy="darts", darts_arch_lr=0.01),
                    run=RunConfig(output_dir=str(tmp_path / "run"), num_epochs=1, max_steps_per_epoch=3,
                                  max_eval_batches=1, derive_num_samples=4, derive_top_k=2, derive_num_batches=1,
                                  progress=False, seed=1))
    run = search_module.SearchRun(config)
    derived = run.run()
    assert derived["strategy"] == "darts" and "argmax" in derived
    assert run.task._mixture_train_fn.experimental_get_tracing_count() == 1
    assert run.task._mixture_valid_fn.experimental_get_tracing_count() == 1


def test_interrupted_darts_search_resumes_to_the_uninterrupted_logits(tmp_path, embedded_data, tiny_config):
    plain = _darts(tiny_config(tmp_path / "plain", num_epochs=2, max_steps_per_epoch=2))
    uninterrupted = search_module.SearchRun(plain, data=embedded_data)
    uninterrupted.run()

    config = _darts(tiny_config(tmp_path / "split", num_epochs=2, max_steps_per_epoch=2))
    first = search_module.SearchRun(config, data=embedded_data)
    original, calls = first.strategy.child_step, []

    def child_step_then_sigterm(task):
        calls.append(1)
        result = original(task)
        if len(calls) == 3:  # the first step of epoch 2
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    first.strategy.child_step = child_step_then_sigterm
    with pytest.raises(Interrupted, match="SIGTERM.*resume"):
        first.run()
    resumed = search_module.SearchRun(config, data=embedded_data)
    assert (resumed.checkpoint["epoch"], resumed.checkpoint["step_in_epoch"]) == (1, 1)
    np.testing.assert_array_equal(resumed.strategy.state.logits.numpy(), first.strategy.state.logits.numpy())
    resumed.run()
    np.testing.assert_allclose(resumed.strategy.state.logits.numpy(), uninterrupted.strategy.state.logits.numpy(),
                               rtol=1e-5, atol=1e-7)
    assert int(resumed.strategy.state.optimizer.iterations.numpy()) == 4
    logs = [[json.loads(line) for line in open(os.path.join(c.run.output_dir, "search_log.jsonl"))]
            for c in (plain, config)]
    for a, b in zip(*logs):
        for key in ("child_loss", "arch_valid_loss", "policy_entropy"):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


def test_darts_refuses_a_space_without_a_mixture_mode(tmp_path, embedded_data, tiny_config, monkeypatch, capsys):
    from enas import spaces
    from enas.bin import search as search_binary

    plain = dataclasses.replace(get_space("macro"), name="no_mixture_test", supports_mixture=False)
    monkeypatch.setitem(spaces._REGISTRY, "no_mixture_test", plain)  # pylint: disable=protected-access
    config = _darts(tiny_config(tmp_path / "lib"))
    config = config.replace(child=dataclasses.replace(config.child, search_for="no_mixture_test"))
    with pytest.raises(ConfigError, match="no_mixture_test space's shared child has no mixture mode"):
        search_module.SearchRun(config, data=embedded_data)
    assert not os.path.exists(tmp_path / "lib")

    out = tmp_path / "bin"
    with pytest.raises(SystemExit) as stop:
        search_binary.run(["enas-search", "--baseline=cifar10_macro_search_smoke", "--search_for=no_mixture_test",
                           "--search_strategy=darts", f"--output_dir={out}"])
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert stop.value.code == 2 and len(errors) == 1 and "has no mixture mode" in errors[0], stderr
    assert "Traceback" not in stderr and not os.path.exists(out)
