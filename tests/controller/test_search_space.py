"""SearchSpace: token layouts of the three ENAS spaces, validation messages, custom spaces."""

import json

import numpy as np
import pytest

from enas.controller import (Anchor, Categorical, InputChoice, SearchSpace, SkipConnections)
from enas.errors import ArchitectureError, ConfigError

# Published architectures (reference section 4.2/4.3), in the official integer format.
MACRO_FINAL = (
    "0 | 3 0 | 0 1 0 | 2 0 0 1 | 2 0 0 0 0 | 3 1 1 0 1 0 | 2 0 0 0 0 0 1 | 2 0 1 1 0 1 1 1 | "
    "1 0 1 1 1 0 1 0 1 | 0 0 0 0 0 0 0 0 0 0 | 2 0 0 0 0 0 1 0 0 0 0 | "
    "0 1 0 0 1 1 0 0 0 0 1 1 | 2 0 1 0 0 0 0 0 1 0 1 1 0 | 1 0 0 1 0 0 0 1 1 1 0 1 0 1 | "
    "0 1 1 0 1 0 1 0 0 0 0 0 1 0 0 | 2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1 | "
    "2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0 | 2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1 | "
    "3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0 | 3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1 | "
    "0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0 | 3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0 | "
    "0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0 | "
    "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0").replace("|", " ")
MICRO_FINAL = ("0 2 0 0 | 0 4 0 1 | 0 4 1 1 | 1 0 0 1 | 0 2 1 1 | "
               "1 0 1 0 | 0 3 0 2 | 1 1 3 1 | 1 0 0 4 | 0 3 1 1").replace("|", " ")
ENAS_LM_README = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"


def _ints(text):
    return [int(t) for t in text.split()]


def test_token_lengths_match_the_official_formats():
    assert SearchSpace.macro(12).num_tokens == 78
    assert SearchSpace.macro(24).num_tokens == 300
    assert SearchSpace.micro(num_cells=5).num_tokens == 40
    assert SearchSpace.rnn(8).num_tokens == 16
    assert SearchSpace.macro(12).num_skip_bits == 66


def test_published_architectures_validate():
    np.testing.assert_array_equal(SearchSpace.macro(24).validate(_ints(MACRO_FINAL)), _ints(MACRO_FINAL))
    SearchSpace.micro(5).validate(_ints(MICRO_FINAL))
    SearchSpace.rnn(8).validate(_ints(ENAS_LM_README))


def test_macro_layout_is_op_then_skip_bits_per_layer():
    space = SearchSpace.macro(4, num_branches=6)
    assert space.labels == ["layer 0, op", "layer 1, op", "layer 1, skip bit 0",
                            "layer 2, op", "layer 2, skip bit 0", "layer 2, skip bit 1",
                            "layer 3, op", "layer 3, skip bit 0", "layer 3, skip bit 1",
                            "layer 3, skip bit 2"]
    assert space.num_choices == [6, 6, 2, 6, 2, 2, 6, 2, 2, 2]


def test_micro_layout_is_index1_op1_index2_op2_and_sampled_in_official_order():
    space = SearchSpace.micro(num_cells=2, num_ops=5)
    assert space.labels[:4] == ["normal cell, node 2, index 1", "normal cell, node 2, op 1",
                                "normal cell, node 2, index 2", "normal cell, node 2, op 2"]
    assert space.labels[8].startswith("reduction cell, node 2")
    # Node j picks inputs in [0, j-1].
    assert space.num_choices == [2, 5, 2, 5, 3, 5, 3, 5] * 2
    # Sampling order: both indices, then both ops (the official sampler).
    assert space.token_order[:4] == (0, 2, 1, 3)


def test_rnn_layout_is_prev_func_pairs_with_node_one_fixed():
    space = SearchSpace.rnn(3, num_funcs=4)
    assert space.num_choices == [1, 4, 2, 4, 3, 4]
    assert space.labels[0] == "node 1, prev"


