"""ImageData pipelines: shapes, normalisation, augmentation, determinism and resuming."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from enas.data import ImageData, load_image_data
from enas.data import augment, sources
from enas.errors import DataError


def batches(dataset):
    return [(x.numpy(), y.numpy()) for x, y in dataset]


@pytest.fixture
def tiny(npz_config):
    """40 train / 8 valid / 10 test 8x8x3 images labelled by index; flips off unless a test asks."""
    return load_image_data(npz_config)


def test_sizes_shapes_and_dtypes(tiny):
    assert (tiny.num_train, tiny.num_valid, tiny.num_test) == (40, 8, 10)
    assert tiny.image_shape == (8, 8, 3) and tiny.num_classes == 48 and tiny.steps_per_epoch == 5
    assert tiny.mean.shape == (3,) and tiny.mean.dtype == np.float32 and tiny.std.dtype == np.float32
    images, labels = tiny.train_epoch(0).element_spec
    assert images.shape == (8, 8, 8, 3) and images.dtype == tf.float32  # static: drop_remainder
    assert labels.shape == (8,) and labels.dtype == tf.int32
    assert len(batches(tiny.train_epoch(0))) == 5
    assert [len(y) for _, y in batches(tiny.valid())] == [3, 3, 2]  # eval_batch_size 3, remainder kept
    assert [len(y) for _, y in batches(tiny.test(batch_size=4))] == [4, 4, 2]


def test_statistics_come_from_the_training_split_only(npz_file, tiny):
    raw = sources.read_npz(npz_file)
    train = raw.x_train[:40].astype(np.float64) / 255.0
    np.testing.assert_allclose(tiny.mean, train.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(tiny.std, train.std(axis=(0, 1, 2)), rtol=1e-6)
    normalised = (train - tiny.mean) / tiny.std
    np.testing.assert_allclose(normalised.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(normalised.std(axis=(0, 1, 2)), 1.0, atol=1e-5)


def test_valid_and_test_are_normalised_and_never_augmented(npz_file, npz_config):
    raw = sources.read_npz(npz_file)
    data = load_image_data(dataclasses.replace(npz_config, cutout_size=4), horizontal_flip=True)
    for dataset, images, labels in ((data.valid(), raw.x_train[40:], np.arange(40, 48)),
                                    (data.test(), raw.x_test, np.arange(10))):
        got_images = np.concatenate([x for x, _ in batches(dataset)])
        got_labels = np.concatenate([y for _, y in batches(dataset)])
        np.testing.assert_allclose(got_images, (images / 255.0 - data.mean) / data.std, atol=1e-5)
        np.testing.assert_array_equal(got_labels, labels)


def _shifted(image, dy, dx):
    """``image`` moved by (dy, dx) with zero fill: what padding by 4 and cropping at (4+dy, 4+dx) gives."""
    padded = np.pad(image, [(4, 4), (4, 4), (0, 0)])
    height, width = image.shape[:2]
    return padded[4 + dy:4 + dy + height, 4 + dx:4 + dx + width]


def test_training_images_are_shifted_copies_of_the_originals(npz_file, tiny):
    raw = sources.read_npz(npz_file)
    originals = (raw.x_train / 255.0 - tiny.mean) / tiny.std
    offsets, seen = set(), []
    for images, labels in batches(tiny.train_epoch(0)):
        for image, label in zip(images, labels):
            matches = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5)
                       if np.allclose(image, _shifted(originals[label], dy, dx), atol=1e-5)]
            assert matches, f"training image {label} is not a padded crop of the original"
            offsets.add(matches[0])
            seen.append(label)
    assert sorted(seen) == list(range(40))  # one epoch is a permutation of the training split
    assert len(offsets) > 10  # crops vary


def test_flip_policy(npz_config, npz_file):
    assert not load_image_data(npz_config).horizontal_flip  # npz: unknown content, no flip
    flipped = load_image_data(npz_config, horizontal_flip=True)
    raw = sources.read_npz(npz_file)
    originals = (raw.x_train / 255.0 - flipped.mean) / flipped.std
    mirrored = 0
    for images, labels in batches(flipped.train_epoch(0)):
        for image, label in zip(images, labels):
            mirrored += not any(np.allclose(image, _shifted(originals[label], dy, dx), atol=1e-5)
                                for dy in range(-4, 5) for dx in range(-4, 5))
    assert 5 < mirrored < 35  # about half of the 40 images


def test_same_seed_same_batches_other_seed_or_epoch_differs(npz_config):
    first = batches(load_image_data(npz_config).train_epoch(3))[0]
    again = batches(load_image_data(npz_config).train_epoch(3))[0]
    other_seed = batches(load_image_data(dataclasses.replace(npz_config, seed=1)).train_epoch(3))[0]
    other_epoch = batches(load_image_data(npz_config).train_epoch(4))[0]
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other_seed[1])
    assert not np.array_equal(first[1], other_epoch[1])


def test_resuming_mid_epoch_gives_the_same_batches(npz_config):
    data = load_image_data(dataclasses.replace(npz_config, cutout_size=3), horizontal_flip=True)
    full = batches(data.train_epoch(2))
    for resumed in (batches(data.train_epoch(2).skip(3)), batches(data.train_epoch(2, start_step=3))):
        assert len(resumed) == len(full) - 3
        for (x, y), (x_full, y_full) in zip(resumed, full[3:]):
            np.testing.assert_array_equal(x, x_full)
            np.testing.assert_array_equal(y, y_full)


def test_cutout_zeroes_one_clipped_square():
    images = tf.ones([64, 10, 12, 2])
    key = tf.constant([7, 0], tf.int64)
    out = augment.cutout(images, key, size=4).numpy()
    np.testing.assert_array_equal(out, augment.cutout(images, key, size=4).numpy())  # stateless
    full_squares = 0
    for image in out:
        np.testing.assert_array_equal(image[..., 0], image[..., 1])  # all channels cut
        rows, cols = np.nonzero(image[..., 0] == 0)
        top, left = rows.min(), cols.min()
        height, width = rows.max() - top + 1, cols.max() - left + 1
        assert len(rows) == height * width  # a filled rectangle
        assert height == min(4, 10 - top) and width == min(4, 12 - left)  # clipped at the border only
        full_squares += height == width == 4
    assert 0 < full_squares < 64


def test_cutout_in_the_training_pipeline(npz_config):
    plain = batches(load_image_data(npz_config).train_epoch(0))
    cut = batches(load_image_data(dataclasses.replace(npz_config, cutout_size=3)).train_epoch(0))
    # Crop and flip draw from their own keys, so the only change is a zeroed square per image.
    for (x_plain, y_plain), (x_cut, y_cut) in zip(plain, cut):
        np.testing.assert_array_equal(y_plain, y_cut)
        changed = np.any(x_plain != x_cut, axis=-1)  # [B, H, W]
        np.testing.assert_array_equal(x_cut[changed], 0.0)
        assert np.all(changed.sum(axis=(1, 2)) <= 9)
        assert changed.sum() > 0


def test_reward_stream(tiny):
    first_pass = [y for _, y in batches(tiny.reward_stream().take(3))]
    # 8 validation images (labels 40..47) in batches of 8: each batch is one fresh permutation.
    for labels in first_pass:
        assert sorted(labels) == list(range(40, 48))
    assert len({tuple(labels) for labels in first_pass}) > 1
    again = [y for _, y in batches(tiny.reward_stream().take(3))]
    np.testing.assert_array_equal(first_pass, again)
    images, _ = tiny.reward_stream().element_spec
    assert images.shape == (8, 8, 8, 3)


def test_no_validation_split(npz_config):
    data = load_image_data(dataclasses.replace(npz_config, valid_size=0))
    assert data.num_train == 48 and data.valid() is None
    with pytest.raises(DataError, match="search needs a validation split"):
        data.reward_stream()


def test_constructor_takes_in_memory_arrays(npz_config):
    raw = sources.RawImages(name="ones", x_train=np.full((16, 4, 4, 1), 3, np.uint8),
                            y_train=np.zeros(16, np.int32), x_test=np.zeros((2, 4, 4, 1), np.uint8),
                            y_test=np.zeros(2, np.int32), num_classes=1, horizontal_flip=False)
    with pytest.raises(DataError, match="channel 0 of the training images is constant"):
        ImageData(raw, dataclasses.replace(npz_config, valid_size=0))


def _interleaved(dataset, count):
    """A sharded pipeline's elements grouped per step: ``count`` replicas' shares in turn."""
    parts = batches(dataset)
    assert len(parts) % count == 0
    return [parts[index:index + count] for index in range(0, len(parts), count)]


@pytest.mark.parametrize("replicas,first,count", [(2, 0, 2), (2, 1, 1), (4, 2, 2), (4, 0, 1)])
def test_sharded_pipelines_hold_the_rows_of_the_one_device_batches(npz_config, replicas, first, count):
    """A distributed run's input pipeline (``shard``: replicas first .. first+count-1 of ``replicas``) yields
    per step the rows [r*B/N, (r+1)*B/N) of the one-device batch for each of its replicas, augmented
    exactly as those rows are in the whole batch; resuming (start_step / start_batch) included."""
    data = load_image_data(dataclasses.replace(npz_config, cutout_size=3), horizontal_flip=True)
    shard, share = (first, count, replicas), 8 // replicas

    def check(whole, sharded, rows=None):
        assert len(sharded) == len(whole) and len(whole) > 0
        for (x, y), parts in zip(whole, sharded):
            assert len(parts) == count
            for local, (x_part, y_part) in enumerate(parts):
                replica = first + local
                lo, hi = rows(len(y), replica) if rows else (replica * share, (replica + 1) * share)
                np.testing.assert_array_equal(y_part, y[lo:hi])
                np.testing.assert_array_equal(x_part, x[lo:hi])

    check(batches(data.train_epoch(2)), _interleaved(data.train_epoch(2, shard=shard), count))
    check(batches(data.train_epoch(2, start_step=3)),
          _interleaved(data.train_epoch(2, start_step=3, shard=shard), count))
    check(batches(data.reward_stream().skip(3).take(4)),
          _interleaved(data.reward_stream(start_batch=3, shard=shard).take(4 * count), count))
    even = lambda size, r: (size * r // replicas, size * (r + 1) // replicas)  # noqa: E731
    check(batches(data.valid()), _interleaved(data.valid(shard=shard), count), even)  # batches 3, 3, 2
    check(batches(data.test(batch_size=4)), _interleaved(data.test(batch_size=4, shard=shard), count), even)
    assert data.valid(shard=shard).element_spec[0].shape.as_list() == [None, 8, 8, 3]


def test_augmenting_rows_of_a_batch_draws_what_the_whole_batch_draws():
    images = tf.random.stateless_normal([6, 10, 10, 2], [1, 2])
    key = tf.constant([5, 0], tf.int64)
    whole = augment.augment(images, key, pad=2, horizontal_flip=True, cutout_size=3).numpy()
    for start, size in ((0, 3), (3, 3), (2, 1)):
        part = augment.augment(images[start:start + size], key, pad=2, horizontal_flip=True, cutout_size=3,
                               rows=(start, 6)).numpy()
        np.testing.assert_array_equal(part, whole[start:start + size])
