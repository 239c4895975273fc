"""Time to the first child step and the first controller update, and peak memory, of each search baseline.

Each measurement is a fresh Python process running a short search (the baseline's search
configuration on the embedded images, or ``ptb_synthetic`` with 8 streams for rnn; one epoch of ``--steps`` child
steps, ``--controller_steps`` controller updates, a short evaluation and derivation). The process
records when each phase ends (seconds since its parent launched it: interpreter start included;
and the process's CPU seconds, all threads, which other jobs on the machine disturb less),
every ``tf.function`` trace (Python tracing time) and its resident memory (``VmRSS``, ``VmHWM``).
One table is printed: the phases, the two headline times, the traces, peak RSS and what holds memory.

    .venv/bin/python bench/startup.py                               # macro, micro, rnn
    .venv/bin/python bench/startup.py --spaces micro --baseline_ref=main   # before (main) and after side by side
    .venv/bin/python bench/startup.py --spaces micro --json out.json

``--baseline_ref=REF`` checks REF out in a temporary ``git worktree`` and measures it in the same run
(its ``enas`` is imported through ``PYTHONPATH``; this script's instrumentation only patches
functions both versions have). Timings on a shared machine are noisy: compare columns of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINES = {"macro": "cifar10_macro_search", "micro": "cifar10_micro_search", "rnn": "ptb_search",
             "micro_compiled": "cifar10_micro_search", "micro_recompute": "cifar10_micro_search",
             "micro_compiled_recompute": "cifar10_micro_search"}
DATA_FLAGS = {"macro": ["--dataset=embedded", "--valid_size=1000", "--batch_size=64"],
              "micro": ["--dataset=embedded", "--valid_size=1000", "--batch_size=64"],
              # The micro search with its switches compiled once (--child_compiled_switches).
              "micro_compiled": ["--dataset=embedded", "--valid_size=1000", "--batch_size=64",
                                 "--child_compiled_switches"],
              # Its op switches' activations recomputed in the backward pass (--child_recompute), with the
              # switches copied or compiled.
              "micro_recompute": ["--dataset=embedded", "--valid_size=1000", "--batch_size=64", "--child_recompute"],
              "micro_compiled_recompute": ["--dataset=embedded", "--valid_size=1000", "--batch_size=64",
                                           "--child_compiled_switches", "--child_recompute"],
              # The synthetic corpus is small: batches of 8 streams (ptb_search has 128) fit its splits.
              "rnn": ["--dataset=ptb_synthetic", "--num_classes=0", "--batch_size=8", "--eval_batch_size=4"]}


# ------------------------------------------------------------------------------------ the child
def _proc_status() -> dict[str, float]:
    """VmRSS and VmHWM of this process in MiB."""
    values = {}
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, amount = line.split(":")
                values[key] = int(amount.split()[0]) / 1024.0
    return values


def _child(args) -> None:  # pylint: disable=too-many-locals,too-many-statements
    t0 = float(os.environ["ENAS_BENCH_T0"])
    events, traces, functions = [], [], []

    def mark(name: str) -> None:
        status, usage = _proc_status(), resource.getrusage(resource.RUSAGE_SELF)
        events.append({"name": name, "t": time.time() - t0, "cpu": usage.ru_utime + usage.ru_stime,
                       "rss": status["VmRSS"], "hwm": status["VmHWM"]})

    mark("python")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import functools  # pylint: disable=import-outside-toplevel

    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    mark("import tensorflow")
    original_function = tf.function

    def counting_function(func=None, **kwargs):
        """tf.function, with every trace of ``func`` timed (its Python body runs only while tracing)."""
        if func is None:
            return lambda f: counting_function(f, **kwargs)
        name = getattr(func, "__qualname__", repr(func))

        @functools.wraps(func)
        def traced(*a, **k):
            start = time.time()
            try:
                return func(*a, **k)
            finally:
                traces.append({"function": name, "start": start - t0, "seconds": time.time() - start})

        compiled = original_function(traced, **kwargs)
        functions.append((name, compiled))
        return compiled

    tf.function = counting_function
    import keras  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
    from absl import flags  # pylint: disable=import-outside-toplevel

    import enas  # pylint: disable=import-outside-toplevel
    from enas import flags as enas_flags  # pylint: disable=import-outside-toplevel
    from enas.bin import common  # pylint: disable=import-outside-toplevel
    from enas.spaces import get_space  # pylint: disable=import-outside-toplevel
    from enas.trainers import derive as derive_module  # pylint: disable=import-outside-toplevel
    from enas.trainers import search as search_module  # pylint: disable=import-outside-toplevel
    from enas.trainers import image_task, language_task  # pylint: disable=import-outside-toplevel
    import enas.data  # pylint: disable=import-outside-toplevel
    from enas.strategies import enas_controller  # pylint: disable=import-outside-toplevel

    mark("import enas")
    enas_flags.define_flags()
    common.define_baseline_flag()
    common.parse_flags(["startup", f"--baseline={BASELINES[args.space]}", *DATA_FLAGS[args.space],
                        f"--output_dir={args.output_dir}", "--reset_output_dir", "--num_epochs=1",
                        f"--max_steps_per_epoch={args.steps}", f"--controller_train_steps={args.controller_steps}",
                        "--max_eval_batches=2", "--derive_num_samples=4", "--derive_num_batches=1",
                        "--derive_top_k=2", "--progress=false", "--seed=1"])
    config = enas_flags.configs_from_flags(flags.FLAGS)
    mark("flags")

    def timed(owner, attribute, label, first_only=False):
        original = getattr(owner, attribute)
        seen = []

        @functools.wraps(original)
        def wrapper(*a, **k):
            result = original(*a, **k)
            if not (first_only and seen):
                mark(label if not seen else label.replace(" 1", " (later)"))
            seen.append(1)
            return result

        if isinstance(owner, type) or hasattr(owner, "__dict__") and not hasattr(owner, "__dataclass_fields__"):
            setattr(owner, attribute, wrapper)
        else:
            object.__setattr__(owner, attribute, wrapper)

    space = get_space(config.child.search_for)
    timed(enas.data, "load_image_data", "data")
    timed(language_task, "load_ptb", "data")
    timed(space, "build_shared_child", "model build")
    task_class = language_task.LanguageSearchTask if space.task == "language" else image_task.ImageSearchTask
    timed(task_class, "__init__", "task setup (after the build)")
    timed(search_module, "make_strategy", "strategy")
    timed(search_module.SearchRun, "__init__", "checkpoint, logs")
    timed(task_class, "train_step", "child step 1", first_only=False)
    timed(enas_controller.EnasStrategy, "phase_step", "controller update 1")
    timed(task_class, "evaluate", "evaluation", first_only=True)
    timed(derive_module, "derive_and_write", "derivation")

    # The first later step of each kind only (child step 2, controller update 2) is kept.
    run = search_module.SearchRun(config)
    run.run()
    mark("end")

    task = run.task
    nbytes = lambda variables: sum(int(v.numpy().nbytes) for v in variables)  # noqa: E731
    data = task.data
    arrays = getattr(data, "_arrays", None)
    if arrays:
        data_bytes = sum(x.nbytes + y.nbytes for x, y in arrays.values())
    else:
        data_bytes = sum(getattr(data, split).nbytes for split in ("train", "valid", "test") if hasattr(data, split))
    strategy_vars = []
    for trackable in run.strategy.trackables().values():
        strategy_vars += list(getattr(trackable, "variables", []) or [])
    ops = 0
    traced = {}
    for name, compiled in functions:
        count = compiled.experimental_get_tracing_count()
        if count:
            traced[name] = traced.get(name, 0) + count
            for concrete in compiled._list_all_concrete_functions():  # pylint: disable=protected-access
                ops += len(concrete.graph.get_operations())
    memory = {
        "child weights": nbytes(task.model.weights) / 2**20,
        "child optimizer slots": nbytes(task.optimizer.variables) / 2**20,
        "strategy variables": nbytes(strategy_vars) / 2**20,
        "data arrays": data_bytes / 2**20,
    }
    result = {"enas": os.path.dirname(enas.__file__), "events": events, "traces": traces, "traced": traced,
              "graph_ops": ops, "memory": memory, "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    with open(args.result, "w") as handle:
        json.dump(result, handle)


# ----------------------------------------------------------------------------------- the parent
def _measure(space: str, root: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="enas_startup_") as tmp:
        result = os.path.join(tmp, "result.json")
        env = dict(os.environ, PYTHONPATH=root, ENAS_BENCH_T0=repr(time.time()), TF_CPP_MIN_LOG_LEVEL="2")
        command = [sys.executable, os.path.abspath(__file__), "--child", "--space", space, "--result", result,
                   "--output_dir", os.path.join(tmp, "run"), "--steps", str(args.steps),
                   "--controller_steps", str(args.controller_steps)]
        env["ENAS_BENCH_T0"] = repr(time.time())
        proc = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{space} at {root} failed:\n{proc.stderr[-4000:]}")
        with open(result) as handle:
            measured = json.load(handle)
    if os.path.realpath(measured["enas"]) != os.path.realpath(os.path.join(root, "enas")):
        raise RuntimeError(f"measured {measured['enas']}, not {root}/enas: PYTHONPATH was not honoured")
    return measured


def _summary(measured: dict) -> list[tuple[str, str]]:
    """(row label, value) pairs of one measurement."""
    rows, previous = [], 0.0
    first = {}
    for event in measured["events"]:
        if event["name"] not in first:
            first[event["name"]] = event
    for event in measured["events"]:
        if event["name"] == "python":
            rows.append(("python start (s)", f"{event['t']:.1f}"))
        else:
            rows.append((f"  {event['name']} (s)", f"{event['t'] - previous:.1f}"))
        previous = event["t"]
    rows.append(("TIME TO FIRST CHILD STEP (s)", f"{first['child step 1']['t']:.1f}"))
    if "controller update 1" in first:
        rows.append(("TIME TO FIRST CONTROLLER UPDATE (s)", f"{first['controller update 1']['t']:.1f}"))
    rows.append(("end to end (s)", f"{first['end']['t']:.1f}"))
    if "cpu" in first["end"]:  # CPU seconds (all threads): less sensitive to other jobs than wall time
        for name, label in (("child step 1", "first child step"), ("controller update 1", "first controller update"),
                            ("end", "end")):
            if name in first:
                rows.append((f"CPU s to {label}", f"{first[name]['cpu']:.1f}"))
    rows.append(("PEAK RSS (MiB)", f"{measured['maxrss']:.0f}"))
    for name in ("child step 1", "controller update 1", "end"):
        if name in first:
            rows.append((f"  peak RSS at {name} (MiB)", f"{first[name]['hwm']:.0f}"))
    for key, value in measured["memory"].items():
        rows.append((f"  {key} (MiB)", f"{value:.1f}"))
    rows.append(("  graph ops in traced functions", str(measured["graph_ops"])))
    total = sum(trace["seconds"] for trace in measured["traces"])
    rows.append(("traces (count / Python tracing s)", f"{len(measured['traces'])} / {total:.1f}"))
    per_function: dict[str, list] = {}
    for trace in measured["traces"]:
        per_function.setdefault(trace["function"].replace("<locals>.", ""), []).append(trace["seconds"])
    for name, seconds in sorted(per_function.items(), key=lambda item: -sum(item[1])):
        if sum(seconds) >= 0.05:
            rows.append((f"  {name[-48:]}", f"{len(seconds)}x {sum(seconds):.1f}s"))
    return rows


def _print_table(columns: list[tuple[str, list]]) -> None:
    labels: list[str] = []
    for _, rows in columns:
        for label, _ in rows:
            if label not in labels:
                labels.append(label)
    width = max(len(label) for label in labels) + 2
    widths = [max(len(title), 12) + 2 for title, _ in columns]
    print("".ljust(width) + "".join(title.rjust(w) for (title, _), w in zip(columns, widths)))
    for label in labels:
        values = [dict(rows).get(label, "") for _, rows in columns]
        print(label.ljust(width) + "".join(value.rjust(w) for value, w in zip(values, widths)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spaces", default="macro,micro,micro_compiled,rnn",
                        help=f"comma-separated, of {', '.join(BASELINES)}")
    parser.add_argument("--baseline_ref", default="", help="also measure this git ref (a temporary worktree)")
    parser.add_argument("--steps", type=int, default=2, help="child steps in the one epoch")
    parser.add_argument("--controller_steps", type=int, default=2, help="controller updates in the phase")
    parser.add_argument("--json", default="", help="also write the raw measurements here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--space", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--output_dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args)
        return
    roots = [("this tree", REPO)]
    worktree = None
    if args.baseline_ref:
        worktree = tempfile.mkdtemp(prefix="enas_baseline_ref_")
        os.rmdir(worktree)
        subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", worktree, args.baseline_ref],
                       check=True, capture_output=True)
        roots.insert(0, (args.baseline_ref, worktree))
    columns, raw = [], {}
    try:
        for space in args.spaces.split(","):
            for title, root in roots:
                try:
                    measured = _measure(space, root, args)
                except RuntimeError as error:  # one failed measurement does not lose the others
                    print(error, file=sys.stderr)
                    continue
                raw[f"{space} @ {title}"] = measured
                columns.append((f"{space} @ {title}", _summary(measured)))
                if args.json:
                    with open(args.json, "w") as handle:
                        json.dump(raw, handle, indent=1)
    finally:
        if worktree:
            subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", worktree], check=False,
                           capture_output=True)
            shutil.rmtree(worktree, ignore_errors=True)
    print(f"search baselines: {args.steps} child steps, {args.controller_steps} controller updates, "
          f"2 evaluation batches, derivation of 4 samples on 1 batch; {os.cpu_count()} CPUs")
    _print_table(columns)


if __name__ == "__main__":
    main()
