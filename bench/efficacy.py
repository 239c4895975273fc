"""Does the search beat random? The efficacy protocol as one script.

For each seed: search with each strategy (``enas``, ``random``) under the same budget (child epochs,
derivation samples); retrain each strategy's derived best and K uniform random architectures from
scratch with one recipe; score the same architectures with the ENAS search's shared weights in every
reward batch-norm mode and rank-correlate with the stand-alone accuracies. Prints one table: mean and
spread over seeds of the test accuracy of ENAS-derived, random-search-derived and uniform random
architectures, the Kendall tau of each reward mode, and the wall time of each search.

    python bench/efficacy.py                       # the README's protocol (embedded data; hours on 2 CPU cores)
    python bench/efficacy.py --smoke               # about a minute: the protocol at toy sizes
    python bench/efficacy.py --dataset=cifar10 --data_dir=~/tensorflow_datasets --seeds=0,1,2
    python bench/efficacy.py --searches_from=runs/efficacy --output_dir=runs/efficacy_search_lr \
        --retrain_schedule=search   # the same searches, the stand-alone side retrained another way

Stand-alone training (``--retrain_schedule``): by default one cosine period of the learning rate over
``--retrain_epochs`` (``enas-rank --rank_anneal``); ``search`` keeps the search's warm-restart schedule,
which leaves the last of 4 epochs at 79% of its top learning rate (the protocol before; its accuracies
are far noisier: ``bench/rank_ceiling.py``).

Every search and training runs in its own directory under ``--output_dir`` and resumes, so an
interrupted benchmark continues where it stopped; a finished seed's figures are kept in
``seed<N>/result.json`` (seeds may run as separate processes: ``--seeds=1``, ``--seeds=2``, then
``--seeds=0,1,2`` prints the table), and ``efficacy.json`` holds every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from typing import Optional

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from enas.config import (ChildConfig, Config, ControllerConfig, DataConfig, RankConfig,  # noqa: E402
                         RunConfig, SearchConfig)


def _args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--smoke", action="store_true", help="toy sizes: runs in about a minute")
    parser.add_argument("--dataset", default="embedded")
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--valid_size", type=int, default=1000)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--strategies", default="enas,random")
    parser.add_argument("--num_layers", type=int, default=6)
    parser.add_argument("--out_filters", type=int, default=16)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--search_epochs", type=int, default=8)
    parser.add_argument("--controller_train_steps", type=int, default=20)
    parser.add_argument("--controller_num_aggregate", type=int, default=10)
    parser.add_argument("--controller_lr", type=float, default=0.005)
    parser.add_argument("--reward_bn", default="", help="--child_reward_bn of the searches ('': the space's default)")
    parser.add_argument("--derive_num_samples", type=int, default=100)
    parser.add_argument("--derive_num_batches", type=int, default=5)
    parser.add_argument("--num_random", type=int, default=10, help="K uniform random architectures per seed")
    parser.add_argument("--retrain_epochs", type=int, default=4)
    parser.add_argument("--retrain_schedule", default="anneal", choices=("anneal", "search"),
                        help="stand-alone learning rate: one cosine period over --retrain_epochs (enas-rank's "
                             "--rank_anneal, the default) or the search's warm-restart schedule (runs before it)")
    parser.add_argument("--searches_from", default="",
                        help="an earlier bench/efficacy.py output directory: take each seed's searches (copied) and "
                             "derived architectures from it instead of searching again, e.g. to re-measure the "
                             "stand-alone side with another --retrain_schedule")
    parser.add_argument("--max_steps_per_epoch", type=int, default=0)
    parser.add_argument("--output_dir", default="runs/efficacy")
    args = parser.parse_args(argv)
    if args.smoke:
        args.seeds, args.num_layers, args.out_filters, args.batch_size = "0", 2, 4, 16
        args.search_epochs, args.controller_train_steps, args.controller_num_aggregate = 1, 2, 2
        args.derive_num_samples, args.derive_num_batches, args.num_random = 4, 1, 2
        args.retrain_epochs, args.max_steps_per_epoch = 1, 3
        if args.output_dir == "runs/efficacy":
            args.output_dir = "runs/efficacy_smoke"
    return args


def search_config(args, strategy: str, seed: int) -> Config:
    """The search of one strategy and seed: the official macro controller settings at a small size."""
    return Config(
        data=DataConfig(dataset=args.dataset, data_dir=args.data_dir, valid_size=args.valid_size,
                        batch_size=args.batch_size, eval_batch_size=100, seed=seed),
        child=ChildConfig(search_for="macro", num_layers=args.num_layers, out_filters=args.out_filters,
                          num_branches=6, keep_prob=0.9, l2_reg=2.5e-4, lr_max=0.05, lr_min=0.0005,
                          lr_T_0=10, lr_T_mul=2),
        controller=ControllerConfig(tanh_constant=1.5, op_tanh_reduce=2.5, entropy_weight=1e-4, skip_target=0.4,
                                    skip_weight=0.8, learning_rate=args.controller_lr, baseline_decay=0.99,
                                    num_aggregate=args.controller_num_aggregate,
                                    train_steps=args.controller_train_steps, train_every=1, seed=seed),
        run=RunConfig(output_dir=os.path.join(args.output_dir, f"seed{seed}", strategy), num_epochs=args.search_epochs,
                      derive_num_samples=args.derive_num_samples, derive_top_k=5,
                      derive_num_batches=args.derive_num_batches, max_steps_per_epoch=args.max_steps_per_epoch,
                      max_eval_batches=2 if args.smoke else 0, seed=seed, progress=False),
        search=SearchConfig(strategy=strategy, reward_bn=args.reward_bn))


def run_seed(args, seed: int, data, previous: Optional[dict] = None) -> dict:
    """One seed's figures; ``previous``: a result.json of fewer strategies whose figures are kept
    (a strategy added later runs alone, on the same uniform architectures)."""
    from enas.trainers.derive import load_search
    from enas.trainers.final import train_final
    from enas.trainers.rank import correlations, score_architectures, standalone_config, standalone_quality
    from enas.trainers.search import search

    strategies = args.strategies.split(",")
    previous = previous or {}
    result = {"seed": seed, "retrain_schedule": args.retrain_schedule,
              "search_seconds": dict(previous.get("search_seconds", {})), "derived": dict(previous.get("derived", {}))}
    for strategy in strategies:
        config = search_config(args, strategy, seed)
        if strategy in result["derived"]:
            continue
        if args.searches_from:
            copied = _copy_search(args, seed, strategy, config.run.output_dir)
            result["derived"][strategy], result["search_seconds"][strategy] = copied
            continue
        start = time.time()
        derived = search(config, data=data)
        result["search_seconds"][strategy] = round(time.time() - start, 1)
        result["derived"][strategy] = derived["best"]["arc"]
    from enas.spaces import get_space

    space = get_space("macro")
    decisions = space.controller_space(config.child)
    uniform = decisions.random_tokens(args.num_random, seed=10_000 + seed)
    archs = [(f"{s}-derived", result["derived"][s]) for s in strategies]
    archs += [(f"uniform-{i}", space.arc_from_tokens(row, config.child).to_string()) for i, row in enumerate(uniform)]
    rank = RankConfig(search_dir=".", output_dir=".", num_archs=max(4, len(archs)), train_epochs=args.retrain_epochs,
                      anneal=args.retrain_schedule == "anneal", max_steps_per_epoch=args.max_steps_per_epoch,
                      seed=seed, progress=False)
    standalone = dict(previous.get("standalone", {}))
    for name, arc in archs:
        if name in standalone:
            continue
        final = standalone_config(search_config(args, strategies[0], seed), arc,
                                  os.path.join(args.output_dir, f"seed{seed}", "standalone", name), rank)
        final = final.replace(search=SearchConfig())
        standalone[name] = standalone_quality(train_final(final, data=data))
        print(f"  seed {seed} {name:16s} {arc}: test accuracy {standalone[name]:.4f}", flush=True)
    result["standalone"] = standalone
    # Ranking: every architecture, scored with each strategy's shared weights in each reward mode (a
    # strategy added to an earlier result ranks the architectures known then, its own derived one included).
    result["ranking"] = dict(previous.get("ranking", {}))
    result["archs"] = {name: arc for name, arc in archs}
    result["scores"] = dict(previous.get("scores", {}))  # per strategy and mode, in the order of "archs"
    accuracies = [standalone[name] for name, _ in archs]
    tokens = [space.parse_arc(arc, config.child).to_tokens() for _, arc in archs]
    for strategy in strategies:
        if strategy in result["ranking"]:
            continue
        _, _, task, _ = load_search(os.path.join(args.output_dir, f"seed{seed}", strategy))
        scores = score_architectures(task, tokens, 0)
        result["scores"][strategy] = scores
        result["ranking"][strategy] = {mode: correlations(values, accuracies, 3)["kendall_tau"]
                                       for mode, values in scores.items()}
    return result


def _copy_search(args, seed: int, strategy: str, destination: str) -> tuple[str, float]:
    """A finished search of ``--searches_from`` copied to ``destination``: (derived architecture, search seconds)."""
    source_seed = os.path.join(args.searches_from, f"seed{seed}")
    try:
        with open(os.path.join(source_seed, "result.json")) as handle:
            source = json.load(handle)
        derived, seconds = source["derived"][strategy], source["search_seconds"][strategy]
    except (OSError, ValueError, KeyError):
        raise SystemExit(f"error: --searches_from: {source_seed} holds no finished {strategy} search "
                         "(a result.json naming it)") from None
    if not os.path.exists(destination):
        shutil.copytree(os.path.join(source_seed, strategy), destination + ".tmp", dirs_exist_ok=True)
        os.replace(destination + ".tmp", destination)
    return derived, seconds


def _mean_spread(values) -> str:
    values = np.asarray([v for v in values if v == v], np.float64)
    if values.size == 0:
        return "n/a"
    return f"{values.mean():.4f} +- {values.std():.4f}" if values.size > 1 else f"{values[0]:.4f}"


def table(args, results: list[dict]) -> str:
    strategies = args.strategies.split(",")
    lines = [f"efficacy: macro L={args.num_layers} C={args.out_filters} on {args.dataset}, {len(results)} seed(s), "
             f"{args.search_epochs} search epochs, stand-alone {args.retrain_epochs} epochs "
             f"({args.retrain_schedule} schedule), "
             f"K={args.num_random} uniform architectures per seed",
             f"{'architectures':40s} {'test accuracy (mean +- std over seeds)':>40s}"]
    for strategy in strategies:
        figures = [r['standalone'][strategy + '-derived'] for r in results]
        lines.append(f"{strategy + '-derived best':40s} {_mean_spread(figures):>40s}")
    uniform = [np.mean([v for k, v in r["standalone"].items() if k.startswith("uniform-")]) for r in results]
    lines.append(f"{'uniform random (mean of K)':40s} {_mean_spread(uniform):>40s}")
    best_uniform = [max(v for k, v in r["standalone"].items() if k.startswith("uniform-")) for r in results]
    lines.append(f"{'uniform random (best of K)':40s} {_mean_spread(best_uniform):>40s}")
    for strategy in strategies:
        for mode in results[0]["ranking"][strategy]:
            name = f"Kendall tau, {strategy} weights, {mode}"
            lines.append(f"{name:40s} {_mean_spread([r['ranking'][strategy][mode] for r in results]):>40s}")
    for strategy in strategies:
        name = f"search wall time, {strategy} (s)"
        lines.append(f"{name:40s} {_mean_spread([r['search_seconds'][strategy] for r in results]):>40s}")
    return "\n".join(lines)


def main(argv=None) -> dict:
    args = _args(argv)
    from enas.data import load_image_data

    os.makedirs(args.output_dir, exist_ok=True)
    results = []
    for seed in (int(s) for s in args.seeds.split(",")):
        # A finished seed's figures are kept: seeds can run in separate processes, then one call prints them all.
        path = os.path.join(args.output_dir, f"seed{seed}", "result.json")
        previous = None
        if os.path.exists(path):
            with open(path) as handle:
                previous = json.load(handle)
            schedule = previous.get("retrain_schedule", "search")  # written since; earlier runs: the search's
            if schedule != args.retrain_schedule:
                raise SystemExit(f"error: {path} was retrained with --retrain_schedule={schedule}; use another "
                                 "--output_dir (or --searches_from it with another directory)")
            if all(s in previous.get("ranking", {}) for s in args.strategies.split(",")):
                results.append(previous)
                continue
        data = load_image_data(search_config(args, "enas", seed).data)
        results.append(run_seed(args, seed, data, previous))
        with open(path, "w") as handle:
            json.dump(results[-1], handle, indent=2)
    report = table(args, results)
    print(report)
    with open(os.path.join(args.output_dir, "efficacy.json"), "w") as handle:
        json.dump({"args": vars(args), "results": results, "table": report}, handle, indent=2)
    return {"results": results, "table": report}


if __name__ == "__main__":
    main()
