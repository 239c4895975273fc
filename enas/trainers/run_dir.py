"""The output directory of a run: config.json, the epoch log, TensorBoard, checkpoints, interrupts.

A run's directory is resumable: running the same command again continues from the last checkpoint.
A directory holding a run of another kind, search space or configuration is refused with a message
that says how to start over.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import tempfile
from typing import Any, Mapping, Optional

from enas import __version__
from enas.config import SECTION_TYPES, Config
from enas.errors import ConfigError, OutputDirError

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
# What a run writes at the top of its output directory; --reset_output_dir deletes these and nothing else.
RUN_FILES = {CONFIG_FILE, "search_log.jsonl", "train_log.jsonl", "derived.json", "derived.dot", "derived.png",
             "final_metrics.json", "model.keras"}
# Folders a run writes -> name prefixes of the files in them that the run writes.
RUN_DIRS = {CHECKPOINT_DIR: ("checkpoint", "ckpt-"), "tensorboard": ("events.out.tfevents.",)}
# Run-section fields that may change between a run and its resumption.
_RESUMABLE_RUN_FIELDS = {"num_epochs", "reset_output_dir", "log_every", "eval_every_epochs", "progress",
                         "derive_num_samples", "derive_top_k", "derive_num_batches", "max_eval_batches",
                         "jit_compile", "output_dir", "checkpoint_every_steps", "checkpoint_every_minutes",
                         "distribution", "devices", "logical_cpu_devices"}
# Per section, the fields that may change between a run and its resumption (the child's: how its step
# is compiled, not what it computes).
_RESUMABLE_FIELDS = {"run": _RESUMABLE_RUN_FIELDS, "child": {"compiled_switches", "recompute"}}


def atomic_write_json(path: str, value: Any) -> None:
    """Writes JSON to ``path`` through a temporary file and a rename (never a half-written file)."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; the result gets the user's usual mode
    os.replace(tmp, path)


def read_json(path: str) -> Any:
    with open(path) as handle:
        return json.load(handle)


def _identity(config_dict: Mapping[str, Any]) -> dict[str, Any]:
    """The flattened fields that must match to resume a run."""
    flat = {}
    for section, values in config_dict.items():
        for key, value in values.items():
            if key in _RESUMABLE_FIELDS.get(section, ()):
                continue
            flat[f"{section}.{key}"] = value
    return flat


def _with_defaults(config_dict: Mapping[str, Any]) -> dict[str, Any]:
    """``config_dict`` (a saved ``Config.to_dict()``) with every field it lacks at its current default."""
    filled = {section: dict(values) for section, values in config_dict.items()}
    for section, section_type in SECTION_TYPES.items():
        values = filled.setdefault(section, {})
        for field in dataclasses.fields(section_type):
            if field.name not in values and field.default is not dataclasses.MISSING:
                values[field.name] = field.default
    return filled


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_output_dir(config: Config, kind: str) -> bool:
    """Checks ``config.run.output_dir`` without writing to it; returns True when it holds a run to resume.

    Raises :class:`OutputDirError` for a path that is a file or cannot be written, a reset that would
    delete anything but an enas run's own files, and a directory holding another run (kind or
    configuration) that has a checkpoint. A run without a checkpoint may be reconfigured freely.
    Called before any data is loaded, so bad input is reported before anything is written.
    """
    output_dir = config.run.output_dir
    check_writable(output_dir)
    if config.run.reset_output_dir:
        _check_resettable(output_dir)
        return False
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return False
    previous = _read_record(path)
    if not has_checkpoint(output_dir):
        return False  # nothing to resume: a first start that failed may be retried with other flags
    if previous.get("kind") != kind:
        raise OutputDirError(
            f"{output_dir} holds a {previous.get('kind')} run, not a {kind} run; use another --output_dir "
            "or pass --reset_output_dir to delete that run's files and start over")
    # A setting added after the run was written is missing from its config.json: the run had its default.
    old = _identity(_with_defaults(previous.get("config", {})))
    new = _identity(config.to_dict())
    changed = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    if changed:
        details = ", ".join(f"{key}: {old.get(key)!r} -> {new.get(key)!r}" for key in changed[:4])
        more = f" and {len(changed) - 4} more" if len(changed) > 4 else ""
        raise OutputDirError(
            f"{output_dir} holds a run with another configuration ({details}{more}); refusing to resume it. "
            "Pass --reset_output_dir to start over, or use another --output_dir")
    return True


