"""Controller sampling: validity, re-scoring, seeds, tracing, input checks, configuration."""

import numpy as np
import pytest

from enas.config import ControllerConfig
from enas.controller import (Anchor, Categorical, Controller, InputChoice, SearchSpace,
                             SkipConnections)
from enas.errors import ArchitectureError, ConfigError

SPACES = {
    "macro": lambda: SearchSpace.macro(5),
    "micro": lambda: SearchSpace.micro(num_cells=3),
    "rnn": lambda: SearchSpace.rnn(5),
    "custom": lambda: SearchSpace([
        Categorical("op", 4), Categorical("act", 3, table="act"), Anchor(),
        Anchor(zero_value=True), InputChoice("input"), Categorical("act 2", 3, table="act"),
        SkipConnections("skips"), InputChoice("last", creates_anchor=True, distance_penalty=True)]),
}


@pytest.fixture(scope="module", params=sorted(SPACES))
def controller(request):
    return Controller(SPACES[request.param](), lstm_size=16, tanh_constant=1.5, seed=0)


def test_samples_are_valid_and_rescore_to_the_same_log_prob(controller):
    space = controller.space
    samples = controller.sample(batch_size=32, seed=1).numpy()
    assert samples.tokens.shape == (32, space.num_tokens)
    assert samples.tokens.dtype == np.int32
    space.validate(samples.tokens)  # raises if any token is out of range
    assert np.all(samples.tokens < np.asarray(space.num_choices))
    for field in ("log_prob", "entropy", "skip_penalty", "skip_rate"):
        assert getattr(samples, field).shape == (32,)
    rescored = controller.log_prob(samples.tokens).numpy()
    np.testing.assert_allclose(rescored.log_prob, samples.log_prob, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rescored.entropy, samples.entropy, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(rescored.skip_penalty, samples.skip_penalty, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rescored.tokens, samples.tokens)


def test_all_options_get_sampled(controller):
    tokens = controller.sample(batch_size=400, seed=2).numpy().tokens
    for position, options in enumerate(controller.space.num_choices):
        seen = set(tokens[:, position].tolist())
        # Fresh controllers are close to uniform: every option shows up in 400 draws (micro ops
        # are biased toward the two separable convolutions by design, so allow one).
        assert len(seen) >= min(options, 2), controller.space.labels[position]


def test_same_seed_repeats_and_different_seeds_differ(controller):
    first = controller.sample(8, seed=123).numpy()
    again = controller.sample(8, seed=123).numpy()
    other = controller.sample(8, seed=124).numpy()
    np.testing.assert_array_equal(first.tokens, again.tokens)
    np.testing.assert_array_equal(first.log_prob, again.log_prob)
    assert not np.array_equal(first.tokens, other.tokens)


def test_unseeded_stream_advances_and_is_reproducible_from_the_constructor_seed():
    space = SearchSpace.macro(4)
    one, two = (Controller(space, lstm_size=8, seed=7) for _ in range(2))
    a1, a2 = one.sample(4).numpy().tokens, one.sample(4).numpy().tokens
    b1, b2 = two.sample(4).numpy().tokens, two.sample(4).numpy().tokens
    assert not np.array_equal(a1, a2)
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    for name in ("lstm_kernel_0", "start_embedding", "embedding_op"):
        np.testing.assert_array_equal(*(next(v.numpy() for v in c.weights if v.name == name)
                                        for c in (one, two)))


def test_skip_rate_is_the_fraction_of_bits_set():
    space = SearchSpace.macro(6)
    controller = Controller(space, lstm_size=8, seed=0)
    samples = controller.sample(16, seed=0).numpy()
    bits = np.array([label.find("skip bit") >= 0 for label in space.labels])
    np.testing.assert_allclose(samples.skip_rate, samples.tokens[:, bits].mean(1), rtol=1e-6)
    assert np.all(samples.skip_penalty > 0)
    micro = Controller(SearchSpace.micro(2), lstm_size=8, seed=0).sample(3).numpy()
    np.testing.assert_array_equal(micro.skip_rate, 0)
    np.testing.assert_array_equal(micro.skip_penalty, 0)


def test_sampling_and_scoring_trace_once_over_twenty_calls():
    space = SearchSpace.macro(4)
    controller = Controller(space, lstm_size=8, seed=0)
    for call in range(20):
        samples = controller.sample(batch_size=1 + call % 3, seed=call if call % 2 else None)
        controller.log_prob(samples.tokens)
        controller.greedy()
    assert controller.num_traces == {"sample": 1, "log_prob": 1, "greedy": 1}


def test_log_prob_validates_before_computing():
    space = SearchSpace.macro(4)
    controller = Controller(space, lstm_size=8, seed=0)
    with pytest.raises(ArchitectureError, match="expected 10 tokens, got 9"):
        controller.log_prob([0] * 9)
    with pytest.raises(ArchitectureError, match=r"token 2 \(layer 1, skip bit 0\) is 2; expected 0 or 1"):
        controller.log_prob([0, 0, 2] + [0] * 7)
    with pytest.raises(ArchitectureError, match=r"architecture 1: macro token 0 \(layer 0, op\) is 6"):
        controller.log_prob([[0] * 10, [6] + [0] * 9])
    assert controller.num_traces["log_prob"] == 0  # nothing was traced or run
    single = controller.log_prob([1, 0, 1] + [0] * 7).numpy()
    assert single.tokens.shape == (1, 10) and single.log_prob.shape == (1,)


def test_bad_arguments_raise_config_errors():
    space = SearchSpace.macro(2)
    with pytest.raises(ConfigError, match="lstm_size"):
        Controller(space, lstm_size=0)
    with pytest.raises(ConfigError, match="skip_target"):
        Controller(space, skip_target=1.0)
    with pytest.raises(ConfigError, match="SearchSpace"):
        Controller("macro")
    with pytest.raises(ConfigError, match="batch_size"):
        Controller(space, lstm_size=4).sample(0)


def test_temperature_and_tanh_constant_flatten_the_policy():
    space = SearchSpace.micro(2, op_bias_init=None, normal_fixed_bias=None)
    tokens = space.random_tokens(8, seed=0)
    plain = Controller(space, lstm_size=8, init_range=1.0, seed=0)
    entropy = plain.log_prob(tokens).numpy().entropy
    hot = Controller(space, lstm_size=8, init_range=1.0, seed=0, temperature=10.0)
    assert np.all(hot.log_prob(tokens).numpy().entropy > entropy)


def test_config_constructors_and_keras_round_trip():
    space = SearchSpace.micro(2)
    config = ControllerConfig(lstm_size=12, lstm_num_layers=2, temperature=5.0, tanh_constant=1.1,
                              op_tanh_reduce=2.5, skip_target=0.4, seed=9)
    controller = Controller.from_config(space, config)
    assert (controller.lstm_size, controller.lstm_num_layers, controller.temperature,
            controller.op_tanh_reduce, controller.seed) == (12, 2, 5.0, 2.5, 9)
    clone = Controller.from_config(controller.get_config())
    assert clone.space == space
    assert [v.shape for v in clone.weights] == [v.shape for v in controller.weights]
    for a, b in zip(clone.weights, controller.weights):  # same seed: same initial weights
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # Parameter count of the ENAS macro controller (64 units): LSTM 2H*4H, g_emb H,
    # op embedding and softmax 2*6H, attention 2*H*H + H.
    macro = Controller(SearchSpace.macro(12), seed=0)
    trainable = sum(int(np.prod(v.shape)) for v in macro.trainable_weights)
    assert trainable == 128 * 256 + 64 + 2 * 6 * 64 + 2 * 64 * 64 + 64
    assert macro.count_params() == trainable + 2  # plus the sampling stream state
