"""Builds the embedded Fashion-MNIST sample, ``fashion_mnist_sample.npz``, from the IDX files.

The sample is the first 6,000 training and the first 1,000 test images of Fashion-MNIST (Zalando
Research, MIT licence, https://github.com/zalandoresearch/fashion-mnist), as uint8 ``[N, 28, 28]``
images and uint8 labels, in a compressed ``.npz`` with the arrays ``x_train, y_train, x_test,
y_test`` (the ``--dataset=npz`` format). Run from the repository root:

    apt-get install dataset-fashion-mnist   # provides /usr/share/datasets/fashion-mnist
    python enas/data/embedded/make_sample.py --source=/usr/share/datasets/fashion-mnist
"""

import argparse
import os

import numpy as np

from enas.data import sources

NUM_TRAIN = 6000
NUM_TEST = 1000
MAX_BYTES = 5 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist",
                        help="directory of the four Fashion-MNIST IDX files")
    parser.add_argument("--output", help="the .npz file to write",
                        default=os.path.join(os.path.dirname(__file__), sources.EMBEDDED_FILE))
    args = parser.parse_args()
    full = sources.read_idx(args.source)
    y_train, y_test = full.y_train[:NUM_TRAIN], full.y_test[:NUM_TEST]
    np.savez_compressed(args.output,
                        x_train=full.x_train[:NUM_TRAIN, :, :, 0], y_train=y_train.astype(np.uint8),
                        x_test=full.x_test[:NUM_TEST, :, :, 0], y_test=y_test.astype(np.uint8))
    size = os.path.getsize(args.output)
    print(f"wrote {args.output}: {size / 1e6:.2f} MB, class counts: train {np.bincount(y_train).tolist()}, "
          f"test {np.bincount(y_test).tolist()}")
    if size > MAX_BYTES:
        raise SystemExit(f"error: {args.output} is {size} bytes, over the {MAX_BYTES}-byte budget")


if __name__ == "__main__":
    main()
