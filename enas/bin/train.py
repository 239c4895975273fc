"""Trains one architecture from scratch (the final model) and evaluates it on the test set.

Usage::

    enas-train --baseline=cifar10_macro_final_smoke --output_dir=runs/macro_final_smoke
    enas-train --baseline=cifar10_macro_final --derived_json=runs/macro/derived.json --output_dir=runs/final

The architecture comes from ``--child_fixed_arc`` or, with ``--derived_json``, from the best entry of
a search's ``derived.json``. Results: ``train_log.jsonl``, ``tensorboard/``, ``checkpoints/``,
``final_metrics.json``, ``model.keras``.
"""

import dataclasses

from absl import flags

from enas import flags as enas_flags
from enas.bin import common
from enas.trainers import run_dir

FLAGS = flags.FLAGS


def define_flags():
    enas_flags.define_flags()
    if "derived_json" not in FLAGS:
        flags.DEFINE_string("derived_json", "", "A derived.json (or a search output directory): train its best "
                            "architecture instead of --child_fixed_arc.")


def main(_argv):
    config = enas_flags.configs_from_flags(FLAGS)
    if FLAGS.derived_json:
        arc = run_dir.read_derived_arc(FLAGS.derived_json)
        config = config.replace(child=dataclasses.replace(config.child, fixed_arc=arc))
    run_dir.check_output_dir(config, "final")  # before TensorFlow and the data: fail fast, write nothing
    common.import_tensorflow_quietly()
    from enas.trainers import distribute  # pylint: disable=import-outside-toplevel

    distribute.start(config)  # bad devices, TF_CONFIG or batch split: one error line before any data is read
    from enas.trainers.final import train_final  # pylint: disable=import-outside-toplevel

    metrics = train_final(config)
    shown = {k: v for k, v in metrics.items() if k.startswith(("test_", "valid_")) or k == "num_params"}
    print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items()))
    print(f"written to {config.run.output_dir}/final_metrics.json and model.keras")


def run(argv=None):
    """Console-script entry point (``enas-train``); ``argv`` defaults to ``sys.argv``."""
    common.run_main(main, define_flags, __doc__, argv)


if __name__ == "__main__":
    run()
