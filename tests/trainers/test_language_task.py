"""Tests of the PTB language-model tasks on a tiny synthetic corpus."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas.spaces.rnn.arc import RnnArc, random_arc
from enas.config import ChildConfig, Config, DataConfig, RunConfig
from enas.data.ptb import load_ptb, window_batch, write_synthetic_ptb
from enas.errors import ArchitectureError, ConfigError
from enas.spaces import get_space
from enas.trainers.language_task import LanguageFinalTask, LanguageSearchTask

NODES, VOCAB = 4, 24
ARC = RnnArc.from_string("0 2 1 0 1 3 2 1")


def _config(data_dir, variable_bptt=True, **child):
    child_values = dict(search_for="rnn", num_layers=NODES, num_branches=4, hidden_size=12, lr=2.0,
                        grad_bound=0.25, l2_reg=1e-5, slowness_reg=1e-3, embed_keep=0.9, input_keep=0.8,
                        hidden_keep=0.8, output_keep=0.8)
    child_values.update(child)
    return Config(data=DataConfig(dataset="ptb", data_dir=data_dir, batch_size=4, eval_batch_size=3,
                                  bptt_steps=6, variable_bptt=variable_bptt, seed=0),
                  child=ChildConfig(**child_values), run=RunConfig(output_dir="unused", seed=0))


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_synthetic_ptb(str(tmp_path_factory.mktemp("ptb")), vocab_size=VOCAB, lines=(120, 30, 30))


@pytest.fixture(scope="module")
def search_task(data_dir):
    keras.utils.set_random_seed(0)
    return LanguageSearchTask(get_space("rnn"), _config(data_dir))


@pytest.fixture(scope="module")
def plain_task(data_dir):
    """No dropout, no regularisers, lr 0: the forward pass is a pure function of the state."""
    keras.utils.set_random_seed(0)
    config = _config(data_dir, variable_bptt=False, lr=0.0, l2_reg=0.0, slowness_reg=0.0, grad_bound=0.0,
                     embed_keep=1.0, input_keep=1.0, hidden_keep=1.0, output_keep=1.0)
    return LanguageSearchTask(get_space("rnn"), config)


def test_search_task_mini_run(search_task):
    task, rng = search_task, np.random.default_rng(0)
    assert task.data.vocab_size == VOCAB
    steps = task.steps_per_epoch()
    assert steps == math.ceil((task.data.train.shape[1] - 1) / 6)
    losses = []
    for epoch in range(2):
        task.begin_epoch(epoch)
        for _ in range(steps):
            metrics = task.train_step(random_arc(NODES, rng=rng).to_tokens())
            assert set(metrics) >= {"loss", "ppl", "lr", "grad_norm"}
            assert metrics["lr"] == pytest.approx(2.0 * metrics["bptt"] / 6)  # variable windows scale the lr
            losses.append(metrics["loss"])
    assert all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-steps:]) < np.mean(losses[:steps])  # the random-walk corpus is learnable
    # One trace of each step function for every architecture and window length.
    assert task._train_fn.experimental_get_tracing_count() == 1
    assert 80 / VOCAB < task.reward(ARC.to_tokens()) < 80  # better than uniform after two epochs
    result = task.evaluate("valid", lambda: random_arc(NODES, rng=rng))
    assert set(result) == {"loss", "ppl"} and result["ppl"] == pytest.approx(math.exp(result["loss"]))
    assert result["ppl"] < VOCAB
    assert task.evaluate("test", lambda: ARC, max_batches=2)["ppl"] > 1
    score = task.score(ARC, num_batches=2)
    assert score == pytest.approx(task.score(tf.constant(ARC.to_tokens()), num_batches=2))
    assert task._eval_fn.experimental_get_tracing_count() == 1
    assert set(task.trackables()) == {"child", "child_optimizer", "child_train_state", "reward_cursor"}


def test_bad_architectures_raise_instead_of_clipping(search_task):
    search_task.begin_epoch(0)
    with pytest.raises(ArchitectureError, match=r"node 3 prev \(token 4\) is 3"):
        search_task.train_step([0, 0, 1, 0, 3, 0, 0, 0])
    with pytest.raises(ArchitectureError, match="child_num_layers"):
        search_task.reward([0, 0])
    with pytest.raises(ArchitectureError, match=r"node 1 func \(token 1\) is 9"):
        search_task.score([0, 9, 0, 0, 0, 0, 0, 0], 1)


def test_hidden_state_carried_across_batches_and_reset_at_epoch_start(plain_task):
    task, tokens = plain_task, tf.constant(ARC.to_tokens(), tf.int32)
    task.begin_epoch(0)
    assert not np.any(task.train_state.numpy())
    task.train_step(ARC)
    task.train_step(ARC)
    state = tf.zeros([4, 12])
    for window in task._windows[:2]:
        inputs, _ = window_batch(task.data.train, window)
        _, state = task.model(inputs, tokens, state)
    np.testing.assert_allclose(task.train_state.numpy(), state.numpy(), rtol=1e-5, atol=1e-6)
    task.begin_epoch(0, skip_steps=2)  # resuming mid-epoch keeps the (checkpointed) state
    np.testing.assert_allclose(task.train_state.numpy(), state.numpy(), rtol=1e-5, atol=1e-6)
    assert task._cursor == 2
    task.begin_epoch(1)
    assert not np.any(task.train_state.numpy())


def test_reward_starts_from_zero_state_on_the_next_valid_window(plain_task):
    task, tokens = plain_task, tf.constant(ARC.to_tokens(), tf.int32)
    start = int(task.reward_cursor.numpy())
    rewards = [task.reward(ARC) for _ in range(2)]
    assert int(task.reward_cursor.numpy()) == start + 2
    for offset, reward in enumerate(rewards):
        inputs, targets = window_batch(task._reward_data, task._reward_windows[start + offset])
        assert inputs.shape == (4, 6)  # batch_size streams, bptt_steps tokens
        logits, _ = task.model(inputs, tokens, tf.zeros([4, 12]))
        loss = np.mean(keras.ops.sparse_categorical_crossentropy(targets, logits, from_logits=True))
        assert reward == pytest.approx(80 / math.exp(loss), rel=1e-5)


def test_jit_compile_is_rejected(data_dir):
    config = _config(data_dir)
    config = config.replace(run=RunConfig(output_dir="unused", jit_compile=True))
    with pytest.raises(ConfigError, match="jit_compile"):
        LanguageSearchTask(get_space("rnn"), config)


def test_uniform_model_perplexity_is_the_vocabulary_size(data_dir):
    keras.utils.set_random_seed(0)
    task = LanguageSearchTask(get_space("rnn"), _config(data_dir))
    task.model.embedding.assign(np.zeros(task.model.embedding.shape, np.float32))  # all-zero logits
    assert task.evaluate("valid", lambda: ARC)["ppl"] == pytest.approx(VOCAB, rel=1e-5)
    assert task.score(ARC, 1) == pytest.approx(80 / VOCAB, rel=1e-5)


def test_train_step_updates_only_the_sampled_activation_rows(plain_task, data_dir):
    keras.utils.set_random_seed(0)
    config = _config(data_dir, variable_bptt=False, l2_reg=1e-3, embed_keep=1.0, input_keep=1.0,
                     hidden_keep=1.0, output_keep=1.0)
    task = LanguageSearchTask(get_space("rnn"), config, data=plain_task.data)
    before = task.model.node_bank.numpy()
    task.begin_epoch(0)
    task.train_step(ARC)
    changed = np.abs(task.model.node_bank.numpy() - before).sum(axis=(1, 2)) > 0
    chosen = [task.model.bank_row(node + 1, func, prev) for node, (prev, func) in enumerate(zip(ARC.prevs, ARC.funcs))]
    assert [int(i) for i in np.flatnonzero(changed)] == chosen


def test_final_task_trains_averages_evaluates_and_exports(data_dir, tmp_path):
    keras.utils.set_random_seed(0)
    config = _config(data_dir)
    data = load_ptb(config.data)
    task = LanguageFinalTask(get_space("rnn"), ARC, config, data, average_patience=1)
    assert task.model.count_params() == VOCAB * 12 + 24 * 24 + NODES * 12 * 24
    task.begin_epoch(0)
    first = [task.train_step() for _ in range(3)]
    assert int(task.average_count.numpy()) == 0  # no averaging before the trigger
    for ppl in (50.0, 60.0, 55.0):  # 55 is worse than the best before the last evaluation: start
        task.observe_validation({"ppl": ppl})
    task.begin_epoch(1)
    for _ in range(3):
        task.train_step()
    assert int(task.average_count.numpy()) == 3
    assert task._train_fn.experimental_get_tracing_count() == 1
    assert all(math.isfinite(m["loss"]) for m in first)
    current = [v.numpy() for v in task.model.trainable_variables]
    valid, test = task.evaluate("valid"), task.evaluate("test", max_batches=2)
    assert 1 < valid["ppl"] < 2 * VOCAB and 1 < test["ppl"] < 2 * VOCAB
    for variable, value in zip(task.model.trainable_variables, current):  # averages swapped back out
        np.testing.assert_array_equal(variable.numpy(), value)
    path = str(tmp_path / "final.keras")
    task.export(path)
    loaded = keras.saving.load_model(path)
    inputs = data.valid[:, :6]
    expected = task._with_averages(lambda: task.model(inputs, None)[0].numpy())
    np.testing.assert_array_equal(loaded(inputs, None)[0], expected)
    # The average is the mean of the weights after each of the three averaged steps, not the last ones.
    assert np.abs(expected - task.model(inputs, None)[0].numpy()).max() > 0
    checkpoint = tf.train.Checkpoint(**task.trackables())
    checkpoint.restore(checkpoint.save(str(tmp_path / "ckpt" / "final")))
