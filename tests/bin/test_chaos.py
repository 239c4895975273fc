"""Chaos: ``kill -9`` at random points (and inside checkpoint saves), resume, compare with a run that
was never interrupted. For each space, search and final training (smoke sizes, real subprocesses).

Each interrupted chain is three processes: the first is killed inside its first epoch-end save,
after the epoch's log line (``ENAS_TEST_KILL_IN_SAVE``: the case that used to log an epoch twice);
the second checkpoints every 3 steps and is killed at a random progress line; the third finishes.
The logs (but for wall-clock seconds), ``derived.json`` / ``final_metrics.json`` and every checkpointed
value must equal those of the uninterrupted run of the same seed, and no ``ckpt-N_temp`` may remain.
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


def _killed_inside_first_epoch_end_save(command):
    env = dict(ENV, ENAS_TEST_KILL_IN_SAVE="1")
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
    for record in records:
        record.pop("seconds")
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


def _chaos_chain(command, log_path, rng):
    _killed_inside_first_epoch_end_save(command)
    # Logged, then killed before its checkpoint was indexed: the resumed run must not log it twice.
    assert [json.loads(line)["epoch"] for line in open(log_path)] == [1]
    _killed_at_random_line(command + ["--checkpoint_every_steps=3"], rng)
    _run(command + ["--checkpoint_every_steps=3"])


def _reference_and_chaos(binary, baseline, reference, chaos, log_name, rng, *extra):
    """The uninterrupted run (in the background) and the interrupted chain, side by side."""
    background = subprocess.Popen(_command(binary, baseline, reference, "--noprogress", *extra),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        _chaos_chain(_command(binary, baseline, chaos, *extra), os.path.join(chaos, log_name), rng)
    finally:
        _, stderr = background.communicate(timeout=600)
    assert background.returncode == 0, stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("space", sorted(SPACES))
def test_kill_9_anywhere_then_resume_equals_an_uninterrupted_run(tmp_path, space):
    rng = random.Random(f"chaos-{space}")
    search_baseline, final_baseline = SPACES[space]
    reference, chaos = str(tmp_path / "search_reference"), str(tmp_path / "search_chaos")
    _reference_and_chaos("search", search_baseline, reference, chaos, "search_log.jsonl", rng)
    _assert_same_run(reference, chaos, "search_log.jsonl", "derived.json")

    derived = f"--derived_json={reference}"
    reference, chaos = str(tmp_path / "final_reference"), str(tmp_path / "final_chaos")
    _reference_and_chaos("train", final_baseline, reference, chaos, "train_log.jsonl", rng, derived)
    _assert_same_run(reference, chaos, "train_log.jsonl", "final_metrics.json")
