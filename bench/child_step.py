"""Child train-step cost of the shared-weight child against a static model of the same architecture.

For each search space and size, builds the shared child (architecture fed as an int32 tensor) and a
static model with the same search semantics and weights for one random architecture, traces an SGD
train step for each (``tf.function``, fixed input signature, no XLA), then times them side by side:
repeats interleave the two models, and medians are reported with their ratio (target <= 1.10).

    .venv/bin/python bench/child_step.py                        # macro and micro, CIFAR-sized and small
    .venv/bin/python bench/child_step.py --spaces micro         # micro only (also prints the published
                                                                # micro_final arc's parameter count)
    .venv/bin/python bench/child_step.py --spaces macro --sizes 12,36,32,32 --repeats 30

    .venv/bin/python bench/child_step.py --mixture              # DARTS: mixture step vs single-path step

``--mixture`` times the DARTS mixture train step (``mixture_call``: every candidate runs, weighted by a
softmax) against the single-path shared step (``keras.ops.switch``) of the same child, each variant in a
fresh subprocess so that its memory can be measured: the trace's growth of the peak RSS, then (after a
reset of the peak, ``/proc/self/clear_refs``) the peak RSS of the steps above the RSS after the trace
(activations, gradients, optimizer slots, runtime buffers; on a GPU the device's peak memory instead).
Default sizes are the search configurations (``MIXTURE_SIZES``); pass ``--sizes`` for smaller ones on a
slow machine.

A size is ``num_layers,out_filters,image_size,batch_size``. To add a space, write a function
``<space>_steps(size, seed, breakdown) -> ({"shared": step, "static": step, ...}, description)``
(each step a no-argument callable returning the loss) and list it in ``SPACES``.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import resource
import statistics
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from enas.spaces import macro
from enas.spaces import micro
from enas.spaces.micro.fixed import count_cost
from enas.config import ChildConfig
from enas.trainers.optimizers import MomentumSGD


def _train_step(variables, forward, signature):
    """A traced Nesterov-SGD step of ``forward(*inputs) -> logits`` on ``variables``.

    Variables without a gradient (a static model's unused reductions) are left out of the update.
    """
    optimizer = MomentumSGD(0.05, momentum=0.9, nesterov=True)  # the image trainers' optimizer
    optimizer.build(variables)

    @tf.function(input_signature=signature)
    def step(images, labels, *extra):
        with tf.GradientTape() as tape:
            logits = forward(images, *extra)
            loss = tf.reduce_mean(
                keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True))
        grads = tape.gradient(loss, variables)
        optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
        return loss

    return step


def _inputs(arc, shape, batch_size: int, seed: int):
    """A random batch, the arc's token tensor, and the step signatures (images+labels, arc)."""
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.normal(size=(batch_size,) + shape).astype("float32"))
    labels = tf.constant(rng.integers(0, 10, size=batch_size).astype("int32"))
    tokens = tf.constant(arc.to_tokens(), tf.int32)
    image_spec = [tf.TensorSpec([None, *shape], tf.float32), tf.TensorSpec([None], tf.int32)]
    return images, labels, tokens, image_spec, [tf.TensorSpec([len(arc.to_tokens())], tf.int32)]


def macro_steps(size, seed, breakdown=False):
    """Shared macro child vs static search-semantics model of one random architecture.

    With ``breakdown``, also the shared child with the optimizer restricted to the variables this
    architecture uses: the gap to the full shared step is the cost of updating every branch (which
    search needs anyway: L2 decay reaches all shared weights), the rest is the op selection.
    """
    num_layers, out_filters, image_size, batch_size = size
    config = ChildConfig(num_layers=num_layers, out_filters=out_filters, num_branches=6, keep_prob=0.9)
    shape = (image_size, image_size, 3)
    arc = macro.random_arc(num_layers, 6, random.Random(seed))
    shared = macro.build_shared_child(config, 10, shape)
    static = macro.build_static_search_child(arc, config, 10, shape)
    static.copy_weights_from(shared)
    images, labels, tokens, image_spec, arc_spec = _inputs(arc, shape, batch_size, seed)
    shared_forward = lambda x, a: shared(x, a, training=True)  # noqa: E731
    static_forward = lambda x: static(x, training=True)  # noqa: E731
    steps = {"shared": _train_step(shared.trainable_variables, shared_forward, image_spec + arc_spec),
             "static": _train_step(static.trainable_variables, static_forward, image_spec)}
    if breakdown:
        unchosen = {id(v) for layer in range(num_layers) for op in range(6) if op != arc.ops[layer]
                    for v in shared.branch(layer, op).trainable_variables}
        used = [v for v in shared.trainable_variables if id(v) not in unchosen]
        steps["shared, optimizer on the arc's variables"] = _train_step(
            used, shared_forward, image_spec + arc_spec)
    description = (f"macro L={num_layers} C={out_filters} {image_size}x{image_size}x3 batch={batch_size} "
                   f"arc ops={''.join(map(str, arc.ops))} params shared={shared.count_params():,} "
                   f"static={static.count_params():,}")
    calls = {name: (lambda step=step: step(images, labels, tokens)) for name, step in steps.items()}
    calls["static"] = lambda: steps["static"](images, labels)
    return calls, description