def prepare_output_dir(config: Config, kind: str) -> bool:
    """Checks the run directory, resets it if asked, writes ``config.json``; True when resuming.

    ``kind`` is ``"search"`` or ``"final"``. Call it once the inputs are validated and the data is
    loaded: a start that fails earlier leaves nothing behind.
    """
    resuming = check_output_dir(config, kind)
    output_dir = config.run.output_dir
    if config.run.reset_output_dir:
        reset_run_files(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    for name in os.listdir(output_dir):  # temporaries of an atomic write that was killed
        if name.startswith(".tmp-") and name.endswith(".json"):
            os.remove(os.path.join(output_dir, name))
    record = {"kind": kind, "enas_version": __version__, "config": config.to_dict()}
    atomic_write_json(os.path.join(output_dir, CONFIG_FILE), record)  # keeps resumable fields current
    return resuming


def _read_record(path: str) -> dict:
    try:
        record = read_json(path)
    except (OSError, ValueError) as error:
        raise OutputDirError(f"{path} is unreadable ({error}); move it away or use another --output_dir") from None
    if not isinstance(record, dict) or not isinstance(record.get("config"), dict) or "kind" not in record:
        raise OutputDirError(f"{path} is not the config.json of an enas run; use another --output_dir")
    return record


def check_writable(output_dir: str) -> None:
    """Refuses a path that is a file, cannot be created, or is not writable (writes nothing)."""
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise OutputDirError(f"--output_dir: {output_dir} is a file, not a directory")
    existing = os.path.abspath(output_dir)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise OutputDirError(f"--output_dir: {output_dir} cannot be created: {existing} is a file")
    if not os.access(existing, os.W_OK | os.X_OK) or _read_only_filesystem(existing):
        what = "is not writable" if existing == os.path.abspath(output_dir) else f"cannot be created in {existing}"
        raise OutputDirError(f"--output_dir: {output_dir} {what} (permission denied or a read-only file system)")


def _read_only_filesystem(path: str) -> bool:
    # os.access ignores read-only mounts (/proc, /sys) for root; statvfs does not.
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY) or os.path.realpath(path).startswith(("/proc", "/sys"))
    except OSError:
        return True


def _check_resettable(output_dir: str) -> None:
    """Refuses a reset of anything but an enas run directory (or an empty or missing one)."""
    real = os.path.realpath(output_dir)
    cwd = os.path.realpath(os.getcwd())
    protected = {os.path.realpath(os.path.expanduser("~")), os.path.sep}
    if real in protected or cwd == real or cwd.startswith(real.rstrip(os.path.sep) + os.path.sep):
        raise OutputDirError(f"--reset_output_dir: refusing to reset {output_dir}: it is the current directory, "
                             "one of its parents or your home directory; give the run's own directory")
    if not os.path.isdir(output_dir) or not os.listdir(output_dir):
        return
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise OutputDirError(f"--reset_output_dir: {output_dir} holds no enas run ({CONFIG_FILE} is missing); "
                             "refusing to delete anything in it. Use another --output_dir")
    _read_record(path)


def has_checkpoint(output_dir: str) -> bool:
    """Whether ``output_dir/checkpoints`` holds a checkpoint (the index or any finished ``ckpt-N``)."""
    directory = os.path.join(output_dir, CHECKPOINT_DIR)
    if not os.path.isdir(directory):
        return False
    return any(name == "checkpoint" or (name.startswith("ckpt-") and name.endswith(".index"))
               for name in os.listdir(directory))


