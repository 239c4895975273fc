"""Reinforce: baseline EMA, entropy bonus, loss, clipping, skip KL, input checks, checkpoints."""

import numpy as np
import pytest
import tensorflow as tf

from enas.config import ControllerConfig
from enas.controller import Controller, Reinforce, RewardError, SearchSpace
from enas.errors import ArchitectureError, ConfigError, EnasError


def _pair(space=None, seed=0, **kwargs):
    controller = Controller(space or SearchSpace.macro(4), lstm_size=8, seed=seed)
    return controller, Reinforce(controller, **kwargs)


def _state(controller, trainer):
    return ([v.numpy().copy() for v in controller.weights]
            + [v.numpy().copy() for v in trainer.optimizer.variables]
            + [trainer.baseline.numpy(), trainer.step.numpy()])


def test_baseline_is_the_per_sample_ema_of_rewards():
    controller, trainer = _pair(baseline_decay=0.9, initial_baseline=0.2)
    baseline = 0.2
    for rewards in ([0.5, 0.7, 0.1], [1.0], [0.3, 0.3]):
        tokens = controller.sample(len(rewards)).tokens
        metrics = trainer.update(tokens, rewards)
        for reward in rewards:
            baseline = baseline - (1 - 0.9) * (baseline - reward)
        assert metrics["baseline"] == pytest.approx(baseline, rel=1e-5)
        assert float(trainer.baseline.numpy()) == pytest.approx(baseline, rel=1e-5)
    assert int(trainer.step.numpy()) == 3


def test_entropy_bonus_is_added_to_the_reward_and_loss_uses_the_old_baseline():
    controller, trainer = _pair(baseline_decay=0.5, entropy_weight=0.01, skip_weight=0.3,
                                initial_baseline=0.1)
    tokens = controller.sample(4, seed=3).tokens
    scores = controller.log_prob(tokens).numpy()
    rewards = np.array([0.2, 0.4, 0.6, 0.8])
    metrics = trainer.update(tokens, rewards)
    shaped = rewards + 0.01 * scores.entropy
    assert metrics["reward"] == pytest.approx(rewards.mean(), rel=1e-6)
    assert metrics["reward_with_entropy"] == pytest.approx(shaped.mean(), rel=1e-5)
    assert metrics["entropy"] == pytest.approx(scores.entropy.mean(), rel=1e-5)
    expected_loss = np.mean(-(shaped - 0.1) * scores.log_prob + 0.3 * scores.skip_penalty)
    assert metrics["loss"] == pytest.approx(expected_loss, rel=1e-4)
    baseline = 0.1
    for reward in shaped:
        baseline -= 0.5 * (baseline - reward)
    assert metrics["baseline"] == pytest.approx(baseline, rel=1e-5)
    assert set(metrics) == {"loss", "baseline", "reward", "reward_with_entropy", "entropy",
                            "log_prob", "skip_rate", "skip_penalty", "grad_norm"}
    assert all(isinstance(value, float) for value in metrics.values())


def test_gradient_is_averaged_over_the_batch():
    controller, trainer = _pair(learning_rate=1e-3)
    tokens = controller.sample(2, seed=5).tokens
    rewards = tf.constant([1.0, -0.5])
    variables = controller.trainable_variables
    per_sample = []
    for row in range(2):
        with tf.GradientTape() as tape:
            log_prob = controller.log_prob_graph(tokens[row:row + 1]).log_prob
            loss = -rewards[row] * log_prob[0]
        per_sample.append(tape.gradient(loss, variables))
    mean = [(a + b) / 2 for a, b in zip(*per_sample)]
    metrics = trainer.update(tokens, rewards.numpy())
    assert metrics["grad_norm"] == pytest.approx(float(tf.linalg.global_norm(mean)), rel=1e-4)


def test_gradient_clipping_bounds_the_step():
    def largest_change(grad_bound):
        controller, trainer = _pair(learning_rate=0.1, grad_bound=grad_bound)
        before = [v.numpy().copy() for v in controller.trainable_variables]
        tokens = controller.sample(4, seed=1).tokens
        metrics = trainer.update(tokens, [1.0, 0.0, 1.0, 0.5])
        after = controller.trainable_variables
        return metrics, max(np.abs(a.numpy() - b).max() for a, b in zip(after, before))

    unclipped_metrics, unclipped = largest_change(0.0)
    bound = unclipped_metrics["grad_norm"] / 1000
    clipped_metrics, clipped = largest_change(bound)
    # Both report the raw norm. The gradients are far below Adam's epsilon (1e-3), where a step
    # is ~ lr * g / epsilon, so clipping the norm 1000-fold shrinks the step about 1000-fold.
    assert clipped_metrics["grad_norm"] == pytest.approx(unclipped_metrics["grad_norm"], rel=1e-5)
    assert unclipped > 1e-4
    assert clipped < unclipped / 300