def test_validate_names_the_position_and_the_expected_range():
    space = SearchSpace.macro(12)
    tokens = np.zeros(78, dtype=int)
    tokens[18] = 3  # layer 5 starts at 5 + 10 = 15: op at 15, skip bits at 16..20
    with pytest.raises(ArchitectureError, match=r"^macro token 18 \(layer 5, skip bit 2\) is 3; "
                                                r"expected 0 or 1$"):
        space.validate(tokens)
    tokens[18], tokens[15] = 0, 6
    with pytest.raises(ArchitectureError, match=r"token 15 \(layer 5, op\) is 6; expected an "
                                                r"integer in \[0, 5\]"):
        space.validate(tokens)
    with pytest.raises(ArchitectureError, match=r"token 0 \(layer 0, op\) is -1"):
        space.validate([-1] + [0] * 77)


def test_validate_rejects_bad_lengths_ranks_and_types():
    space = SearchSpace.micro(5)
    with pytest.raises(ArchitectureError, match="expected 40 tokens, got 39"):
        space.validate([0] * 39)
    with pytest.raises(ArchitectureError, match="shape"):
        space.validate(np.zeros((2, 2, 40), dtype=int))
    with pytest.raises(ArchitectureError, match="integers"):
        space.validate([0.5] * 40)
    batch = np.zeros((3, 40), dtype=int)
    batch[2, 4] = 3  # node 3, index 1: in [0, 2]
    with pytest.raises(ArchitectureError, match=r"^architecture 2: micro token 4 \(normal cell, "
                                                r"node 3, index 1\) is 3; expected an integer in "
                                                r"\[0, 2\]$"):
        space.validate(batch)
    with pytest.raises(ArchitectureError, match=r"node 1, prev\) is 1; expected 0$"):
        SearchSpace.rnn(2).validate([1, 0, 0, 0])
    assert space.validate(np.zeros(40, dtype=float)).dtype == np.int32


def test_invalid_space_definitions_raise_config_errors():
    with pytest.raises(ConfigError, match="empty"):
        SearchSpace([])
    with pytest.raises(ConfigError, match="no decision that produces a token"):
        SearchSpace([Anchor()])
    with pytest.raises(ConfigError, match="needs an earlier anchor"):
        SearchSpace([InputChoice("input")])
    with pytest.raises(ConfigError, match="shares table 'op'"):
        SearchSpace([Categorical("a", 3, table="op"), Categorical("b", 4, table="op")])
    with pytest.raises(ConfigError, match="num_choices must be >= 1"):
        SearchSpace([Categorical("a", 0)])
    with pytest.raises(ConfigError, match="permutation"):
        SearchSpace([Categorical("a", 2), Categorical("b", 2)], token_order=[0, 0])
    with pytest.raises(ConfigError, match="bias_init has 2 values for 3 choices"):
        SearchSpace([Categorical("a", 3, bias_init=[1, 2])])
    with pytest.raises(ConfigError, match="num_layers"):
        SearchSpace.macro(0)
    with pytest.raises(ConfigError, match="expected Categorical"):
        SearchSpace(["op"])


def test_custom_space_with_shared_tables_and_inputs():
    space = SearchSpace([
        Categorical("op", 4), Categorical("act", 3, table="act"),
        Anchor(), Anchor(zero_value=True),
        InputChoice("input"), Categorical("act 2", 3, table="act"), SkipConnections("skips")])
    assert space.num_tokens == 6  # op, act, input, act 2, two skip bits
    assert space.num_choices == [4, 3, 2, 3, 2, 2]
    assert set(space.tables) == {"decision_0", "act"}
    tokens = space.random_tokens(50, seed=0)
    assert tokens.shape == (50, 6)
    space.validate(tokens)


def test_config_round_trip_through_json():
    for space in (SearchSpace.macro(3), SearchSpace.micro(2), SearchSpace.rnn(3),
                  SearchSpace([Categorical("op", 4, bias_init=[1, 0, 0, 0]), Anchor(),
                               InputChoice("in", creates_anchor=True)], name="mine")):
        restored = SearchSpace.from_config(json.loads(json.dumps(space.get_config())))
        assert restored == space
        assert restored.labels == space.labels
        assert restored.token_order == space.token_order
