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


def define_flags(flag_values: flags.FlagValues = FLAGS) -> None:
    """Defines this binary's flags (those already defined, e.g. by enas.flags, are kept)."""
    definitions = (
        (flags.DEFINE_string, "dataset", "embedded",
         "Dataset: embedded, cifar10, cifar100, mnist, fashion_mnist, svhn_cropped, idx, npz; ptb or "
         "ptb_synthetic (the language model's Penn Treebank text)."),
        (flags.DEFINE_string, "data_dir", "",
         "TFDS data directory (default: TFDS's own), IDX directory (--dataset=idx) or .npz file."),
        (flags.DEFINE_integer, "valid_size", 1000,
         "Images held out of the end of the training split for validation (0: none)."),
        (flags.DEFINE_integer, "batch_size", 128, "Training minibatch size."),
        (flags.DEFINE_integer, "child_cutout_size", 0,
         "Side of the cutout square on training images (0: off); official ENAS flag name."),
        (flags.DEFINE_integer, "seed", 0, "Seed of shuffling and augmentation."),
        (flags.DEFINE_integer, "eval_batch_size", 100, "Evaluation minibatch size (ptb: validation streams)."),
        (flags.DEFINE_integer, "child_bptt_steps", 35, "ptb: tokens per BPTT window."),
    )
    for define, name, default, help_string in definitions:
        if name not in flag_values:
            define(name, default, help_string, flag_values=flag_values)


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
    config = DataConfig(dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, valid_size=FLAGS.valid_size,
                        batch_size=FLAGS.batch_size, cutout_size=FLAGS.child_cutout_size, seed=FLAGS.seed,
                        eval_batch_size=FLAGS.eval_batch_size, bptt_steps=FLAGS.child_bptt_steps).validate()
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
