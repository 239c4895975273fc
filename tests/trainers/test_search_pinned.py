"""The search loop behind the strategy seam reproduces the pre-seam loop exactly.

``pinned/search_{macro,micro}.json`` are the ``search_log.jsonl`` (without wall-clock seconds) and
``derived.json`` that the loop wrote before the ``SearchStrategy`` seam existed, for the fixed-seed
tiny configuration of ``conftest._tiny_config``. ENAS with ``--child_reward_bn=moving`` (the reward
the loop used then) must give the same values for every key the old loop wrote; the keys added since
(search health, strategy name, reward mode) are checked elsewhere. The micro file drops the old
``skip_rate`` of 0.0, which a space without skip bits no longer logs.
"""

import dataclasses
import json
import os

import pytest

from enas.config import SearchConfig
from enas.trainers.search import search

PINNED = os.path.join(os.path.dirname(__file__), "pinned")


def _same(pinned, actual, where=""):
    """Every key of ``pinned`` is in ``actual`` with the same value (floats to 1e-9 relative)."""
    if isinstance(pinned, dict):
        assert isinstance(actual, dict), where
        for key, value in pinned.items():
            assert key in actual, f"{where}.{key} missing"
            _same(value, actual[key], f"{where}.{key}")
    elif isinstance(pinned, list):
        assert isinstance(actual, list) and len(actual) == len(pinned), where
        for index, (a, b) in enumerate(zip(pinned, actual)):
            _same(a, b, f"{where}[{index}]")
    elif isinstance(pinned, float):
        assert actual == pytest.approx(pinned, rel=1e-9, abs=1e-12), where
    else:
        assert actual == pinned, where


@pytest.mark.parametrize("space", ["macro", "micro"])
def test_enas_through_the_seam_matches_the_pinned_loop(tmp_path, embedded_data, tiny_config, space):
    reward_bn = "moving" if space == "macro" else "batch"  # micro has batch statistics only
    config = tiny_config(tmp_path / "run", space)
    config = dataclasses.replace(config, search=SearchConfig(strategy="enas", reward_bn=reward_bn))
    if space == "micro":  # the pre-seam micro search had no auxiliary head and no reward dropout
        config = config.replace(child=dataclasses.replace(config.child, use_aux_heads=False, reward_dropout=False,
                                                          compiled_switches=False))  # the graph of the pin
    search(config, data=embedded_data)
    pinned = json.load(open(os.path.join(PINNED, f"search_{space}.json")))
    out = config.run.output_dir
    log = [json.loads(line) for line in open(os.path.join(out, "search_log.jsonl"))]
    _same(pinned["search_log"], log, "search_log")
    _same(pinned["derived"], json.load(open(os.path.join(out, "derived.json"))), "derived")
