"""How reproducible is the stand-alone accuracy itself? The ceiling of any ranking against it.

``bench/efficacy.py`` rank-correlates shared-weight scores with ONE stand-alone training per
architecture. If a second training of the same architectures (another seed) does not rank them like
the first, no score can: the Kendall tau between independent repeats is the ceiling a single
stand-alone run can be predicted with. This script retrains every architecture of a finished efficacy
seed from scratch with the efficacy protocol's recipe (``bench/efficacy.py``'s ``search_config`` and
``enas.trainers.rank.standalone_config``, final training by ``enas.trainers.final.train_final``) under
``--repeats`` more training seeds (repeat r: run and data-order seed ``seed + r * --seed_offset``; the
split and the 1,000 test images are the same), and prints one table:

- per architecture the test accuracy of every repeat (repeat 0: the stored efficacy run), mean, std;
- the within-architecture (training-seed) std against the between-architecture std, and the share of
  one run's variance that is the architecture (the reliability of one run);
- the Kendall tau-b between repeats (every pair, and their mean: the ceiling);
- under a Gaussian model (tau = 2/pi arcsin(correlation)), the tau a noiseless oracle of every
  architecture's expected accuracy would reach against one run and against the mean of the runs, and
  the std of a tau over this many architectures when nothing correlates;
- the Kendall tau of each search's shared-weight score in every reward mode against repeat 0 (what
  efficacy measured) and against the mean over repeats (a less noisy target). The scores are
  recomputed from the search directories with ``enas.trainers.rank.score_architectures`` (efficacy
  stores only the taus).

    python bench/rank_ceiling.py --seed_dir=runs/efficacy/seed0 --repeats=2 --output_dir=runs/rank_ceiling/seed0
    python bench/rank_ceiling.py --archs="0 1 0 ...;3 2 1 ..." --repeats=3 --output_dir=runs/rank_ceiling/mine
    python bench/rank_ceiling.py --seed_dir=... --output_dir=... --stats_only   # figures of what is trained so far

Resumable: every training runs in ``<output_dir>/repeat<r>/<name>`` and is skipped once its
``final_metrics.json`` exists (an interrupted training resumes from its checkpoint); the scores are kept
in ``scores.json``. Repeats run one after another (all architectures of repeat 1 first), so a partial
run still gives complete repeats. ``rank_ceiling.json`` holds every figure (rewritten after every
training).
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import os
import sys
from typing import Optional, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from enas.trainers.rank_stats import kendall_tau  # noqa: E402

RESULT_FILE, SCORES_FILE = "rank_ceiling.json", "scores.json"
# Recipe flags shared with bench/efficacy.py (taken from the efficacy run's efficacy.json when there is one).
_RECIPE_KEYS = ("dataset", "data_dir", "valid_size", "num_layers", "out_filters", "batch_size", "retrain_epochs",
                "max_steps_per_epoch", "retrain_schedule")


def _args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed_dir", default="",
                        help="a finished bench/efficacy.py seed directory (runs/efficacy/seed0)")
    parser.add_argument("--archs", default="", help="instead of --seed_dir: architecture strings separated by ';'")
    parser.add_argument("--seed", type=int, default=-1, help="the efficacy seed (default: the seed directory's)")
    parser.add_argument("--repeats", type=int, default=2, help="R additional training seeds per architecture")
    parser.add_argument("--seed_offset", type=int, default=1000, help="repeat r trains with seed + r * offset")
    parser.add_argument("--no_stored_run", action="store_true",
                        help="do not count the seed directory's stand-alone run as repeat 0")
    parser.add_argument("--strategies", default="", help="searches whose shared weights score ('' = every one in "
                                                         "the seed directory; 'none' = no scoring)")
    parser.add_argument("--score_batches", type=int, default=0,
                        help="validation batches per score (0: all, as bench/efficacy.py)")
    parser.add_argument("--stats_only", action="store_true", help="train nothing: the figures of what exists "
                        "(the scores are still computed unless --strategies=none)")
    parser.add_argument("--output_dir", default="runs/rank_ceiling")
    # The recipe (bench/efficacy.py's flags of the same name; overridden by the seed directory's efficacy.json).
    parser.add_argument("--dataset", default="embedded")
    parser.add_argument("--data_dir", default="")
    parser.add_argument("--valid_size", type=int, default=1000)
    parser.add_argument("--num_layers", type=int, default=6)
    parser.add_argument("--out_filters", type=int, default=16)
    parser.add_argument("--batch_size", type=int, default=64)
    parser.add_argument("--retrain_epochs", type=int, default=4)
    parser.add_argument("--max_steps_per_epoch", type=int, default=0)
    parser.add_argument("--retrain_schedule", default=None, choices=("anneal", "search"),
                        help="stand-alone learning rate (bench/efficacy.py's flag): default the efficacy run's "
                             "(runs without the flag used 'search'); another one than the stored runs' needs "
                             "--no_stored_run")
    args = parser.parse_args(argv)
    if bool(args.seed_dir) == bool(args.archs):
        parser.error("give exactly one of --seed_dir and --archs")
    if args.repeats < 0 or (args.repeats < 1 and (args.archs or args.no_stored_run)):
        parser.error("--repeats: need at least 2 runs per architecture in all")
    return args


# --------------------------------------------------------------------------------------- statistics

def _fmt(value: Optional[float], digits: int = 3, sign: bool = False) -> str:
    if value is None or value != value:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def ceiling_stats(names: Sequence[str], runs: Sequence[Sequence[Optional[float]]],
                  scores: Optional[dict] = None) -> dict:
    """The figures of the ceiling. ``runs[r][i]``: test accuracy of architecture ``names[i]`` in repeat ``r``
    (None: not trained yet); ``scores``: strategy -> reward mode -> one score per architecture.

    Only architectures with every repeat are counted (``complete``), so partial runs give honest figures.
    """
    names = list(names)
    acc = np.array([[np.nan if v is None else float(v) for v in row] for row in runs], np.float64)
    if acc.ndim != 2 or acc.shape[1] != len(names):
        raise ValueError(f"runs must be repeats x {len(names)} architectures, got shape {acc.shape}")
    num_repeats = acc.shape[0]
    complete = [i for i in range(len(names)) if not np.isnan(acc[:, i]).any()]
    result: dict = {"num_archs": len(names), "num_runs_per_arch": num_repeats, "num_complete": len(complete),
                    "archs": []}
    for i, name in enumerate(names):
        values = acc[:, i][~np.isnan(acc[:, i])]
        result["archs"].append({
            "name": name, "runs": [None if np.isnan(v) else float(v) for v in acc[:, i]],
            "mean": float(values.mean()) if values.size else None,
            "std": float(values.std(ddof=1)) if values.size > 1 else None})
    full = acc[:, complete]
    n = len(complete)
    if n >= 2 and num_repeats >= 2:
        means = full.mean(axis=0)
        within_var = float(np.mean(full.var(axis=0, ddof=1)))  # pooled training-seed variance
        between_var_means = float(means.var(ddof=1))
        # One-way random effects: var(means) = var(architecture) + var(seed) / R.
        arch_var = max(0.0, between_var_means - within_var / num_repeats)
        single_runs = [float(full[r].std(ddof=1)) for r in range(num_repeats)]
        result.update({
            "within_std": float(np.sqrt(within_var)),
            "between_std_of_means": float(np.sqrt(between_var_means)),
            "between_std_single_run": float(np.mean(single_runs)),
            "arch_std_estimate": float(np.sqrt(arch_var)),
            # The share of one run's variance that belongs to the architecture (intraclass correlation).
            "reliability_single_run": arch_var / (arch_var + within_var) if arch_var + within_var > 0 else None,
        })
        # Gaussian model (Greiner's relation tau = 2/pi arcsin(rho)): the tau a noiseless oracle of each
        # architecture's expected accuracy would reach against one run and against the mean of the runs.
        reliability = result["reliability_single_run"] or 0.0
        reliability_mean = arch_var / (arch_var + within_var / num_repeats) if arch_var > 0 else 0.0
        result["oracle_tau_vs_one_run"] = float(2 / np.pi * np.arcsin(np.sqrt(reliability)))
        result["oracle_tau_vs_mean_of_runs"] = float(2 / np.pi * np.arcsin(np.sqrt(reliability_mean)))
        # The spread of a Kendall tau over n architectures when there is no correlation at all.
        result["tau_null_std"] = float(np.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1))))
        pairs = {f"{a}-{b}": kendall_tau(full[a], full[b]) for a, b in itertools.combinations(range(num_repeats), 2)}
        finite = [v for v in pairs.values() if v == v]
        result["repeat_tau_pairs"] = pairs
        result["repeat_tau_mean"] = float(np.mean(finite)) if finite else None
        result["score_tau"] = {}
        for strategy, modes in (scores or {}).items():
            result["score_tau"][strategy] = {}
            for mode, values in modes.items():
                values = np.asarray(values, np.float64)[complete]
                result["score_tau"][strategy][mode] = {
                    "vs_repeat0": kendall_tau(values, full[0]),
                    "vs_each_repeat_mean": float(np.nanmean([kendall_tau(values, full[r])
                                                             for r in range(num_repeats)])),
                    "vs_mean_of_repeats": kendall_tau(values, means)}
    return result


def table(stats: dict, arcs: Optional[Sequence[str]] = None) -> str:
    """One table: per architecture, the spread figures, the repeat taus and the score taus side by side."""
    repeats = stats["num_runs_per_arch"]
    head = f"{'architecture':18s} " + " ".join(f"{'run ' + str(r):>6s}" for r in range(repeats))
    lines = [f"rank ceiling: {stats['num_complete']} of {stats['num_archs']} architectures with all {repeats} runs",
             f"{head} {'mean':>6s} {'std':>6s}  arc"]
    for i, arch in enumerate(stats["archs"]):
        runs = " ".join(f"{_fmt(v):>6s}" for v in arch["runs"])
        lines.append(f"{arch['name']:18s} {runs} {_fmt(arch['mean']):>6s} {_fmt(arch['std']):>6s}  "
                     f"{arcs[i] if arcs else ''}".rstrip())
    if "within_std" not in stats:
        lines.append("(fewer than 2 complete architectures: no statistics yet)")
        return "\n".join(lines)
    lines += [
        f"{'within-architecture std (training seed, pooled)':58s} {_fmt(stats['within_std'], 4):>8s}",
        f"{'between-architecture std of one run':58s} {_fmt(stats['between_std_single_run'], 4):>8s}",
        f"{'between-architecture std of the means over runs':58s} {_fmt(stats['between_std_of_means'], 4):>8s}",
        f"{'architecture std, seed noise removed (estimate)':58s} {_fmt(stats['arch_std_estimate'], 4):>8s}",
        f"{'reliability of one run (architecture share of variance)':58s} "
        f"{_fmt(stats['reliability_single_run'], 2):>8s}"]
    for pair, tau in stats["repeat_tau_pairs"].items():
        lines.append(f"{'Kendall tau, run ' + pair.replace('-', ' vs run '):58s} {_fmt(tau, 2, True):>8s}")
    lines.append(f"{'Kendall tau between runs, mean over pairs (the ceiling)':58s} "
                 f"{_fmt(stats['repeat_tau_mean'], 2, True):>8s}")
    lines += [f"{'Kendall tau of a noiseless oracle vs one run (model)':58s} "
              f"{_fmt(stats['oracle_tau_vs_one_run'], 2, True):>8s}",
              f"{'Kendall tau of a noiseless oracle vs mean of runs (model)':58s} "
              f"{_fmt(stats['oracle_tau_vs_mean_of_runs'], 2, True):>8s}",
              f"{'std of a Kendall tau here if nothing correlates':58s} "
              f"{_fmt(stats['tau_null_std'], 2):>8s}"]
    if stats["score_tau"]:
        lines.append(f"{'Kendall tau of the shared-weight score':32s} {'vs run 0':>10s} {'vs each run':>12s} "
                     f"{'vs mean of runs':>16s}")
        for strategy, modes in stats["score_tau"].items():
            for mode, taus in modes.items():
                lines.append(f"{strategy + ' weights, ' + mode:32s} {_fmt(taus['vs_repeat0'], 2, True):>10s} "
                             f"{_fmt(taus['vs_each_repeat_mean'], 2, True):>12s} "
                             f"{_fmt(taus['vs_mean_of_repeats'], 2, True):>16s}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ training

def _read_json(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def _write_json(path: str, value) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(value, handle, indent=2)
    os.replace(tmp, path)


def recipe_args(args):
    """bench/efficacy.py's argument namespace for the recipe: its defaults, then the efficacy run's own
    arguments (``efficacy.json`` next to the seed directory), then nothing else."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import efficacy  # pylint: disable=import-outside-toplevel

    eargs = efficacy._args([])  # pylint: disable=protected-access
    stored = _read_json(os.path.join(os.path.dirname(os.path.abspath(args.seed_dir)), "efficacy.json")) \
        if args.seed_dir else None
    for key in _RECIPE_KEYS:
        if key == "retrain_schedule":
            # Given here: it wins (with --no_stored_run where it differs from the stored runs'). Otherwise the
            # efficacy run's; an efficacy run from before the flag trained with the search's schedule.
            stored_schedule = stored["args"].get(key, "search") if stored else None
            value = args.retrain_schedule or stored_schedule or eargs.retrain_schedule
        else:
            value = stored["args"][key] if stored and key in stored["args"] else getattr(args, key)
        setattr(eargs, key, value)
        setattr(args, key, value)
    return efficacy, eargs