def reset_run_files(output_dir: str) -> list[str]:
    """Deletes the files an enas run writes in ``output_dir`` (and nothing else); returns what it deleted.

    Files of other origin (and the folders holding them) are kept.
    """
    if not os.path.isdir(output_dir):
        return []
    deleted = []
    for name in sorted(os.listdir(output_dir)):
        path = os.path.join(output_dir, name)
        if name in RUN_FILES or (name.startswith(".tmp-") and name.endswith(".json")):
            if os.path.isfile(path) or os.path.islink(path):
                os.remove(path)
                deleted.append(path)
        elif name in RUN_DIRS and os.path.isdir(path) and not os.path.islink(path):
            deleted.extend(_remove_tool_tree(path, RUN_DIRS[name]))
    return deleted


def _remove_tool_tree(directory: str, prefixes: tuple) -> list[str]:
    """Removes files whose names start with one of ``prefixes`` (and ``ckpt-N_temp`` folders) under
    ``directory``, then the folders left empty."""
    deleted = []
    for root, dirs, files in os.walk(directory, topdown=False):
        inside_temp = any(part.startswith("ckpt-") and part.endswith("_temp")
                          for part in os.path.relpath(root, directory).split(os.path.sep))
        for name in files:
            if inside_temp or name.startswith(prefixes):
                os.remove(os.path.join(root, name))
                deleted.append(os.path.join(root, name))
        for name in dirs:
            path = os.path.join(root, name)
            if not os.path.islink(path) and not os.listdir(path):
                os.rmdir(path)
    if not os.listdir(directory):
        os.rmdir(directory)
    return deleted


def load_run_config(output_dir: str) -> tuple[str, Config]:
    """The kind and :class:`Config` of the run stored in ``output_dir``."""
    path = os.path.join(output_dir, CONFIG_FILE)
    if not os.path.exists(path):
        raise OutputDirError(f"{output_dir} holds no run ({CONFIG_FILE} is missing): it is not the output "
                             "directory of a finished or interrupted enas-search")
    record = _read_record(path)
    try:
        return record.get("kind", ""), Config.from_dict(record["config"])
    except (TypeError, ValueError, AttributeError) as error:
        raise OutputDirError(f"{path} is not the config.json of an enas run ({error})") from None


def read_derived_arc(path: str) -> str:
    """The best architecture string of a ``derived.json`` file (or of a search output directory)."""
    if os.path.isdir(path):
        path = os.path.join(path, "derived.json")
    if not os.path.exists(path):
        raise ConfigError(f"--derived_json: {path} does not exist; run enas-search (or enas-derive) first")
    try:
        derived = read_json(path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"--derived_json: {path} is not readable JSON ({error})") from None
    best = derived.get("best") if isinstance(derived, dict) else None
    if not isinstance(best, dict) or not isinstance(best.get("arc"), str) or not best["arc"].strip():
        raise ConfigError(f"--derived_json: {path} is not a derived.json of enas-search (no best.arc string)")
    return best["arc"]


class JsonlLog:
    """Appends one JSON object per line (``search_log.jsonl``, ``train_log.jsonl``)."""

    def __init__(self, path: str):
        self.path = path

    def append(self, record: Mapping[str, Any]) -> None:
        with open(self.path, "a") as handle:
            handle.write(json.dumps(dict(record), sort_keys=True) + "\n")
            handle.flush()

    def records(self) -> list[dict[str, Any]]:
        """The logged records; a line cut short by a kill is skipped."""
        if not os.path.exists(self.path):
            return []
        records = []
        with open(self.path) as handle:
            for line in handle:
                try:
                    records.append(json.loads(line))
                except ValueError:
                    continue
        return records

    def drop_after(self, epoch: int) -> int:
        """Keeps only the records of epochs ``<= epoch`` (those the restored checkpoint includes).

        A run killed after logging an epoch but before its checkpoint was written redoes that epoch
        when resumed; dropping its line first keeps one line per epoch. Returns the lines dropped.
        """
        if not os.path.exists(self.path):
            return 0
        with open(self.path) as handle:
            lines = handle.readlines()
        kept = []
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # cut short by a kill
            if isinstance(record, dict) and int(record.get("epoch", 0)) <= epoch:
                kept.append(line if line.endswith("\n") else line + "\n")
        if len(kept) != len(lines):
            directory = os.path.dirname(os.path.abspath(self.path))
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w") as handle:
                handle.writelines(kept)
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, self.path)
        return len(lines) - len(kept)


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
