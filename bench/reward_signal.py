"""Is the controller's reward a usable signal? Measured on a search's frozen shared weights.

Two figures, side by side for each reward batch-norm mode of the space:

1. noise against signal: for N uniform architectures, the standard deviation of one reward over R
   validation minibatches (the noise REINFORCE sees per sample) against the spread of the
   architectures' mean rewards (the signal it has to find);
2. learning on a frozen child: a fresh controller (the search's settings, at each ``--lrs`` learning
   rate) takes ``--updates`` REINFORCE updates of ``num_aggregate`` samples on these rewards, and the
   expected score of its policy (the mean score of 20 seeded samples on the first validation batches)
   is printed before and after, beside the score of its greedy architecture.

    python bench/reward_signal.py --search_dir=runs/efficacy/seed0/enas
    python bench/reward_signal.py --search_dir=runs/macro --updates=500 --lrs=0.001,0.01
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--search_dir", required=True, help="output directory of an enas-search run")
    parser.add_argument("--num_archs", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=8, help="reward minibatches per architecture")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--lrs", default="0.001,0.005,0.02")
    parser.add_argument("--score_batches", type=int, default=5)
    return parser.parse_args(argv)


def policy_score(task, controller, num_batches: int, mode: str) -> float:
    tokens = np.asarray(controller.sample(20, seed=11).tokens)
    return float(np.mean([task.score(row, num_batches, mode=mode) for row in tokens]))


def main(argv=None):
    args = _args(argv)
    from enas.controller import Controller, Reinforce
    from enas.trainers.derive import load_search

    config, _, task, strategy = load_search(args.search_dir)
    modes = tuple(task.reward_modes) or (None,)
    arcs = strategy.decisions.random_tokens(args.num_archs, seed=7)
    print(f"{args.search_dir}: {args.num_archs} uniform architectures, {args.repeats} reward minibatches of "
          f"{config.data.batch_size} each")
    for mode in modes:
        table = np.array([[task.reward(arc, mode=mode) for _ in range(args.repeats)] for arc in arcs])
        noise, spread = table.std(axis=1, ddof=1).mean(), table.mean(axis=1).std(ddof=1)
        print(f"  {mode or 'reward'}: noise of one reward {noise:.4f}, spread of mean rewards {spread:.4f}, "
              f"signal/noise {spread / noise:.2f}")
    mode = getattr(task, "reward_bn", None) or None
    cc = config.controller
    print(f"REINFORCE on the frozen child ({mode or 'reward'} mode), {args.updates} updates of {cc.num_aggregate} "
          f"samples ({args.updates * cc.num_aggregate} rewards); policy score = mean score of 20 samples:")
    for lr in (float(v) for v in args.lrs.split(",")):
        controller = Controller.from_config(strategy.decisions, cc)
        trainer = Reinforce.from_config(controller, dataclasses.replace(cc, learning_rate=lr))
        before = policy_score(task, controller, args.score_batches, mode)
        entropy_before = float(np.mean(np.asarray(controller.sample(64, seed=5).entropy)))
        for _ in range(args.updates):
            tokens = np.asarray(controller.sample(cc.num_aggregate).tokens)
            trainer.update(tokens, np.array([task.reward(row, mode=mode) for row in tokens], np.float32))
        after = policy_score(task, controller, args.score_batches, mode)
        entropy_after = float(np.mean(np.asarray(controller.sample(64, seed=5).entropy)))
        greedy = np.asarray(controller.greedy().tokens).reshape(-1)
        print(f"  lr {lr:g}: policy score {before:.4f} -> {after:.4f} ({after - before:+.4f}); "
              f"entropy {entropy_before:.2f} -> {entropy_after:.2f}; greedy architecture scores "
              f"{task.score(greedy, args.score_batches, mode=mode):.4f}")


if __name__ == "__main__":
    main()
