"""Child step time on one device, under a one-replica strategy and on N replicas, at equal global batch.

Each column is a fresh process (logical CPU devices are fixed when TensorFlow starts) that builds the
search task of a smoke baseline (``cifar10_macro_search_smoke``: the embedded images, global batch
32) exactly as ``enas-search`` does, then times ``--steps`` child training steps (after ``--warmup``
steps that trace and warm the caches), a fresh controller architecture each step, and the same number
of reward passes. Columns:

* ``none``: ``--distribution=none`` (no strategy anywhere);
* ``mirrored x1``: ``--distribution=mirrored`` on one device: the cost of the strategy itself;
* ``mirrored xN``: N logical CPU devices (``--logical_cpu_devices=N``), the global batch split over them;
* ``none, B/N xN``: no strategy, a batch of B/N, each time multiplied by N: one replica's share of the
  work done N times in turn on the same cores, without a strategy. ``mirrored xN`` against it is the
  cost of the strategy itself at N replicas (all-reduce, synchronisation, the replicas' threads),
  apart from what splitting the batch costs (each op runs N times on smaller tensors);
* ``mirrored xN sync`` (with ``--sync_bn``): N replicas with ``--child_sync_bn``, every batch norm's
  statistics all-reduced over the replicas inside the architecture switch; against ``mirrored xN``,
  what synchronizing costs.

    .venv/bin/python bench/distributed.py                       # macro smoke, 1 vs 2 replicas
    .venv/bin/python bench/distributed.py --space micro --replicas 2 --steps 30
    .venv/bin/python bench/distributed.py --sync_bn                              # + synchronized batch norms

On CPU logical devices share the same cores, so N replicas cannot be faster than one; what this shows is
the strategy's overhead (wall time, and the process's CPU time per step, which other work on a shared
machine disturbs less) (``mirrored x1`` against ``none``) and the cost of the split. On a GPU host pass
``--devices`` lists instead (not measured here: no GPU was available).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINES = {"macro": "cifar10_macro_search_smoke", "micro": "cifar10_micro_search_smoke"}


def _child(args) -> None:
    """Times steps in this process and prints one JSON line."""
    from absl import flags

    from enas import flags as enas_flags
    from enas.flags import baseline_path

    enas_flags.define_flags()
    argv = ["bench", f"--flagfile={baseline_path(BASELINES[args.space])}", "--output_dir=/tmp/unused",
            f"--distribution={args.distribution}", f"--logical_cpu_devices={args.logical}"]
    if args.devices:
        argv.append(f"--devices={args.devices}")
    if args.sync_bn:
        argv.append("--child_sync_bn")
    flags.FLAGS(argv)
    if args.batch_divisor > 1:  # one replica's share of the global batch, on one device
        flags.FLAGS.batch_size //= args.batch_divisor
    config = enas_flags.configs_from_flags(flags.FLAGS)

    from enas.trainers import distribute

    distribute.start(config)
    import keras

    from enas.spaces import get_space
    from enas.strategies import make_strategy
    from enas.trainers.tasks import make_search_task

    keras.utils.set_random_seed(0)
    space = get_space(config.child.search_for)
    task = make_search_task(space, config)
    strategy = make_strategy(space, config)
    task.begin_epoch(0)
    train, reward, train_cpu = [], [], []
    for index in range(args.warmup + args.steps):
        if index and index % task.steps_per_epoch() == 0:
            task.begin_epoch(index // task.steps_per_epoch())
        arc = strategy.propose()
        start, cpu_start = time.perf_counter(), time.process_time()
        task.train_step(arc)
        middle, cpu_middle = time.perf_counter(), time.process_time()
        task.reward(arc)
        end = time.perf_counter()
        if index >= args.warmup:
            train.append(middle - start)
            train_cpu.append(cpu_middle - cpu_start)
            reward.append(end - middle)
    replicas = 1 if distribute.current(config.run) is None else distribute.current(config.run).num_replicas
    print(json.dumps({"train_ms": 1000 * statistics.median(train), "reward_ms": 1000 * statistics.median(reward),
                      "train_cpu_ms": 1000 * statistics.median(train_cpu),
                      "replicas": replicas, "batch": config.data.batch_size}))


def _measure(args, distribution: str, logical: int, devices: str = "", batch_divisor: int = 1,
             sync_bn: bool = False) -> dict:
    command = [sys.executable, os.path.abspath(__file__), "--child", "--space", args.space, "--steps",
               str(args.steps), "--warmup", str(args.warmup), "--distribution", distribution, "--logical",
               str(logical), "--devices", devices, "--batch_divisor", str(batch_divisor)]
    if sync_bn:
        command.append("--sync_bn")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{distribution} x{logical}: failed\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--space", choices=sorted(BASELINES), default="macro")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="measure each column this many times (median)")
    parser.add_argument("--sync_bn", action="store_true",
                        help="one more column: N replicas with --child_sync_bn (synchronized batch norms)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--distribution", default="none", help=argparse.SUPPRESS)
    parser.add_argument("--logical", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--devices", default="", help=argparse.SUPPRESS)
    parser.add_argument("--batch_divisor", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    split = f"none, B/{args.replicas} x{args.replicas}"
    synced = f"mirrored x{args.replicas} sync"
    columns = {"none": ("none", 0, "", 1, False), "mirrored x1": ("mirrored", 1, "", 1, False),
               f"mirrored x{args.replicas}": ("mirrored", args.replicas, "", 1, False),
               split: ("none", 0, "", args.replicas, False)}
    if args.sync_bn:
        columns[synced] = ("mirrored", args.replicas, "", 1, True)
    runs = {name: [] for name in columns}
    for _ in range(args.repeats):  # columns interleaved: a shared machine's load drifts
        for name, (distribution, logical, devices, divisor, sync_bn) in columns.items():
            runs[name].append(_measure(args, distribution, logical, devices, divisor, sync_bn))
    results = {}
    for name, measured in runs.items():
        divisor = columns[name][3]  # a share of the batch, N times: its times times N
        results[name] = {key: divisor * statistics.median(run[key] for run in measured)
                         for key in ("train_ms", "reward_ms", "train_cpu_ms")}
        results[name]["replicas"] = measured[0]["replicas"]
        if divisor == 1:
            batch = measured[0]["batch"]
    print(f"{args.space} smoke search, global batch {batch}, median of {args.steps} steps, {os.cpu_count()} CPU cores")
    width = max(16, *(len(name) + 2 for name in results))
    print(f"{'':24s}" + "".join(f"{name:>{width}s}" for name in results))
    for key, label in (("replicas", "replicas"), ("train_ms", "child step ms"), ("reward_ms", "reward pass ms"),
                       ("train_cpu_ms", "child step CPU ms")):
        print(f"{label:24s}" + "".join(f"{row[key]:>{width}.1f}" if key != "replicas" else f"{row[key]:>{width}d}"
                                       for row in results.values()))
    base = results["none"]["train_ms"]
    print(f"{'child step vs none':24s}"
          + "".join(f"{row['train_ms'] / base - 1:>+{width}.1%}" for row in results.values()))
    base = results["none"]["train_cpu_ms"]  # all threads' CPU time: less disturbed by other work
    print(f"{'CPU time vs none':24s}"
          + "".join(f"{row['train_cpu_ms'] / base - 1:>+{width}.1%}" for row in results.values()))
    # The strategy's own cost at N replicas: N replicas against their shares run in turn without one.
    replicated, alone = results[f"mirrored x{args.replicas}"], results[split]
    print(f"strategy at {args.replicas} replicas vs {split}: "
          f"child step {replicated['train_ms'] / alone['train_ms'] - 1:+.1%}, "
          f"CPU time {replicated['train_cpu_ms'] / alone['train_cpu_ms'] - 1:+.1%}, "
          f"reward pass {replicated['reward_ms'] / alone['reward_ms'] - 1:+.1%}")
    if args.sync_bn:
        row = results[synced]
        print(f"synchronized batch norms at {args.replicas} replicas vs mirrored x{args.replicas}: child step "
              f"{row['train_ms'] / replicated['train_ms'] - 1:+.1%}, CPU time "
              f"{row['train_cpu_ms'] / replicated['train_cpu_ms'] - 1:+.1%}, "
              f"reward pass {row['reward_ms'] / replicated['reward_ms'] - 1:+.1%}")


if __name__ == "__main__":
    main()
