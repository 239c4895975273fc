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
    """The settings of :class:`enas.config.RankConfig` (defaults and help written there)."""
    from enas.config import RankConfig  # pylint: disable=import-outside-toplevel
    from enas.flags.definitions import define_section_flags  # pylint: disable=import-outside-toplevel

    define_section_flags([RankConfig], FLAGS)


def main(_argv):
    from enas.config import RankConfig  # pylint: disable=import-outside-toplevel
    from enas.flags.convert import section_from_flags  # pylint: disable=import-outside-toplevel

    config = section_from_flags(RankConfig, FLAGS).validate()
    common.import_tensorflow_quietly()
    from enas.trainers import distribute  # pylint: disable=import-outside-toplevel

    distribute.current(config)  # bad devices: one error line before the search is loaded
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
