"""Output directories: config.json first, resume checks, refusal of another run's directory."""

import dataclasses
import json
import os

import pytest

from enas.config import ChildConfig, Config, RunConfig
from enas.errors import OutputDirError
from enas.trainers import run_dir


def _config(tmp_path, **child):
    return Config(child=ChildConfig(**child), run=RunConfig(output_dir=str(tmp_path / "run"), num_epochs=3))


def _fake_checkpoint(output_dir):
    os.makedirs(os.path.join(output_dir, "checkpoints"), exist_ok=True)
    open(os.path.join(output_dir, "checkpoints", "ckpt-1.index"), "w").close()


def test_config_json_is_written_and_resume_is_detected(tmp_path):
    config = _config(tmp_path)
    assert run_dir.prepare_output_dir(config, "search") is False
    record = json.load(open(os.path.join(config.run.output_dir, "config.json")))
    assert record["kind"] == "search" and record["config"]["child"]["num_layers"] == ChildConfig().num_layers
    assert run_dir.prepare_output_dir(config, "search") is False  # no checkpoint yet: nothing to resume
    _fake_checkpoint(config.run.output_dir)
    assert run_dir.prepare_output_dir(config, "search") is True


def test_more_epochs_may_resume_but_another_config_may_not(tmp_path):
    config = _config(tmp_path)
    run_dir.prepare_output_dir(config, "search")
    _fake_checkpoint(config.run.output_dir)
    longer = config.replace(run=dataclasses.replace(config.run, num_epochs=10))
    assert run_dir.prepare_output_dir(longer, "search") is True
    other = _config(tmp_path, search_for="micro")
    with pytest.raises(OutputDirError, match=r"child.search_for: 'macro' -> 'micro'.*--reset_output_dir"):
        run_dir.prepare_output_dir(other, "search")
    with pytest.raises(OutputDirError, match="holds a search run, not a final run"):
        run_dir.prepare_output_dir(config, "final")


def test_compiled_switches_may_change_on_resume_but_the_child_may_not(tmp_path):
    config = _config(tmp_path, search_for="micro")
    run_dir.prepare_output_dir(config, "search")
    _fake_checkpoint(config.run.output_dir)
    compiled = _config(tmp_path, search_for="micro", compiled_switches=True)
    assert run_dir.prepare_output_dir(compiled, "search") is True  # how the step compiles, not what it computes
    wider = _config(tmp_path, search_for="micro", compiled_switches=True, out_filters=64)
    with pytest.raises(OutputDirError, match=r"child.out_filters"):
        run_dir.prepare_output_dir(wider, "search")


def test_a_run_written_before_a_setting_existed_resumes_with_its_default(tmp_path):
    config = _config(tmp_path)
    run_dir.prepare_output_dir(config, "search")
    _fake_checkpoint(config.run.output_dir)
    path = os.path.join(config.run.output_dir, "config.json")
    record = json.load(open(path))
    del record["config"]["search"]["evolution_population"]  # as an older version wrote it
    del record["config"]["child"]["reward_dropout"]
    json.dump(record, open(path, "w"))
    assert run_dir.check_output_dir(config, "search") is True
    other = config.replace(search=dataclasses.replace(config.search, evolution_population=20))
    with pytest.raises(OutputDirError, match=r"search.evolution_population: 50 -> 20"):
        run_dir.check_output_dir(other, "search")


def test_reset_output_dir_starts_over(tmp_path):
    config = _config(tmp_path)
    run_dir.prepare_output_dir(config, "search")
    _fake_checkpoint(config.run.output_dir)
    open(os.path.join(config.run.output_dir, "search_log.jsonl"), "w").close()
    reset = _config(tmp_path, search_for="micro")
    reset = reset.replace(run=dataclasses.replace(reset.run, reset_output_dir=True))
    assert run_dir.prepare_output_dir(reset, "search") is False
    assert not os.path.exists(os.path.join(config.run.output_dir, "search_log.jsonl"))
    assert not os.path.exists(os.path.join(config.run.output_dir, "checkpoints"))


def test_load_run_config_of_a_missing_run(tmp_path):
    with pytest.raises(OutputDirError, match="config.json is missing"):
        run_dir.load_run_config(str(tmp_path))


def test_jsonl_log_appends(tmp_path):
    log = run_dir.JsonlLog(str(tmp_path / "log.jsonl"))
    log.append({"epoch": 1})
    log.append({"epoch": 2})
    assert [r["epoch"] for r in log.records()] == [1, 2]


def _reset_config(output_dir, **child):
    return Config(child=ChildConfig(**child), run=RunConfig(output_dir=str(output_dir), num_epochs=3,
                                                            reset_output_dir=True))


