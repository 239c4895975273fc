"""Benchmark the ENAS controller: sampling and REINFORCE updates on the macro space.

    .venv/bin/python bench/controller.py            # 12 and 24 layers, batch 1 and 20
    .venv/bin/python bench/controller.py --layers 12 --repeats 50

Prints, per configuration, architectures per second for ``Controller.sample`` (one call per
architecture, as the trainers do for every child minibatch, and batched), for ``log_prob`` and
for ``Reinforce.update`` (one Adam step on a batch of ``num_aggregate`` = 20 samples), plus the
one-off compile (trace) time.
"""

import argparse
import time

import numpy as np

from enas.controller import Controller, Reinforce, SearchSpace


def _rate(fn, repeats, per_call):
    fn()  # warm
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    elapsed = time.perf_counter() - start
    return per_call * repeats / elapsed, 1e3 * elapsed / repeats


def bench(num_layers, repeats, aggregate):
    space = SearchSpace.macro(num_layers)
    controller = Controller(space, tanh_constant=1.5, seed=0)  # ENAS macro: 64 units, 1 layer
    trainer = Reinforce(controller, learning_rate=1e-3, entropy_weight=1e-4, skip_weight=0.8,
                        num_aggregate=aggregate)
    start = time.perf_counter()
    samples = controller.sample(aggregate)
    controller.log_prob(samples.tokens)
    trainer.update(samples.tokens, np.zeros(aggregate))
    compile_seconds = time.perf_counter() - start
    rewards = np.random.default_rng(0).random(aggregate)
    tokens = samples.numpy().tokens
    rows = [
        ("sample(1)", *_rate(lambda: controller.sample(1).tokens.numpy(), repeats, 1)),
        (f"sample({aggregate})", *_rate(lambda: controller.sample(aggregate).tokens.numpy(),
                                        repeats, aggregate)),
        (f"log_prob([{aggregate}, T])", *_rate(lambda: controller.log_prob(tokens).log_prob.numpy(),
                                               repeats, aggregate)),
        (f"update([{aggregate}, T])", *_rate(lambda: trainer.update(tokens, rewards),
                                             repeats, aggregate)),
    ]
    print(f"macro L={num_layers} ({space.num_tokens} tokens), first calls incl. tracing: "
          f"{compile_seconds:.1f} s")
    for name, per_second, milliseconds in rows:
        print(f"  {name:<18} {milliseconds:8.2f} ms/call  {per_second:9.0f} architectures/s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, nargs="+", default=[12, 24], help="macro layer counts")
    parser.add_argument("--repeats", type=int, default=30, help="timed calls per measurement")
    parser.add_argument("--aggregate", type=int, default=20,
                        help="samples per update (controller_num_aggregate; macro ENAS: 20)")
    args = parser.parse_args()
    for num_layers in args.layers:
        bench(num_layers, args.repeats, args.aggregate)


if __name__ == "__main__":
    main()
