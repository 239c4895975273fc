"""Image data for the child networks: splits, normalisation, deterministic batches.

``load_image_data(config)`` reads a dataset (:mod:`enas.data.sources`), holds out the **last**
``valid_size`` training images for validation (as ENAS does with CIFAR-10's last 5,000), scales
pixels to [0, 1] and normalises each channel with the mean and std of the remaining training images.

Every random choice is a stateless function of ``config.seed``: the order of epoch ``e`` and the
augmentation of its ``k``-th batch depend only on (seed, e, k), so ``train_epoch(e).skip(k)`` (or
``train_epoch(e, start_step=k)``, which skips without computing) resumes an epoch exactly.

Example::

    data = load_image_data(DataConfig(dataset="embedded", valid_size=1000))
    for images, labels in data.train_epoch(epoch=0):  # [B, 28, 28, 1] float32, [B] int32
        ...
"""

from __future__ import annotations

import functools
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from enas.config import DataConfig
from enas.data import augment, sources
from enas.errors import DataError

DATASETS: tuple[str, ...] = tuple(sources.SOURCES)

# Zero padding on each side before the random crop (ENAS: 4 for 32 x 32 CIFAR images).
PAD = 4
# Independent random streams derived from the one seed.
_TRAIN_STREAM = 1
_REWARD_STREAM = 2
_CALIBRATION_STREAM = 3
# Images per chunk when computing channel statistics (bounds the float64 temporary).
_STATS_CHUNK = 4096


