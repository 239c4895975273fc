"""Bad input to every binary: exit status 2, exactly one ``error:`` line, no traceback, nothing written.

Flag errors are rejected before TensorFlow is imported, so they run as real subprocesses (a fraction of
a second each). Cases that need TensorFlow (data, models, architectures) run in-process through each
binary's ``run(argv)``: the same code path as the console script, one TensorFlow import for all.
"""

import importlib
import json
import os
import subprocess
import sys

import pytest

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
SEARCH = "--baseline=cifar10_macro_search_smoke"
FINAL = "--baseline=cifar10_macro_final_smoke"


def _assert_one_error(status, stderr, expected):
    assert status == 2, stderr
    assert "Traceback" not in stderr and "FATAL" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert expected in errors[0], errors[0]


def _subprocess(binary, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", f"enas.bin.{binary}", *args], capture_output=True, text=True,
                          env=ENV, timeout=60, check=False, cwd=cwd)


def _in_process(capsys, binary, *args):
    module = importlib.import_module(f"enas.bin.{binary}")
    with pytest.raises(SystemExit) as stop:
        module.run([f"enas-{binary}", *args])
    return stop.value.code, capsys.readouterr().err


FLAG_CASES = [
    # (binary, args, expected text in the error line)
    ("search", ["--num_epochs=abc"], "--num_epochs=abc"),
    ("search", ["--flagfile=/nonexistent.cfg"], "Unable to open flagfile"),
    ("search", ["--no_such_flag=1"], "Unknown command line flag 'no_such_flag'"),
    ("search", [SEARCH, "stray"], "unexpected arguments stray"),
    ("search", ["--baseline=nope"], "unknown baseline 'nope'"),
    ("search", [SEARCH, "--output_dir={tmp}/file"], "is a file, not a directory"),
    ("search", [SEARCH, "--output_dir={tmp}/file/sub"], "is a file"),
    ("search", [SEARCH, "--output_dir=/proc/enas_run"], "cannot be created in /proc"),
    ("search", [SEARCH, "--output_dir=.", "--reset_output_dir"], "refusing to reset ."),
    ("search", [SEARCH, "--output_dir={tmp}/mine", "--reset_output_dir", "--dataset=bogus"], "holds no enas run"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--child_lr_T_0=0"], "--child_lr_T_0"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--checkpoint_every_steps=-1"], "--checkpoint_every_steps"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--search_strategy=evolution", "--evolution_population=5",
                "--evolution_tournament_size=10"], "--evolution_tournament_size: must be <= --evolution_population=5"),
    ("train", ["--baseline=ptb_final_smoke", "--output_dir={tmp}/run", "--child_lr=-0.5"], "--child_lr: must be > 0"),
    ("train", [FINAL, "--output_dir={tmp}/file"], "is a file"),
    ("train", [FINAL, "--output_dir={tmp}/run", "--num_epochs=x"], "--num_epochs=x"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--distribution=multi_worker"], "needs the TF_CONFIG environment"),
    ("train", [FINAL, "--output_dir={tmp}/run", "--distribution=several"], "--distribution: must be one of none"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--devices=GPU:0"], "--devices: is for --distribution=mirrored"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--child_recompute"], "--child_recompute: recomputes the micro"),
    ("search", ["--baseline=cifar10_micro_search_smoke", "--output_dir={tmp}/run", "--nochild_compiled_switches",
                "--child_recompute"], "--child_recompute: takes effect only with --child_compiled_switches"),
    ("search", [SEARCH, "--output_dir={tmp}/run", "--logical_cpu_devices=-1"], "--logical_cpu_devices: must be >= 0"),
    ("rank", ["--search_dir={tmp}/x", "--output_dir={tmp}/y", "--distribution=multi_worker"], "TF_CONFIG"),
    ("derive", [], "--output_dir: required"),
    ("derive", ["--output_dir={tmp}/none"], "config.json is missing"),
    ("derive", ["--output_dir={tmp}/file"], "is a file"),
    ("derive", ["--output_dir={tmp}/garbled"], "config.json is unreadable"),
    ("derive", ["--output_dir={tmp}/final_run"], "holds a final run"),
    ("derive", ["--output_dir={tmp}/garbled", "--derive_top_k=0"], "--derive_top_k: must be > 0, got 0"),
    ("derive", ["--output_dir={tmp}/garbled", "--derive_num_samples=0"], "--derive_num_samples: must be > 0"),
    ("derive", ["--output_dir={tmp}/garbled", "extra"], "unexpected arguments extra"),
    ("describe", [FINAL, "--image_size=0"], "--image_size: must be >= 4"),
    ("describe", [FINAL, "--image_size=-5"], "--image_size"),
    ("describe", [FINAL, "--image_size=2"], "--image_size"),
    ("describe", [FINAL, "--num_classes=0"], "--num_classes: must be >= 2"),
    ("describe", [FINAL, "--num_classes=-3"], "--num_classes"),
    ("describe", [FINAL, "--image_channels=0"], "--image_channels: must be >= 1"),
    ("describe", [FINAL, "--dot_file={tmp}/missing/arc.dot"], "does not exist"),
    ("describe", [FINAL, "--dot_file={tmp}"], "is a directory"),
    ("describe", ["--search_for=macro"], "--child_fixed_arc: required"),
    ("data_check", ["--batch_size=0"], "--batch_size: must be > 0"),
    ("data_check", ["--valid_size=abc"], "--valid_size=abc"),
    ("data_check", ["positional"], "unexpected arguments positional"),
]


