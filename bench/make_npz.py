"""Writes a ``--dataset=npz`` file from the four MNIST-format IDX files: a seeded random subset of the
training images (the training and validation splits of a benchmark) and the first ``--test_size`` test
images, with the ``horizontal_flip`` key the embedded sample implies (mirrored clothes keep their class).

The efficacy protocol on larger evaluation sets (README "Does the search beat random?"): the embedded
sample's 5,000 training images, but 5,000 validation and all 10,000 test images of Fashion-MNIST::

    apt-get install dataset-fashion-mnist
    python bench/make_npz.py --train_size=10000 --output=runs/fashion_10k_10k.npz
    python bench/efficacy.py --dataset=npz --data_dir=runs/fashion_10k_10k.npz --valid_size=5000 ...
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from enas.data.sources import read_idx  # noqa: E402
from enas.errors import DataError  # noqa: E402


def _args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idx_dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--train_size", type=int, default=10000,
                        help="training images kept (training and validation splits together)")
    parser.add_argument("--test_size", type=int, default=0, help="test images kept (0: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training subset")
    parser.add_argument("--no_flip", action="store_true", help="write horizontal_flip=False")
    parser.add_argument("--output", required=True)
    return parser.parse_args(argv)


def make(args) -> dict:
    """Writes ``args.output``; returns the sizes written."""
    raw = read_idx(args.idx_dir)
    if not 0 < args.train_size <= len(raw.x_train):
        raise DataError(f"--train_size={args.train_size}: choose 1..{len(raw.x_train)}")
    if not 0 <= args.test_size <= len(raw.x_test):
        raise DataError(f"--test_size={args.test_size}: choose 0..{len(raw.x_test)} (0: all)")
    keep = np.sort(np.random.default_rng(args.seed).permutation(len(raw.x_train))[:args.train_size])
    test = slice(0, args.test_size or len(raw.x_test))
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    temporary = args.output + ".tmp.npz"
    np.savez(temporary, x_train=raw.x_train[keep, ..., 0], y_train=raw.y_train[keep],
             x_test=raw.x_test[test, ..., 0], y_test=raw.y_test[test], horizontal_flip=np.bool_(not args.no_flip))
    os.replace(temporary, args.output)
    return {"train": len(keep), "test": len(raw.x_test[test])}


def main(argv=None) -> int:
    args = _args(argv)
    try:
        sizes = make(args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {args.output}: {sizes['train']} training and {sizes['test']} test images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