def _channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std of uint8 images scaled to [0, 1], in float64."""
    channels = images.shape[-1]
    total = np.zeros(channels)
    total_squares = np.zeros(channels)
    for start in range(0, len(images), _STATS_CHUNK):
        chunk = images[start:start + _STATS_CHUNK].reshape(-1, channels).astype(np.float64) / 255.0
        total += chunk.sum(axis=0)
        total_squares += np.square(chunk).sum(axis=0)
    count = images.size // channels
    mean = total / count
    std = np.sqrt(np.maximum(total_squares / count - np.square(mean), 0.0))
    return mean, std


def _permutation(key, size: int) -> tf.Tensor:
    """A uniformly random permutation of ``range(size)`` that depends only on ``key``."""
    scores = tf.random.stateless_uniform([size], key, minval=None, maxval=None, dtype=tf.int64,
                                         alg="philox")
    return tf.argsort(scores, stable=True)


class ImageData:
    """One image dataset split into train / valid / test, with its tf.data pipelines.

    Build it with :func:`load_image_data`; the constructor is for in-memory arrays.

    Args:
      raw: the dataset as read (:class:`enas.data.sources.RawImages`).
      config: a :class:`enas.config.DataConfig` (valid_size, batch sizes, cutout, seed).
      horizontal_flip: mirror training images at random; None uses the dataset's default (on for
        CIFAR, Fashion-MNIST and the embedded sample; off for digits, SVHN, ``idx`` and ``npz``).
    """

    def __init__(self, raw: sources.RawImages, config: DataConfig, *,
                 horizontal_flip: Optional[bool] = None):
        config.validate()
        total = len(raw.x_train)
        if config.valid_size >= total:
            raise DataError(f"valid_size {config.valid_size} >= {total} training images of {raw.name}; "
                            "use a smaller --valid_size (the embedded sample: 1000), or 0 for none")
        split = total - config.valid_size
        if config.valid_size > split:
            logging.warning("valid_size %d leaves only %d of the %d training images of %s for training "
                            "(the embedded sample is meant for --valid_size=1000)", config.valid_size,
                            split, total, raw.name)
        if config.batch_size > split:
            raise DataError(f"batch_size {config.batch_size} > {split} training images of {raw.name} "
                            "after the validation split; no full batch fits, lower --batch_size")
        self.name = raw.name
        self.num_classes = raw.num_classes
        self.image_shape: tuple[int, int, int] = tuple(int(d) for d in raw.x_train.shape[1:])
        self.batch_size = config.batch_size
        self.eval_batch_size = config.eval_batch_size
        self.cutout_size = config.cutout_size
        self.horizontal_flip = raw.horizontal_flip if horizontal_flip is None else horizontal_flip
        self.seed = config.seed
        self._arrays = {"train": (raw.x_train[:split], raw.y_train[:split]),
                        "valid": (raw.x_train[split:], raw.y_train[split:]),
                        "test": (raw.x_test, raw.y_test)}
        mean, std = _channel_stats(self._arrays["train"][0])
        if np.any(std == 0):
            raise DataError(f"{raw.name}: channel {int(np.argmin(std))} of the training images is "
                            "constant (std 0), so it cannot be normalised")
        self.mean = mean.astype(np.float32)
        self.std = std.astype(np.float32)

    # ----------------------------------------------------------------------------------- sizes

    @property
    def num_train(self) -> int:
        return len(self._arrays["train"][1])

    @property
    def num_valid(self) -> int:
        return len(self._arrays["valid"][1])

    @property
    def num_test(self) -> int:
        return len(self._arrays["test"][1])

    @property
    def steps_per_epoch(self) -> int:
        """Full training batches per epoch (the remainder is dropped)."""
        return self.num_train // self.batch_size

    def __repr__(self) -> str:
        return (f"ImageData(name={self.name!r}, image_shape={self.image_shape}, "
                f"num_classes={self.num_classes}, num_train={self.num_train}, "
                f"num_valid={self.num_valid}, num_test={self.num_test})")

    # ---------------------------------------------------------------------------------- tensors

    @functools.cached_property
    def _tensors(self) -> dict[str, tuple[tf.Tensor, tf.Tensor]]:
        # Made once, eagerly (init_scope: the first use may be inside a tf.data trace) and shared by
        # every pipeline; images stay uint8 (4x smaller than float32).
        with tf.init_scope(), tf.device("/cpu:0"):
            return {split: (tf.constant(x), tf.constant(y))
                    for split, (x, y) in self._arrays.items()}

    @functools.cached_property
    def _base_key(self) -> tf.Tensor:
        with tf.init_scope():
            return tf.constant([self.seed, 0], dtype=tf.int64)

    def _gather(self, split: str, indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Normalised float32 images and int32 labels at ``indices`` of ``split``."""
        images, labels = self._tensors[split]
        pixels = tf.cast(tf.gather(images, indices), tf.float32) / 255.0
        return (pixels - self.mean) / self.std, tf.gather(labels, indices)

    # -------------------------------------------------------------------------------- pipelines

    def train_epoch(self, epoch: int, start_step: int = 0, shard=None) -> tf.data.Dataset:
        """One epoch of shuffled, augmented ``(images, labels)`` batches of ``batch_size``.

        The order and the augmentation depend only on (seed, epoch, step). ``start_step`` skips the
        first batches without computing them and gives the same batches as ``.skip(start_step)``.

        ``shard=(first, count, replicas)``: one worker's input pipeline of a distributed run
        (``enas.trainers.distribute``): per step, the shares of replicas ``first .. first + count - 1``
        of ``replicas`` in turn, replica ``r``'s share being rows ``[r * B / N, (r + 1) * B / N)`` of
        the global batch, with exactly the augmentation those rows get in the whole batch.
        """
        steps = self.steps_per_epoch
        with tf.device("/cpu:0"):  # the same order on every machine, whatever the accelerator
            key = augment.fold_in(augment.fold_in(self._base_key, _TRAIN_STREAM), epoch)
            order = _permutation(key, self.num_train)[:steps * self.batch_size]
        if shard is not None:
            return self._train_shards(key, order, steps, start_step, shard)
        batches = tf.data.Dataset.from_tensor_slices(
            (tf.range(steps), tf.reshape(order, [steps, self.batch_size])))

        def make_batch(step, indices):
            images, labels = self._gather("train", indices)
            images = augment.augment(images, augment.fold_in(key, step), pad=PAD,
                                     horizontal_flip=self.horizontal_flip, cutout_size=self.cutout_size)
            return images, labels

        return (batches.skip(start_step)
                .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))

    def _train_shards(self, key, order, steps: int, start_step: int, shard) -> tf.data.Dataset:
        first, count, replicas = shard
        share = self.batch_size // replicas
        with tf.device("/cpu:0"):
            indices = tf.reshape(tf.reshape(order, [steps, replicas, share])[:, first:first + count], [-1, share])
            step_ids = tf.repeat(tf.range(steps), count)
            replica_ids = tf.tile(tf.range(first, first + count), [steps])
        parts = tf.data.Dataset.from_tensor_slices((step_ids, replica_ids, indices))

        def make_part(step, replica, indices):
            images, labels = self._gather("train", indices)
            images = augment.augment(images, augment.fold_in(key, step), pad=PAD,
                                     horizontal_flip=self.horizontal_flip, cutout_size=self.cutout_size,
                                     rows=(replica * share, self.batch_size))
            return images, labels

        return (parts.skip(start_step * count)
                .map(make_part, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
                .prefetch(tf.data.AUTOTUNE))

    def _in_order(self, split: str, batch_size: Optional[int], shard=None) -> tf.data.Dataset:
        batch_size = batch_size or self.eval_batch_size
        if batch_size <= 0:
            raise DataError(f"batch_size must be > 0, got {batch_size}")
        batches = tf.data.Dataset.range(len(self._arrays[split][1])).batch(batch_size)
        if shard is not None:  # per batch, the shares of this pipeline's replicas (as even as can be)
            first, count, replicas = shard

            def shares(indices):
                size = tf.shape(indices, out_type=tf.int64)[0]
                return tf.data.Dataset.range(first, first + count).map(
                    lambda r: indices[size * r // replicas:size * (r + 1) // replicas])

            batches = batches.flat_map(shares)
        return (batches
                .map(lambda indices: self._gather(split, indices), num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)
                .prefetch(tf.data.AUTOTUNE))

    def valid(self, batch_size: Optional[int] = None, shard=None) -> Optional[tf.data.Dataset]:
        """Validation batches in order, not augmented, last batch partial; None if valid_size is 0.
        ``shard``: as :meth:`train_epoch`'s (a batch of ``n`` split as evenly as possible)."""
        if self.num_valid == 0:
            return None
        return self._in_order("valid", batch_size, shard)

    def test(self, batch_size: Optional[int] = None, shard=None) -> tf.data.Dataset:
        """Test batches in order, not augmented, the last batch partial (``eval_batch_size`` default)."""
        return self._in_order("test", batch_size, shard)

    def calibration_batches(self, num_batches: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
        """``num_batches`` fixed batches of ``batch_size`` training images, not augmented.

        The same images on every call (a permutation keyed on the seed only): batch-norm statistics
        re-estimated on them are comparable between architectures.
        """
        with tf.device("/cpu:0"):
            key = augment.fold_in(self._base_key, _CALIBRATION_STREAM)
            order = _permutation(key, self.num_train)
        size = min(self.batch_size, self.num_train)
        return [self._gather("train", order[start:start + size])
                for start in range(0, min(num_batches * size, self.num_train - size + 1), size)]

    def reward_stream(self, start_batch: int = 0, shard=None) -> tf.data.Dataset:
        """Endless shuffled validation batches of ``batch_size`` (the controller's reward data).

        Each pass over the validation split is a fresh permutation keyed on (seed, pass); a batch may
        straddle two passes. Not augmented. ``start_batch`` skips the first batches without computing
        them (the same batches as ``.skip(start_batch)``); ``shard`` as :meth:`train_epoch`'s.
        """
        if self.num_valid == 0:
            raise DataError("architecture search needs a validation split for the controller's reward; "
                            "set --valid_size > 0")
        with tf.device("/cpu:0"):
            key = augment.fold_in(self._base_key, _REWARD_STREAM)
        num_valid = self.num_valid

        def one_pass(pass_index):
            order = _permutation(augment.fold_in(key, pass_index), num_valid)
            return tf.data.Dataset.from_tensor_slices(order)

        batches = (tf.data.Dataset.counter()
                   .flat_map(one_pass)
                   .batch(self.batch_size, drop_remainder=True)
                   .skip(start_batch))
        if shard is not None:
            first, count, replicas = shard
            share = self.batch_size // replicas
            batches = batches.flat_map(lambda indices: tf.data.Dataset.from_tensor_slices(
                tf.reshape(indices, [replicas, share])[first:first + count]))
        return (batches
                .map(lambda indices: self._gather("valid", indices), num_parallel_calls=tf.data.AUTOTUNE,
                     deterministic=True)
                .prefetch(tf.data.AUTOTUNE))


def load_image_data(config: DataConfig, *, horizontal_flip: Optional[bool] = None) -> ImageData:
    """Validates ``config``, reads ``config.dataset`` and returns its :class:`ImageData`.

    Raises :class:`enas.errors.ConfigError` for out-of-range values and
    :class:`enas.errors.DataError` for an unknown, missing or malformed dataset.
    """
    config.validate()
    raw = sources.read_source(config.dataset, config.data_dir)
    return ImageData(raw, config, horizontal_flip=horizontal_flip)
