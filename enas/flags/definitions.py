"""absl flags with the official ENAS names, defined from the config fields (one source of truth).

Nothing is defined at import: binaries call :func:`define_flags` under ``__main__``. Every setting
is a field of a config class in :mod:`enas.config` declared with :func:`enas.config.setting`: its
default, its flag name and its help are written there once, and :func:`define_section_flags` turns
the fields into flags, so the library's defaults and the binaries' cannot differ. Defaults are
those of the official ``main.py`` (reference section 4) unless the help says otherwise; the
official scripts' values live in the flagfiles under ``enas/flags/baselines/``.

The few flags below that are not settings are the official code's switches that this package
accepts only in one position (``--child_lr_cosine``, ``--controller_search_whole_channels``,
``--controller_sync_replicas``) and ``--controller_training`` (``--nocontroller_training``: a
search with a frozen controller, ``ControllerConfig.train_steps = 0``).
"""

from __future__ import annotations

import dataclasses
from typing import Iterable, Optional

from absl import flags

from enas.config import SECTION_TYPES, flag_fields

#: the config sections whose fields are the search / final-training binaries' flags.
SECTIONS = tuple(SECTION_TYPES.values())

_DEFINERS = {"int": flags.DEFINE_integer, "float": flags.DEFINE_float, "bool": flags.DEFINE_boolean,
             "str": flags.DEFINE_string, "Optional[float]": flags.DEFINE_float,
             "Optional[int]": flags.DEFINE_integer, "Optional[str]": flags.DEFINE_string}


def _definer(field: dataclasses.Field):
    annotation = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
    try:
        return _DEFINERS[annotation]
    except KeyError:
        raise TypeError(f"config field {field.name}: no flag type for annotation {annotation!r}") from None


def define_section_flags(sections: Iterable[type], flag_values: flags.FlagValues = flags.FLAGS,
                         only: Optional[Iterable[str]] = None) -> flags.FlagValues:
    """Defines a flag for every :func:`~enas.config.setting` field of ``sections`` (``only``: just
    these flag names); a flag already defined (a field of an earlier section) is kept."""
    only = None if only is None else set(only)
    for section in sections:
        for field in flag_fields(section):
            name = field.metadata["flag"]
            if name in flag_values or (only is not None and name not in only):
                continue
            default = None if field.metadata.get("required") else field.default
            _definer(field)(name, default, field.metadata["help"], flag_values=flag_values)
    return flag_values


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> flags.FlagValues:
    """Defines every enas search / training flag on ``flag_values`` (idempotent) and returns it."""
    if "search_for" in flag_values:  # already defined on these flag values
        return flag_values
    fv = flag_values
    define_section_flags(SECTIONS, fv)
    flags.DEFINE_alias("data_path", "data_dir", flag_values=fv)
    flags.DEFINE_boolean("child_lr_cosine", True,
                         "Cosine schedule with warm restarts. The only schedule for image children; "
                         "--nochild_lr_cosine is rejected.", flag_values=fv)
    flags.DEFINE_boolean("controller_search_whole_channels", True,
                         "Macro: whole-channel ops. The only mode (the official channel-range mode was broken); "
                         "--nocontroller_search_whole_channels is rejected.", flag_values=fv)
    flags.DEFINE_boolean("controller_sync_replicas", True,
                         "Accepted for the official scripts; gradients are always averaged over "
                         "--controller_num_aggregate samples.", flag_values=fv)
    flags.DEFINE_boolean("controller_training", True,
                         "Train the controller during search. With --nocontroller_training the search trains "
                         "the shared child on a frozen (initial) controller's samples.", flag_values=fv)
    return fv
