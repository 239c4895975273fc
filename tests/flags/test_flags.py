"""Flags: every baseline flagfile parses and validates; bad values fail with the flag named."""

import os

import pytest
from absl import flags

from enas import flags as enas_flags
from enas.config import Config
from enas.errors import ConfigError


def _parse(*argv):
    fv = flags.FlagValues()
    enas_flags.define_flags(fv)
    fv(["prog", *argv])
    return fv


def _baselines():
    return sorted(name[:-4] for name in os.listdir(enas_flags.BASELINES_DIR) if name.endswith(".cfg"))


def test_defining_twice_is_harmless_and_import_defines_nothing():
    fv = flags.FlagValues()
    enas_flags.define_flags(fv)
    enas_flags.define_flags(fv)
    assert "child_num_layers" in fv
    assert "child_num_layers" not in flags.FlagValues()


def test_official_defaults():
    fv = _parse()
    assert fv.batch_size == 32 and fv.num_epochs == 300 and fv.child_num_layers == 5
    assert fv.child_out_filters == 48 and fv.controller_bl_dec == 0.99 and fv.controller_train_every == 2
    assert fv.controller_skip_target == 0.8 and fv.child_l2_reg == 1e-4


@pytest.mark.parametrize("name", _baselines())
def test_every_baseline_parses_and_validates(name):
    fv = _parse(f"--flagfile={enas_flags.baseline_path(name)}", "--output_dir=/tmp/unused")
    config = enas_flags.configs_from_flags(fv)
    assert isinstance(config, Config)
    assert config.child.search_for in ("macro", "micro", "rnn")
    if name.endswith("_smoke"):
        assert config.run.num_epochs <= 3 and config.run.max_steps_per_epoch > 0
    if "final" in name:
        assert config.child.fixed_arc, "final baselines carry an architecture"


def test_baselines_exist_for_every_space():
    names = _baselines()
    for required in ("cifar10_macro_search", "cifar10_macro_final"):
        assert required in names and required + "_smoke" in names


def test_macro_search_baseline_has_the_official_values():
    config = enas_flags.configs_from_flags(
        _parse(f"--flagfile={enas_flags.baseline_path('cifar10_macro_search')}", "--output_dir=x"))
    assert (config.data.batch_size, config.run.num_epochs, config.child.num_layers) == (128, 310, 12)
    assert (config.child.out_filters, config.child.num_branches, config.child.l2_reg) == (36, 6, 2.5e-4)
    assert (config.controller.num_aggregate, config.controller.train_steps) == (20, 50)
    assert (config.controller.skip_target, config.controller.skip_weight) == (0.4, 0.8)


def test_fixed_arc_may_use_bars_and_extra_spaces():
    config = enas_flags.configs_from_flags(
        _parse("--search_for=macro", "--child_fixed_arc=0 | 1  0", "--output_dir=x"))
    assert config.child.fixed_arc == "0 1 0"


@pytest.mark.parametrize("argv, flag", [
    (["--child_keep_prob=1.5"], "child_keep_prob"),
    (["--child_cutout_size=-1"], "child_cutout_size"),
    (["--child_drop_path_keep_prob=0"], "child_drop_path_keep_prob"),
    (["--child_drop_path_keep_prob=1.2"], "child_drop_path_keep_prob"),
    (["--controller_bl_dec=1.0"], "controller_bl_dec"),
    (["--child_lr_max=0.001", "--child_lr_min=0.01"], "child_lr_max"),
    (["--nochild_lr_cosine"], "child_lr_cosine"),
    (["--nocontroller_search_whole_channels"], "controller_search_whole_channels"),
    (["--batch_size=0"], "batch_size"),
])
def test_bad_values_name_the_flag(argv, flag):
    fv = _parse("--search_for=macro", "--output_dir=x", *argv)
    with pytest.raises(ConfigError, match=f"--{flag}"):
        enas_flags.configs_from_flags(fv)


def test_search_for_and_output_dir_are_required():
    with pytest.raises(ConfigError, match="--search_for"):
        enas_flags.configs_from_flags(_parse("--output_dir=x"))
    with pytest.raises(ConfigError, match="--output_dir"):
        enas_flags.configs_from_flags(_parse("--search_for=macro"))


