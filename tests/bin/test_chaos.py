"""Chaos: ``kill -9`` at random points (and inside checkpoint saves), resume, compare with a run that
was never interrupted. For each space, search and final training (smoke sizes, real subprocesses).

Search is killed inside its last epoch-end save, after the epoch's log line was written
(``ENAS_TEST_KILL_IN_SAVE``: the case that used to log an epoch twice). Final training checkpoints
every 3 steps and is killed at a random progress line (mid-epoch). Each is then resumed to the end.
The logs (but for wall-clock seconds), ``derived.json`` / ``final_metrics.json`` and every
checkpointed value must equal those of the uninterrupted run of the same seed (run alongside), and
no ``ckpt-N_temp`` may remain.
"""

import glob
import json
import os
import random
import signal
import subprocess
import sys

import numpy as np
import pytest

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
SPACES = {  # space: (search baseline, final baseline)
    "macro": ("cifar10_macro_search_smoke", "cifar10_macro_final_smoke"),
    "micro": ("cifar10_micro_search_smoke", "cifar10_micro_final_smoke"),
    "rnn": ("ptb_search_smoke", "ptb_final_smoke"),
}


def _command(binary, baseline, output_dir, *extra):
    return [sys.executable, "-m", f"enas.bin.{binary}", f"--baseline={baseline}", f"--output_dir={output_dir}",
            "--log_every=1", "--checkpoint_every_minutes=0", *extra]


def _run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env or ENV, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def _killed_inside_save(command, number):
    env = dict(ENV, ENAS_TEST_KILL_IN_SAVE=str(number))
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]


def _killed_at_random_line(command, rng):
    """Runs ``command`` and kills it (SIGKILL) at a random line of its progress output."""
    lines_before_kill = rng.randint(2, 12)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=ENV)
    for _ in range(lines_before_kill):
        if not process.stdout.readline():
            break
    process.kill()
    process.communicate(timeout=600)


def _log(path):
    records = [json.loads(line) for line in open(path)]
    for record in records:  # wall-clock figures: the epoch's seconds and their split (time_*)
        for key in [key for key in record if key == "seconds" or key.startswith("time_")]:
            record.pop(key)
    return records


def _checkpointed_values(output_dir):
    import tensorflow as tf

    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(os.path.join(output_dir, "checkpoints")))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
            if "save_counter" not in name and "CHECKPOINTABLE_OBJECT_GRAPH" not in name}


def _assert_same_run(reference, chaos, log_name, result_name):
    assert _log(os.path.join(chaos, log_name)) == _log(os.path.join(reference, log_name))
    assert json.load(open(os.path.join(chaos, result_name))) == json.load(open(os.path.join(reference, result_name)))
    expected, actual = _checkpointed_values(reference), _checkpointed_values(chaos)
    assert sorted(actual) == sorted(expected)
    for name, value in expected.items():
        np.testing.assert_array_equal(actual[name], value, err_msg=name)
    assert not glob.glob(os.path.join(chaos, "checkpoints", "*_temp"))


def _reference_and_chaos(command, reference, chaos, kill):
    """The uninterrupted run (in the background) beside the killed and resumed one."""
    background = subprocess.Popen(command(reference, "--noprogress"), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        kill(command(chaos))
        _run(command(chaos))
    finally:
        _, stderr = background.communicate(timeout=600)
    assert background.returncode == 0, stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("space", sorted(SPACES))
def test_kill_9_anywhere_then_resume_equals_an_uninterrupted_run(tmp_path, space):
    search_baseline, final_baseline = SPACES[space]
    reference, chaos = str(tmp_path / "search_reference"), str(tmp_path / "search_chaos")

    def killed_in_save(command):
        _killed_inside_save(command, 2)  # the end of epoch 2 (no checkpoints within epochs here)
        # Epoch 2 logged, then killed before its checkpoint was indexed: resumed from epoch 1, the run
        # redoes epoch 2 and must not log it twice.
        assert [json.loads(line)["epoch"] for line in open(os.path.join(chaos, "search_log.jsonl"))] == [1, 2]
        assert glob.glob(os.path.join(chaos, "checkpoints", "*_temp"))

    _reference_and_chaos(lambda out, *extra: _command("search", search_baseline, out, *extra),
                         reference, chaos, killed_in_save)
    _assert_same_run(reference, chaos, "search_log.jsonl", "derived.json")

    # The final baselines carry their own architecture, so final training does not wait for the search.
    rng = random.Random(f"chaos-{space}")
    reference, chaos = str(tmp_path / "final_reference"), str(tmp_path / "final_chaos")
    _reference_and_chaos(lambda out, *extra: _command("train", final_baseline, out, "--checkpoint_every_steps=3",
                                                      *extra),
                         reference, chaos, lambda command: _killed_at_random_line(command, rng))
    _assert_same_run(reference, chaos, "train_log.jsonl", "final_metrics.json")