def test_reset_deletes_only_the_run_files_and_keeps_unrelated_ones(tmp_path):
    out = tmp_path / "run"
    run_dir.prepare_output_dir(_config(tmp_path), "search")
    _fake_checkpoint(str(out))
    (out / "checkpoints" / "ckpt-2_temp").mkdir()
    (out / "tensorboard").mkdir()
    (out / "tensorboard" / "events.out.tfevents.1.host").write_text("x")
    (out / "tensorboard" / "notes.txt").write_text("mine")
    for name in ("search_log.jsonl", "derived.json", "derived.dot", ".tmp-abc.json"):
        (out / name).write_text("x")
    (out / "precious.txt").write_text("keep me")
    (out / "sub").mkdir()
    (out / "sub" / "search_log.jsonl").write_text("not at the top: not ours")
    assert run_dir.prepare_output_dir(_reset_config(out, search_for="micro"), "search") is False
    left = sorted(os.path.relpath(os.path.join(root, name), out) for root, _, files in os.walk(out) for name in files)
    assert left == ["config.json", "precious.txt", "sub/search_log.jsonl", "tensorboard/notes.txt"]
    assert json.load(open(out / "config.json"))["config"]["child"]["search_for"] == "micro"


@pytest.mark.parametrize("target", ["cwd", "parent_of_cwd", "foreign"])
def test_reset_refuses_what_is_not_a_run_and_deletes_nothing(tmp_path, monkeypatch, target):
    foreign = tmp_path / "mine"
    (foreign / "deep").mkdir(parents=True)
    (foreign / "precious.txt").write_text("keep me")
    (foreign / "deep" / "file").write_text("keep me")
    (foreign / "config.json").write_text('{"some": "other tool"}') if target == "foreign" else None
    monkeypatch.chdir(foreign / "deep" if target == "parent_of_cwd" else foreign)
    path = {"cwd": ".", "parent_of_cwd": "..", "foreign": str(foreign)}[target]
    with pytest.raises(OutputDirError, match="--reset_output_dir|not the config.json of an enas run"):
        run_dir.check_output_dir(_reset_config(path), "search")
    assert (foreign / "precious.txt").exists() and (foreign / "deep" / "file").exists()


def test_a_directory_without_config_json_is_not_reset(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.txt").write_text("keep me")
    with pytest.raises(OutputDirError, match="holds no enas run"):
        run_dir.check_output_dir(_reset_config(tmp_path / "data"), "search")
    assert run_dir.check_output_dir(_reset_config(tmp_path / "new"), "search") is False  # missing: fine
    assert not (tmp_path / "new").exists()  # checking writes nothing


def test_unusable_output_dirs_are_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    for path, message in ((tmp_path / "file", "is a file"), (tmp_path / "file" / "sub", "is a file"),
                          ("/proc/enas_run", "cannot be created")):
        with pytest.raises(OutputDirError, match=message):
            run_dir.check_output_dir(_config(tmp_path).replace(run=RunConfig(output_dir=str(path))), "search")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_output_dir_is_refused(tmp_path):
    (tmp_path / "ro").mkdir()
    os.chmod(tmp_path / "ro", 0o555)
    with pytest.raises(OutputDirError, match="not writable"):
        run_dir.check_output_dir(_config(tmp_path).replace(run=RunConfig(output_dir=str(tmp_path / "ro"))), "search")


def test_a_failed_first_start_may_be_reconfigured(tmp_path):
    config = _config(tmp_path)
    run_dir.prepare_output_dir(config, "search")  # no checkpoint follows: say the data failed to load
    other = _config(tmp_path, search_for="micro")
    assert run_dir.check_output_dir(other, "search") is False
    assert run_dir.check_output_dir(other, "final") is False


def test_garbled_config_json_is_one_error(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for text in ("{garbage", "[1, 2]", '{"kind": "search", "config": {"child": {"bogus": 1}}}'):
        (out / "config.json").write_text(text)
        with pytest.raises(OutputDirError, match="config.json"):
            run_dir.load_run_config(str(out))


def test_json_files_get_the_users_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        run_dir.atomic_write_json(str(tmp_path / "a.json"), {"a": 1})
    finally:
        os.umask(previous)
    assert os.stat(tmp_path / "a.json").st_mode & 0o777 == 0o644


def test_drop_after_keeps_one_line_per_restored_epoch(tmp_path):
    log = run_dir.JsonlLog(str(tmp_path / "log.jsonl"))
    for epoch in (1, 2, 3, 4):
        log.append({"epoch": epoch})
    with open(log.path, "a") as handle:
        handle.write('{"epoch": 5, "cut sh')  # a kill in the middle of a line
    assert log.drop_after(3) == 2
    assert [r["epoch"] for r in log.records()] == [1, 2, 3]
    assert log.drop_after(3) == 0
