"""Which architecture features do shared-weight scores and stand-alone accuracies follow?

``bench/efficacy.py`` and ``bench/rank_ceiling.py`` measure *that* a shared-weight score ranks the macro
architectures poorly (and random search's weights backwards); this script asks *why*. For every
architecture of one or more finished ``bench/rank_ceiling.py`` directories (each holds the architecture
strings, the stand-alone accuracies of every run, and every search's shared-weight score in every reward
mode) it counts simple features of the macro architecture:

- ``params``: trainable parameters of the stand-alone network (its ``final_metrics.json``);
- ``pool``: layers whose op is a pooling (avg or max); ``sep``: separable-convolution layers;
  ``conv``: plain-convolution layers; ``k5``: layers with a 5x5 kernel;
- ``skips``: skip connections (skip bits set);
- ``last_pool``: 1 when the last layer's op is a pooling.

and prints the Kendall tau-b of each feature against the stand-alone accuracy (the mean of the runs) and
against each search's score in each reward mode, per seed and the mean over seeds. A feature that the
scores follow and the stand-alone accuracy does not (or the other way round) is a bias of the shared
weights. It also prints each score's tau against the stand-alone accuracy within the architectures that
agree on the most biased feature's median split (the ranking once that feature is held roughly fixed).

    python bench/rank_ceiling.py --seed_dir=runs/efficacy_big/seed0 --repeats=0 --stats_only \
        --output_dir=runs/rank_big/seed0          # (and seed1, seed2): the scores, nothing trained
    python bench/rank_features.py --ceiling_dirs=runs/rank_big/seed0,runs/rank_big/seed1,runs/rank_big/seed2

Nothing is trained or scored here; ``--output`` writes every figure as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from enas.spaces.macro.arc import OP_KINDS, MacroArc  # noqa: E402
from enas.trainers.rank_stats import kendall_tau  # noqa: E402

CEILING_FILE = "rank_ceiling.json"
FEATURES = ("params", "pool", "sep", "conv", "k5", "skips", "last_pool")


def arc_features(arc: str, num_params: Optional[int] = None) -> dict:
    """The features of one macro architecture string (``params`` only when given)."""
    parsed = MacroArc.from_tokens([int(token) for token in arc.split()])
    kinds = [OP_KINDS[op] for op in parsed.ops]
    features = {
        "pool": sum(kind in ("avg", "max") for kind, _ in kinds),
        "sep": sum(kind == "sep" for kind, _ in kinds),
        "conv": sum(kind == "conv" for kind, _ in kinds),
        "k5": sum(kind in ("conv", "sep") and size == 5 for kind, size in kinds),
        "skips": sum(sum(bits) for bits in parsed.skips),
        "last_pool": int(kinds[-1][0] in ("avg", "max")),
    }
    if num_params is not None:
        features["params"] = int(num_params)
    return features


def _tau(x: Sequence[float], y: Sequence[float]) -> Optional[float]:
    value = kendall_tau(x, y)
    return None if value != value else value


def seed_figures(ceiling: dict, num_params: Optional[Sequence[Optional[int]]] = None) -> dict:
    """Feature taus of one rank_ceiling.json: against the stand-alone mean and every score."""
    arcs = list(ceiling["arcs"])
    target = [float(a["mean"]) for a in ceiling["archs"]]
    params = list(num_params) if num_params is not None else [None] * len(arcs)
    feats = [arc_features(arc, p) for arc, p in zip(arcs, params)]
    names = [f for f in FEATURES if all(f in x for x in feats)]
    columns = {"standalone": target}
    for strategy, modes in sorted((ceiling.get("scores") or {}).items()):
        for mode, values in modes.items():
            columns[f"{strategy}/{mode}"] = [float(v) for v in values]
    taus = {name: {column: _tau([x[name] for x in feats], values) for column, values in columns.items()}
            for name in names}
    score_vs_standalone = {column: _tau(values, target) for column, values in columns.items()
                           if column != "standalone"}
    return {"num_archs": len(arcs), "features": feats, "feature_names": names, "taus": taus,
            "score_vs_standalone": score_vs_standalone, "columns": list(columns)}


def within_split(ceiling: dict, feature_values: Sequence[float]) -> dict:
    """Each score's tau against the stand-alone mean within each half of a median split of a feature,
    averaged over the halves (weighted by their pair counts); None where a half has under 3 architectures."""
    target = np.array([float(a["mean"]) for a in ceiling["archs"]])
    values = np.asarray(feature_values, np.float64)
    median = float(np.median(values))
    halves = [values <= median, values > median]
    result = {}
    for strategy, modes in sorted((ceiling.get("scores") or {}).items()):
        for mode, scores in modes.items():
            scores = np.asarray(scores, np.float64)
            total, weight = 0.0, 0
            for half in halves:
                n = int(half.sum())
                tau = _tau(scores[half], target[half]) if n >= 3 else None
                if tau is not None:
                    pairs = n * (n - 1) // 2
                    total, weight = total + tau * pairs, weight + pairs
            result[f"{strategy}/{mode}"] = total / weight if weight else None
    return result


def _num_params(ceiling: dict) -> Optional[list]:
    seed_dir = ceiling.get("seed_dir") or ""
    names = [a["name"] for a in ceiling["archs"]]
    found = []
    for name in names:
        path = os.path.join(seed_dir, "standalone", name, "final_metrics.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf-8") as f:
            found.append(json.load(f).get("num_params"))
    return found if all(p is not None for p in found) else None


def _fmt(value: Optional[float]) -> str:
    return "  n/a" if value is None else f"{value:+.2f}"


def _mean(values: Sequence[Optional[float]]) -> Optional[float]:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def report(per_seed: Sequence[dict], splits: Sequence[dict], split_feature: str) -> str:
    columns = per_seed[0]["columns"]
    names = [n for n in per_seed[0]["feature_names"] if all(n in s["feature_names"] for s in per_seed)]
    width = max(len(c) for c in columns) + 2
    cell = max(max(len(n) for n in names), 6 * len(per_seed)) + 2
    header = f"  {'':{width}s}" + "".join(f"{n:>{cell}s}" for n in names)
    lines = [f"rank features: {len(per_seed)} seed(s) of {', '.join(str(s['num_archs']) for s in per_seed)} "
             "architectures; Kendall tau-b of each feature against the stand-alone accuracy (mean of the "
             "runs) and each shared-weight score", "mean over seeds:", header]
    for column in columns:
        lines.append(f"  {column:{width}s}" + "".join(
            f"{_fmt(_mean([s['taus'][n][column] for s in per_seed])):>{cell}s}" for n in names))
    if len(per_seed) > 1:
        lines += ["per seed:", header]
        for column in columns:
            lines.append(f"  {column:{width}s}" + "".join(
                f"{' '.join(_fmt(s['taus'][n][column]) for s in per_seed):>{cell}s}" for n in names))
    lines.append(f"score vs stand-alone: all architectures -> within a median split of '{split_feature}' "
                 "(mean over seeds, per seed)")
    for column in columns[1:]:
        all_values = [s["score_vs_standalone"][column] for s in per_seed]
        split_values = [s.get(column) for s in splits]
        lines.append(f"  {column:{width}s}{_fmt(_mean(all_values))} ({' '.join(_fmt(v) for v in all_values)})"
                     f"  ->  {_fmt(_mean(split_values))} ({' '.join(_fmt(v) for v in split_values)})")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ceiling_dirs", required=True,
                        help="bench/rank_ceiling.py output directories, separated by ','")
    parser.add_argument("--split_feature", default="pool", choices=FEATURES,
                        help="the feature held roughly fixed (median split) for the within-split taus")
    parser.add_argument("--output", default="", help="write every figure to this JSON file")
    args = parser.parse_args(argv)
    per_seed, splits = [], []
    for directory in [d for d in args.ceiling_dirs.split(",") if d]:
        path = os.path.join(directory, CEILING_FILE)
        if not os.path.exists(path):
            parser.exit(2, f"error: {directory} has no {CEILING_FILE}; run bench/rank_ceiling.py there first\n")
        with open(path, encoding="utf-8") as f:
            ceiling = json.load(f)
        if not ceiling.get("arcs") or any(a.get("mean") is None for a in ceiling["archs"]):
            parser.exit(2, f"error: {path} has architectures without a stand-alone accuracy\n")
        try:
            figures = seed_figures(ceiling, _num_params(ceiling))
        except Exception as error:  # pylint: disable=broad-except
            parser.exit(2, f"error: {path}: {error} (macro architectures only)\n")
        if args.split_feature not in figures["feature_names"]:
            parser.exit(2, f"error: {path}: feature '{args.split_feature}' is not known there\n")
        per_seed.append(figures)
        splits.append(within_split(ceiling, [x[args.split_feature] for x in figures["features"]]))
    if not per_seed:
        parser.exit(2, "error: --ceiling_dirs names no directory\n")
    text = report(per_seed, splits, args.split_feature)
    print(text)
    result = {"per_seed": per_seed, "within_split": splits, "split_feature": args.split_feature, "table": text}
    if args.output:
        with open(args.output, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
