"""Describes an architecture: parameter count, FLOPs, a text diagram, and a graphviz diagram.

Usage::

    enas-describe --baseline=cifar10_micro_final
    enas-describe --baseline=cifar10_macro_final --child_sep_as_conv   # the official code's variant
    enas-describe --baseline=ptb_final
    enas-describe --search_for=macro --child_num_layers=4 --child_num_branches=6 --num_classes=10 \\
        --dataset=cifar10 --child_out_filters=16 --child_fixed_arc="0 1 0 2 1 1 3 0 0 1" --dot_file=arc.dot

The parameter counts are of trainable weights. The number of classes (vocabulary size for ``rnn``)
comes from ``--num_classes``, which the baselines carry; describe refuses to guess it.

With ``--dot_file`` it writes the DOT diagram, and a PNG beside it when graphviz's ``dot`` program
is installed (the system package ``graphviz``, e.g. ``apt-get install graphviz``).
"""

import os
import shutil
import subprocess
import sys

from absl import flags

from enas import flags as enas_flags
from enas.bin import common

FLAGS = flags.FLAGS
MIN_IMAGE_SIZE = 4  # the image children halve the input twice (reduction layers / cells)


# Input shapes (H, W, C) of the image datasets whose shape is known without reading them.
KNOWN_IMAGE_SHAPES = {"cifar10": (32, 32, 3), "cifar100": (32, 32, 3), "svhn_cropped": (32, 32, 3),
                      "mnist": (28, 28, 1), "fashion_mnist": (28, 28, 1), "embedded": (28, 28, 1)}


def define_flags():
    enas_flags.define_flags()
    flags.DEFINE_integer("image_size", 0, f"Input height and width the parameter/FLOP counts assume "
                         f"(>= {MIN_IMAGE_SIZE}); "
                         "not given: the --dataset's own (known for cifar10, cifar100, svhn_cropped, mnist, "
                         "fashion_mnist, embedded).")
    flags.DEFINE_integer("image_channels", 0, "Input channels (>= 1); not given: the --dataset's own.")
    flags.DEFINE_string("dot_file", "", "Write a graphviz DOT diagram here (and a PNG beside it when graphviz's "
                        "dot program is installed).")


def _check_flags() -> None:
    """The describe-only flags, checked before TensorFlow is imported.

    A size given on the command line must be usable; left out, the dataset's own is used (or the
    run refuses to guess it)."""
    if FLAGS["image_size"].present and FLAGS.image_size < MIN_IMAGE_SIZE:
        common.fail(f"--image_size: must be >= {MIN_IMAGE_SIZE} (the children halve it twice), got {FLAGS.image_size}")
    if FLAGS["image_channels"].present and FLAGS.image_channels < 1:
        common.fail(f"--image_channels: must be >= 1, got {FLAGS.image_channels}")
    if FLAGS.num_classes < 0 or FLAGS.num_classes == 1:  # 0: unknown, refused once the space is known
        common.fail(f"--num_classes: must be >= 2, got {FLAGS.num_classes}")
    if FLAGS.dot_file:
        parent = os.path.dirname(os.path.abspath(FLAGS.dot_file))
        if os.path.isdir(FLAGS.dot_file):
            common.fail(f"--dot_file: {FLAGS.dot_file} is a directory; give a file name such as arc.dot")
        if not os.path.isdir(parent):
            common.fail(f"--dot_file: the directory {parent} does not exist")


def _input_shape(dataset: str):
    """The image shape the counts assume: the flags, else the dataset's known shape; never a guess."""
    known = KNOWN_IMAGE_SHAPES.get(dataset)
    size = FLAGS.image_size or (known[0] if known else 0)
    channels = FLAGS.image_channels or (known[2] if known else 0)
    if not size or not channels:
        common.fail(f"--image_size/--image_channels: the input shape of --dataset={dataset} is not known "
                    "here; pass both")
    return (size, size, channels)


def main(_argv):
    config = enas_flags.configs_from_flags(FLAGS, require_output_dir=False)
    if not config.child.fixed_arc:
        common.fail("--child_fixed_arc: required: the architecture string to describe")
    _check_flags()
    common.import_tensorflow_quietly()
    from enas.spaces import get_space  # pylint: disable=import-outside-toplevel

    space = get_space(config.child.search_for)
    arc = space.parse_arc(config.child.fixed_arc, config.child)
    if not config.data.num_classes:
        noun = "vocabulary size" if space.task == "language" else "number of classes"
        common.fail(f"--num_classes: must be >= 2: the {noun} of --dataset={config.data.dataset} is needed to "
                    "count the parameters (the baselines carry it); pass --num_classes")
    shape = _input_shape(config.data.dataset) if space.task == "image" else None
    print(space.describe(arc, config.child, config.data.num_classes, shape))
    if FLAGS.dot_file:
        if space.to_dot is None:
            common.fail(f"--dot_file: the {space.name} space has no diagram")
        with open(FLAGS.dot_file, "w") as handle:
            handle.write(space.to_dot(arc))
        print(f"wrote {FLAGS.dot_file}")
        if shutil.which("dot"):
            png = FLAGS.dot_file.rsplit(".", 1)[0] + ".png"
            result = subprocess.run(["dot", "-Tpng", FLAGS.dot_file, "-o", png], capture_output=True, text=True,
                                    check=False)
            if result.returncode == 0:
                print(f"wrote {png}")
            else:
                print(f"warning: dot could not draw {png}: {result.stderr.strip()}", file=sys.stderr)


def run(argv=None):
    """Console-script entry point (``enas-describe``); ``argv`` defaults to ``sys.argv``."""
    common.run_main(main, define_flags, __doc__, argv)


if __name__ == "__main__":
    run()
