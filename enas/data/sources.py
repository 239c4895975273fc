"""Readers that turn a dataset name into uint8 image arrays in memory.

Every source returns a :class:`RawImages` (train and test images ``[N, H, W, C]`` uint8, int32
labels); :mod:`enas.data.images` then splits, normalises, batches and augments them the same way
whatever the source. Sources are registered by name in :data:`SOURCES`:

- ``embedded``: a 6,000 + 1,000 image Fashion-MNIST sample shipped inside the package;
- ``cifar10``, ``cifar100``, ``mnist``, ``fashion_mnist``, ``svhn_cropped``: TensorFlow Datasets,
  read from ``data_dir`` (or the TFDS default directory); the data must already be prepared there,
  because offline ``tfds.load`` retries downloads for minutes before failing;
- ``idx``: the four MNIST-format IDX files (gzipped or not) in the directory ``data_dir``;
- ``npz``: a ``.npz`` file (``data_dir`` is the file, or a directory holding exactly one) with the
  arrays ``x_train, y_train, x_test, y_test`` and, optionally, a boolean scalar ``horizontal_flip``
  (whether training batches are mirrored; off when absent).
"""

from __future__ import annotations

import dataclasses
import gzip
import importlib.resources
import os
from typing import Callable, Optional

import numpy as np

from enas.errors import DataError

EMBEDDED_FILE = "fashion_mnist_sample.npz"
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
NPZ_ARRAYS = ("x_train", "y_train", "x_test", "y_test")
TFDS_DATASETS = ("cifar10", "cifar100", "mnist", "fashion_mnist", "svhn_cropped")

# IDX magic numbers: two zero bytes, a type code (0x08 = unsigned byte), the number of dimensions.
_IDX_UBYTE = 0x08


