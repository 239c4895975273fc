"""The search loop behind the strategy seam reproduces the pre-seam loop exactly.

``pinned/search_{macro,micro}.json`` are the ``search_log.jsonl`` (without wall-clock seconds) and
``derived.json`` that the loop wrote before the ``SearchStrategy`` seam existed, for the fixed-seed
tiny configuration of ``conftest._tiny_config``. ENAS with ``--child_reward_bn=moving`` (the reward
the loop used then) must give the same values for every key the old loop wrote; the keys added since
(search health, strategy name, reward mode) are checked elsewhere. Discrete values agree exactly,
floats to 1e-9 on a CPU that rounds as the pinning one did (``conftest.assert_same_as_pinned``). The
micro file drops the old ``skip_rate`` of 0.0, which a space without skip bits no longer logs.
"""

import dataclasses
import json
import os

import pytest

from enas.config import SearchConfig
from enas.trainers.search import search

PINNED = os.path.join(os.path.dirname(__file__), "pinned")


@pytest.mark.parametrize("space", ["macro", "micro"])
def test_enas_through_the_seam_matches_the_pinned_loop(tmp_path, embedded_data, tiny_config, space, same_as_pinned):
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
    derived = json.load(open(os.path.join(out, "derived.json")))
    same_cpu = same_as_pinned({"log": pinned["search_log"], "derived": pinned["derived"]},
                              {"log": log, "derived": derived}, probe=".log[0].child_loss")
    print(f"pinned {space} search: {'every float to 1e-9' if same_cpu else 'another CPU: discrete values and probe'}")


def test_the_pinned_comparison_itself(same_as_pinned):
    pinned = {"log": [{"loss": 2.0, "reward": 0.5, "arc": "0 1"}]}

    def log(loss, reward, arc="0 1"):
        return {"log": [{"loss": loss, "reward": reward, "arc": arc, "new_key": 1}]}

    assert same_as_pinned(pinned, log(2.0, 0.5), probe=".log[0].loss")
    with pytest.raises(AssertionError, match="reward"):  # same CPU: every float to 1e-9
        same_as_pinned(pinned, log(2.0, 0.5 + 1e-6), probe=".log[0].loss")
    assert not same_as_pinned(pinned, log(2.0 + 1e-5, 0.6), probe=".log[0].loss")  # another CPU
    with pytest.raises(AssertionError, match="another CPU"):
        same_as_pinned(pinned, log(2.01, 0.5), probe=".log[0].loss")
    with pytest.raises(AssertionError, match="arc"):
        same_as_pinned(pinned, log(2.0 + 1e-5, 0.5, arc="1 1"), probe=".log[0].loss")
