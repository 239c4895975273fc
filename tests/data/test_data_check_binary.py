"""The enas-data-check binary, run as a user would run it (a subprocess)."""

import os
import subprocess
import sys


def run_data_check(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    return subprocess.run([sys.executable, "-m", "enas.bin.data_check", *args], capture_output=True,
                          text=True, env=env, timeout=120, check=False)


def test_prints_split_sizes_and_statistics(idx_dir):
    result = run_data_check("--dataset=idx", f"--data_dir={idx_dir}", "--valid_size=8", "--batch_size=4",
                            "--child_cutout_size=2")
    assert result.returncode == 0, result.stderr
    assert "split sizes: train 32  valid 8  test 8  (steps per epoch at batch 4: 8)" in result.stdout
    assert "image shape (H, W, C): (6, 6, 1)" in result.stdout
    assert "train channel mean:" in result.stdout
    assert "first batch: images (4, 6, 6, 1) float32" in result.stdout


def test_bad_dataset_exits_2_with_one_line():
    result = run_data_check("--dataset=imagenet")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == ["error: unknown dataset 'imagenet'; choose one of embedded, cifar10, cifar100, "
                      "mnist, fashion_mnist, svhn_cropped, idx, npz"]
    assert result.stdout == ""


def test_reads_the_language_model_corpus():
    result = run_data_check("--dataset=ptb_synthetic", "--batch_size=4", "--eval_batch_size=2",
                            "--child_bptt_steps=5")
    assert result.returncode == 0, result.stderr
    assert "vocabulary:" in result.stdout and "train: 4 streams x" in result.stdout