def micro_steps(size, seed, breakdown=False):
    """Shared micro child (B=5 nodes per cell) vs static search-semantics model of one random arc.

    ``breakdown``: also the shared child with ``compiled_switches`` (its op and input switches as
    compiled functions every cell calls), with ``recompute`` (its op switches' activations recomputed
    in the backward pass), and with both; same weights, timed in the same rotation.
    """
    num_layers, out_filters, image_size, batch_size = size
    config = ChildConfig(search_for="micro", num_layers=num_layers, num_cells=5, out_filters=out_filters,
                         num_branches=5, keep_prob=0.9)
    shape = (image_size, image_size, 3)
    arc = micro.random_arc(5, rng=np.random.default_rng(seed))
    shared = micro.build_shared_child(config, 10, shape)
    static = micro.build_static_search_child(arc, config, 10, shape)
    static.set_weights(shared.get_weights())
    images, labels, tokens, image_spec, arc_spec = _inputs(arc, shape, batch_size, seed)
    shared_step = _train_step(shared.trainable_variables, lambda x, a: shared(x, a, training=True),
                              image_spec + arc_spec)
    static_step = _train_step(static.trainable_variables, lambda x: static(x, training=True), image_spec)
    description = (f"micro L={num_layers} B=5 C={out_filters} {image_size}x{image_size}x3 batch={batch_size} "
                   f"arc {arc.to_string()!r} params shared={shared.count_params():,} "
                   f"static={static.count_params():,}")
    steps = {"shared": lambda: shared_step(images, labels, tokens), "static": lambda: static_step(images, labels)}
    if breakdown:  # the same shared child with --child_compiled_switches and/or --child_recompute, same weights
        for name, compiled, recompute in (("shared, compiled switches", True, False),
                                          ("shared, recompute", False, True),
                                          ("shared, compiled switches, recompute", True, True)):
            variant = micro.build_shared_child(
                dataclasses.replace(config, compiled_switches=compiled, recompute=recompute), 10, shape)
            variant.set_weights(shared.get_weights())
            variant_step = _train_step(variant.trainable_variables,
                                       lambda x, a, variant=variant: variant(x, a, training=True),
                                       image_spec + arc_spec)
            steps[name] = lambda variant_step=variant_step: variant_step(images, labels, tokens)
    return steps, description


def published_micro_cost() -> str:
    """``enas-describe``'s counts for the published micro_final arc at the final CIFAR-10 configuration."""
    config = ChildConfig(search_for="micro", num_layers=15, num_cells=5, out_filters=36, num_branches=5,
                         keep_prob=0.8, drop_path_keep_prob=0.6, use_aux_heads=True, l2_reg=2e-4)
    arc = micro.MicroArc.from_string(micro.PUBLISHED_FINAL_ARC)
    cost = count_cost(micro.build_fixed_child(arc, config, 10, (32, 32, 3)))
    return (f"published micro_final arc, L=15 C=36 with aux head, 32x32x3, 10 classes: "
            f"{cost['trainable_params']:,} trainable parameters "
            f"({cost['trainable_params'] - cost['aux_params']:,} without the aux head; paper: 4.6M), "
            f"{cost['multiply_adds'] / 1e6:,.0f}M multiply-adds per image")


SPACES = {"macro": macro_steps, "micro": micro_steps}
DEFAULT_SIZES = {"macro": ["12,36,32,32", "6,16,16,32"], "micro": ["6,20,32,160", "2,8,16,32"]}


