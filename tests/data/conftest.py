"""Tiny on-disk datasets (IDX files, .npz archives) made in tmp_path, and config helpers."""

import gzip

import numpy as np
import pytest

from enas.config import DataConfig


def write_idx(path, array: np.ndarray) -> None:
    """Writes ``array`` (uint8) as an IDX file; gzipped when ``path`` ends in .gz."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as stream:
        stream.write(header + array.tobytes())


def indexed_images(count: int, shape, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images whose label is their own index, so a batch's labels say which images it holds."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(count,) + tuple(shape), dtype=np.uint8), np.arange(count)


@pytest.fixture
def idx_dir(tmp_path):
    """An IDX directory: 40 train and 8 test 6x6 images, training files gzipped, test files plain."""
    x_train, y_train = indexed_images(40, (6, 6), seed=1)
    x_test, y_test = indexed_images(8, (6, 6), seed=2)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", x_train)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y_train % 10)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", x_test)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", y_test % 10)
    return tmp_path


@pytest.fixture
def npz_file(tmp_path):
    """An .npz of 48 train and 10 test 8x8x3 images labelled by their index (48 classes)."""
    x_train, y_train = indexed_images(48, (8, 8, 3), seed=3)
    x_test, y_test = indexed_images(10, (8, 8, 3), seed=4)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return str(path)


@pytest.fixture
def npz_config(npz_file):
    """A DataConfig for ``npz_file``: 40 train / 8 valid / 10 test, batches of 8."""
    return DataConfig(dataset="npz", data_dir=npz_file, valid_size=8, batch_size=8, eval_batch_size=3)


@pytest.fixture(name="write_idx")
def write_idx_fixture():
    """The IDX writer, for tests that make their own files."""
    return write_idx
