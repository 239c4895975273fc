"""Final training: a fixed architecture trains, evaluates, exports, resumes; bad input."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from enas.errors import ArchitectureError, ConfigError, OutputDirError
from enas.trainers.final import FinalRun, arc_from_derived, train_final

ARC = "0 3 1 4 0 1"  # 3 layers: conv3x3 | sepconv5x5 + skip from the stem | avgpool + skip from layer 0


def _final_config(tiny_config, path, **run):
    config = tiny_config(path, **{"num_epochs": 2, **run})
    return config.replace(child=dataclasses.replace(config.child, fixed_arc=ARC))


def _tensorboard_tags(output_dir):
    import tensorflow as tf

    tags = set()
    for path in tf.io.gfile.glob(os.path.join(output_dir, "tensorboard", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(value.tag for value in event.summary.value)
    return tags


def test_final_training_writes_metrics_and_a_reloadable_model(tmp_path, embedded_data, tiny_config):
    config = _final_config(tiny_config, tmp_path / "final")
    metrics = train_final(config, data=embedded_data)
    out = config.run.output_dir
    on_disk = json.load(open(os.path.join(out, "final_metrics.json")))
    assert on_disk["arc"] == ARC and 0.0 <= on_disk["test_accuracy"] <= 1.0
    assert on_disk["test_examples"] == 100  # max_eval_batches=1 batch of 100
    assert metrics["num_params"] > 0
    log = [json.loads(line) for line in open(os.path.join(out, "train_log.jsonl"))]
    assert [r["epoch"] for r in log] == [1, 2] and "valid_accuracy" in log[0]
    for record in log:  # where each epoch's time went (the shared epoch loop's timer)
        phases = {key: value for key, value in record.items() if key.startswith("time_")}
        assert set(phases) == {"time_train", "time_eval", "time_checkpoint", "time_other"}
        assert sum(phases.values()) == pytest.approx(record["seconds"], abs=0.01)
        assert phases["time_train"] > 0 and phases["time_eval"] > 0
    assert {"final/test_accuracy", "final/test_loss", "final/valid_accuracy"} <= _tensorboard_tags(out)
    model = keras.models.load_model(os.path.join(out, "model.keras"))
    images = next(iter(embedded_data.test(8)))[0]
    run = FinalRun(config, data=embedded_data)  # resumes the finished run: weights restored
    np.testing.assert_allclose(model.predict(images, verbose=0), run.task.model.predict(images, verbose=0),
                               rtol=1e-5, atol=1e-5)


def test_final_training_resumes_where_it_stopped(tmp_path, embedded_data, tiny_config):
    one = _final_config(tiny_config, tmp_path / "final", num_epochs=1)
    train_final(one, data=embedded_data)
    two = one.replace(run=dataclasses.replace(one.run, num_epochs=2))
    run = FinalRun(two, data=embedded_data)
    assert run.checkpoint["epoch"] == 1 and run.checkpoint["global_step"] == 4
    run.run()
    log = [json.loads(line) for line in open(os.path.join(two.run.output_dir, "train_log.jsonl"))]
    assert [r["epoch"] for r in log] == [1, 2]


def test_bad_architectures_are_refused(tmp_path, embedded_data, tiny_config):
    config = _final_config(tiny_config, tmp_path / "final")
    with pytest.raises(ArchitectureError):
        FinalRun(config.replace(child=dataclasses.replace(config.child, fixed_arc="0 3 1 4 0 2")), data=embedded_data)
    with pytest.raises(ArchitectureError, match="child_num_layers"):
        FinalRun(config.replace(child=dataclasses.replace(config.child, fixed_arc="0 3 1")), data=embedded_data)
    with pytest.raises(ConfigError, match="--child_fixed_arc"):
        FinalRun(config.replace(child=dataclasses.replace(config.child, fixed_arc="")), data=embedded_data)


def test_a_search_directory_is_not_a_final_directory(tmp_path, embedded_data, tiny_config):
    from enas.trainers.run_dir import prepare_output_dir

    config = _final_config(tiny_config, tmp_path / "run")
    prepare_output_dir(config, "search")
    os.makedirs(os.path.join(config.run.output_dir, "checkpoints"))
    open(os.path.join(config.run.output_dir, "checkpoints", "ckpt-1.index"), "w").close()
    with pytest.raises(OutputDirError, match="search run, not a final run"):
        FinalRun(config, data=embedded_data)


def test_arc_from_derived(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        arc_from_derived(str(tmp_path / "missing.json"))
    (tmp_path / "derived.json").write_text(json.dumps({"best": {"arc": ARC}}))
    assert arc_from_derived(str(tmp_path)) == ARC
