"""enas: Efficient Neural Architecture Search (Pham et al., 2018) on TensorFlow 2 and Keras 3.

Research code needs only these names::

    from enas import Controller, Reinforce, SearchSpace          # the controller, any search space
    from enas import Config, search, derive, train_final         # the ENAS pipeline, no flags
"""

__version__ = "0.1.0"

from enas.config import ChildConfig, Config, ControllerConfig, DataConfig, RunConfig, SearchConfig
from enas.errors import ArchitectureError, ConfigError, DataError, EnasError, OutputDirError, TrainingError
from enas.spaces import Space, available_spaces, get_space, register_space

# Names that import Keras/TensorFlow (seconds) load on first use, so `import enas`, the configs and the
# flag parsing stay cheap and the binaries can configure TensorFlow's logging before it loads.
_LAZY = {"Controller": "enas.controller", "Reinforce": "enas.controller", "SearchSpace": "enas.controller",
         "derive": "enas.trainers.derive", "train_final": "enas.trainers.final", "search": "enas.trainers.search"}


def __getattr__(name):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'enas' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "__version__", "Config", "DataConfig", "ChildConfig", "ControllerConfig", "RunConfig", "SearchConfig",
    "Controller", "Reinforce", "SearchSpace", "Space", "register_space", "get_space", "available_spaces",
    "search", "derive", "train_final",
    "EnasError", "ConfigError", "DataError", "ArchitectureError", "OutputDirError", "TrainingError",
]
