"""The macro architecture value: strings, tokens, JSON, validation, description."""

import random

import pytest

from enas.spaces import macro
from enas.config import ChildConfig
from enas.errors import ArchitectureError
from enas.spaces import get_space

# reference section 4.2, the published macro_final arc, exactly as written there (|-grouped).
MACRO_FINAL = (
    "0 | 3 0 | 0 1 0 | 2 0 0 1 | 2 0 0 0 0 | 3 1 1 0 1 0 | 2 0 0 0 0 0 1 | 2 0 1 1 0 1 1 1 | "
    "1 0 1 1 1 0 1 0 1 | 0 0 0 0 0 0 0 0 0 0 | 2 0 0 0 0 0 1 0 0 0 0 | 0 1 0 0 1 1 0 0 0 0 1 1 | "
    "2 0 1 0 0 0 0 0 1 0 1 1 0 | 1 0 0 1 0 0 0 1 1 1 0 1 0 1 | 0 1 1 0 1 0 1 0 0 0 0 0 1 0 0 | "
    "2 0 0 1 0 0 0 0 0 0 0 1 0 1 0 1 | 2 0 1 0 0 0 1 0 0 1 1 1 1 0 0 1 0 | "
    "2 0 0 0 0 1 0 1 0 1 0 0 1 0 1 0 0 1 | 3 0 1 1 0 1 0 0 0 0 0 1 0 1 0 1 0 0 0 | "
    "3 0 1 1 0 0 0 0 0 0 0 0 0 1 1 0 0 0 0 1 | 0 1 0 0 1 0 1 1 0 0 0 1 0 0 0 0 0 1 1 0 0 | "
    "3 0 1 0 1 1 0 0 1 0 1 1 0 1 1 0 1 0 0 1 0 0 | 0 1 0 1 0 1 0 0 0 0 0 0 0 0 1 0 1 0 0 1 0 0 0 | "
    "0 1 1 0 0 0 1 1 1 0 1 0 0 0 1 0 1 0 0 1 1 0 0 0")


@pytest.mark.parametrize("seed", range(10))
def test_random_arcs_round_trip(seed):
    rng = random.Random(seed)
    arc = macro.random_arc(rng.randint(1, 14), rng.randint(1, 6), rng)
    assert macro.MacroArc.from_string(arc.to_string()) == arc
    assert macro.MacroArc.from_string(arc.to_string(grouped=True)) == arc
    assert macro.MacroArc.from_tokens(arc.to_tokens()) == arc
    assert macro.MacroArc.from_json(arc.to_json()) == arc
    assert len(arc.to_tokens()) == macro.num_tokens(arc.num_layers)


def test_published_macro_final_loads_unchanged():
    arc = macro.MacroArc.from_string(MACRO_FINAL)
    assert arc.num_layers == 24 and len(arc.to_tokens()) == 300
    assert arc.to_string(grouped=True) == MACRO_FINAL
    assert macro.MacroArc.from_string(MACRO_FINAL.replace("|", " ")) == arc  # the script's form
    assert arc.ops[:4] == (0, 3, 0, 2) and arc.skips[3] == (0, 0, 1)
    assert set(arc.ops) == {0, 1, 2, 3}
    macro.check_arc(arc, ChildConfig(num_layers=24, out_filters=96, num_branches=4))


def test_token_layout():
    arc = macro.MacroArc.from_string("1 | 5 1 | 2 0 1")
    assert arc.ops == (1, 5, 2) and arc.skips == ((), (1,), (0, 1))
    assert arc.to_tokens() == [1, 5, 1, 2, 0, 1]
    assert [macro.op_position(i) for i in range(4)] == [0, 1, 3, 6]
    assert macro.pool_layers(12) == (3, 7) and macro.pool_layers(24) == (7, 15)


