"""Loads an image dataset and prints its splits, shapes, channel statistics and one batch's stats.

The interim "main job" of the package: it checks that a dataset can be read before a search is
launched on it. Launch it with, for example:

    enas-data-check --dataset=embedded --valid_size=1000
    python -m enas.bin.data_check --dataset=idx --data_dir=/usr/share/datasets/fashion-mnist
    enas-data-check --dataset=cifar10 --data_dir=$HOME/tensorflow_datasets --child_cutout_size=16
    enas-data-check --dataset=ptb --data_dir=simple-examples/data --batch_size=64 --child_bptt_steps=35

Bad input (an unknown dataset, missing files, ...) prints one ``error:`` line and exits with 2.
"""

from absl import flags
import numpy as np

from enas.bin import common
from enas.config import DataConfig

FLAGS = flags.FLAGS
_FLAGS = ("dataset", "data_dir", "valid_size", "batch_size", "child_cutout_size", "seed", "eval_batch_size",
          "child_bptt_steps")


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """Defines this binary's flags: the data settings of :class:`enas.config.DataConfig` (their defaults
    and help are the config's, as in every binary; those already defined are kept)."""
    from enas.flags.definitions import define_section_flags  # pylint: disable=import-outside-toplevel

    define_section_flags([DataConfig], flag_values, only=_FLAGS)


def _describe(values: np.ndarray) -> str:
    return " ".join(f"{v:.4f}" for v in np.ravel(values))


def _describe_ptb(config: DataConfig) -> None:
    from enas.data import load_ptb  # pylint: disable=import-outside-toplevel

    data = load_ptb(config)
    print(f"dataset: {config.dataset}")
    print(f"vocabulary: {data.vocab_size} words")
    for split in ("train", "valid", "test"):
        streams, steps = data.split(split).shape
        print(f"{split}: {streams} streams x {steps} tokens ({streams * steps} tokens)")
    print(f"first window of the first training stream: {' '.join(data.words(data.train[0, :config.bptt_steps]))}")


def main(_argv) -> None:
    """Prints the dataset summary (errors become one line on stderr and exit status 2)."""
    from enas.flags.convert import section_from_flags  # pylint: disable=import-outside-toplevel

    config = section_from_flags(DataConfig, FLAGS).validate()
    common.import_tensorflow_quietly()
    if config.dataset in ("ptb", "ptb_synthetic"):
        _describe_ptb(config)
        return
    from enas.data import load_image_data  # pylint: disable=import-outside-toplevel (imports TF)

    data = load_image_data(config)
    images, labels = next(iter(data.train_epoch(0)))
    images, labels = images.numpy(), labels.numpy()
    print(f"dataset: {data.name}")
    print(f"classes: {data.num_classes}  image shape (H, W, C): {data.image_shape}  "
          f"horizontal flip: {data.horizontal_flip}  cutout: {data.cutout_size}")
    print(f"split sizes: train {data.num_train}  valid {data.num_valid}  test {data.num_test}  "
          f"(steps per epoch at batch {data.batch_size}: {data.steps_per_epoch})")
    print(f"train channel mean: {_describe(data.mean)}  std: {_describe(data.std)}")
    print(f"first batch: images {images.shape} {images.dtype}  mean {images.mean():.4f}  "
          f"std {images.std():.4f}  min {images.min():.4f}  max {images.max():.4f}")
    print(f"first batch: labels {labels.shape} {labels.dtype}  counts per class "
          f"{np.bincount(labels, minlength=data.num_classes).tolist()}")


def run(argv=None) -> None:
    """Console-script entry point (``enas-data-check``); ``argv`` defaults to ``sys.argv``."""
    common.run_main(main, define_flags, __doc__, argv, baselines=False)


if __name__ == "__main__":
    run()