def final_config(efficacy, eargs, seed: int, train_seed: int, arc: str, output_dir: str):
    """The efficacy protocol's stand-alone config of ``arc`` (bench/efficacy.py run_seed), trained with
    run and data-order seed ``train_seed`` and ``eargs.retrain_schedule``."""
    from enas.config import RankConfig, SearchConfig  # pylint: disable=import-outside-toplevel
    from enas.trainers.rank import standalone_config  # pylint: disable=import-outside-toplevel

    rank = RankConfig(search_dir=".", output_dir=".", num_archs=4, train_epochs=eargs.retrain_epochs,
                      anneal=eargs.retrain_schedule == "anneal", max_steps_per_epoch=eargs.max_steps_per_epoch,
                      seed=train_seed, progress=False)
    config = standalone_config(efficacy.search_config(eargs, "enas", seed), arc, output_dir, rank)
    return config.replace(search=SearchConfig(), data=dataclasses.replace(config.data, seed=train_seed))


def recipe_differences(config, stored: dict) -> list[str]:
    """Settings of ``config`` that differ from a stored run's config.json (seeds and paths aside)."""
    ignore = {("run", "output_dir"), ("run", "seed"), ("data", "seed")}
    mine = dataclasses.asdict(config)
    differences = []
    for section in ("data", "child", "run"):
        for key, value in stored.get("config", {}).get(section, {}).items():
            if (section, key) not in ignore and key in mine[section] and mine[section][key] != value:
                differences.append(f"{section}.{key}: {mine[section][key]!r} here, {value!r} stored")
    return differences


