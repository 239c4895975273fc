"""Readers: IDX, npz, the embedded sample and TFDS (mocked), and their errors on bad input."""

import dataclasses
import os

import numpy as np
import pytest

from enas.config import DataConfig
from enas.data import DATASETS, load_image_data
from enas.data import sources
from enas.errors import ConfigError, DataError

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
needs_fashion_mnist = pytest.mark.skipif(
    not os.path.isfile(os.path.join(FASHION_MNIST_DIR, "train-images-idx3-ubyte.gz")),
    reason="needs the Debian package dataset-fashion-mnist")


def test_dataset_names():
    assert DATASETS == ("embedded", "cifar10", "cifar100", "mnist", "fashion_mnist", "svhn_cropped",
                        "idx", "npz")


def test_idx_reads_gzipped_and_plain_files(idx_dir):
    raw = sources.read_idx(str(idx_dir))
    assert raw.x_train.shape == (40, 6, 6, 1) and raw.x_test.shape == (8, 6, 6, 1)
    assert raw.x_train.dtype == np.uint8 and raw.y_train.dtype == np.int32
    assert raw.num_classes == 10
    assert not raw.horizontal_flip


def test_npz_adds_nothing_to_colour_images(npz_file):
    raw = sources.read_npz(npz_file)
    assert raw.x_train.shape == (48, 8, 8, 3) and raw.num_classes == 48
    assert not raw.horizontal_flip


def test_npz_horizontal_flip_key(tmp_path):
    arrays = dict(x_train=np.zeros((4, 2, 2), np.uint8), y_train=np.arange(4), x_test=np.zeros((2, 2, 2), np.uint8),
                  y_test=np.arange(2))
    np.savez(tmp_path / "on.npz", horizontal_flip=np.bool_(True), **arrays)
    np.savez(tmp_path / "off.npz", horizontal_flip=np.bool_(False), **arrays)
    np.savez(tmp_path / "bad.npz", horizontal_flip=np.ones(2, np.bool_), **arrays)
    assert sources.read_npz(str(tmp_path / "on.npz")).horizontal_flip
    assert not sources.read_npz(str(tmp_path / "off.npz")).horizontal_flip
    with pytest.raises(DataError, match="horizontal_flip must be a boolean scalar"):
        sources.read_npz(str(tmp_path / "bad.npz"))


def test_npz_directory_with_one_file(npz_file):
    assert sources.read_npz(os.path.dirname(npz_file)).x_test.shape == (10, 8, 8, 3)


def test_embedded_sample_sizes_and_file_size():
    data = load_image_data(DataConfig(valid_size=1000))
    assert (data.num_train, data.num_valid, data.num_test) == (5000, 1000, 1000)
    assert data.image_shape == (28, 28, 1) and data.num_classes == 10 and data.name == "embedded"
    path = os.path.join(os.path.dirname(sources.__file__), "embedded", sources.EMBEDDED_FILE)
    assert os.path.getsize(path) <= 5 * 1024 * 1024


@needs_fashion_mnist
def test_fashion_mnist_idx_split_sizes():
    data = load_image_data(DataConfig(dataset="idx", data_dir=FASHION_MNIST_DIR, valid_size=5000))
    assert (data.num_train, data.num_valid, data.num_test) == (55000, 5000, 10000)
    assert data.image_shape == (28, 28, 1) and data.num_classes == 10
    # The embedded sample is the first 6,000 / 1,000 images of these files.
    full, sample = sources.read_idx(FASHION_MNIST_DIR), sources.read_embedded()
    np.testing.assert_array_equal(sample.x_train, full.x_train[:6000])
    np.testing.assert_array_equal(sample.y_test, full.y_test[:1000])


# ------------------------------------------------------------------------------------- bad input

def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DataError, match="unknown dataset 'imagenet'; choose one of embedded, cifar10"):
        load_image_data(DataConfig(dataset="imagenet"))


def test_ptb_is_not_an_image_dataset():
    with pytest.raises(DataError, match="ptb is the language-model dataset"):
        load_image_data(DataConfig(dataset="ptb"))


def test_idx_missing_files(tmp_path, write_idx):
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 3, 3)))
    with pytest.raises(DataError) as error:
        load_image_data(DataConfig(dataset="idx", data_dir=str(tmp_path)))
    message = str(error.value)
    assert str(tmp_path) in message and "apt-get install dataset-fashion-mnist" in message
    assert "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte" in message


