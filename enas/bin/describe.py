"""Describes an architecture: parameter count, FLOPs, a text diagram, and a graphviz diagram.

Usage::

    enas-describe --baseline=cifar10_micro_final
    enas-describe --search_for=macro --child_num_layers=4 --child_num_branches=6 \\
        --child_out_filters=16 --child_fixed_arc="0 1 0 2 1 1 3 0 0 1" --dot_file=arc.dot

With ``--dot_file`` it writes the DOT diagram, and a PNG beside it when graphviz's ``dot`` is
installed.
"""

import shutil
import subprocess

from absl import flags

from enas import flags as enas_flags
from enas.bin import common

FLAGS = flags.FLAGS


def define_flags():
    enas_flags.define_flags()
    flags.DEFINE_integer("image_size", 32, "Input height and width the parameter/FLOP counts assume.")
    flags.DEFINE_integer("image_channels", 3, "Input channels.")
    flags.DEFINE_integer("num_classes", 10, "Classes (image spaces) or vocabulary size (rnn).")
    flags.DEFINE_string("dot_file", "", "Write a graphviz DOT diagram here (and a PNG beside it with graphviz).")


def main(_argv):
    config = enas_flags.configs_from_flags(FLAGS, require_output_dir=False)
    from enas.spaces import get_space  # pylint: disable=import-outside-toplevel

    space = get_space(config.child.search_for)
    if not config.child.fixed_arc:
        common.fail("--child_fixed_arc: required: the architecture string to describe")
    arc = space.parse_arc(config.child.fixed_arc, config.child)
    shape = (FLAGS.image_size, FLAGS.image_size, FLAGS.image_channels) if space.task == "image" else None
    print(space.describe(arc, config.child, FLAGS.num_classes, shape))
    if FLAGS.dot_file:
        if space.to_dot is None:
            common.fail(f"--dot_file: the {space.name} space has no diagram")
        with open(FLAGS.dot_file, "w") as handle:
            handle.write(space.to_dot(arc))
        print(f"wrote {FLAGS.dot_file}")
        if shutil.which("dot"):
            png = FLAGS.dot_file.rsplit(".", 1)[0] + ".png"
            subprocess.run(["dot", "-Tpng", FLAGS.dot_file, "-o", png], check=True)
            print(f"wrote {png}")


def run():
    common.run_main(main, define_flags)


if __name__ == "__main__":
    run()
