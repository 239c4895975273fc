"""Final training through the shared epoch loop reproduces the loop it replaced exactly.

``pinned/final_{macro,micro}.json`` are the ``train_log.jsonl`` (without wall-clock seconds) and
``final_metrics.json`` that ``enas.trainers.final`` wrote before search and final training shared one
epoch loop, for a fixed-seed tiny configuration (discrete values exactly, floats to 1e-9 on a CPU that
rounds as the pinning one did: ``conftest.assert_same_as_pinned``). Set ``ENAS_WRITE_PINNED=1`` to rewrite them (only
when a change of behaviour is intended, and say so in the commit).
"""

import dataclasses
import json
import os

import pytest

from enas.trainers.final import train_final

PINNED = os.path.join(os.path.dirname(__file__), "pinned")
ARCS = {"macro": "0 | 3 1 | 5 0 1", "micro": "0 1 1 4 2 0 0 3 1 2 0 0 2 4 1 1"}


def _without_seconds(record):
    return {key: value for key, value in record.items() if key != "seconds" and not key.startswith("time_")}


@pytest.mark.parametrize("space", ["macro", "micro"])
def test_final_training_matches_the_pinned_loop(tmp_path, embedded_data, tiny_config, space, same_as_pinned):
    config = tiny_config(tmp_path / "final", space, num_epochs=2)
    config = config.replace(child=dataclasses.replace(config.child, fixed_arc=ARCS[space]))
    metrics = train_final(config, data=embedded_data)
    log = [_without_seconds(json.loads(line)) for line in open(os.path.join(config.run.output_dir,
                                                                            "train_log.jsonl"))]
    actual = {"train_log": log, "final_metrics": metrics}
    path = os.path.join(PINNED, f"final_{space}.json")
    if os.environ.get("ENAS_WRITE_PINNED"):
        with open(path, "w") as handle:
            json.dump(actual, handle, indent=1, sort_keys=True)
    pinned = json.load(open(path))
    same_cpu = same_as_pinned(pinned, actual, probe=".train_log[0].train_loss")
    print(f"pinned {space} training: {'every float to 1e-9' if same_cpu else 'another CPU: discrete values and probe'}")
