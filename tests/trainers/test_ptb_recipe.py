"""The Penn Treebank recipe follows enas_lm (issue 11): dropouts, weight keying, regularisers, ASGD
trigger, controller settings per space, evaluation batch sizes and the baseline's parameter count."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from enas import flags as enas_flags
from enas.spaces import rnn
from enas.spaces.rnn.arc import RnnArc
from enas.config import ChildConfig, Config, ControllerConfig, DataConfig, RunConfig
from enas.controller import Controller, Reinforce, SearchSpace
from enas.data.ptb import load_ptb, write_synthetic_ptb
from enas.errors import ConfigError
from enas.spaces import get_space
from enas.trainers.language_task import LanguageFinalTask, LanguageSearchTask

VOCAB, HIDDEN, NODES = 16, 8, 4
ARC = RnnArc.from_string("0 2 1 0 1 3 2 1")
KEEPS = ("embed_keep", "embedding_keep", "input_keep", "hidden_keep", "output_keep")


def _baseline(name, *extra):
    fv = flags.FlagValues()
    enas_flags.define_flags(fv)
    fv(["prog", f"--flagfile={enas_flags.baseline_path(name)}", "--output_dir=unused", *extra])
    return enas_flags.configs_from_flags(fv)


def _child(**values):
    base = dict(search_for="rnn", num_layers=NODES, num_branches=4, hidden_size=HIDDEN)
    base.update(values)
    return ChildConfig(**base)


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_synthetic_ptb(str(tmp_path_factory.mktemp("ptb")), vocab_size=VOCAB, lines=(80, 30, 30))


def _task_config(data_dir, **child):
    values = dict(lr=0.0, grad_bound=0.0, l2_reg=0.0, slowness_reg=0.0)
    values.update(child)
    return Config(data=DataConfig(dataset="ptb", data_dir=data_dir, batch_size=3, eval_batch_size=2,
                                  bptt_steps=5, seed=0),
                  child=_child(**values), run=RunConfig(output_dir="unused", seed=0))


# --- item 1: the search child's five dropouts --------------------------------------------------
@pytest.mark.parametrize("keep", KEEPS)
def test_search_child_applies_each_dropout_in_training_and_none_at_evaluation(keep):
    keras.utils.set_random_seed(0)
    tokens = np.random.default_rng(0).integers(0, VOCAB, (3, 5)).astype(np.int32)
    arc = np.asarray(ARC.to_tokens(), np.int32)
    plain = rnn.build_shared_child(_child(), VOCAB)
    dropped = rnn.build_shared_child(_child(**{keep: 0.5}), VOCAB)
    rng = np.random.default_rng(1)  # larger weights than the init, so that every mask shows
    for source, target in zip(plain.weights, dropped.weights):
        value = rng.uniform(-0.5, 0.5, source.shape).astype(np.float32)
        source.assign(value)
        target.assign(value)
    reference = np.asarray(plain(tokens, arc, None, training=True)[0])
    np.testing.assert_allclose(plain(tokens, arc, None, training=False)[0], reference, rtol=1e-6)
    np.testing.assert_allclose(dropped(tokens, arc, None, training=False)[0], reference, rtol=1e-6)
    assert np.abs(np.asarray(dropped(tokens, arc, None, training=True)[0]) - reference).max() > 1e-2


def test_search_baseline_carries_enas_lm_drop_rates_and_inits():
    config = _baseline("ptb_search")
    child = config.child
    drops = [round(1 - getattr(child, keep), 6) for keep in KEEPS]
    assert drops == [0.10, 0.20, 0.75, 0.25, 0.75]  # drop_e, drop_i, drop_x, drop_l, drop_o
    assert (child.init_range, child.slowness_reg, child.activation_reg) == (0.04, 1.0, 0.0)
    assert config.data.eval_batch_size == 128 and config.data.num_classes == 10000
    model = rnn.build_shared_child(_child(), VOCAB)  # unset init range: enas_lm's 0.04 for search
    assert model.init_range == 0.04 and np.abs(model.node_bank.numpy()).max() <= 0.04


# --- item 2: one matrix per (node, activation, previous node) -----------------------------------
def test_shared_weights_differ_per_previous_node():
    model = rnn.build_shared_child(_child(), VOCAB)
    assert model.node_bank.shape[0] == 4 * (1 + 2 + 3 + 4)  # enas_lm: node j owns [F, j, H, 2H]
    base = ARC.to_tokens()
    other = list(base)
    other[4] = 0  # node 3 reads node 0 instead of node 2, same activation
    weights = model.node_weights(np.asarray(base, np.int32)).numpy()
    moved = model.node_weights(np.asarray(other, np.int32)).numpy()
    assert np.abs(weights[2] - moved[2]).max() > 0
    np.testing.assert_array_equal(np.delete(weights, 2, axis=0), np.delete(moved, 2, axis=0))
    rows = {model.bank_row(j, f, p) for j in range(1, NODES + 1) for f in range(4) for p in range(j)}
    assert rows == set(range(model.node_bank.shape[0]))  # every (node, activation, prev) has its own row


# --- item 4: final training -----------------------------------------------------------------------
def test_activation_regulariser_enters_the_loss_with_its_weight(data_dir):
    config = _task_config(data_dir)
    data = load_ptb(config.data)
    totals = {}
    for alpha in (0.0, 0.7):
        keras.utils.set_random_seed(0)
        task = LanguageFinalTask(get_space("rnn"), ARC, config.replace(
            child=_child(lr=0.0, grad_bound=0.0, l2_reg=0.0, activation_reg=alpha)), data)
        task.begin_epoch(0)
        totals[alpha] = task.train_step()
    inputs = data.train[:, :5]
    _, _, hiddens = task.model(inputs, None, training=True, return_hiddens=True)
    expected = 0.7 * float(np.mean(np.square(hiddens)))
    assert totals[0.0]["total_loss"] == pytest.approx(totals[0.0]["loss"], abs=1e-6)
    assert totals[0.7]["total_loss"] - totals[0.7]["loss"] == pytest.approx(expected, rel=1e-4)


def test_fixed_child_decays_every_weight_embedding_included():
    model = rnn.build_fixed_child(ARC, _child(), VOCAB)
    decayed = {id(w) for w in model.decayed_weights()}
    assert decayed == {id(w) for w in model.trainable_weights}
    assert any(w is model.embedding for w in model.decayed_weights())


@pytest.mark.parametrize("history, fires_at", [
    ((50, 51, 52, 53, 54), 3),       # worse than the best before the last 2: the 4th evaluation
    ((50, 49, 48, 47, 46), None),    # always improving: never
    ((50, 51, 52, 49, 50, 51), 5),   # a new best resets the count
    ((50, 51, 50.5), None),          # not yet more than 2 earlier evaluations
])
def test_asgd_trigger_fires_after_the_configured_non_improving_evaluations(data_dir, history, fires_at):
    config = _task_config(data_dir, average_patience=2)
    task = LanguageFinalTask(get_space("rnn"), ARC, config)
    started = []
    for index, ppl in enumerate(history):
        task.observe_validation({"ppl": ppl})
        started.append(bool(task.averaging.numpy()))
    expected = [fires_at is not None and index >= fires_at for index in range(len(history))]
    assert started == expected
    task.begin_epoch(0)
    task.train_step()
    assert int(task.average_count.numpy()) == (1 if fires_at is not None else 0)


def test_asgd_trigger_off_with_zero_patience(data_dir):
    task = LanguageFinalTask(get_space("rnn"), ARC, _task_config(data_dir, average_patience=0))
    for ppl in (10, 20, 30, 40, 50):
        task.observe_validation({"ppl": ppl})
    assert not bool(task.averaging.numpy())


def test_final_baseline_carries_enas_lm_values(data_dir):
    config = _baseline("ptb_final")
    child = config.child
    assert [round(1 - getattr(child, keep), 6) for keep in KEEPS] == [0.125, 0.175, 0.725, 0.225, 0.75]
    assert (child.activation_reg, child.init_range, child.average_patience) == (0.7, 0.05, 10)
    assert (child.l2_reg, child.slowness_reg, child.hidden_size) == (8e-7, 0.0, 800)
    assert (config.data.batch_size, config.data.eval_batch_size, config.data.test_batch_size) == (64, 64, 1)
    small = load_ptb(DataConfig(dataset="ptb", data_dir=data_dir, batch_size=3, eval_batch_size=2,
                                test_batch_size=1, bptt_steps=5))
    assert (small.valid.shape[0], small.test.shape[0]) == (2, 1)


# --- item 3: controller settings per space ---------------------------------------------------------
def test_controller_defaults_follow_the_space():
    rnn_config = Config(child=ChildConfig(search_for="rnn")).controller
    assert (rnn_config.init_range, rnn_config.adam_beta1, rnn_config.adam_epsilon) == (0.01, 0.9, 1e-8)
    for space in ("macro", "micro"):
        cifar = Config(child=ChildConfig(search_for=space)).controller
        assert (cifar.init_range, cifar.adam_beta1, cifar.adam_epsilon) == (0.1, 0.0, 1e-3)
    assert Config.from_dict(Config(child=ChildConfig(search_for="rnn")).to_dict()).controller == rnn_config
    controller = Controller.from_config(SearchSpace.rnn(NODES), ControllerConfig(seed=1))
    assert controller.init_range == 0.01
    assert max(float(np.abs(w.numpy()).max()) for w in controller.trainable_weights) <= 0.01
    reinforce = Reinforce.from_config(controller, ControllerConfig())
    assert float(reinforce.optimizer.beta_1) == 0.9 and float(reinforce.optimizer.epsilon) == 1e-8
    macro = Controller.from_config(SearchSpace.macro(2), ControllerConfig(seed=1))
    assert macro.init_range == 0.1
    assert float(Reinforce.from_config(macro, ControllerConfig()).optimizer.beta_1) == 0.0
    explicit = _baseline("ptb_search", "--controller_init_range=0.05", "--controller_adam_beta1=0.5")
    assert (explicit.controller.init_range, explicit.controller.adam_beta1) == (0.05, 0.5)
    with pytest.raises(ConfigError, match="controller_adam_beta1"):
        _baseline("ptb_search", "--controller_adam_beta1=1.5")


# --- item 5: the baseline's parameter count, and vocabulary checks -------------------------------
def test_ptb_final_parameter_count_at_the_baseline_configuration():
    config = _baseline("ptb_final")
    arc = rnn.RnnArc.from_string(config.child.fixed_arc)
    assert rnn.num_fixed_params(arc.num_nodes, config.child.hidden_size, config.data.num_classes) == 20_800_000
    model = rnn.build_fixed_child(arc, config.child, config.data.num_classes)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 20_800_000


def test_a_wrong_vocabulary_size_is_refused(data_dir):
    config = _task_config(data_dir)
    bad = config.replace(data=DataConfig(dataset="ptb", data_dir=data_dir, batch_size=3, eval_batch_size=2,
                                         bptt_steps=5, num_classes=10000))
    with pytest.raises(ConfigError, match=rf"--num_classes=10000.*{VOCAB} words.*--num_classes={VOCAB}"):
        LanguageSearchTask(get_space("rnn"), bad)
    tf.keras.backend.clear_session()