@pytest.fixture
def workdir(tmp_path):
    """A directory with a file, a foreign folder, a garbled and a final run directory."""
    (tmp_path / "file").write_text("not a directory")
    (tmp_path / "mine" / "sub").mkdir(parents=True)
    (tmp_path / "mine" / "precious.txt").write_text("keep me")
    (tmp_path / "garbled").mkdir()
    (tmp_path / "garbled" / "config.json").write_text("{not json")
    (tmp_path / "final_run").mkdir()
    (tmp_path / "final_run" / "config.json").write_text(json.dumps({"kind": "final", "config": {}}))
    return tmp_path


def _snapshot(root):
    return sorted((os.path.relpath(os.path.join(d, n), root), os.path.getsize(os.path.join(d, n)))
                  for d, _, names in os.walk(root) for n in names)


def test_flag_errors_of_every_binary_exit_2_before_tensorflow(workdir):
    before = _snapshot(workdir)
    for binary, args, expected in FLAG_CASES:
        result = _subprocess(binary, *[a.format(tmp=workdir) for a in args], cwd=str(workdir))
        _assert_one_error(result.returncode, result.stderr, expected)
        assert result.stdout == "", (binary, args, result.stdout)
    assert _snapshot(workdir) == before  # nothing written, nothing deleted


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(text)


def test_errors_found_after_tensorflow_loads_exit_2_in_process(workdir, capsys, monkeypatch):
    for name, text in (("garbage.json", "garbage"), ("empty.json", ""), ("object.json", "{}"),
                       ("list.json", "[1,2]"), ("no_arc.json", '{"best": {"arc": 3}}')):
        _write(str(workdir / "derived" / name), text)
    (workdir / "derived" / "directory").mkdir()
    cases = [
        ("train", [FINAL, "--output_dir={tmp}/t", "--derived_json={tmp}/derived/garbage.json"], "not readable JSON"),
        ("train", [FINAL, "--output_dir={tmp}/t", "--derived_json={tmp}/derived/empty.json"], "not readable JSON"),
        ("train", [FINAL, "--output_dir={tmp}/t", "--derived_json={tmp}/derived/object.json"], "no best.arc"),
        ("train", [FINAL, "--output_dir={tmp}/t", "--derived_json={tmp}/derived/list.json"], "no best.arc"),
        ("train", [FINAL, "--output_dir={tmp}/t", "--derived_json={tmp}/derived/no_arc.json"], "no best.arc"),
        ("train", [FINAL, "--output_dir={tmp}/t", "--derived_json={tmp}/derived/directory"], "does not exist"),
        ("train", [FINAL, "--output_dir={tmp}/t", "--child_fixed_arc=0 3 1 x"], "token 3"),
        ("search", [SEARCH, "--output_dir={tmp}/s", "--child_num_branches=7"], "the macro space has 6 ops"),
        ("search", [SEARCH, "--output_dir={tmp}/s", "--search_for=marco"], "marco"),
        ("search", [SEARCH, "--output_dir={tmp}/s", "--dataset=cifar10", "--data_dir={tmp}/nothing"], "cifar10"),
        ("search", [SEARCH, "--output_dir={tmp}/mine", "--reset_output_dir"], "holds no enas run"),
        # A real run's directory: a reset with a bad dataset deletes nothing (the data loads first).
        ("search", [SEARCH, "--output_dir={tmp}/old_run", "--reset_output_dir", "--dataset=bogus"], "bogus"),
        ("search", [SEARCH, "--output_dir={tmp}/s", "--child_out_filters=3000000"], "out of memory"),
        ("search", [SEARCH, "--output_dir={tmp}/s", "--distribution=mirrored", "--devices=GPU:7"],
         "--devices: GPU:7 does not exist on this machine"),
        ("describe", ["--baseline=ptb_final_smoke", "--child_fixed_arc=0 0 9"], "token"),
        ("data_check", ["--dataset=ptb", "--data_dir={tmp}/nothing"], "ptb"),
        ("data_check", ["--dataset=imagenet"], "unknown dataset 'imagenet'"),
    ]
    (workdir / "old_run" / "checkpoints").mkdir(parents=True)
    for name in ("search_log.jsonl", "checkpoints/checkpoint", "precious.txt"):
        (workdir / "old_run" / name).write_text("x")
    (workdir / "old_run" / "config.json").write_text(json.dumps({"kind": "search", "config": {}}))
    monkeypatch.chdir(workdir)
    before = _snapshot(workdir)
    for binary, args, expected in cases:
        status, stderr = _in_process(capsys, binary, *[a.format(tmp=workdir) for a in args])
        _assert_one_error(status, stderr, expected)
    assert _snapshot(workdir) == before
    assert not os.path.exists(workdir / "s") or not os.listdir(workdir / "s")  # no config.json of a failed start


