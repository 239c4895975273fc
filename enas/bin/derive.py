"""Re-derives architectures from a search output directory with its saved controller and child.

Usage::

    enas-derive --output_dir=runs/macro_smoke --derive_num_samples=200 --derive_top_k=20

Writes ``derived.json`` (and ``derived.dot``/``derived.png``) in the output directory.
"""

from absl import app, flags

from enas.bin import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("output_dir", None, "Output directory of an enas-search run.")
    flags.DEFINE_integer("derive_num_samples", None, "Architectures to sample (default: the search's value).")
    flags.DEFINE_integer("derive_top_k", None, "How many scored architectures to list (default: the search's).")
    flags.DEFINE_integer("derive_num_batches", None, "Validation batches per architecture (default: the search's).")


def main(_argv):
    if not FLAGS.output_dir:
        common.fail("--output_dir: required: the output directory of an enas-search run")
    from enas.trainers.derive import derive  # pylint: disable=import-outside-toplevel

    derived = derive(FLAGS.output_dir, FLAGS.derive_num_samples, FLAGS.derive_top_k, FLAGS.derive_num_batches)
    print(f"{derived['num_unique']} distinct architectures among {derived['num_samples']} samples of the "
          f"{derived['strategy']} strategy (scored with {derived['reward_bn'] or 'the reward'}); the best:")
    for rank, entry in enumerate(derived["top"], 1):
        print(f"{rank:3d}  score {entry['score']:.4f}  {entry['arc']}")


def run():
    define_flags()
    app.run(common.guarded(main))


if __name__ == "__main__":
    run()