def test_idx_needs_a_directory():
    with pytest.raises(DataError, match="--dataset=idx needs --data_dir"):
        load_image_data(DataConfig(dataset="idx"))


def test_idx_wrong_magic_names_the_file(idx_dir):
    path = idx_dir / "t10k-labels-idx1-ubyte"
    path.write_bytes(b"\x00\x00\x0d\x01" + path.read_bytes()[4:])  # 0x0d: float data
    with pytest.raises(DataError, match=f"IDX file {path} has magic number 0x00000d01"):
        sources.read_idx(str(idx_dir))


def test_idx_truncated_file(idx_dir):
    path = idx_dir / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(DataError, match="truncated or corrupt"):
        sources.read_idx(str(idx_dir))


def test_idx_label_count_mismatch(idx_dir, write_idx):
    write_idx(idx_dir / "t10k-labels-idx1-ubyte", np.zeros(7))
    with pytest.raises(DataError, match="y_test has 7 labels for 8 images"):
        sources.read_idx(str(idx_dir))


def test_npz_missing_arrays(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((4, 2, 2), np.uint8), labels=np.zeros(4))
    with pytest.raises(DataError, match="lacks the arrays y_train, x_test, y_test "
                                        r"\(it has: labels, x_train\)"):
        load_image_data(DataConfig(dataset="npz", data_dir=str(path)))


def test_npz_float_images(tmp_path):
    path = tmp_path / "float.npz"
    np.savez(path, x_train=np.zeros((4, 2, 2)), y_train=np.zeros(4, int),
             x_test=np.zeros((4, 2, 2)), y_test=np.zeros(4, int))
    with pytest.raises(DataError, match="x_train has dtype float64; expected uint8"):
        sources.read_npz(str(path))


def test_npz_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        sources.read_npz(str(tmp_path / "absent.npz"))


def test_valid_size_too_large(npz_config):
    with pytest.raises(DataError, match="valid_size 48 >= 48 training images"):
        load_image_data(dataclasses.replace(npz_config, valid_size=48))


def test_default_valid_size_on_the_embedded_sample_warns(caplog):
    data = load_image_data(DataConfig())  # ENAS's valid_size 5000 fits, but leaves 1000 to train on.
    assert (data.num_train, data.num_valid) == (1000, 5000)
    assert "meant for --valid_size=1000" in caplog.text


def test_batch_larger_than_training_split(npz_config):
    with pytest.raises(DataError, match="batch_size 41 > 40 training images"):
        load_image_data(dataclasses.replace(npz_config, batch_size=41))


def test_negative_cutout_is_a_config_error(npz_config):
    with pytest.raises(ConfigError, match="child_cutout_size"):
        load_image_data(dataclasses.replace(npz_config, cutout_size=-1))


# ------------------------------------------------------------------------------------------ tfds

def test_tfds_not_prepared_fails_fast(tmp_path):
    with pytest.raises(DataError) as error:
        load_image_data(DataConfig(dataset="cifar10", data_dir=str(tmp_path)))
    message = str(error.value)
    assert "cifar10 is not prepared" in message and str(tmp_path) in message
    assert f"tfds.load('cifar10', data_dir='{tmp_path}')" in message


@pytest.mark.parametrize("name, shape, flip", [("mnist", (28, 28, 1), False), ("cifar10", (32, 32, 3), True)])
def test_tfds_reading_path_with_mock_data(tmp_path, name, shape, flip):
    import tensorflow_datasets as tfds

    # Metadata files make the builder count as prepared; mock_data then serves random examples.
    builder = tfds.builder(name, data_dir=str(tmp_path))
    os.makedirs(builder.data_path)
    builder.info.write_to_directory(builder.data_path)
    with tfds.testing.mock_data(num_examples=12, data_dir=str(tmp_path)):
        data = load_image_data(DataConfig(dataset=name, data_dir=str(tmp_path), valid_size=2,
                                          batch_size=4))
    assert (data.num_train, data.num_valid, data.num_test) == (10, 2, 12)
    assert data.image_shape == shape and data.num_classes == 10 and data.horizontal_flip == flip
    images, labels = next(iter(data.train_epoch(0)))
    assert images.shape == (4,) + shape and labels.dtype.name == "int32"
