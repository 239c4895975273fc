"""absl flags of the enas binaries and their conversion to configs.

Import under an alias so it does not shadow ``absl.flags``::

    from enas import flags as enas_flags
    enas_flags.define_flags()
"""

import os as _os

from enas.flags.convert import configs_from_flags
from enas.flags.definitions import define_flags

#: Directory of the baseline flagfiles (``--flagfile=$(...)/cifar10_macro_search.cfg``).
BASELINES_DIR = _os.path.join(_os.path.dirname(__file__), "baselines")


def baseline_path(name: str) -> str:
    """Path of the baseline flagfile ``name`` (without ``.cfg``)."""
    return _os.path.join(BASELINES_DIR, name + ".cfg")


__all__ = ["define_flags", "configs_from_flags", "BASELINES_DIR", "baseline_path"]
