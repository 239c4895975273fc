"""Do older shared weights rank architectures better? The searches of an efficacy seed, trained on.

``bench/efficacy.py`` scores its architectures with shared weights after a short search (8 epochs), and
their ranking against stand-alone training stays near 0 (random search's weights rank backwards). One
explanation is the weights' age. This script copies the searches of a finished efficacy seed directory,
resumes each to every ``--epochs`` in turn (the same run: same config, data order and learning-rate
schedule, only ``num_epochs`` grows), and at each age scores the seed's architectures (its derived
and uniform ones, whose stand-alone accuracies the seed directory holds) with the shared weights in
every reward mode. It prints, per strategy and age, the Kendall tau-b of each mode's score against the
stored stand-alone accuracy, the mean score (how trained the weights are), and the tau of the score
against the number of skip connections and of 5x5 kernels (the biases ``bench/rank_features.py`` finds).

    python bench/shared_age.py --seed_dir=runs/efficacy_big/seed0 --epochs=30 \
        --base_scores=runs/rank_big/seed0/scores.json --output_dir=runs/shared_age/seed0

``--child=KEY=VALUE[,...]``: instead of training the efficacy searches on, run each strategy's search anew
(same config, seed and data) with these child settings replaced, and score at each ``--epochs`` age: does
another shared child rank the same architectures better? For example the macro child that combines skips
as the final model does:

    python bench/shared_age.py --seed_dir=runs/efficacy_big/seed0 --strategies=random --epochs=8 \
        --child=skip_mode=concat --output_dir=runs/concat/seed0

The copies (or new searches) go to ``<output_dir>/<strategy>`` (the efficacy directory is only read).
Resumable: a search resumes from its checkpoint, and the scores of each age are kept in ``ages.json``.
``--base_scores``: a ``bench/rank_ceiling.py`` scores.json of the same architectures, for the age of the
efficacy search (else they are computed from the efficacy search's own checkpoint).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import time
from typing import Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from enas.trainers.rank_stats import kendall_tau  # noqa: E402
from enas.trainers.run_dir import atomic_write_json  # noqa: E402
from rank_features import arc_features  # noqa: E402

AGES_FILE = "ages.json"
# The features whose tau against each score is shown (bench/rank_features.py: the scores' biases).
BIAS_FEATURES = ("skips", "k5")


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def load_seed(seed_dir: str) -> tuple[list[str], list[str], list[float], dict]:
    """(names, architecture strings, stored stand-alone accuracies, result.json) of an efficacy seed."""
    result = _read_json(os.path.join(seed_dir, "result.json"))
    if result is None or not result.get("standalone"):
        raise ValueError(f"{seed_dir} is not a finished bench/efficacy.py seed (no result.json "
                         "with stand-alone accuracies)")
    names = list(result["standalone"])
    arcs = []
    for name in names:
        metrics = _read_json(os.path.join(seed_dir, "standalone", name, "final_metrics.json"))
        if metrics is None:
            raise ValueError(f"{seed_dir}/standalone/{name} has no final_metrics.json")
        arcs.append(metrics["arc"])
    return names, arcs, [float(result["standalone"][n]) for n in names], result


def child_overrides(child, text: str):
    """``child`` with the ``KEY=VALUE`` pairs of ``text`` replaced (each value of its field's type)."""
    values = {}
    for pair in [p for p in text.split(",") if p]:
        key, _, value = pair.partition("=")
        if not hasattr(child, key) or not _:
            raise ValueError(f"'{pair}' is not KEY=VALUE with a child setting as KEY")
        current = getattr(child, key)
        if isinstance(current, bool):
            values[key] = value.lower() in ("1", "true", "yes")
        else:
            values[key] = type(current)(value) if current is not None else value
    return dataclasses.replace(child, **values)


def _tau(x, y) -> Optional[float]:
    value = kendall_tau(x, y)
    return None if value != value else value


def summary(scores: dict, standalone, features: dict) -> dict:
    """mode -> tau vs stand-alone, mean score, tau vs each feature (name -> one value per architecture)."""
    return {mode: {"tau": _tau(values, standalone), "mean_score": float(np.mean(values)),
                   **{f"tau_{name}": _tau(values, column) for name, column in features.items()}}
            for mode, values in scores.items()}


def table(ages: dict, standalone, features: dict) -> str:
    biases = ", ".join(f"{name} {_fmt(_tau(standalone, column))}" for name, column in features.items())
    lines = [f"shared-weight age: per reward mode, Kendall tau-b vs stand-alone (stored run) [mean score; tau vs "
             f"{', '.join(features)}]; {len(standalone)} architectures (stand-alone accuracy vs {biases})"]
    for strategy, by_age in ages.items():
        for epochs in sorted(by_age, key=int):
            figures = summary(by_age[epochs]["scores"], standalone, features)
            cells = "  ".join(f"{mode} {_fmt(f['tau'])} [{f['mean_score']:.3f}; "
                              + " ".join(_fmt(f[f'tau_{name}']) for name in features) + "]"
                              for mode, f in figures.items())
            lines.append(f"  {strategy:8s} {int(epochs):3d} epochs: {cells}")
    return "\n".join(lines)


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed_dir", required=True, help="a finished bench/efficacy.py seed directory")
    parser.add_argument("--strategies", default="", help="searches to train on ('' = every one in the seed)")
    parser.add_argument("--epochs", default="30", help="ages (search epochs in all) to score at, ascending")
    parser.add_argument("--base_scores", default="", help="a bench/rank_ceiling.py scores.json of these "
                        "architectures (the efficacy search's age)")
    parser.add_argument("--score_batches", type=int, default=0, help="validation batches per score (0: all)")
    parser.add_argument("--child", default="", help="KEY=VALUE,...: search anew with these child settings")
    parser.add_argument("--output_dir", default="runs/shared_age")
    args = parser.parse_args(argv)
    try:
        ages_wanted = [int(e) for e in args.epochs.split(",") if e]
    except ValueError:
        parser.exit(2, f"error: --epochs must be integers separated by ',', got '{args.epochs}'\n")
    if not ages_wanted or ages_wanted != sorted(set(ages_wanted)) or ages_wanted[0] < 1:
        parser.exit(2, f"error: --epochs must be positive and ascending, got '{args.epochs}'\n")
    try:
        names, arcs, standalone, result = load_seed(args.seed_dir)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    strategies = args.strategies.split(",") if args.strategies else list(result.get("derived", {}))
    features = {name: [arc_features(arc)[name] for arc in arcs] for name in BIAS_FEATURES}
    os.makedirs(args.output_dir, exist_ok=True)
    path = os.path.join(args.output_dir, AGES_FILE)
    state = _read_json(path) or {}
    if (state.get("arcs") != arcs or state.get("score_batches") != args.score_batches
            or state.get("child", "") != args.child):
        if state.get("ages"):
            parser.exit(2, f"error: {path} holds scores of other architectures or settings; use another "
                           "--output_dir\n")
        state = {"seed_dir": args.seed_dir, "names": names, "arcs": arcs, "standalone": standalone,
                 "score_batches": args.score_batches, "child": args.child, "ages": {}}
    base = _read_json(args.base_scores) if args.base_scores else None
    if args.base_scores and (base is None or base.get("arcs") != arcs
                             or base.get("score_batches") != args.score_batches):
        parser.exit(2, f"error: --base_scores {args.base_scores} does not hold scores of these architectures "
                       "at this --score_batches\n")

    from enas.config import Config  # pylint: disable=import-outside-toplevel
    from enas.data import load_image_data  # pylint: disable=import-outside-toplevel
    from enas.trainers.derive import load_search  # pylint: disable=import-outside-toplevel
    from enas.trainers.rank import score_architectures  # pylint: disable=import-outside-toplevel
    from enas.trainers.search import search  # pylint: disable=import-outside-toplevel

    data = None
    for strategy in strategies:
        source = os.path.join(args.seed_dir, strategy)
        saved = _read_json(os.path.join(source, "config.json"))
        if saved is None:
            parser.exit(2, f"error: {source} holds no search\n")
        config = Config.from_dict(saved["config"])
        base_epochs = str(config.run.num_epochs)
        if args.child:
            try:
                config = config.replace(child=child_overrides(config.child, args.child)).validate()
            except (ValueError, TypeError) as error:
                parser.exit(2, f"error: --child: {error}\n")
            base_epochs = "0"  # a new search: nothing to score before the first age
        by_age = state["ages"].setdefault(strategy, {})
        if base_epochs not in by_age and not args.child:
            if base is not None and strategy in base.get("scores", {}):
                by_age[base_epochs] = {"scores": base["scores"][strategy], "seconds": 0.0}
            else:
                print(f"shared_age: scoring {len(arcs)} architectures with {source} ({base_epochs} epochs)", flush=True)
                search_config, space, task, _ = load_search(source)
                tokens = [space.parse_arc(arc, search_config.child).to_tokens() for arc in arcs]
                by_age[base_epochs] = {"scores": score_architectures(task, tokens, args.score_batches), "seconds": 0.0}
                del task
            atomic_write_json(path, state)
        destination = os.path.join(args.output_dir, strategy)
        if not os.path.exists(destination) and not args.child:
            shutil.copytree(source, destination + ".tmp", dirs_exist_ok=True)
            os.replace(destination + ".tmp", destination)
        for epochs in ages_wanted:
            if str(epochs) in by_age or epochs <= int(base_epochs):
                continue
            run = dataclasses.replace(config.run, num_epochs=epochs, output_dir=destination)
            resumed = config.replace(run=run)
            if data is None:
                data = load_image_data(resumed.data)
            print(f"shared_age: {strategy} search resumed to {epochs} epochs in {destination}", flush=True)
            start = time.time()
            derived = search(resumed, data=data)
            seconds = round(time.time() - start, 1)
            search_config, space, task, _ = load_search(destination)
            tokens = [space.parse_arc(arc, search_config.child).to_tokens() for arc in arcs]
            by_age[str(epochs)] = {"scores": score_architectures(task, tokens, args.score_batches),
                                   "seconds": seconds, "derived": derived["best"]["arc"]}
            del task
            atomic_write_json(path, state)
            print(table(state["ages"], standalone, features), flush=True)
    text = table(state["ages"], standalone, features)
    print(text)
    state["table"] = text
    atomic_write_json(path, state)
    return state


if __name__ == "__main__":
    main()
