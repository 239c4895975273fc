"""Does the shared-weight score rank architectures like stand-alone training? (``enas-rank``)

From a search output directory: take K architectures (half the strategy's candidates, half uniform),
score each with the search's shared weights in every reward batch-norm mode of the space, train each
from scratch with the final-training code for a short budget, and write ``rank.json`` (per
architecture: string, shared-weight scores, stand-alone accuracy, parameters; per reward mode:
Kendall tau, Spearman rho, top-k overlap) and ``rank.png`` (stand-alone accuracy against score).

Resumable: every stand-alone training runs in ``<output_dir>/archs/NN`` (itself resumable), and
``rank_state.json`` keeps what is done, so an interrupted ranking keeps the architectures it trained.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import Any, Optional, Sequence

import numpy as np

from enas.config import RankConfig, RunConfig
from enas.errors import ConfigError, OutputDirError
from enas.trainers import run_dir
from enas.trainers.rank_stats import kendall_tau, spearman_rho, top_k_overlap

RANK_FILE, STATE_FILE, PLOT_FILE = "rank.json", "rank_state.json", "rank.png"
_RANK_SEED_OFFSET = 15485863
# Language tasks score with the reward (80 / perplexity); they have no batch-norm modes.
_LANGUAGE_MODE = "reward"


def choose_architectures(strategy, num_archs: int, seed: int) -> list[tuple[tuple[int, ...], str]]:
    """``num_archs`` distinct architectures: up to half from the strategy, the rest uniform."""
    chosen: dict[tuple[int, ...], str] = {}
    want = num_archs // 2
    for row, _ in strategy.candidates(20 * num_archs, seed=seed + _RANK_SEED_OFFSET):
        if len(chosen) >= want:
            break
        chosen.setdefault(tuple(int(t) for t in np.asarray(row).reshape(-1)), strategy.name)
    rng_seed = seed + 2 * _RANK_SEED_OFFSET
    while len(chosen) < num_archs:
        for row in strategy.decisions.random_tokens(4 * num_archs, seed=rng_seed):
            if len(chosen) < num_archs:
                chosen.setdefault(tuple(int(t) for t in row), "uniform")
        rng_seed += 1
    return list(chosen.items())


def score_architectures(task, tokens_list: Sequence[Sequence[int]], num_batches: int) -> dict[str, list[float]]:
    """Shared-weight scores of each architecture in every reward mode of ``task`` (mode -> scores)."""
    modes = tuple(task.reward_modes) or (_LANGUAGE_MODE,)
    return {mode: [float(task.score(np.asarray(tokens, np.int32), num_batches,
                                    mode=None if mode == _LANGUAGE_MODE else mode)) for tokens in tokens_list]
            for mode in modes}


def correlations(scores: Sequence[float], standalone: Sequence[float], top_k: int) -> dict[str, float]:
    """Kendall tau, Spearman rho and top-k overlap between shared-weight scores and stand-alone accuracies."""
    return {"kendall_tau": kendall_tau(scores, standalone), "spearman_rho": spearman_rho(scores, standalone),
            f"top_{top_k}_overlap": top_k_overlap(scores, standalone, top_k)}


def standalone_config(search_config, arc_string: str, output_dir: str, rank: RankConfig):
    """The final-training config of one architecture at the search's data and child settings (with
    ``rank.anneal``, one cosine period of the image child's learning rate over the training)."""
    run = RunConfig(output_dir=output_dir, num_epochs=rank.train_epochs, max_steps_per_epoch=rank.max_steps_per_epoch,
                    max_eval_batches=search_config.run.max_eval_batches, seed=rank.seed, progress=False,
                    distribution=rank.distribution, devices=rank.devices, logical_cpu_devices=rank.logical_cpu_devices)
    child = dataclasses.replace(search_config.child, fixed_arc=arc_string)
    if rank.anneal:
        child = dataclasses.replace(child, lr_T_0=rank.train_epochs, lr_T_mul=1)
    return search_config.replace(run=run, child=child)


def standalone_quality(metrics: dict[str, Any]) -> float:
    """Test accuracy (images) or 80 / test perplexity (language: the reward's scale)."""
    if "test_accuracy" in metrics:
        return float(metrics["test_accuracy"])
    return 80.0 / float(metrics["test_ppl"])


def _check_resumable(path: str, settings: dict[str, Any]) -> Optional[dict[str, Any]]:
    if not os.path.exists(path):
        return None
    try:
        state = run_dir.read_json(path)
    except (OSError, ValueError) as error:
        raise OutputDirError(f"{path} is unreadable ({error}); use another --output_dir") from None
    if state.get("settings") != settings:
        raise OutputDirError(f"{os.path.dirname(path)} holds a ranking with other settings ({state.get('settings')}); "
                             "use another --output_dir")
    return state


