"""Turns parsed flags into the frozen configs the library takes (done once, in binaries)."""

from __future__ import annotations

from typing import Any

from absl import flags

from enas.config import SECTION_TYPES, Config, flag_fields
from enas.errors import ConfigError


def _normalise_arc(text: str) -> str:
    return " ".join((text or "").replace("|", " ").split())


# Flag values that need a conversion before they become a field (flag name -> function).
_PARSE = {"child_fixed_arc": _normalise_arc}


def section_from_flags(section: type, fv: flags.FlagValues = flags.FLAGS, **overrides: Any):
    """An instance of config class ``section`` with every flag field taken from ``fv`` (a flag that is
    not defined there, or an unset required one, leaves the field's default)."""
    values = {}
    for field in flag_fields(section):
        name = field.metadata["flag"]
        if name not in fv or fv[name].value is None and field.metadata.get("required"):
            continue
        value = fv[name].value
        values[field.name] = _PARSE[name](value) if name in _PARSE else value
    values.update(overrides)
    return section(**values)


def configs_from_flags(fv: flags.FlagValues = flags.FLAGS, *, require_output_dir: bool = True) -> Config:
    """Builds and validates a :class:`Config` from parsed flags; raises ConfigError naming the flag."""
    if not fv.child_lr_cosine:
        raise ConfigError("--child_lr_cosine: only the cosine schedule with warm restarts is implemented; "
                          "drop --nochild_lr_cosine")
    if not fv.controller_search_whole_channels:
        raise ConfigError("--controller_search_whole_channels: only whole-channel macro search exists (the "
                          "official channel-range mode was broken); drop --nocontroller_search_whole_channels")
    if not fv.search_for:
        from enas.spaces import available_spaces  # pylint: disable=import-outside-toplevel
        raise ConfigError(f"--search_for: required; one of {', '.join(available_spaces())}")
    parts = {}
    for name, section in SECTION_TYPES.items():
        overrides = {}
        if name == "controller" and not fv.controller_training:
            overrides["train_steps"] = 0
        parts[name] = section_from_flags(section, fv, **overrides)
    config = Config(**parts)
    config.data.validate()
    config.child.validate()
    config.controller.validate()
    config.search.validate()
    if require_output_dir:
        config.run.validate()
    return config
