"""Tests of the micro architecture value, its checks, text/DOT diagrams and registration."""

import json

import numpy as np
import pytest

from enas import spaces
from enas.spaces import micro
from enas.spaces.micro.arc import MicroArc, MicroNode
from enas.config import ChildConfig
from enas.errors import ArchitectureError, ConfigError


def test_published_final_arc_loads_unchanged():
    arc = MicroArc.from_string(micro.PUBLISHED_FINAL_ARC)
    assert arc.num_cells == 5
    assert arc.to_string() == micro.PUBLISHED_FINAL_ARC
    assert arc.normal[0] == MicroNode(0, 2, 0, 0)
    assert arc.reduction[2] == MicroNode(1, 1, 3, 1)
    assert arc.loose_ends("normal") == [2, 3, 4, 5, 6]
    assert arc.loose_ends("reduction") == [2, 4, 5, 6]
    micro.check_arc(arc, ChildConfig(search_for="micro", num_cells=5, num_branches=5))


@pytest.mark.parametrize("num_cells", [1, 2, 5, 7])
def test_random_architectures_round_trip(num_cells):
    rng = np.random.default_rng(num_cells)
    for _ in range(20):
        arc = micro.random_arc(num_cells, rng=rng)
        assert len(arc.to_tokens()) == 8 * num_cells
        assert MicroArc.from_tokens(arc.to_tokens()) == arc
        assert MicroArc.from_string(arc.to_string()) == arc
        assert MicroArc.from_json(arc.to_json()) == arc
        assert json.loads(arc.to_json())["space"] == "micro"


def test_accepts_commas_brackets_and_numpy_integers():
    tokens = MicroArc.from_string(micro.PUBLISHED_FINAL_ARC).to_tokens()
    assert MicroArc.from_string(str(tokens)).to_tokens() == tokens
    assert MicroArc.from_tokens(np.array(tokens, np.int32)).to_tokens() == tokens


def _published_with(position, value):
    tokens = MicroArc.from_string(micro.PUBLISHED_FINAL_ARC).to_tokens()
    tokens[position] = value
    return " ".join(str(t) for t in tokens)


@pytest.mark.parametrize("text, message", [
    (_published_with(27, 6), "reduction cell, node 3, op2 (token 27) is 6; expected 0..4"),
    (_published_with(4, 3), "normal cell, node 3, index1 (token 4) is 3; expected 0..2"),
    (_published_with(0, 2), "normal cell, node 2, index1 (token 0) is 2; expected 0..1"),
    (_published_with(38, -1), "reduction cell, node 6, index2 (token 38) is -1; expected 0..5"),
    (micro.PUBLISHED_FINAL_ARC + " 0", "got 41 tokens, not a positive multiple of 8"),
    ("", "got 0 tokens"),
    (micro.PUBLISHED_FINAL_ARC.replace(" 4 ", " x ", 1), "token 5 is 'x'; expected an integer"),
    ("0 1 0 1.5 0 1 0 1", "token 3 is '1.5'; expected an integer"),
])
def test_bad_strings_name_the_position(text, message):
    with pytest.raises(ArchitectureError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        MicroArc.from_string(text)


def test_bad_json():
    with pytest.raises(ArchitectureError, match="does not parse"):
        MicroArc.from_json("{")
    with pytest.raises(ArchitectureError, match="not 'micro'"):
        MicroArc.from_json(json.dumps({"space": "macro", "normal": [0, 0, 0, 0], "reduction": [0, 0, 0, 0]}))
    with pytest.raises(ArchitectureError, match="same number"):
        MicroArc.from_json(json.dumps({"normal": [0, 0, 0, 0], "reduction": []}))


def test_check_arc_names_the_flags():
    arc = MicroArc.from_string(micro.PUBLISHED_FINAL_ARC)
    with pytest.raises(ArchitectureError, match="5 nodes per cell .* --child_num_cells is 4"):
        micro.check_arc(arc, ChildConfig(search_for="micro", num_cells=4, num_branches=5))
    with pytest.raises(ArchitectureError, match=r"normal cell, node 2, op1 \(token 1\) is 2; "
                                                r"--child_num_branches=2 allows ops 0\.\.1"):
        micro.check_arc(arc, ChildConfig(search_for="micro", num_cells=5, num_branches=2))
    with pytest.raises(ConfigError, match="--child_num_branches"):
        micro.check_arc(arc, ChildConfig(search_for="micro", num_cells=5, num_branches=6))


def test_registered_space_and_controller_tokens_agree():
    space = spaces.get_space("micro")
    assert space is micro.SPACE and space.task == "image" and space.arc_type is MicroArc
    config = ChildConfig(search_for="micro", num_cells=3, num_branches=5)
    controller_space = space.controller_space(config)
    for tokens in controller_space.random_tokens(5, seed=0):
        arc = space.arc_from_tokens(tokens, config)
        assert arc.to_tokens() == [int(t) for t in tokens]
    assert space.parse_arc("0 0 1 4 2 2 0 1 1 3 1 0 1 4 2 1",
                           ChildConfig(search_for="micro", num_cells=2, num_branches=5)).num_cells == 2


def test_describe_lists_cells_and_counts_parameters():
    arc = MicroArc.from_string(micro.PUBLISHED_FINAL_ARC)
    config = ChildConfig(search_for="micro", num_layers=1, num_cells=5, out_filters=4, num_branches=5,
                         use_aux_heads=True)
    text = micro.describe(arc, config, 10, (16, 16, 3))
    model = micro.build_fixed_child(arc, config, 10, (16, 16, 3))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert "node 2 = avg_pool_3x3(node 0) + sep_conv_3x3(node 0)" in text
    assert "node 4 = sep_conv_5x5(node 1) + sep_conv_5x5(node 3)" in text
    assert "output = concat(node 2, node 4, node 5, node 6)" in text
    assert f"trainable parameters: {trainable:,}" in text
    assert f"count_params, with batch-norm statistics): {model.count_params():,}" in text
    assert "3 cells (2R N), C = 4 -> 8 -> 16" in text
    assert "multiply-adds per image" in text


def test_to_dot_draws_both_cells():
    arc = MicroArc.from_string(micro.PUBLISHED_FINAL_ARC)
    dot = micro.to_dot(arc)
    assert dot.startswith("digraph micro_arc {") and dot.rstrip().endswith("}")
    assert "subgraph cluster_normal" in dot and "subgraph cluster_reduction" in dot
    assert dot.count("[label=\"sep_conv_5x5\"]") == sum(
        (n.op1 == 1) + (n.op2 == 1) for n in arc.normal + arc.reduction)
    assert dot.count("->") == 4 * arc.num_cells + len(arc.loose_ends("normal")) + len(arc.loose_ends("reduction"))
    assert "normal_0 -> normal_2 [label=\"avg_pool_3x3\"];" in dot
    assert "reduction_6 -> reduction_out;" in dot and "reduction_3 -> reduction_out" not in dot
