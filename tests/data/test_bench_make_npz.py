"""bench/make_npz.py: a seeded training subset and the test images of IDX files, readable as --dataset=npz."""

import os
import runpy

import numpy as np

from enas.config import DataConfig
from enas.data import load_image_data
from enas.data import sources

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "bench", "make_npz.py")


def test_subset_of_the_training_images_and_all_test_images(idx_dir, tmp_path, capsys):
    main = runpy.run_path(SCRIPT)["main"]
    output = str(tmp_path / "out" / "subset.npz")
    assert main([f"--idx_dir={idx_dir}", "--train_size=12", f"--output={output}"]) == 0
    assert "12 training and 8 test images" in capsys.readouterr().out
    raw, full = sources.read_npz(output), sources.read_idx(str(idx_dir))
    assert raw.x_train.shape == (12, 6, 6, 1) and raw.horizontal_flip
    np.testing.assert_array_equal(raw.x_test, full.x_test)
    # The images are training images with their own labels, in their original order, none twice.
    rows = [int(np.flatnonzero((full.x_train == image).all(axis=(1, 2, 3)))[0]) for image in raw.x_train]
    assert rows == sorted(set(rows)) and len(rows) == 12
    np.testing.assert_array_equal(raw.y_train, full.y_train[rows])
    data = load_image_data(DataConfig(dataset="npz", data_dir=output, valid_size=4, batch_size=4))
    assert (data.num_train, data.num_valid, data.num_test) == (8, 4, 8)
    # Another seed picks other images; --no_flip and --test_size are written as asked.
    other = str(tmp_path / "other.npz")
    assert main([f"--idx_dir={idx_dir}", "--train_size=12", "--seed=1", "--test_size=3", "--no_flip",
                 f"--output={other}"]) == 0
    raw_other = sources.read_npz(other)
    assert not raw_other.horizontal_flip and raw_other.x_test.shape[0] == 3
    assert not np.array_equal(raw_other.x_train, raw.x_train)


def test_bad_sizes_are_one_error_line(idx_dir, tmp_path, capsys):
    main = runpy.run_path(SCRIPT)["main"]
    output = tmp_path / "never.npz"
    assert main([f"--idx_dir={idx_dir}", "--train_size=41", f"--output={output}"]) == 2
    assert main([f"--idx_dir={idx_dir}", "--test_size=9", f"--output={output}"]) == 2
    assert main([f"--idx_dir={tmp_path / 'absent'}", f"--output={output}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("error: ") for line in err)
    assert "choose 1..40" in err[0] and not output.exists()