def load_archs(args) -> tuple[list[str], list[str], list[Optional[float]], dict]:
    """Names, architecture strings and stored repeat-0 accuracies (None without a seed directory); result.json."""
    if args.archs:
        arcs = [a.strip() for a in args.archs.split(";") if a.strip()]
        return [f"arch-{i}" for i in range(len(arcs))], arcs, [None] * len(arcs), {}
    result = _read_json(os.path.join(args.seed_dir, "result.json"))
    if result is None:
        raise SystemExit(f"error: {args.seed_dir} holds no result.json (not a finished bench/efficacy.py seed)")
    names = list(result["standalone"])
    arcs = []
    for name in names:
        metrics = _read_json(os.path.join(args.seed_dir, "standalone", name, "final_metrics.json"))
        if metrics is None:
            raise SystemExit(f"error: {args.seed_dir}/standalone/{name} has no final_metrics.json")
        arcs.append(metrics["arc"])
    return names, arcs, [float(result["standalone"][n]) for n in names], result


def compute_scores(args, arcs: list[str], result: dict) -> dict:
    """strategy -> mode -> score per architecture, with each search's shared weights (cached in scores.json)."""
    if not args.seed_dir or args.strategies == "none":
        return {}
    strategies = args.strategies.split(",") if args.strategies else list(result.get("derived", {}))
    path = os.path.join(args.output_dir, SCORES_FILE)
    cached = _read_json(path) or {}
    if cached.get("arcs") != arcs or cached.get("score_batches") != args.score_batches:
        cached = {"arcs": arcs, "score_batches": args.score_batches, "scores": {}}
    for strategy in strategies:
        if strategy in cached["scores"]:
            continue
        from enas.trainers.derive import load_search  # pylint: disable=import-outside-toplevel
        from enas.trainers.rank import score_architectures  # pylint: disable=import-outside-toplevel

        print(f"rank_ceiling: scoring {len(arcs)} architectures with the {strategy} search's shared weights",
              flush=True)
        search_config, space, task, _ = load_search(os.path.join(args.seed_dir, strategy))
        tokens = [space.parse_arc(arc, search_config.child).to_tokens() for arc in arcs]
        cached["scores"][strategy] = score_architectures(task, tokens, args.score_batches)
        _write_json(path, cached)
        del task
    return {s: cached["scores"][s] for s in strategies if s in cached["scores"]}