@dataclasses.dataclass(frozen=True)
class RawImages:
    """A dataset as read from its source, before the validation split.

    Args:
      name: dataset name for logs (``embedded``, ``cifar10``, ``idx:<dir>``, ...).
      x_train, x_test: uint8 images ``[N, H, W, C]``.
      y_train, y_test: int32 labels ``[N]`` in ``[0, num_classes)``.
      num_classes: number of classes.
      horizontal_flip: whether a mirrored image keeps its label (the default of the flip
        augmentation for this dataset).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    horizontal_flip: bool


def _checked(name: str, x_train, y_train, x_test, y_test, *, horizontal_flip: bool,
             num_classes: Optional[int] = None) -> RawImages:
    """Checks dtypes and shapes, adds the channel axis of [N, H, W] images, infers num_classes."""
    images = {}
    for split, x in (("x_train", x_train), ("x_test", x_test)):
        x = np.asarray(x)
        if x.dtype != np.uint8:
            raise DataError(f"{name}: {split} has dtype {x.dtype}; expected uint8 pixels in 0..255")
        if x.ndim == 3:
            x = x[..., np.newaxis]
        if x.ndim != 4 or 0 in x.shape[1:]:
            raise DataError(f"{name}: {split} has shape {x.shape}; expected [N, H, W] or [N, H, W, C]")
        images[split] = x
    if images["x_train"].shape[1:] != images["x_test"].shape[1:]:
        raise DataError(f"{name}: train images are {images['x_train'].shape[1:]} but test images are "
                        f"{images['x_test'].shape[1:]}; both splits need the same image shape")
    labels = {}
    for split, y, x in (("y_train", y_train, images["x_train"]), ("y_test", y_test, images["x_test"])):
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{name}: {split} has shape {y.shape} and dtype {y.dtype}; "
                            "expected integer class ids [N]")
        if len(y) != len(x):
            raise DataError(f"{name}: {split} has {len(y)} labels for {len(x)} images")
        if len(y) and y.min() < 0:
            raise DataError(f"{name}: {split} has negative label {y.min()}; class ids start at 0")
        labels[split] = y.astype(np.int32)
    largest = max(int(y.max()) if len(y) else -1 for y in labels.values())
    if num_classes is None:
        num_classes = largest + 1
    elif largest >= num_classes:
        raise DataError(f"{name}: label {largest} is out of range for {num_classes} classes")
    if len(images["x_train"]) == 0:
        raise DataError(f"{name}: the training split is empty")
    return RawImages(name=name, x_train=images["x_train"], y_train=labels["y_train"],
                     x_test=images["x_test"], y_test=labels["y_test"],
                     num_classes=num_classes, horizontal_flip=horizontal_flip)


# --------------------------------------------------------------------------------------------- npz

def read_npz(path: str, *, name: Optional[str] = None, horizontal_flip: bool = False) -> RawImages:
    """Reads ``x_train, y_train, x_test, y_test`` from a ``.npz`` file (or a directory holding one)."""
    if not path:
        raise DataError("--dataset=npz needs --data_dir=<file.npz> holding x_train, y_train, x_test, y_test")
    if os.path.isdir(path):
        found = sorted(f for f in os.listdir(path) if f.endswith(".npz"))
        if len(found) != 1:
            raise DataError(f"--dataset=npz: directory {path} holds {len(found)} .npz files "
                            f"({', '.join(found) or 'none'}); pass the file itself as --data_dir")
        path = os.path.join(path, found[0])
    if not os.path.isfile(path):
        raise DataError(f"--dataset=npz: no such file {path}; pass a .npz file with "
                        "x_train, y_train, x_test, y_test as --data_dir")
    name = name or f"npz:{path}"
    try:
        with np.load(path, allow_pickle=False) as archive:
            present = sorted(archive.files)
            missing = [key for key in NPZ_ARRAYS if key not in present]
            if missing:
                raise DataError(f"{path} lacks the arrays {', '.join(missing)} (it has: "
                                f"{', '.join(present) or 'none'}); expected {', '.join(NPZ_ARRAYS)}")
            arrays = {key: archive[key] for key in NPZ_ARRAYS}
            if "horizontal_flip" in present:
                flip = archive["horizontal_flip"]
                if flip.shape != () or flip.dtype != np.bool_:
                    raise DataError(f"{path}: horizontal_flip must be a boolean scalar, not "
                                    f"{flip.dtype} of shape {flip.shape}")
                horizontal_flip = bool(flip)
    except DataError:
        raise
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read {path} as a .npz archive: {error}") from error
    return _checked(name, **arrays, horizontal_flip=horizontal_flip)


def read_embedded() -> RawImages:
    """The Fashion-MNIST sample shipped in ``enas/data/embedded/`` (6,000 train, 1,000 test)."""
    resource = importlib.resources.files("enas.data").joinpath("embedded", EMBEDDED_FILE)
    with importlib.resources.as_file(resource) as path:
        if not path.is_file():
            raise DataError(f"the embedded sample {path} is missing from the installed package; "
                            "reinstall enas or rebuild it with enas/data/embedded/make_sample.py")
        # Mirrored clothes keep their class, so the flip augmentation is on (as for CIFAR).
        return read_npz(str(path), name="embedded", horizontal_flip=True)


# --------------------------------------------------------------------------------------------- idx

def _open_maybe_gzip(path: str):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx_file(path: str, expected_ndim: int) -> np.ndarray:
    """Parses one IDX file of unsigned bytes (header: magic, then one big-endian uint32 per dim)."""
    try:
        with _open_maybe_gzip(path) as stream:
            content = stream.read()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"cannot read IDX file {path}: {error}") from error
    if len(content) < 4:
        raise DataError(f"IDX file {path} is {len(content)} bytes long, too short for a header")
    zero1, zero2, type_code, ndim = content[:4]
    if zero1 or zero2 or type_code != _IDX_UBYTE or ndim != expected_ndim:
        raise DataError(f"IDX file {path} has magic number 0x{content[:4].hex()}; expected "
                        f"0x0000{_IDX_UBYTE:02x}{expected_ndim:02x} (unsigned bytes, {expected_ndim} dims)")
    header_size = 4 + 4 * ndim
    if len(content) < header_size:
        raise DataError(f"IDX file {path} ends inside its header")
    shape = tuple(int(d) for d in np.frombuffer(content, dtype=">u4", count=ndim, offset=4))
    expected_bytes = header_size + int(np.prod(shape))
    if len(content) != expected_bytes:
        raise DataError(f"IDX file {path} holds {len(content)} bytes but its header {shape} "
                        f"says {expected_bytes}; the file is truncated or corrupt")
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape(shape)


def _find_idx_file(directory: str, stem: str) -> Optional[str]:
    for candidate in (stem, stem + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    return None


def read_idx(directory: str) -> RawImages:
    """Reads the four standard MNIST-format files from ``directory``."""
    if not directory:
        raise DataError("--dataset=idx needs --data_dir=<directory of MNIST-format IDX files>, "
                        "e.g. /usr/share/datasets/fashion-mnist")
    paths = {stem: _find_idx_file(directory, stem) for stem in IDX_FILES}
    missing = [stem for stem, path in paths.items() if path is None]
    if missing:
        raise DataError(f"--dataset=idx: {directory} lacks {', '.join(missing)} (each may end in .gz); "
                        "for Fashion-MNIST run `apt-get install dataset-fashion-mnist` "
                        "and use --data_dir=/usr/share/datasets/fashion-mnist")
    train_images, train_labels, test_images, test_labels = (
        read_idx_file(paths[stem], expected_ndim=1 if "labels" in stem else 3) for stem in IDX_FILES)
    # Digits and unknown IDX content: no flip by default (a mirrored digit is not the same digit).
    return _checked(f"idx:{directory}", train_images, train_labels, test_images, test_labels,
                    horizontal_flip=False)


# -------------------------------------------------------------------------------------------- tfds

# Which TFDS datasets keep their label when mirrored (digits and house numbers do not).
_TFDS_FLIP = {"cifar10": True, "cifar100": True, "fashion_mnist": True,
              "mnist": False, "svhn_cropped": False}


def _tfds_split_to_numpy(builder, split: str) -> tuple[np.ndarray, np.ndarray]:
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

    images, labels = [], []
    dataset = builder.as_dataset(split=split, as_supervised=True, shuffle_files=False)
    for image_batch, label_batch in tfds.as_numpy(dataset.batch(4096)):
        images.append(image_batch)
        labels.append(label_batch)
    if not images:
        raise DataError(f"TFDS dataset {builder.name} has an empty {split} split in {builder.data_path}")
    return np.concatenate(images), np.concatenate(labels)


def read_tfds(name: str, data_dir: str) -> RawImages:
    """Reads the train and test splits of a TFDS image dataset that is already prepared."""
    import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel

    builder = tfds.builder(name, data_dir=data_dir or None)
    if not builder.is_prepared():
        root = str(builder.data_dir_root)
        where = data_dir or f"the TFDS default directory {root}"
        raise DataError(
            f"TFDS dataset {name} is not prepared in {where} (looked for {builder.data_path}); "
            "download it once with internet: python -c \"import tensorflow_datasets as tfds; "
            f"tfds.load('{name}', data_dir='{root}')\", then pass --data_dir={root}; "
            "or use --dataset=idx or --dataset=npz")
    try:
        x_train, y_train = _tfds_split_to_numpy(builder, "train")
        x_test, y_test = _tfds_split_to_numpy(builder, "test")
    except DataError:
        raise
    except Exception as error:  # TFDS raises many types (tf.errors, AssertionError, ValueError).
        first_line = (str(error).splitlines() or [""])[0]
        raise DataError(f"cannot read TFDS dataset {name} from {builder.data_path}: "
                        f"{type(error).__name__}: {first_line}") from error
    return _checked(name, x_train, y_train, x_test, y_test, horizontal_flip=_TFDS_FLIP[name],
                    num_classes=builder.info.features["label"].num_classes)


# ---------------------------------------------------------------------------------------- registry

# name -> reader(data_dir) -> RawImages. A new source is one function and one entry here.
SOURCES: dict[str, Callable[[str], RawImages]] = {
    "embedded": lambda data_dir: read_embedded(),
    **{name: (lambda data_dir, name=name: read_tfds(name, data_dir)) for name in TFDS_DATASETS},
    "idx": read_idx,
    "npz": read_npz,
}


def read_source(dataset: str, data_dir: str) -> RawImages:
    """Reads the dataset registered as ``dataset``; an unknown name lists the known ones."""
    if dataset == "ptb":
        raise DataError("ptb is the language-model dataset; images need one of "
                        f"{', '.join(SOURCES)} (load PTB with enas.data.ptb)")
    if dataset not in SOURCES:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(SOURCES)}")
    return SOURCES[dataset](os.path.expanduser(data_dir))
