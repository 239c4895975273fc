"""Derivation: take the strategy's candidate architectures, score them, write the best.

The paper: "sample several models from the trained policy, score each on a validation minibatch,
retrain the best from scratch". Here every candidate of the strategy (ENAS: controller samples;
random search: uniform samples; duplicates removed) is scored by the shared child, in the run's
reward batch-norm mode, on the same first ``derive_num_batches`` validation batches, and
``derived.json`` lists the best and the top-k with their scores. A graphviz diagram of the best goes beside it
(``derived.dot``, and ``derived.png`` where graphviz's ``dot`` is installed, also logged to
TensorBoard).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from typing import Any, Optional

import numpy as np
import tensorflow as tf

from enas.errors import OutputDirError
from enas.spaces import get_space
from enas.strategies import make_strategy
from enas.trainers import run_dir
from enas.trainers.checkpoints import RunCheckpoint
from enas.trainers.tasks import make_search_task

DERIVED_FILE = "derived.json"
DERIVE_SEED_OFFSET = 7919


def _entry(space, config, tokens, score: float, log_prob: float) -> dict[str, Any]:
    arc = space.arc_from_tokens(tokens, config.child)
    return {"arc": arc.to_string(), "score": float(score), "log_prob": float(log_prob),
            "json": json.loads(arc.to_json())}


def _write_diagram(space, config, best_tokens, output_dir: str, writer) -> Optional[str]:
    if space.to_dot is None:
        return None
    dot_path = os.path.join(output_dir, "derived.dot")
    with open(dot_path, "w") as handle:
        handle.write(space.to_dot(space.arc_from_tokens(best_tokens, config.child)))
    dot_binary = shutil.which("dot")
    if dot_binary is None:
        return dot_path
    png_path = os.path.join(output_dir, "derived.png")
    result = subprocess.run([dot_binary, "-Tpng", dot_path, "-o", png_path], capture_output=True, check=False)
    if result.returncode == 0 and writer is not None:
        image = tf.io.decode_png(tf.io.read_file(png_path), channels=3)
        with writer.as_default(step=0):
            tf.summary.image("derived_architecture", image[None], step=0)
        writer.flush()
    return png_path if result.returncode == 0 else dot_path


def derive_and_write(config, space, task, strategy, output_dir: str, writer=None) -> dict[str, Any]:
    """Scores ``derive_num_samples`` of the strategy's candidates, writes ``derived.json``."""
    run = config.run
    # A seed of its own: derivation is repeatable and leaves the strategy's streams alone.
    seen, unique = set(), []
    for row, prior in strategy.candidates(run.derive_num_samples, seed=run.seed + DERIVE_SEED_OFFSET):
        key = tuple(int(t) for t in np.asarray(row).reshape(-1))
        if key not in seen:
            seen.add(key)
            unique.append((key, float(prior)))
    num_batches = run.derive_num_batches
    scored = [(task.score(np.array(key, np.int32), num_batches), key, prior) for key, prior in unique]
    scored.sort(key=lambda item: (-item[0], -item[2]))
    top = [_entry(space, config, key, score, prior) for score, key, prior in scored[:run.derive_top_k]]
    derived = {
        "search_for": space.name, "strategy": strategy.name, "reward_bn": getattr(task, "reward_bn", "") or "",
        "best": top[0], "top": top, "num_samples": run.derive_num_samples,
        "num_unique": len(unique), "num_batches": num_batches,
    }
    for name, tokens in strategy.extra_candidates().items():
        tokens = np.asarray(tokens, np.int32).reshape(-1)
        derived[name] = {"arc": space.arc_from_tokens(tokens, config.child).to_string(),
                         "score": float(task.score(tokens, num_batches))}
    diagram = _write_diagram(space, config, scored[0][1], output_dir, writer)
    if diagram:
        derived["diagram"] = os.path.basename(diagram)
    run_dir.atomic_write_json(os.path.join(output_dir, DERIVED_FILE), derived)
    return derived


def load_search(output_dir: str, **run_overrides):
    """The config, space, task and strategy of the search in ``output_dir``, restored from its checkpoint.

    ``run_overrides`` replace fields of the run section (derivation settings). Raises
    :class:`OutputDirError` when ``output_dir`` holds no search or no checkpoint yet.
    """
    import dataclasses  # pylint: disable=import-outside-toplevel

    kind, config = run_dir.load_run_config(output_dir)
    if kind != "search":
        raise OutputDirError(f"{output_dir} holds a {kind} run; this needs the output of enas-search")
    # Derivation runs on one device unless asked (enas-rank passes its --distribution): the search's
    # devices or cluster need not be there now, and checkpoints do not depend on the distribution.
    run_overrides = {"distribution": "none", "devices": "", "logical_cpu_devices": 0, **run_overrides}
    config = config.replace(run=dataclasses.replace(config.run, output_dir=output_dir, **run_overrides))
    config.validate()
    space = get_space(config.child.search_for)
    task = make_search_task(space, config)
    strategy = make_strategy(space, config)
    checkpoint = RunCheckpoint(os.path.join(output_dir, "checkpoints"), {**task.trackables(), **strategy.trackables()})
    if not checkpoint.restore(partial=True):
        raise OutputDirError(f"{output_dir} has no checkpoint yet; let the search run at least one epoch")
    return config, space, task, strategy


def derive(output_dir: str, num_samples: Optional[int] = None, top_k: Optional[int] = None,
           num_batches: Optional[int] = None) -> dict[str, Any]:
    """Re-derives from a (finished or interrupted) search in ``output_dir`` with its saved state."""
    overrides = {key: value for key, value in (("derive_num_samples", num_samples), ("derive_top_k", top_k),
                                               ("derive_num_batches", num_batches)) if value is not None}
    config, space, task, strategy = load_search(output_dir, **overrides)
    return derive_and_write(config, space, task, strategy, output_dir)