def rank(config: RankConfig, data=None) -> dict[str, Any]:
    """Runs (or resumes) the ranking described by ``config``; returns the contents of ``rank.json``."""
    from enas.trainers.derive import load_search  # pylint: disable=import-outside-toplevel
    from enas.trainers.final import train_final  # pylint: disable=import-outside-toplevel

    config = config.validate()
    if config.distribution == "multi_worker":
        raise ConfigError("--distribution=multi_worker: enas-rank runs on one machine (none or mirrored)")
    if os.path.abspath(config.output_dir) == os.path.abspath(config.search_dir):
        raise ConfigError("--output_dir: must differ from --search_dir (the search's files stay untouched)")
    distribution = {name: getattr(config, name) for name in ("distribution", "devices", "logical_cpu_devices")}
    search_config, space, task, strategy = load_search(config.search_dir, **distribution)
    os.makedirs(config.output_dir, exist_ok=True)
    settings = {key: value for key, value in dataclasses.asdict(config).items()
                if key not in ("search_dir", "output_dir", "progress", "distribution", "devices",
                               "logical_cpu_devices")}
    settings["search_dir"] = os.path.abspath(config.search_dir)
    state_path = os.path.join(config.output_dir, STATE_FILE)
    state = _check_resumable(state_path, settings)
    if state is None:
        archs = choose_architectures(strategy, config.num_archs, config.seed)
        entries = [{"tokens": list(tokens), "source": source,
                    "arc": space.arc_from_tokens(tokens, search_config.child).to_string()} for tokens, source in archs]
        scores = score_architectures(task, [e["tokens"] for e in entries], config.score_batches)
        for index, entry in enumerate(entries):
            entry["shared_scores"] = {mode: values[index] for mode, values in scores.items()}
        state = {"settings": settings, "archs": entries}
        run_dir.atomic_write_json(state_path, state)
    entries = state["archs"]
    for index, entry in enumerate(entries):
        if "standalone" in entry:
            continue
        if config.progress:
            print(f"rank: training {index + 1}/{len(entries)} ({entry['source']}) {entry['arc']}", flush=True)
        arc_dir = os.path.join(config.output_dir, "archs", f"{index:02d}")
        final = standalone_config(search_config, entry["arc"], arc_dir, config)
        metrics = train_final(final, data=data if data is not None else task.data)
        entry.update(standalone=standalone_quality(metrics), num_params=int(metrics["num_params"]),
                     standalone_metrics={k: v for k, v in metrics.items() if isinstance(v, (int, float))})
        run_dir.atomic_write_json(state_path, state)
        if config.progress:
            shared = ", ".join(f"{mode} {score:.4f}" for mode, score in entry["shared_scores"].items())
            print(f"rank: {index + 1}/{len(entries)} stand-alone {entry['standalone']:.4f}; shared: {shared}",
                  flush=True)
    standalone = [entry["standalone"] for entry in entries]
    modes = list(entries[0]["shared_scores"])
    result = {
        "search_dir": config.search_dir, "search_for": space.name, "strategy": search_config.search.strategy,
        "reward_bn": getattr(task, "reward_bn", "") or "", "num_archs": len(entries),
        "train_epochs": config.train_epochs, "anneal": config.anneal, "score_batches": config.score_batches,
        "standalone_metric": "test_accuracy" if space.task == "image" else "80 / test_ppl",
        "archs": [{k: v for k, v in entry.items() if k != "tokens"} for entry in entries],
        "modes": {mode: correlations([e["shared_scores"][mode] for e in entries], standalone, config.top_k)
                  for mode in modes},
    }
    run_dir.atomic_write_json(os.path.join(config.output_dir, RANK_FILE), result)
    plot = write_plot(result, os.path.join(config.output_dir, PLOT_FILE))
    if plot is None:
        print("rank: matplotlib is not installed; rank.png was not drawn", file=sys.stderr)
    return result


def write_plot(result: dict[str, Any], path: str) -> Optional[str]:
    """``rank.png``: stand-alone accuracy against the shared-weight score, one panel per reward mode."""
    try:
        import matplotlib  # pylint: disable=import-outside-toplevel

        matplotlib.use("Agg")
        from matplotlib import pyplot  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    modes = list(result["modes"])
    figure, axes = pyplot.subplots(1, len(modes), figsize=(4.2 * len(modes), 3.8), squeeze=False)
    standalone = [a["standalone"] for a in result["archs"]]
    for axis, mode in zip(axes[0], modes):
        scores = [a["shared_scores"][mode] for a in result["archs"]]
        for source, marker in (("uniform", "o"), (result["strategy"], "^")):
            picked = [i for i, a in enumerate(result["archs"]) if a["source"] == source]
            axis.scatter([scores[i] for i in picked], [standalone[i] for i in picked], marker=marker, label=source)
        stats = result["modes"][mode]
        axis.set_title(f"{mode}: tau {stats['kendall_tau']:.2f}, rho {stats['spearman_rho']:.2f}")
        axis.set_xlabel("shared-weight score")
        axis.set_ylabel(f"stand-alone {result['standalone_metric']}")
        axis.legend(fontsize="small")
    figure.suptitle(f"{result['search_for']} search ({result['strategy']}): {result['num_archs']} architectures, "
                    f"{result['train_epochs']} stand-alone epochs", fontsize="medium")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return path
