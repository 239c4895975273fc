"""Benchmark: shared-weight vs fixed recurrent cell, one training step each, same architecture.

Both tasks train on the same synthetic token streams (no PTB files needed) with the same cell;
their steps alternate (one shared step, one fixed step, repeated) so both see the same machine
load, and the medians are compared. The ratio is what weight sharing costs per child step (the target is
<= 1.15). Run::

    .venv/bin/python bench/rnn_step.py                     # ~1-2 min on 2 CPU cores
    .venv/bin/python bench/rnn_step.py --hidden_size 128 --batch_size 32 --rounds 12

The default is the enas_lm search cell size (H=200, the README's 8-node cell) at half its batch
(64 streams) and a 1,000-word vocabulary, so the cell rather than the softmax dominates the step;
smaller cells are dominated by per-op overhead, where the two ``keras.ops.switch`` per node cost
relatively more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from enas.spaces.rnn.arc import RnnArc  # noqa: E402
from enas.config import ChildConfig, Config, DataConfig, RunConfig  # noqa: E402
from enas.data.ptb import PtbData  # noqa: E402
from enas.spaces import get_space  # noqa: E402
from enas.trainers.language_task import LanguageFinalTask, LanguageSearchTask  # noqa: E402

# The enas_lm README cell (8 nodes).
README_ARC = "0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"


def _parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden_size", type=int, default=200, help="hidden and embedding size H")
    parser.add_argument("--vocab_size", type=int, default=1000, help="vocabulary size V")
    parser.add_argument("--batch_size", type=int, default=64, help="parallel token streams")
    parser.add_argument("--bptt_steps", type=int, default=35, help="tokens per BPTT window")
    parser.add_argument("--arc", default=README_ARC, help="cell architecture string (enas_lm format)")
    parser.add_argument("--rounds", type=int, default=8,
                        help="rounds of steps_per_round alternating steps of each model")
    parser.add_argument("--steps_per_round", type=int, default=10,
                        help="steps per round (also the warm-up steps)")
    parser.add_argument("--dropout", action="store_true", help="enable all four dropouts (keep 0.8)")
    return parser.parse_args()


def _synthetic_data(vocab_size: int, batch_size: int, bptt: int, windows: int) -> PtbData:
    rng = np.random.default_rng(0)
    steps = bptt * windows + 1
    train = rng.integers(0, vocab_size, (batch_size, steps), dtype=np.int32)
    valid = rng.integers(0, vocab_size, (batch_size, bptt + 1), dtype=np.int32)
    return PtbData(vocab=tuple(f"w{i}" for i in range(vocab_size)), train=train, valid=valid, test=valid)


def main() -> None:
    args = _parse_args()
    arc = RnnArc.from_string(args.arc)
    keep = 0.8 if args.dropout else 1.0
    config = Config(
        data=DataConfig(dataset="ptb", batch_size=args.batch_size, eval_batch_size=args.batch_size,
                        bptt_steps=args.bptt_steps),
        child=ChildConfig(search_for="rnn", num_layers=arc.num_nodes, num_branches=4,
                          hidden_size=args.hidden_size, lr=0.1, grad_bound=0.25, l2_reg=1e-7,
                          embed_keep=keep, input_keep=keep, hidden_keep=keep, output_keep=keep),
        run=RunConfig(output_dir="unused"))
    windows = (args.rounds + 1) * args.steps_per_round
    data = _synthetic_data(args.vocab_size, args.batch_size, args.bptt_steps, windows)
    keras.utils.set_random_seed(0)
    space = get_space("rnn")
    shared = LanguageSearchTask(space, config, data)
    fixed = LanguageFinalTask(space, arc, config, data)
    tokens = arc.to_tokens()
    runners = {"shared": lambda: shared.train_step(tokens), "fixed": fixed.train_step}
    for task in (shared, fixed):
        task.begin_epoch(0)
    for run in runners.values():  # warm-up: tracing and the first (slow) executions
        for _ in range(args.steps_per_round):
            run()
    wall = {name: [] for name in runners}
    cpu = {name: [] for name in runners}
    for _ in range(args.rounds * args.steps_per_round):
        for name, run in runners.items():  # alternate single steps: both see the same machine load
            start_wall, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start_wall)
            cpu[name].append(time.process_time() - start_cpu)
    medians = {name: statistics.median(values) for name, values in wall.items()}
    cpu_medians = {name: statistics.median(values) for name, values in cpu.items()}
    print(f"arc {arc} ({arc.num_nodes} nodes), H={args.hidden_size}, V={args.vocab_size}, "
          f"B={args.batch_size}, "
          f"T={args.bptt_steps}, dropout={'on' if args.dropout else 'off'}, "
          f"{args.rounds * args.steps_per_round} alternating steps each")
    for name in runners:
        print(f"{name:>6} step: median {medians[name] * 1e3:8.2f} ms wall, "
              f"{cpu_medians[name] * 1e3:8.2f} ms CPU (all threads)")
    print(f"CPU-time ratio shared/fixed: {cpu_medians['shared'] / cpu_medians['fixed']:.3f}")
    print(f"wall-clock ratio shared/fixed: {medians['shared'] / medians['fixed']:.3f} (target <= 1.15)")


if __name__ == "__main__":
    main()