def main(argv=None) -> dict:
    args = _args(argv)
    efficacy, eargs = recipe_args(args)
    names, arcs, stored, result = load_archs(args)
    seed = args.seed if args.seed >= 0 else int(result.get("seed", 0))
    os.makedirs(args.output_dir, exist_ok=True)
    if args.seed_dir and not args.no_stored_run:  # the recipe must be the stored runs' (seeds aside)
        stored_config = _read_json(os.path.join(args.seed_dir, "standalone", names[0], "config.json")) or {}
        differences = recipe_differences(final_config(efficacy, eargs, seed, seed, arcs[0], "."), stored_config)
        if differences:
            raise SystemExit("error: the recipe differs from the stored stand-alone runs: " + "; ".join(differences))
    previous = _read_json(os.path.join(args.output_dir, RESULT_FILE))
    if previous is not None:  # (files of before the flag: "anneal" true, or the search's schedule)
        schedule = previous.get("recipe", {}).get("retrain_schedule") or (
            "anneal" if previous.get("anneal") else "search")
        if schedule != args.retrain_schedule:
            raise SystemExit(f"error: {args.output_dir} holds runs trained with --retrain_schedule={schedule}; "
                             "use another --output_dir")
    scores = compute_scores(args, arcs, result)
    first = 0 if (args.seed_dir and not args.no_stored_run) else 1
    runs: list[list[Optional[float]]] = [list(stored)] if first == 0 else []
    repeat_dirs = {r: os.path.join(args.output_dir, f"repeat{r}") for r in range(1, args.repeats + 1)}
    for r in range(1, args.repeats + 1):
        runs.append([None] * len(names))
        for i, name in enumerate(names):
            metrics = _read_json(os.path.join(repeat_dirs[r], name, "final_metrics.json"))
            if metrics is not None:
                runs[-1][i] = float(metrics["test_accuracy"])

    def report() -> dict:
        stats = ceiling_stats(names, runs, scores)
        stats.update(seed=seed, repeat_seeds={str(r): seed + r * args.seed_offset for r in repeat_dirs},
                     stored_run_is_repeat0=first == 0, arcs=arcs, scores=scores,
                     recipe={key: getattr(args, key) for key in _RECIPE_KEYS}, seed_dir=args.seed_dir)
        stats["table"] = table(stats, arcs)
        _write_json(os.path.join(args.output_dir, RESULT_FILE), stats)
        return stats

    if not args.stats_only:
        from enas.data import load_image_data  # pylint: disable=import-outside-toplevel
        from enas.trainers.final import train_final  # pylint: disable=import-outside-toplevel

        for r in range(1, args.repeats + 1):
            row = runs[r - first]
            if all(v is not None for v in row):
                continue
            train_seed = seed + r * args.seed_offset
            data = None
            for i, (name, arc) in enumerate(zip(names, arcs)):
                if row[i] is not None:
                    continue
                config = final_config(efficacy, eargs, seed, train_seed, arc, os.path.join(repeat_dirs[r], name))
                if data is None:  # the same split and test images; the training order follows train_seed
                    data = load_image_data(config.data)
                metrics = train_final(config, data=data)
                row[i] = float(metrics["test_accuracy"])
                print(f"rank_ceiling: repeat {r} (seed {train_seed}) {name:18s} test accuracy {row[i]:.4f}"
                      + (f" (run 0: {stored[i]:.4f})" if stored[i] is not None else ""), flush=True)
                report()
    stats = report()
    print(stats["table"])
    return stats


if __name__ == "__main__":
    main()