def test_data_path_is_an_alias_of_data_dir():
    assert _parse("--data_path=/some/where").data_dir == "/some/where"


def test_controller_training_off_means_no_controller_updates():
    config = enas_flags.configs_from_flags(_parse("--search_for=macro", "--output_dir=x", "--nocontroller_training"))
    assert config.controller.train_steps == 0


# --- one source of truth per setting ---------------------------------------------------------------

def test_flags_are_generated_from_the_config_fields_with_their_defaults_and_help():
    import dataclasses

    from enas.config import SECTION_TYPES, RankConfig, flag_fields

    fv = _parse()
    for section in SECTION_TYPES.values():
        for field in flag_fields(section):
            flag = fv[field.metadata["flag"]]
            if field.metadata["required"]:
                assert flag.default is None
                continue
            assert flag.default == field.default, (section.__name__, field.name)
    # fields of several sections sharing a flag (--seed, --output_dir, ...) share its default
    by_flag = {}
    for section in (*SECTION_TYPES.values(), RankConfig):
        for field in flag_fields(section):
            by_flag.setdefault(field.metadata["flag"], set()).add(field.default)
    assert {name: values for name, values in by_flag.items() if len(values) > 1} == {}
    # every settable field of the search/train config is a flag (child_fixed_arc included)
    for section in SECTION_TYPES.values():
        assert {f.name for f in dataclasses.fields(section)} == {f.name for f in flag_fields(section)}


def test_the_library_defaults_are_the_binaries_defaults():
    config = enas_flags.configs_from_flags(_parse("--search_for=macro", "--output_dir=/tmp/x"))
    library = Config(run=_run_config_in("/tmp/x"))
    assert config.to_dict() == library.to_dict()


def _run_config_in(output_dir):
    from enas.config import RunConfig

    return RunConfig(output_dir=output_dir)


def test_a_new_setting_is_one_field(monkeypatch):
    """A field declared with setting() becomes a flag and comes back into the config, no other edit."""
    import dataclasses

    from enas import config as config_module
    from enas.config import SearchConfig, setting
    from enas.flags import convert, definitions

    extended = dataclasses.make_dataclass(
        "SearchConfig", [("brand_new", int, setting(7, "brand_new_setting", "A setting added in one place."))],
        bases=(SearchConfig,), frozen=True)
    sections = dict(config_module.SECTION_TYPES, search=extended)
    monkeypatch.setattr(config_module, "SECTION_TYPES", sections)
    monkeypatch.setattr(convert, "SECTION_TYPES", sections)
    monkeypatch.setattr(definitions, "SECTIONS", tuple(sections.values()))
    fv = flags.FlagValues()
    definitions.define_flags(fv)
    fv(["prog", "--search_for=micro", "--output_dir=/tmp/x", "--brand_new_setting=3"])
    assert fv["brand_new_setting"].default == 7
    assert convert.configs_from_flags(fv).search.brand_new == 3


def test_the_controller_and_reinforce_keyword_defaults_are_the_configs():
    import inspect

    from enas.config import ControllerConfig
    from enas.controller import Controller, Reinforce

    official = ControllerConfig().resolved()
    for cls in (Controller, Reinforce):
        for name, parameter in inspect.signature(cls.__init__).parameters.items():
            if hasattr(official, name) and parameter.default is not inspect.Parameter.empty and name != "seed":
                assert parameter.default == getattr(official, name), (cls.__name__, name)


def test_darts_flags_reach_the_search_config():
    config = enas_flags.configs_from_flags(_parse("--search_for=macro", "--output_dir=/tmp/x",
                                                  "--search_strategy=darts", "--darts_arch_lr=0.01",
                                                  "--darts_arch_weight_decay=0"))
    assert (config.search.strategy, config.search.darts_arch_lr, config.search.darts_arch_weight_decay) == (
        "darts", 0.01, 0.0)
    defaults = enas_flags.configs_from_flags(_parse("--search_for=macro", "--output_dir=/tmp/x"))
    assert (defaults.search.darts_arch_lr, defaults.search.darts_arch_weight_decay) == (3e-4, 1e-3)
    with pytest.raises(ConfigError, match="--darts_arch_lr"):
        enas_flags.configs_from_flags(_parse("--search_for=macro", "--output_dir=/tmp/x", "--darts_arch_lr=0"))
