"""enas: Efficient Neural Architecture Search (Pham et al., 2018) on TensorFlow 2 and Keras 3.

Research code needs only these names::

    from enas import Controller, Reinforce, SearchSpace          # the controller, any search space
    from enas import Config, search, derive, train_final         # the ENAS pipeline, no flags
"""

__version__ = "0.1.0"

from enas.config import ChildConfig, Config, ControllerConfig, DataConfig, RunConfig
from enas.controller import Controller, Reinforce, SearchSpace
from enas.errors import ArchitectureError, ConfigError, DataError, EnasError, OutputDirError, TrainingError
from enas.spaces import Space, available_spaces, get_space, register_space
from enas.trainers.derive import derive
from enas.trainers.final import train_final
from enas.trainers.search import search

__all__ = [
    "__version__", "Config", "DataConfig", "ChildConfig", "ControllerConfig", "RunConfig",
    "Controller", "Reinforce", "SearchSpace", "Space", "register_space", "get_space", "available_spaces",
    "search", "derive", "train_final",
    "EnasError", "ConfigError", "DataError", "ArchitectureError", "OutputDirError", "TrainingError",
]
