"""Ranks architectures by shared-weight score and by stand-alone training, and correlates the two.

Usage (after ``enas-search --baseline=cifar10_macro_search_smoke --output_dir=runs/macro_smoke``)::

    enas-rank --search_dir=runs/macro_smoke --output_dir=runs/macro_rank --rank_num_archs=10 --rank_train_epochs=3

Writes ``rank.json`` (per architecture its shared-weight scores in every reward batch-norm mode and
its stand-alone accuracy; per mode Kendall tau, Spearman rho and top-k overlap) and ``rank.png``.
Running the same command again resumes an interrupted ranking.
"""

from absl import flags

from enas.bin import common

FLAGS = flags.FLAGS


def define_flags():
    flags.DEFINE_string("search_dir", None, "Output directory of a finished or interrupted enas-search run.")
    flags.DEFINE_string("output_dir", None, "Where rank.json, rank.png and the stand-alone runs go.")
    flags.DEFINE_integer("rank_num_archs", 10, "Architectures ranked: half the strategy's candidates, half "
                         "uniform (at least 4; 10 or more for a meaningful correlation).")
    flags.DEFINE_integer("rank_train_epochs", 3, "Stand-alone training epochs of each architecture.")
    flags.DEFINE_integer("rank_score_batches", 0, "Validation batches of each shared-weight score (0: all).")
    flags.DEFINE_integer("rank_top_k", 3, "The k of the top-k overlap.")
    flags.DEFINE_integer("max_steps_per_epoch", 0, "Cap on stand-alone training steps per epoch (0: full epochs).")
    flags.DEFINE_integer("seed", 0, "Seed of the choice of architectures and of stand-alone training.")
    flags.DEFINE_boolean("progress", True, "Print a line per architecture.")


def main(_argv):
    from enas.config import RankConfig  # pylint: disable=import-outside-toplevel

    config = RankConfig(search_dir=FLAGS.search_dir or "", output_dir=FLAGS.output_dir or "",
                        num_archs=FLAGS.rank_num_archs, train_epochs=FLAGS.rank_train_epochs,
                        score_batches=FLAGS.rank_score_batches, top_k=FLAGS.rank_top_k,
                        max_steps_per_epoch=FLAGS.max_steps_per_epoch, seed=FLAGS.seed,
                        progress=FLAGS.progress).validate()
    common.import_tensorflow_quietly()
    from enas.trainers.rank import rank  # pylint: disable=import-outside-toplevel

    result = rank(config)
    for mode, stats in result["modes"].items():
        print(f"{mode:12s} " + "  ".join(f"{key} {value:+.3f}" for key, value in stats.items()))
    print(f"written to {config.output_dir}/rank.json and rank.png")


def run(argv=None):
    """Console-script entry point (``enas-rank``); ``argv`` defaults to ``sys.argv``."""
    common.run_main(main, define_flags, __doc__, argv, baselines=False)


if __name__ == "__main__":
    run()
