"""Re-derives architectures from a search output directory with its saved controller and child.

Usage::

    enas-derive --output_dir=runs/macro_smoke --derive_num_samples=200 --derive_top_k=20

Writes ``derived.json`` (and ``derived.dot``/``derived.png``) in the output directory.
"""

import os

from absl import flags

from enas.bin import common
from enas.trainers import run_dir

FLAGS = flags.FLAGS


def define_flags():
    for name, help_string in (
            ("derive_num_samples", "Architectures to sample (default: the search's value)."),
            ("derive_top_k", "How many scored architectures to list (default: the search's)."),
            ("derive_num_batches", "Validation batches per architecture (default: the search's).")):
        if name not in FLAGS:
            flags.DEFINE_integer(name, None, help_string)
    if "output_dir" not in FLAGS:
        flags.DEFINE_string("output_dir", None, "Output directory of an enas-search run.")


def main(_argv):
    output_dir = FLAGS.output_dir
    if not output_dir:
        common.fail("--output_dir: required: the output directory of an enas-search run")
    # Only values given on the command line override the search's (0 is refused, not ignored).
    overrides = {name: FLAGS[name].value if FLAGS[name].present else None
                 for name in ("derive_num_samples", "derive_top_k", "derive_num_batches")}
    for name, value in overrides.items():
        if value is not None and value <= 0:
            common.fail(f"--{name}: must be > 0, got {value}")
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        common.fail(f"--output_dir: {output_dir} is a file, not a directory")
    kind, _ = run_dir.load_run_config(output_dir)  # a missing or garbled config.json: one line
    if kind != "search":
        common.fail(f"{output_dir} holds a {kind} run; enas-derive needs the output of enas-search")
    run_dir.check_writable(output_dir)  # derived.json is written there
    common.import_tensorflow_quietly()
    from enas.trainers.derive import derive  # pylint: disable=import-outside-toplevel

    derived = derive(output_dir, *overrides.values())
    print(f"{derived['num_unique']} distinct architectures among {derived['num_samples']} samples of the "
          f"{derived['strategy']} strategy (scored with {derived['reward_bn'] or 'the reward'}); the best:")
    for rank, entry in enumerate(derived["top"], 1):
        print(f"{rank:3d}  score {entry['score']:.4f}  {entry['arc']}")


def run(argv=None):
    """Console-script entry point (``enas-derive``); ``argv`` defaults to ``sys.argv``."""
    common.run_main(main, define_flags, __doc__, argv, baselines=False)


if __name__ == "__main__":
    run()
