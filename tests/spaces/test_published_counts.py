"""Trainable-parameter counts of the published final networks at the official configurations.

The numbers are what the official code's graphs hold (issue 11): the micro final network 4,389,220
with the auxiliary head and 3,894,372 without; the published 24-layer macro network 30,947,424 with
real separable convolutions and 42,559,392 with the official code's full convolutions in their place
(``--child_sep_as_conv``). Models are built, never run on data.
"""

import dataclasses

import numpy as np
import pytest
from absl import flags

from enas import flags as enas_flags
from enas.spaces import get_space


def _baseline(name, *extra):
    fv = flags.FlagValues()
    enas_flags.define_flags(fv)
    fv(["prog", f"--flagfile={enas_flags.baseline_path(name)}", "--output_dir=unused", *extra])
    return enas_flags.configs_from_flags(fv)


def _trainable(model) -> int:
    return sum(int(np.prod(weight.shape)) for weight in model.trainable_weights)


def _published(name, *extra):
    config = _baseline(name, *extra)
    space = get_space(config.child.search_for)
    arc = space.parse_arc(config.child.fixed_arc, config.child)
    return space, arc, config


@pytest.mark.parametrize("aux, expected", [(True, 4_389_220), (False, 3_894_372)])
def test_published_micro_final_network(aux, expected):
    space, arc, config = _published("cifar10_micro_final")
    assert (config.child.num_layers, config.child.out_filters, config.data.num_classes) == (15, 36, 10)
    child = dataclasses.replace(config.child, use_aux_heads=aux)
    model = space.build_fixed_child(arc, child, config.data.num_classes, (32, 32, 3))
    assert _trainable(model) == expected
    if aux:  # the 768-channel conv has a 2x2 kernel with SAME padding, as the official code
        conv = model.get_layer("aux_head_conv")
        assert conv.padding == "same" and conv.kernel.shape[:2] == (2, 2)
        assert tuple(conv.output.shape[1:]) == (2, 2, 768)


@pytest.mark.parametrize("extra, expected, variant", [
    ((), 30_947_424, "real separable convolutions"),
    (("--child_sep_as_conv",), 42_559_392, "full k x k convolutions, as the official code"),
])
def test_published_macro_final_network(extra, expected, variant):
    space, arc, config = _published("cifar10_macro_final", *extra)
    assert (arc.num_layers, config.child.out_filters, config.data.num_classes) == (24, 96, 10)
    # describe builds the model and sums its trainable weights (no batch-norm statistics).
    text = space.describe(arc, config.child, config.data.num_classes, (32, 32, 3))
    assert f"trainable parameters: {expected:,}" in text and variant in text
