"""``--distribution``: mirrored replicas on logical CPU devices and a two-process multi-worker cluster on
loopback ports (no GPU was available where these were written).

Logical devices and multi-worker strategies exist only when set up before TensorFlow starts, so every
distributed run is its own process (``distributed_run.py``), each a few seconds to a minute on two cores.
"""

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

RUNNER = os.path.join(os.path.dirname(__file__), "distributed_run.py")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    env.pop("TF_CONFIG", None)
    env.update(extra)
    return env


def _start(spec, out, **env):
    return subprocess.Popen([sys.executable, RUNNER, json.dumps(spec), str(out)], env=_env(**env),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process, out, timeout=600):
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output[-3000:]
    with open(out) as handle:
        return json.load(handle)


def _run(spec, out, **env):
    return _finish(_start(spec, out, **env), out)


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _tf_config(ports, index):
    return json.dumps({"cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
                       "task": {"type": "worker", "index": index}})


SEARCH = dict(kind="search", space="macro", num_epochs=1, steps=3)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The one-device macro smoke search that the distributed ones are compared with."""
    tmp_path = tmp_path_factory.mktemp("single")
    return _run({**SEARCH, "output_dir": str(tmp_path / "one")}, tmp_path / "one.json")


def _same_search(mine, single, rtol=1e-5):
    """``mine`` is the one-device search ``single``: architectures, losses, rewards, derived best."""
    assert mine["archs"] == single["archs"]
    np.testing.assert_allclose(mine["losses"], single["losses"], rtol=rtol)
    assert mine["rewards"] == single["rewards"]
    assert mine["derived"]["best"]["arc"] == single["derived"]["best"]["arc"]
    np.testing.assert_allclose(mine["derived"]["best"]["score"], single["derived"]["best"]["score"])


@pytest.mark.slow
def test_mirrored_search_on_two_replicas_follows_the_single_device_search(tmp_path, single):
    """Global batch 16 on 2 replicas of 8 vs 16 on one device: the same sampled architectures, losses
    close. (Not bit-equal: by default each replica's batch norms use its own share of the batch, so
    rewards and derivation's one-batch scores may differ; with --child_sync_bn, below, they do not.)"""
    double = _run({**SEARCH, "output_dir": str(tmp_path / "two"), "distribution": "mirrored",
                   "logical_cpu_devices": 2}, tmp_path / "two.json")
    assert double["num_replicas"] == 2
    assert double["archs"] == single["archs"]  # the controller's stream does not depend on the replicas
    np.testing.assert_allclose(double["losses"], single["losses"], rtol=0.05)
    # Rewards are fractions of the whole 16-example reward batch (counts reduced over both replicas);
    # per-replica batch statistics make them differ from the one-device ones: only their form is checked.
    assert len(double["rewards"]) == len(single["rewards"]) == 4  # 2 updates of 2 samples
    assert all(0 <= r <= 1 and abs(16 * r - round(16 * r)) < 1e-6 for r in double["rewards"])
    # one trace of each step under the strategy, whatever architecture it is given
    assert double["traces"] == {"train": 1, "eval": 1}, double["traces"]
    # the replicas' copies of the moving batch-norm statistics are kept equal (a checkpoint holds one)
    first, second = double["batch_norm"]
    assert first == second and first != single["batch_norm"][0]


def test_mirrored_search_with_sync_bn_is_the_single_device_search(tmp_path, single):
    """--child_sync_bn: the shared child's batch norms, inside the architecture switch, normalise with
    the statistics of the global batch (a collective all-reduce in each replica, differentiated), so
    2 replicas of 8 train, reward and derive as one device with 16 does (measured: losses within 1e-6).
    This was refused before: tf.distribute's own all-reduce (merge_call) cannot run inside the switch."""
    double = _run({**SEARCH, "output_dir": str(tmp_path / "two"), "distribution": "mirrored",
                   "logical_cpu_devices": 2, "sync_bn": True}, tmp_path / "two.json")
    assert double["num_replicas"] == 2 and double["traces"] == {"train": 1, "eval": 1}
    _same_search(double, single)
    first, second = double["batch_norm"]
    assert first == second
    np.testing.assert_allclose(first, single["batch_norm"][0], rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_micro_mirrored_search_with_sync_bn_is_the_single_device_search(tmp_path):
    """The micro search child's batch norms (batch statistics everywhere, functional inside the op
    switch) synchronize too."""
    base = dict(kind="search", space="micro", num_epochs=1, steps=2, sync_bn=True)
    one = _run({**base, "output_dir": str(tmp_path / "one")}, tmp_path / "one.json")
    two = _run({**base, "output_dir": str(tmp_path / "two"), "distribution": "mirrored",
                "logical_cpu_devices": 2}, tmp_path / "two.json")
    assert two["traces"] == {"train": 1, "eval": 1}
    _same_search(two, one)


@pytest.mark.slow
def test_one_replica_strategy_is_the_single_device_search(tmp_path, single):
    """Under a one-replica strategy (the distributed pipeline, the replicated steps, the all-reduce of the
    batch-norm statistics) a search is the one-device search: same architectures, losses and rewards. The
    rewards use batch statistics (the macro default, --child_reward_bn=batch): this failed while that mode,
    set on the calling thread, did not reach the strategy's replica threads (they used moving statistics)."""
    mirrored = _run({**SEARCH, "output_dir": str(tmp_path / "m1"), "distribution": "mirrored",
                     "logical_cpu_devices": 1}, tmp_path / "m1.json")
    assert mirrored["num_replicas"] == 1 and mirrored["archs"] == single["archs"]
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5)
    assert mirrored["rewards"] == single["rewards"]
    np.testing.assert_allclose(mirrored["batch_norm"][0], single["batch_norm"][0], rtol=1e-4, atol=1e-5)


def test_mirrored_final_training_matches_the_single_device_run(tmp_path):
    """With --child_sync_bn a fixed child's 2-replica training is the 1-device one."""
    base = dict(kind="final", space="macro", num_epochs=1, steps=3, arc="1 3 1", sync_bn=True)
    single = _run({**base, "output_dir": str(tmp_path / "one")}, tmp_path / "one.json")
    double = _run({**base, "output_dir": str(tmp_path / "two"), "distribution": "mirrored",
                   "logical_cpu_devices": 2}, tmp_path / "two.json")
    assert double["traces"] == {"train": 1}
    logs = [json.loads((tmp_path / name / "train_log.jsonl").read_text().splitlines()[-1]) for name in ("one", "two")]
    np.testing.assert_allclose(logs[1]["train_loss"], logs[0]["train_loss"], rtol=2e-5)  # measured: 4.5e-6
    # evaluation uses the moving statistics, which drift apart in the last float bits: at chance level
    # (3 steps) one example of 100 may flip
    for key in ("valid_loss", "test_loss"):
        np.testing.assert_allclose(double["metrics"][key], single["metrics"][key], rtol=5e-3, err_msg=key)
    for key in ("valid_accuracy", "test_accuracy"):
        assert abs(double["metrics"][key] - single["metrics"][key]) <= 0.02, key


def _multi_worker(tmp_path, name, **spec):
    ports = _free_ports(2)
    scratch = [tmp_path / f"tmp{index}" for index in range(2)]
    for path in scratch:
        path.mkdir(exist_ok=True)
    spec = {**dict(kind="search", space="macro", num_epochs=1, steps=3, output_dir=str(tmp_path / name),
                   distribution="multi_worker"), **spec}
    outs = [tmp_path / f"{name}{index}.json" for index in range(2)]
    processes = [_start(spec, outs[index], TF_CONFIG=_tf_config(ports, index), TMPDIR=str(scratch[index]))
                 for index in range(2)]
    return processes, outs, scratch


@pytest.mark.slow
def test_two_workers_with_sync_bn_are_the_single_device_search(tmp_path, single):
    """Two workers, one replica each, with --child_sync_bn: batch statistics being global, both run the
    one-device search itself."""
    processes, outs, _ = _multi_worker(tmp_path, "run", sync_bn=True)
    for result in (_finish(process, out) for process, out in zip(processes, outs)):
        assert result["num_replicas"] == 2 and result["traces"] == {"train": 1, "eval": 1}
        _same_search(result, single)


def test_two_workers_sample_the_same_architectures_and_only_the_chief_writes(tmp_path):
    processes, outs, scratch = _multi_worker(tmp_path, "run")
    chief, other = (_finish(process, out) for process, out in zip(processes, outs))
    assert chief["num_replicas"] == other["num_replicas"] == 2
    assert chief["archs"] == other["archs"] and len(chief["archs"]) >= 3  # every child step of the run
    assert chief["rewards"] == other["rewards"]  # reduced over both workers before REINFORCE
    assert chief["batch_norm"] == other["batch_norm"]  # the same moving statistics on both workers
    for mine, theirs in zip(chief["controller"], other["controller"]):
        np.testing.assert_array_equal(mine, theirs)
    assert chief["derived"]["best"] == other["derived"]["best"]
    written = sorted(os.listdir(tmp_path / "run"))
    assert {"config.json", "search_log.jsonl", "derived.json", "checkpoints", "tensorboard"} <= set(written)
    assert not glob.glob(str(scratch[1] / "enas-worker-*"))  # the other worker's scratch is gone


@pytest.mark.slow
def test_killed_worker_then_restart_resumes_like_one_device(tmp_path):
    """kill -9 of the second worker mid-epoch (the chief then stops too), both restarted: the run resumes
    from the chief's last checkpoint and ends as an uninterrupted one does."""
    processes, outs, _ = _multi_worker(tmp_path, "run", num_epochs=2, checkpoint_every_steps=1)
    deadline = time.time() + 400
    log = tmp_path / "run" / "search_log.jsonl"
    while time.time() < deadline and not (log.exists() and log.read_text().strip()):
        time.sleep(1)
    assert log.exists(), "the first epoch never ended"
    processes[1].send_signal(signal.SIGKILL)
    processes[1].wait()
    processes[0].kill()
    processes[0].wait()
    processes, outs, _ = _multi_worker(tmp_path, "run", num_epochs=2, checkpoint_every_steps=1)
    chief, other = (_finish(process, out) for process, out in zip(processes, outs))
    assert chief["archs"] == other["archs"]
    reference = _multi_worker(tmp_path, "reference", num_epochs=2, checkpoint_every_steps=1)
    expected = [_finish(process, out) for process, out in zip(reference[0], reference[1])][0]
    assert chief["derived"]["best"] == expected["derived"]["best"]
    for mine, theirs in zip(chief["controller"], expected["controller"]):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-6)
    # The resumed epochs are the uninterrupted ones: child and controller phase alike. (This failed while
    # the replicas' moving batch-norm statistics drifted apart: the checkpoint held the chief's copy only.)
    assert len(chief["archs"]) < len(expected["archs"])  # it did resume, not start over
    assert chief["rewards"] == expected["rewards"][len(expected["rewards"]) - len(chief["rewards"]):]
    keys = ("child_loss", "child_accuracy", "mean_reward", "baseline", "controller_loss", "valid_accuracy")
    logs = [[json.loads(line) for line in (tmp_path / name / "search_log.jsonl").read_text().splitlines()]
            for name in ("run", "reference")]
    assert [[line[key] for key in keys] for line in logs[0]] == [[line[key] for key in keys] for line in logs[1]]
