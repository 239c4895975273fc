"""Tests of the PTB language-model data: vocabulary, batchify, BPTT windows, errors."""

import os

import numpy as np
import pytest

from enas.config import DataConfig
from enas.data import ptb
from enas.errors import DataError


def _write(directory, train, valid, test):
    for name, text in zip(("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"), (train, valid, test)):
        with open(os.path.join(directory, name), "w", encoding="utf-8") as handle:
            handle.write(text)
    return str(directory)


def _config(directory, **overrides):
    values = dict(dataset="ptb", data_dir=str(directory), batch_size=2, eval_batch_size=1, bptt_steps=2)
    values.update(overrides)
    return DataConfig(**values)


# Train tokens: a b c <eos> b c d <eos> a d <eos> c a b <eos>  -> ids in order of first appearance.
TRAIN = " a b c \n b c d \n a d \n c a b \n"


def test_vocab_ids_and_batchify_exact(tmp_path):
    directory = _write(tmp_path, TRAIN, " d a \n b c \n", " c \n a b c d \n")
    data = ptb.load_ptb(_config(directory))
    assert data.vocab == ("a", "b", "c", "<eos>", "d")  # no <unk> in train
    assert data.vocab_size == 5
    # 14 train tokens -> 2 streams of 7.
    np.testing.assert_array_equal(data.train, [[0, 1, 2, 3, 1, 2, 4], [3, 0, 4, 3, 2, 0, 1]])
    assert data.train.dtype == np.int32
    np.testing.assert_array_equal(data.test, [[2, 3, 0, 1, 2, 4, 3]])
    assert data.words(data.train[0, :4]) == ["a", "b", "c", "<eos>"]


def test_batchify_drops_the_remainder():
    np.testing.assert_array_equal(ptb.batchify(np.arange(11, dtype=np.int32), 3),
                                  [[0, 1, 2], [3, 4, 5], [6, 7, 8]])


def test_fixed_windows_exact():
    windows = ptb.bptt_windows(10, 4)
    assert windows == [ptb.Window(0, 4), ptb.Window(4, 4), ptb.Window(8, 1)]
    assert ptb.num_windows(10, 4) == 3
    data = np.arange(20, dtype=np.int32).reshape(2, 10)
    inputs, targets = ptb.window_batch(data, windows[1])
    np.testing.assert_array_equal(inputs, [[4, 5, 6, 7], [14, 15, 16, 17]])
    np.testing.assert_array_equal(targets, [[5, 6, 7, 8], [15, 16, 17, 18]])
    inputs, targets = ptb.window_batch(data, windows[2])
    np.testing.assert_array_equal(inputs, [[8], [18]])
    np.testing.assert_array_equal(targets, [[9], [19]])


def test_variable_windows_deterministic_contiguous_and_scaled():
    steps, bptt = 2000, 35
    windows = ptb.bptt_windows(steps, bptt, variable=True, seed=3, epoch=0)
    assert windows == ptb.bptt_windows(steps, bptt, variable=True, seed=3, epoch=0)
    assert windows != ptb.bptt_windows(steps, bptt, variable=True, seed=3, epoch=1)
    assert windows != ptb.bptt_windows(steps, bptt, variable=True, seed=4, epoch=0)
    assert len(windows) == ptb.num_windows(steps, bptt)
    lengths = [w.length for w in windows]
    assert len(set(lengths)) > 5
    for previous, window in zip(windows, windows[1:]):
        assert window.start in (previous.start + previous.length, 0)
    for window in windows:
        assert window.start + window.length <= steps - 1  # every input has a target
        assert window.lr_scale == pytest.approx(window.length / bptt)
        assert window.length >= ptb.MIN_LENGTH or window.start + window.length == steps - 1


def test_variable_windows_wrap_to_the_start_when_draws_run_past_the_end():
    # 7 tokens (6 inputs), bptt 2: 3 windows of at least MIN_LENGTH = 5 tokens cannot fit.
    for seed in range(5):
        windows = ptb.bptt_windows(7, 2, variable=True, seed=seed, epoch=0)
        assert len(windows) == 3
        assert windows[0].start == 0
        assert any(w.start == 0 for w in windows[1:])
        assert all(w.length >= 1 and w.start + w.length <= 6 for w in windows)


def test_valid_words_missing_from_train_map_to_unk(tmp_path):
    directory = _write(tmp_path, " a b <unk> \n b a \n a b \n", " a zebra \n", " b a \n")
    data = ptb.load_ptb(_config(directory, batch_size=1))
    unk = data.vocab.index("<unk>")
    np.testing.assert_array_equal(data.valid, [[0, unk, 3]])


def test_valid_words_missing_without_unk_raise(tmp_path):
    directory = _write(tmp_path, TRAIN, " a b \n a zebra \n", " a b \n")
    with pytest.raises(DataError, match=r"inconsistent between splits.*'zebra'.*ptb\.valid\.txt line 2"):
        ptb.load_ptb(_config(directory, batch_size=1))


def test_missing_file_names_it_and_where_to_get_ptb(tmp_path):
    _write(tmp_path, TRAIN, " a \n", " a \n")
    os.remove(tmp_path / "ptb.test.txt")
    with pytest.raises(DataError, match=r"ptb\.test\.txt.*simple-examples.*Mikolov"):
        ptb.load_ptb(_config(tmp_path))


def test_empty_file_raises(tmp_path):
    directory = _write(tmp_path, TRAIN, "\n\n", " a \n")
    with pytest.raises(DataError, match=r"ptb\.valid\.txt has no words"):
        ptb.load_ptb(_config(directory))


def test_empty_data_dir_raises():
    with pytest.raises(DataError, match="data_path"):
        ptb.load_ptb(DataConfig(dataset="ptb", data_dir=""))


def test_bptt_longer_than_the_streams_raises(tmp_path):
    directory = _write(tmp_path, TRAIN, " a b c d a b \n", " a b c d a b \n")
    with pytest.raises(DataError, match=r"BPTT length 7 is too long for .*ptb\.train\.txt"):
        ptb.load_ptb(_config(directory, bptt_steps=7))  # 2 streams of 7 tokens: need 8
    with pytest.raises(DataError, match="BPTT length 8 is too long"):
        ptb.bptt_windows(8, 8)


def test_synthetic_corpus_loads(tmp_path):
    directory = ptb.write_synthetic_ptb(str(tmp_path / "synthetic"), vocab_size=20, seed=1)
    data = ptb.load_ptb(_config(directory, batch_size=4, eval_batch_size=2, bptt_steps=5))
    assert data.vocab_size == 20  # 18 words, <unk> and <eos>
    assert data.train.shape[0] == 4 and data.valid.shape[0] == 2
    assert int(data.train.max()) < data.vocab_size


def test_synthetic_corpus_is_never_seen_half_written(tmp_path):
    """Runs started together (the chaos test's reference and killed runs) rewrite the same corpus."""
    import threading

    directory = str(tmp_path / "shared")
    ptb.write_synthetic_ptb(directory, seed=3)
    expected = {name: open(os.path.join(directory, name)).read() for name in ptb.SPLIT_FILES.values()}
    done = threading.Event()

    def rewrite():
        for _ in range(40):
            ptb.write_synthetic_ptb(directory, seed=3)
        done.set()

    writer = threading.Thread(target=rewrite)
    writer.start()
    reads = 0
    while not done.is_set() or reads < 100:
        for name, content in expected.items():
            assert open(os.path.join(directory, name)).read() == content
        reads += 1
    writer.join()
    assert sorted(os.listdir(directory)) == sorted(expected)  # no temporary file left behind
