"""Typed exceptions of the enas library.

Binaries catch :class:`EnasError` and print its message as one line (exit status 2); research code
can catch the specific subclass.
"""


class EnasError(Exception):
    """Base class of every error the library raises on bad input."""


class ConfigError(EnasError, ValueError):
    """A configuration value (or flag) is out of range or inconsistent with another one."""


class DataError(EnasError):
    """A dataset is missing, unknown, malformed or inconsistent."""


class ArchitectureError(EnasError, ValueError):
    """An architecture string or token sequence is malformed for its search space."""


class OutputDirError(EnasError):
    """An output directory holds a run that cannot be resumed with this configuration."""


class TrainingError(EnasError):
    """Training diverged (for example a NaN loss)."""


class CheckpointError(OutputDirError):
    """A checkpoint of a run cannot be read or does not match the model being restored."""
