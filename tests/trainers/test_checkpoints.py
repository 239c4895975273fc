"""Checkpoint integrity: every kind of damage stops with a CheckpointError naming the file and the
remedy, never a silent restart; the advised remedy (delete the damaged files) resumes from the
previous checkpoint; stale temporaries are removed; mid-epoch saves follow the step/minute settings."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from enas.config import RunConfig
from enas.errors import CheckpointError
from enas.trainers.checkpoints import RunCheckpoint


def _model(units=3):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(units, name="dense")])
    return model


def _saved_run(directory, saves=3):
    """A checkpoint directory with ``saves`` checkpoints; the counter ``epoch`` is 1..saves."""
    model = _model()
    ckpt = RunCheckpoint(str(directory), {"child": model}, ("epoch",))
    for epoch in range(1, saves + 1):
        model.layers[0].kernel.assign(np.full((2, 3), float(epoch), np.float32))
        ckpt["epoch"] = epoch
        ckpt.save()
    return ckpt


def _fresh(directory, units=3):
    model = _model(units)
    return RunCheckpoint(str(directory), {"child": model}, ("epoch",)), model


def test_restore_gives_the_newest_checkpoint_exactly(tmp_path):
    _saved_run(tmp_path)
    ckpt, model = _fresh(tmp_path)
    assert ckpt.restore() is True
    assert ckpt["epoch"] == 3 and float(model.layers[0].kernel[0, 0]) == 3.0
    assert len(glob.glob(str(tmp_path / "ckpt-*.index"))) == 3  # more than one kept
    empty, _ = _fresh(tmp_path / "none")
    assert empty.restore() is False


def test_a_relative_checkpoint_directory_resumes(tmp_path, monkeypatch):
    # --output_dir=runs/x is relative: the index's entries must not be joined with the directory twice.
    monkeypatch.chdir(tmp_path)
    _saved_run("runs/x/checkpoints")
    ckpt, model = _fresh("runs/x/checkpoints")
    assert ckpt.restore() is True
    assert ckpt["epoch"] == 3 and float(model.layers[0].kernel[0, 0]) == 3.0


def test_unreadable_index_stops_and_deleting_it_resumes_from_the_newest_file(tmp_path):
    _saved_run(tmp_path)
    (tmp_path / "checkpoint").write_text("garbage {{{")
    ckpt, _ = _fresh(tmp_path)
    with pytest.raises(CheckpointError, match=r"checkpoint index .*checkpoint is unreadable.*ckpt-3.*delete it"):
        ckpt.restore()
    os.remove(tmp_path / "checkpoint")  # what the message says to do
    ckpt, model = _fresh(tmp_path)
    assert ckpt.restore() and ckpt["epoch"] == 3
    assert os.path.exists(tmp_path / "checkpoint")  # the index is rebuilt from the files


@pytest.mark.parametrize("damage", ["truncate", "garble", "delete_data", "delete_index"])
def test_damaged_newest_checkpoint_names_the_file_and_the_previous_one(tmp_path, damage):
    _saved_run(tmp_path)
    data = glob.glob(str(tmp_path / "ckpt-3.data-*"))[0]
    if damage == "truncate":
        with open(data, "r+b") as handle:
            handle.truncate(os.path.getsize(data) // 2)
    elif damage == "garble":
        with open(tmp_path / "ckpt-3.index", "r+b") as handle:
            handle.seek(0)
            handle.write(b"\xff" * 64)
    elif damage == "delete_data":
        os.remove(data)
    else:
        os.remove(tmp_path / "ckpt-3.index")
    ckpt, _ = _fresh(tmp_path)
    with pytest.raises(CheckpointError, match=r"ckpt-3.*previous checkpoint .*ckpt-2"):
        ckpt.restore()
    for path in glob.glob(str(tmp_path / "ckpt-3.*")):  # the advised remedy
        os.remove(path)
    ckpt, model = _fresh(tmp_path)
    assert ckpt.restore() and ckpt["epoch"] == 2 and float(model.layers[0].kernel[0, 0]) == 2.0


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    _saved_run(tmp_path)
    ckpt, _ = _fresh(tmp_path, units=5)  # other shapes
    with pytest.raises(CheckpointError, match="ckpt-3 cannot be restored"):
        ckpt.restore()
    other = RunCheckpoint(str(tmp_path), {"child": _model(), "extra": tf.Variable(1.0)}, ("epoch",))
    with pytest.raises(CheckpointError, match="ckpt-3 cannot be restored"):  # an object the checkpoint lacks
        other.restore()


def test_stale_temporaries_are_removed_and_only_they(tmp_path):
    _saved_run(tmp_path)
    os.makedirs(tmp_path / "ckpt-4_temp")
    (tmp_path / "ckpt-4_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    ckpt, _ = _fresh(tmp_path)
    assert ckpt.restore() and ckpt["epoch"] == 3
    assert not os.path.exists(tmp_path / "ckpt-4_temp")
    assert len(glob.glob(str(tmp_path / "ckpt-*.index"))) == 3


def test_maybe_save_every_n_steps_and_every_n_minutes(tmp_path, monkeypatch):
    model = _model()
    ckpt = RunCheckpoint(str(tmp_path / "steps"), {"child": model}, ("epoch",),
                         run_config=RunConfig(checkpoint_every_steps=3, checkpoint_every_minutes=0))
    saved = [ckpt.maybe_save() is not None for _ in range(7)]
    assert saved == [False, False, True, False, False, True, False]
    clock = [1000.0]
    monkeypatch.setattr("enas.trainers.checkpoints.time.monotonic", lambda: clock[0])
    timed = RunCheckpoint(str(tmp_path / "minutes"), {"child": model}, ("epoch",),
                          run_config=RunConfig(checkpoint_every_minutes=10))
    assert timed.maybe_save() is None
    clock[0] += 601
    assert timed.maybe_save() is not None and timed.maybe_save() is None
