"""The output directory of a run: config.json, the epoch log, TensorBoard, checkpoints, interrupts.

A run's directory is resumable: running the same command again continues from the last checkpoint.
A directory holding a run of another kind, search space or configuration is refused with a message
that says how to start over.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from typing import Any, Mapping, Optional

from enas import __version__
from enas.config import Config
from enas.errors import OutputDirError

CONFIG_FILE = "config.json"
# Run-section fields that may change between a run and its resumption.
_RESUMABLE_RUN_FIELDS = {"num_epochs", "reset_output_dir", "log_every", "eval_every_epochs", "progress",
                         "derive_num_samples", "derive_top_k", "derive_num_batches", "max_eval_batches",
                         "jit_compile", "output_dir"}


def atomic_write_json(path: str, value: Any) -> None:
    """Writes JSON to ``path`` through a temporary file and a rename (never a half-written file)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    with open(path) as handle:
        return json.load(handle)


def _identity(config_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened fields that must match to resume a run."""
    flat = {}
    for section, values in config_dict.items():
        for key, value in values.items():
            if section == "run" and key in _RESUMABLE_RUN_FIELDS:
                continue
            flat[f"{section}.{key}"] = value
    return flat


def prepare_output_dir(config: Config, kind: str) -> bool:
    """Creates (or checks) the run directory; returns True when it holds a run to resume.

    ``kind`` is ``"search"`` or ``"final"``. Writes ``config.json`` before step 0.
    """
    output_dir = config.run.output_dir
    if config.run.reset_output_dir and os.path.isdir(output_dir):
        shutil.rmtree(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, CONFIG_FILE)
    record = {"kind": kind, "enas_version": __version__, "config": config.to_dict()}
    if os.path.exists(path):
        try:
            previous = read_json(path)
        except (OSError, ValueError) as error:
            raise OutputDirError(f"{path} is unreadable ({error}); pass --reset_output_dir to start over") from None
        if previous.get("kind") != kind:
            raise OutputDirError(
                f"{output_dir} holds a {previous.get('kind')} run, not a {kind} run; use another --output_dir "
                "or pass --reset_output_dir to delete it and start over")
        old, new = _identity(previous.get("config", {})), _identity(config.to_dict())
        changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
        if changed:
            details = ", ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in changed[:4])
            more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
            raise OutputDirError(
                f"{output_dir} holds a run with another configuration ({details}{more}); refusing to resume it. "
                "Pass --reset_output_dir to start over, or use another --output_dir")
        atomic_write_json(path, record)  # keeps the resumable fields (e.g. num_epochs) current
        return True
    atomic_write_json(path, record)
    return False


def load_run_config(output_dir: str) -> tuple[str, Config]:
    """The kind and :class:`Config` of the run stored in ``output_dir``."""
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise OutputDirError(f"{output_dir} holds no run ({CONFIG_FILE} is missing): it is not the output "
                             "directory of a finished or interrupted enas-search")
    record = read_json(path)
    return record.get("kind", ""), Config.from_dict(record["config"])


class JsonlLog:
    """Appends one JSON object per line (``search_log.jsonl``, ``train_log.jsonl``)."""

    def __init__(self, path: str):
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(dict(record), sort_keys=True) + "\n")
            handle.flush()

    def records(self) -> list[dict[str, Any]]:
        if not os.path.exists(self.path):
            return []
        with open(self.path) as handle:
            return [json.loads(line) for line in handle if line.strip()]


class Interrupted(Exception):
    """SIGINT or SIGTERM stopped a run after its checkpoint was written."""


class InterruptGuard:
    """Turns SIGINT/SIGTERM into a flag that the loop checks between steps (then checkpoints)."""

    def __init__(self):
        self.signal_name: Optional[str] = None
        self._previous = {}

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def _handler(self, signum, _frame):
        if self.signal_name is not None:  # a second signal: stop at once
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> "InterruptGuard":
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[signum] = signal.signal(signum, self._handler)
            except ValueError:  # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
