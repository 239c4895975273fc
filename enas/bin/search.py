"""Runs an ENAS architecture search, then derives the best architecture.

Usage (a short macro search on the embedded Fashion-MNIST sample, then the CIFAR-10 baseline)::

    enas-search --baseline=cifar10_macro_search_smoke --output_dir=runs/macro_smoke
    enas-search --baseline=cifar10_macro_search --data_dir=~/tensorflow_datasets --output_dir=runs/macro

Running the same command on an existing output directory resumes it; ``--reset_output_dir`` deletes
that run's own files and starts over. Results: ``config.json``, ``search_log.jsonl``,
``tensorboard/``, ``checkpoints/``, ``derived.json``.
"""

from absl import flags

from enas import flags as enas_flags
from enas.bin import common
from enas.trainers import run_dir


def main(_argv):
    config = enas_flags.configs_from_flags(flags.FLAGS)
    run_dir.check_output_dir(config, "search")  # before TensorFlow and the data: fail fast, write nothing
    common.import_tensorflow_quietly()
    from enas.trainers import distribute  # pylint: disable=import-outside-toplevel

    distribute.start(config)  # bad devices, TF_CONFIG or batch split: one error line before any data is read
    from enas.trainers.search import search  # pylint: disable=import-outside-toplevel

    derived = search(config)
    best = derived["best"]
    print(f"best architecture (score {best['score']:.4f}): {best['arc']}")
    print(f"written to {config.run.output_dir}/derived.json; train it with: enas-train "
          f"--derived_json={config.run.output_dir}/derived.json ...")


def run(argv=None):
    """Console-script entry point (``enas-search``); ``argv`` defaults to ``sys.argv``."""
    common.run_main(main, enas_flags.define_flags, __doc__, argv)


if __name__ == "__main__":
    run()
