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
    assert record["kind"] == "search" and record["config"]["child"]["num_layers"] == 12
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