@pytest.mark.parametrize("target", [0.2, 0.8])
def test_skip_penalty_pushes_the_skip_rate_to_its_target(target):
    space = SearchSpace.macro(5)
    controller = Controller(space, lstm_size=16, skip_target=target, seed=0)
    # Constant rewards equal to the baseline: only the KL term has a gradient.
    trainer = Reinforce(controller, learning_rate=0.02, skip_weight=1.0, initial_baseline=0.5)
    start = controller.sample(500, seed=0).numpy().skip_rate.mean()
    for _ in range(60):
        trainer.update(controller.sample(10).tokens, np.full(10, 0.5))
    end = controller.sample(500, seed=0).numpy().skip_rate.mean()
    assert abs(start - 0.5) < 0.1
    assert abs(end - target) < 0.07, (start, end)


def test_bad_inputs_are_refused_and_change_nothing():
    controller, trainer = _pair(learning_rate=0.1)
    trainer.update(controller.sample(2).tokens, [0.1, 0.2])  # build slots, move off the init
    tokens = controller.sample(3, seed=0).tokens
    before = _state(controller, trainer)
    with pytest.raises(RewardError, match="got 2 rewards for 3 architectures"):
        trainer.update(tokens, [0.1, 0.2])
    with pytest.raises(RewardError, match=r"reward 1 is nan; rewards must be finite"):
        trainer.update(tokens, [0.1, float("nan"), 0.3])
    with pytest.raises(RewardError, match=r"reward 2 is inf"):
        trainer.update(tokens, [0.1, 0.2, np.inf])
    with pytest.raises(RewardError, match="must be numbers"):
        trainer.update(tokens, ["a", "b", "c"])
    bad_tokens = np.array(tokens)
    bad_tokens[1, 0] = 9
    with pytest.raises(ArchitectureError, match=r"architecture 1: macro token 0 \(layer 0, op\) is 9"):
        trainer.update(bad_tokens, [0.1, 0.2, 0.3])
    with pytest.raises(ArchitectureError, match="expected 10 tokens"):
        trainer.update(np.zeros((3, 4), dtype=int), [0.1, 0.2, 0.3])
    for a, b in zip(before, _state(controller, trainer)):
        np.testing.assert_array_equal(a, b)
    assert issubclass(RewardError, EnasError) and issubclass(RewardError, ValueError)


def test_bad_settings_raise_config_errors():
    controller = Controller(SearchSpace.macro(2), lstm_size=4)
    with pytest.raises(ConfigError, match="baseline_decay"):
        Reinforce(controller, baseline_decay=1.0)
    with pytest.raises(ConfigError, match="learning_rate"):
        Reinforce(controller, learning_rate=0.0)
    trainer = Reinforce.from_config(controller, ControllerConfig(
        learning_rate=0.0035, baseline_decay=0.9, entropy_weight=1e-4, skip_weight=0.8,
        num_aggregate=10, grad_bound=5.0))
    assert (trainer.learning_rate, trainer.baseline_decay, trainer.entropy_weight,
            trainer.skip_weight, trainer.num_aggregate, trainer.grad_bound) == pytest.approx(
        (0.0035, 0.9, 1e-4, 0.8, 10, 5.0))
    assert trainer.optimizer.beta_1 == 0.0 and trainer.optimizer.epsilon == 1e-3


def _run(controller, trainer, steps, target):
    log = []
    for _ in range(steps):
        samples = controller.sample(4)
        tokens = samples.numpy().tokens
        trainer.update(tokens, (tokens == target).mean(1))
        log.append(tokens)
    return log


def test_checkpoint_restore_continue_matches_an_uninterrupted_run(tmp_path):
    space = SearchSpace.macro(4)
    target = space.random_tokens(1, seed=0)[0]

    def fresh(seed):
        controller = Controller(space, lstm_size=8, seed=seed)
        return controller, Reinforce(controller, learning_rate=0.05, baseline_decay=0.9,
                                     entropy_weight=1e-3, skip_weight=0.5)

    controller, trainer = fresh(seed=1)
    _run(controller, trainer, 5, target)
    path = tf.train.Checkpoint(reinforce=trainer).save(str(tmp_path / "ckpt"))
    uninterrupted = _run(controller, trainer, 5, target)

    # Fresh objects with other initial weights and another sampling stream, then restore.
    restored_controller, restored_trainer = fresh(seed=99)
    tf.train.Checkpoint(reinforce=restored_trainer).restore(path).assert_consumed()
    resumed = _run(restored_controller, restored_trainer, 5, target)

    np.testing.assert_array_equal(np.stack(resumed), np.stack(uninterrupted))
    for a, b in zip(_state(restored_controller, restored_trainer), _state(controller, trainer)):
        np.testing.assert_array_equal(a, b)
    assert int(restored_trainer.step.numpy()) == 10


def test_checkpointing_the_controller_alone_saves_every_weight(tmp_path):
    """tf.train.Checkpoint(controller=...) must reach the weights kept in lists and dicts too."""
    for space in (SearchSpace.macro(4), SearchSpace.micro(2), SearchSpace.rnn(3)):
        original = Controller(space, seed=1)
        path = tf.train.Checkpoint(controller=original).save(str(tmp_path / space.name / "ckpt"))
        fresh = Controller(space, seed=2)
        tf.train.Checkpoint(controller=fresh).restore(path).assert_consumed()
        for a, b in zip(original.variables, fresh.variables):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