@pytest.mark.parametrize("text, message", [
    ("0 3 0 0 1 x", "token 5 (layer 2, skip bit 1) is 'x'; expected an integer"),
    ("0 3 0 0 2 0", "token 4 (layer 2, skip bit 0) is '2'; expected 0 or 1"),
    ("0 7 0 0 1 0", "token 1 (layer 1, op) is '7'; expected an op id 0..5"),
    ("0 3 0 0 1", "got 5, nearest valid counts: 3 (L=2) or 6 (L=3)"),
    ("", "got 0, nearest valid counts: 1 (L=1)"),
    ("0 3 | 0 0 1 0", "'|'-group 0 has 2 tokens; expected 1"),
])
def test_malformed_strings_name_the_position(text, message):
    with pytest.raises(ArchitectureError) as error:
        macro.MacroArc.from_string(text)
    assert message in str(error.value)


def test_long_string_error_position():
    tokens = macro.random_arc(6, 6, random.Random(0)).to_tokens()
    tokens[macro.op_position(5) + 3] = 3  # layer 5, skip bit 2 is token 18
    with pytest.raises(ArchitectureError, match=r"token 18 \(layer 5, skip bit 2\) is '3'; expected 0 or 1"):
        macro.MacroArc.from_string(" ".join(map(str, tokens)))


def test_malformed_tokens_and_json():
    with pytest.raises(ArchitectureError, match="token 1 .* expected an integer"):
        macro.MacroArc.from_tokens([0, 1.5, 0])
    with pytest.raises(ArchitectureError, match="nearest valid counts: 3 \\(L=2\\) or 6"):
        macro.MacroArc.from_tokens([0, 1, 0, 0])
    with pytest.raises(ArchitectureError, match="not a macro architecture JSON"):
        macro.MacroArc.from_json('{"ops": [0]}')
    with pytest.raises(ArchitectureError, match="space 'micro'"):
        macro.MacroArc.from_json('{"space": "micro", "ops": [0], "skips": [[]]}')
    with pytest.raises(ArchitectureError, match="must be integers"):
        macro.MacroArc.from_json('{"ops": [0, "1"], "skips": [[], [0]]}')
    with pytest.raises(ArchitectureError, match="layer 1 has 2 skip bits; expected 1"):
        macro.MacroArc.from_json('{"ops": [0, 1], "skips": [[], [0, 1]]}')


def test_check_arc_names_the_flag():
    arc = macro.MacroArc.from_string("0 | 4 1 | 2 0 1")
    macro.check_arc(arc, ChildConfig(num_layers=3, num_branches=6))
    with pytest.raises(ArchitectureError, match="--child_num_layers=4"):
        macro.check_arc(arc, ChildConfig(num_layers=4, num_branches=6))
    with pytest.raises(ArchitectureError, match=r"token 1 \(layer 1, op\) is 4 .*--child_num_branches=4"):
        macro.check_arc(arc, ChildConfig(num_layers=3, num_branches=4))
    space = get_space("macro")
    with pytest.raises(ArchitectureError, match="--child_num_branches=4"):
        space.parse_arc("0 4 1 2 0 1", ChildConfig(num_layers=3, num_branches=4))


def test_space_registration():
    space = get_space("macro")
    assert space.name == "macro" and space.task == "image" and space.arc_type is macro.MacroArc
    assert space.describe is macro.describe and space.to_dot is macro.to_dot


def test_to_dot_lists_ops_chain_and_skips():
    arc = macro.MacroArc.from_string("1 | 5 1 | 2 0 1")
    dot = macro.to_dot(arc)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    for text in ('layer0 [label="0: sep_conv_3x3', 'layer1 [label="1: max_pool_3x3', "stem -> layer0;",
                 "layer0 -> layer1;", "stem -> layer1 [style=dashed];", "layer0 -> layer2 [style=dashed];"):
        assert text in dot
    assert "stem -> layer2 [style=dashed]" not in dot


def test_controller_space_has_the_same_token_layout():
    pytest.importorskip("enas.controller")
    config = ChildConfig(num_layers=5, num_branches=4)
    controller_space = get_space("macro").controller_space(config)
    assert controller_space.num_tokens == macro.num_tokens(5) == 15