def _peak_memory() -> str:
    if tf.config.list_physical_devices("GPU"):
        peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        tf.config.experimental.reset_memory_stats("GPU:0")
        return f"GPU peak {peak / 2**20:.0f} MiB"
    return f"process max RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"


def _time(step) -> float:
    start = time.perf_counter()
    float(step())  # reading the loss waits for the step to finish
    return time.perf_counter() - start


def run(space: str, size, repeats: int, seed: int, breakdown: bool = False) -> float:
    """Prints one comparison; returns the shared/static median ratio."""
    keras.utils.set_random_seed(seed)
    steps, description = SPACES[space](size, seed, breakdown)
    print(description, flush=True)
    start = time.perf_counter()
    for step in steps.values():
        step()  # trace
        step()  # warm up
    print(f"  trace + warm-up {time.perf_counter() - start:.1f}s; {_peak_memory()}", flush=True)
    times = {name: [] for name in steps}
    names = list(steps)
    for repeat in range(repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:  # rotate the order
            times[name].append(_time(steps[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    minimums = {name: min(values) for name, values in times.items()}  # least disturbed by other load
    for name, median in medians.items():
        print(f"  step {name}: median {median * 1e3:.1f} ms ({median / medians['static']:.3f}x static), "
              f"min {minimums[name] * 1e3:.1f} ms ({minimums[name] / minimums['static']:.3f}x)")
    ratio = medians["shared"] / medians["static"]
    print(f"  ratio shared/static {ratio:.3f} (medians over {repeats} interleaved repeats); {_peak_memory()}",
          flush=True)
    return ratio


# The search configurations of the baselines (cifar10_{macro,micro}_search: micro B=5, batch 160 here as
# in the existing default; the macro search's batch is 128).
MIXTURE_SIZES = {"macro": ["12,36,32,128"], "micro": ["6,20,32,160"]}


def _status_mib(field: str) -> float:
    """``VmRSS`` (current) or ``VmHWM`` (peak) of this process from ``/proc/self/status``, in MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> bool:
    """Resets the process's peak RSS (``VmHWM``; Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _mixture_child(space: str, size):
    """The shared child of ``space`` at ``size`` (search semantics, no aux head) and its decisions."""
    num_layers, out_filters, image_size, _ = size
    shape = (image_size, image_size, 3)
    if space == "macro":
        config = ChildConfig(num_layers=num_layers, out_filters=out_filters, num_branches=6, keep_prob=0.9)
        return macro.build_shared_child(config, 10, shape), macro.controller_space(config), shape
    config = ChildConfig(search_for="micro", num_layers=num_layers, num_cells=5, out_filters=out_filters,
                         num_branches=5, keep_prob=0.9)
    return micro.build_shared_child(config, 10, shape), micro.controller_space(config), shape


def mixture_worker(space: str, size, variant: str, repeats: int, seed: int) -> dict:
    """Times one variant (``single`` or ``mixture``) of one child; the caller runs it in a fresh process."""
    from enas.strategies.darts import choice_mask  # pylint: disable=import-outside-toplevel

    keras.utils.set_random_seed(seed)
    model, decisions, shape = _mixture_child(space, size)
    batch_size = size[3]
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.normal(size=(batch_size,) + shape).astype("float32"))
    labels = tf.constant(rng.integers(0, 10, size=batch_size).astype("int32"))
    image_spec = [tf.TensorSpec([None, *shape], tf.float32), tf.TensorSpec([None], tf.int32)]
    if variant == "single":
        extra = tf.constant(decisions.random_tokens(1, seed=seed)[0], tf.int32)
        step = _train_step(model.trainable_variables, lambda x, a: model(x, a, training=True),
                           image_spec + [tf.TensorSpec([decisions.num_tokens], tf.int32)])
    else:  # random softmax weights over each token's valid choices
        mask = choice_mask(decisions.num_choices)
        logits = np.where(mask, rng.normal(size=mask.shape), -np.inf)
        extra = tf.constant(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), tf.float32)
        step = _train_step(model.trainable_variables, lambda x, w: model.mixture_call(x, w, training=True),
                           image_spec + [tf.TensorSpec([decisions.num_tokens, None], tf.float32)])
    gpu = bool(tf.config.list_physical_devices("GPU"))
    before = _status_mib("VmRSS")
    start = time.perf_counter()
    step.get_concrete_function()  # the trace alone (the signature is fixed)
    trace_s = time.perf_counter() - start
    trace_mib = _status_mib("VmHWM") - before
    after_trace = _status_mib("VmRSS")
    reset = _reset_peak_rss()
    if gpu:
        tf.config.experimental.reset_memory_stats("GPU:0")
    step(images, labels, extra)
    step(images, labels, extra)
    times = [_time(lambda: step(images, labels, extra)) for _ in range(repeats)]
    # Execution: the peak RSS during the steps above the RSS after tracing (activations, gradients, optimizer
    # slots, runtime buffers). Without a peak reset, the peak may still be the trace's: a lower bound then.
    result = {"variant": variant, "trace_s": trace_s, "trace_mib": trace_mib,
              "median_ms": statistics.median(times) * 1e3, "min_ms": min(times) * 1e3,
              "memory_mib": _status_mib("VmHWM") - after_trace,
              "memory_kind": "step peak RSS" if reset else "step peak RSS (lower bound)"}
    if gpu:
        result.update(memory_mib=tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20,
                      memory_kind="GPU peak")
    return result


def run_mixture(space: str, size, repeats: int, seed: int) -> dict:
    """Runs both variants in fresh subprocesses and prints them side by side."""
    import json  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel

    results = {}
    for variant in ("single", "mixture"):
        command = [sys.executable, __file__, "--mixture_worker", f"{space}:{','.join(map(str, size))}:{variant}",
                   "--repeats", str(repeats), "--seed", str(seed)]
        output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        results[variant] = json.loads(output.strip().splitlines()[-1])
    single, mixture = results["single"], results["mixture"]
    print(f"{space} L={size[0]} C={size[1]} {size[2]}x{size[2]}x3 batch={size[3]}"
          f"{' B=5' if space == 'micro' else ''}: {repeats} timed steps per variant", flush=True)
    print(f"  {'':10s} {'median ms':>10s} {'min ms':>10s} {'trace s':>8s} {'trace MiB':>10s} "
          f"{single['memory_kind'] + ' MiB':>22s}")
    for name, result in results.items():
        print(f"  {name:10s} {result['median_ms']:10.1f} {result['min_ms']:10.1f} {result['trace_s']:8.1f} "
              f"{result['trace_mib']:10.0f} {result['memory_mib']:22.0f}")
    print(f"  mixture/single: time {mixture['median_ms'] / single['median_ms']:.2f}x, memory "
          f"{mixture['memory_mib'] / max(single['memory_mib'], 1e-9):.2f}x", flush=True)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spaces", default="macro,micro", help=f"comma-separated spaces: {', '.join(SPACES)}")
    parser.add_argument("--sizes", nargs="+", default=None,
                        help="num_layers,out_filters,image_size,batch_size per comparison (default per space: "
                             + "; ".join(f"{k} {' '.join(v)}" for k, v in DEFAULT_SIZES.items()) + ")")
    parser.add_argument("--repeats", type=int, default=15, help="timed steps per model and size")
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, data and architecture")
    parser.add_argument("--breakdown", action="store_true",
                        help="also time the shared child with the optimizer on the arc's variables only "
                             "(macro), or with --child_compiled_switches and/or --child_recompute (micro)")
    parser.add_argument("--mixture", action="store_true",
                        help="DARTS: time the mixture train step against the single-path step, each in a fresh "
                             "subprocess (sizes default to the search configurations)")
    parser.add_argument("--mixture_worker", default="", help=argparse.SUPPRESS)  # space:size:variant
    args = parser.parse_args(argv)
    if args.mixture_worker:
        import json  # pylint: disable=import-outside-toplevel

        space, size, variant = args.mixture_worker.split(":")
        size = tuple(int(v) for v in size.split(","))
        print(json.dumps(mixture_worker(space, size, variant, args.repeats, args.seed)))
        return 0
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"devices {[d.name for d in tf.config.list_logical_devices()]}")
    for space in args.spaces.split(","):
        if space not in SPACES:
            parser.error(f"unknown space {space!r}; choose from {', '.join(SPACES)}")
        if args.mixture:
            for size in args.sizes or MIXTURE_SIZES[space]:
                run_mixture(space, tuple(int(v) for v in size.split(",")), args.repeats, args.seed)
            continue
        for size in args.sizes or DEFAULT_SIZES[space]:
            run(space, tuple(int(v) for v in size.split(",")), args.repeats, args.seed, args.breakdown)
        if space == "micro":
            print(published_micro_cost(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
