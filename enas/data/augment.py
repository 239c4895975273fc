"""Training augmentation of whole batches with stateless random ops.

Every random choice is a function of a key (a ``[2]`` int32 seed) and of the image's position in the
batch, never of hidden generator state. The pipeline keys each batch on (seed, epoch, step), so a run
resumed in the middle of an epoch sees exactly the augmented batches an uninterrupted run would.
Images come in normalised (``[B, H, W, C]`` float32); padding and cutout fill with 0, the mean pixel.

``rows=(start, total)``: the images are rows ``[start, start + B)`` of a batch of ``total`` (one
replica's share of a global batch, ``enas.trainers.distribute``); they get exactly the random choices
those rows get when the whole batch is augmented at once.
"""

from __future__ import annotations

import tensorflow as tf

# Philox on every device, so that the host pipeline does not depend on the default algorithm choice.
_ALG = "philox"


def fold_in(key, data) -> tf.Tensor:
    """A new key from ``key`` and an integer (stateless; the same inputs give the same key)."""
    return tf.random.experimental.stateless_fold_in(key, data, alg=_ALG)


def _draw(shape, key, rows, axis: int = 0, **kwargs) -> tf.Tensor:
    """``stateless_uniform`` over the whole batch (``shape[axis]`` images), cut to ``rows``."""
    if rows is None:
        return tf.random.stateless_uniform(shape, key, alg=_ALG, **kwargs)
    start, total = rows
    shape = list(shape)
    batch, shape[axis] = shape[axis], total
    values = tf.random.stateless_uniform(shape, key, alg=_ALG, **kwargs)
    return tf.gather(values, tf.range(start, start + batch), axis=axis)


def random_crop(images: tf.Tensor, key, pad: int, rows=None) -> tf.Tensor:
    """Zero-pads each side by ``pad`` and crops back to H x W at a uniform offset per image."""
    height, width = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]])
    offsets = _draw([2, batch], key, rows, axis=1, minval=0, maxval=2 * pad + 1, dtype=tf.int32)
    rows = offsets[0][:, tf.newaxis] + tf.range(height)[tf.newaxis]  # [B, H]
    cols = offsets[1][:, tf.newaxis] + tf.range(width)[tf.newaxis]  # [B, W]
    cropped = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2 pad, C]
    return tf.gather(cropped, cols, axis=2, batch_dims=1)  # [B, H, W, C]


def random_flip(images: tf.Tensor, key, rows=None) -> tf.Tensor:
    """Mirrors each image left-right with probability 1/2."""
    flip = _draw([tf.shape(images)[0]], key, rows) < 0.5
    return tf.where(flip[:, tf.newaxis, tf.newaxis, tf.newaxis], tf.reverse(images, axis=[2]), images)


def cutout(images: tf.Tensor, key, size: int, rows=None) -> tf.Tensor:
    """Zeroes a ``size`` x ``size`` square per image, as the ENAS code does (not DeVries' centred one).

    The top-left corner is uniform over the whole image and the square is clipped at the bottom and
    right borders, so squares near those borders are smaller.
    """
    height, width = images.shape[1], images.shape[2]
    batch = tf.shape(images)[0]
    top = _draw([batch, 1], fold_in(key, 0), rows, minval=0, maxval=height, dtype=tf.int32)
    left = _draw([batch, 1], fold_in(key, 1), rows, minval=0, maxval=width, dtype=tf.int32)
    rows = tf.range(height)[tf.newaxis]
    cols = tf.range(width)[tf.newaxis]
    in_rows = (rows >= top) & (rows < top + size)  # [B, H]
    in_cols = (cols >= left) & (cols < left + size)  # [B, W]
    inside = in_rows[:, :, tf.newaxis] & in_cols[:, tf.newaxis, :]  # [B, H, W]
    return tf.where(inside[..., tf.newaxis], tf.zeros_like(images), images)


def augment(images: tf.Tensor, key, *, pad: int, horizontal_flip: bool, cutout_size: int,
            rows=None) -> tf.Tensor:
    """ENAS order: pad and random crop, then random horizontal flip, then cutout (each optional)."""
    if pad > 0:
        images = random_crop(images, fold_in(key, 0), pad, rows)
    if horizontal_flip:
        images = random_flip(images, fold_in(key, 1), rows)
    if cutout_size > 0:
        images = cutout(images, fold_in(key, 2), cutout_size, rows)
    return images
