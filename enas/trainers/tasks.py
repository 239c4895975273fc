"""Builds the task (child model + data) for a space's kind of task: image or language."""

from __future__ import annotations

import contextlib
import importlib

from enas.config import Config
from enas.spaces import Space

# task kind -> (module, search task class, final task class)
_TASK_CLASSES = {
    "image": ("enas.trainers.image_task", "ImageSearchTask", "ImageFinalTask"),
    "language": ("enas.trainers.language_task", "LanguageSearchTask", "LanguageFinalTask"),
}


def _task_class(space: Space, index: int):
    module_name, *class_names = _TASK_CLASSES[space.task]
    return getattr(importlib.import_module(module_name), class_names[index])


@contextlib.contextmanager
def _building(space: Space, config: Config, search: bool):
    """Where a task is built: under ``--distribution``'s strategy scope (``enas.trainers.distribute``),
    its batch norms synchronized with ``--child_sync_bn``; nothing at all with ``--distribution=none``."""
    if config.run.distribution == "none":
        yield
        return
    from enas.spaces.layers import synchronized_batch_norm  # pylint: disable=import-outside-toplevel
    from enas.trainers import distribute  # pylint: disable=import-outside-toplevel

    distribute.check_supported(space, config, search)
    distribution = distribute.current(config.run, [config.data.batch_size])
    with distribution.scope(), synchronized_batch_norm(config.child.sync_bn):
        yield


def make_search_task(space: Space, config: Config, data=None):
    """The :class:`enas.trainers.task.SearchTask` of ``space`` (``data``: optional preloaded data)."""
    cls = _task_class(space, 0)
    with _building(space, config, search=True):
        return cls(space, config, data) if data is not None else cls(space, config)


def make_final_task(space: Space, arc, config: Config, data=None):
    """The :class:`enas.trainers.task.FinalTask` of ``space`` for architecture ``arc``."""
    cls = _task_class(space, 1)
    with _building(space, config, search=False):
        return cls(space, arc, config, data) if data is not None else cls(space, arc, config)
