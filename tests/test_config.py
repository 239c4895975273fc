"""Configs: JSON round trip, validation messages, unknown keys."""

import dataclasses
import json

import pytest

from enas.config import ChildConfig, Config, RunConfig
from enas.errors import ConfigError


def test_round_trip_through_json():
    config = Config(child=ChildConfig(search_for="micro", num_layers=3), run=RunConfig(output_dir="out"))
    assert Config.from_dict(json.loads(config.to_json())) == config


def test_unknown_keys_are_refused():
    values = Config().to_dict()
    values["child"]["num_layerz"] = 3
    with pytest.raises(ConfigError, match="num_layerz"):
        Config.from_dict(values)


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().child.num_layers = 3


def test_validate_names_the_flag():
    with pytest.raises(ConfigError, match="--child_num_layers"):
        ChildConfig(num_layers=0).validate()
    with pytest.raises(ConfigError, match="--output_dir"):
        RunConfig().validate()
