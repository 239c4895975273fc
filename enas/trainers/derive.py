"""Derivation: sample architectures from the trained controller, score them, write the best.

The paper: "sample several models from the trained policy, score each on a validation minibatch,
retrain the best from scratch". Here every sampled architecture (duplicates removed) is scored by
the shared child on the same first ``derive_num_batches`` validation batches, and ``derived.json``
lists the best and the top-k with their scores. A graphviz diagram of the best goes beside it
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

from enas.controller import Controller
from enas.errors import OutputDirError
from enas.spaces import get_space
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


def derive_and_write(config, space, task, controller, output_dir: str, writer=None) -> dict[str, Any]:
    """Samples ``derive_num_samples`` architectures, scores them, writes ``derived.json``."""
    run = config.run
    # A seed of its own: derivation is repeatable and leaves the controller's sampling stream alone.
    sample = controller.sample(run.derive_num_samples, seed=run.seed + DERIVE_SEED_OFFSET)
    tokens, log_probs = np.asarray(sample.tokens), np.asarray(sample.log_prob)
    seen, unique = set(), []
    for row, log_prob in zip(tokens, log_probs):
        key = tuple(int(t) for t in row)
        if key not in seen:
            seen.add(key)
            unique.append((key, float(log_prob)))
    num_batches = run.derive_num_batches
    scored = [(task.score(np.array(key, np.int32), num_batches), key, log_prob) for key, log_prob in unique]
    scored.sort(key=lambda item: (-item[0], -item[2]))
    top = [_entry(space, config, key, score, log_prob) for score, key, log_prob in scored[:run.derive_top_k]]
    greedy = np.asarray(controller.greedy().tokens).reshape(-1)
    derived = {
        "search_for": space.name, "best": top[0], "top": top, "num_samples": run.derive_num_samples,
        "num_unique": len(unique), "num_batches": num_batches,
        "greedy": {"arc": space.arc_from_tokens(greedy, config.child).to_string(),
                   "score": float(task.score(greedy.astype(np.int32), num_batches))},
    }
    diagram = _write_diagram(space, config, scored[0][1], output_dir, writer)
    if diagram:
        derived["diagram"] = os.path.basename(diagram)
    run_dir.atomic_write_json(os.path.join(output_dir, DERIVED_FILE), derived)
    return derived


def derive(output_dir: str, num_samples: Optional[int] = None, top_k: Optional[int] = None,
           num_batches: Optional[int] = None) -> dict[str, Any]:
    """Re-derives from a (finished or interrupted) search in ``output_dir`` with its saved state."""
    import dataclasses  # pylint: disable=import-outside-toplevel

    kind, config = run_dir.load_run_config(output_dir)
    if kind != "search":
        raise OutputDirError(f"{output_dir} holds a {kind} run; enas-derive needs the output of enas-search")
    overrides = {key: value for key, value in (("derive_num_samples", num_samples), ("derive_top_k", top_k),
                                               ("derive_num_batches", num_batches)) if value is not None}
    config = config.replace(run=dataclasses.replace(config.run, output_dir=output_dir, **overrides))
    config.validate()
    space = get_space(config.child.search_for)
    task = make_search_task(space, config)
    controller = Controller.from_config(space.controller_space(config.child), config.controller)
    checkpoint = RunCheckpoint(os.path.join(output_dir, "checkpoints"), {**task.trackables(), "controller": controller})
    if not checkpoint.restore(partial=True):
        raise OutputDirError(f"{output_dir} has no checkpoint yet; let the search run at least one epoch")
    return derive_and_write(config, space, task, controller, output_dir)