def test_distribution_errors_exit_2_and_write_nothing(workdir):
    """Errors found once TensorFlow starts (logical devices need a fresh process each)."""
    two = ["--distribution=mirrored", "--logical_cpu_devices=2"]
    bad_cluster = dict(ENV, TF_CONFIG=json.dumps({"cluster": {"worker": ["127.0.0.1:1"]},
                                                  "task": {"type": "worker", "index": 3}}))
    cases = [
        (ENV, "search", [SEARCH, "--output_dir={tmp}/s", *two, "--batch_size=31"],
         "--batch_size=31 does not split over 2 replicas"),
        (ENV, "train", ["--baseline=ptb_final_smoke", "--output_dir={tmp}/t", *two], "language model"),
        (ENV, "search", ["--baseline=cifar10_micro_search_smoke", "--output_dir={tmp}/s", *two, "--child_sync_bn",
                         "--child_compiled_switches"], "--child_sync_bn: synchronized batch norms need the copied"),
        (ENV, "search", [SEARCH, "--output_dir={tmp}/s", *two, "--search_strategy=darts"], "runs on one device"),
        (dict(ENV, TF_CONFIG="{not json"), "search", [SEARCH, "--output_dir={tmp}/s", "--distribution=multi_worker"],
         "TF_CONFIG is not valid JSON"),
        (bad_cluster, "search", [SEARCH, "--output_dir={tmp}/s", "--distribution=multi_worker"],
         "is not a worker of its cluster"),
    ]
    before = _snapshot(workdir)
    for env, binary, args, expected in cases:
        result = subprocess.run([sys.executable, "-m", f"enas.bin.{binary}", *[a.format(tmp=workdir) for a in args]],
                                capture_output=True, text=True, env=env, timeout=300, check=False, cwd=str(workdir))
        _assert_one_error(result.returncode, result.stderr, expected)
    assert _snapshot(workdir) == before


def test_help_shows_the_binarys_flags_and_the_baselines():
    result = _subprocess("search", "--help")
    assert result.returncode == 0 and result.stderr == ""
    for text in ("Usage", "--baseline", "cifar10_macro_search_smoke", "--child_num_layers", "--reset_output_dir",
                 "--checkpoint_every_minutes"):
        assert text in result.stdout, text
    assert "--baseline" in _subprocess("train", "--helpfull").stdout
    assert "--dot_file" in _subprocess("describe", "--help").stdout
    assert "--derive_top_k" in _subprocess("derive", "--help").stdout
    assert "ptb" in _subprocess("data_check", "--help").stdout
