"""The binaries as a user runs them: a smoke search -> derive -> train chain, and clean errors."""

import json
import os
import subprocess
import sys

import pytest

ENV = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def _run(module, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", f"enas.bin.{module}", *args], capture_output=True, text=True,
                          env=ENV, timeout=timeout, check=False)


def _one_clean_line(result):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


@pytest.mark.slow
def test_search_then_derive_then_train(tmp_path):
    search_dir, final_dir = str(tmp_path / "search"), str(tmp_path / "final")
    result = _run("search", "--baseline=cifar10_macro_search_smoke", f"--output_dir={search_dir}", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "best architecture" in result.stdout
    derived = json.load(open(os.path.join(search_dir, "derived.json")))
    assert len(derived["best"]["arc"].split()) == 4 + 6
    result = _run("derive", f"--output_dir={search_dir}", "--derive_num_samples=3", "--derive_top_k=2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "score" in result.stdout
    result = _run("train", "--baseline=cifar10_macro_final_smoke", f"--derived_json={search_dir}",
                  f"--output_dir={final_dir}", "--num_epochs=1", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(os.path.join(final_dir, "final_metrics.json")))
    assert metrics["arc"] == json.load(open(os.path.join(search_dir, "derived.json")))["best"]["arc"]
    assert os.path.exists(os.path.join(final_dir, "model.keras"))


def test_bad_architecture_string_is_one_line_and_exit_2(tmp_path):
    line = _one_clean_line(_run("train", "--baseline=cifar10_macro_final_smoke", f"--output_dir={tmp_path}",
                                "--child_fixed_arc=0 3 1 x 0 1 5 1 0 1"))
    assert "token 3" in line


def test_unknown_values_are_one_line_and_exit_2(tmp_path):
    assert "unknown baseline 'nope'" in _one_clean_line(_run("search", "--baseline=nope"))
    line = _one_clean_line(_run("search", "--search_for=marco", f"--output_dir={tmp_path}"))
    assert "marco" in line and "macro" in line
    line = _one_clean_line(_run("search", "--baseline=cifar10_macro_search_smoke", f"--output_dir={tmp_path}",
                                "--dataset=imagenet21k"))
    assert "imagenet21k" in line
    assert "config.json is missing" in _one_clean_line(_run("derive", f"--output_dir={tmp_path / 'none'}"))


def test_describe_prints_parameters(tmp_path):
    result = _run("describe", "--baseline=cifar10_macro_final_smoke", f"--dot_file={tmp_path / 'arc.dot'}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "param" in result.stdout.lower()
    assert "InitializeLog" not in result.stderr and "oneDNN" not in result.stderr  # start-up lines filtered
    assert (tmp_path / "arc.dot").read_text().startswith(("digraph", "strict digraph"))


def test_describe_counts_the_ptb_vocabulary_and_refuses_unknown_sizes():
    result = _run("describe", "--baseline=ptb_final")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "trainable parameters: 20,800,000" in result.stdout and "vocabulary 10000" in result.stdout
    line = _one_clean_line(_run("describe", "--baseline=ptb_final", "--num_classes=0"))
    assert "--num_classes" in line and "vocabulary size" in line


@pytest.mark.slow
@pytest.mark.parametrize("space, search_baseline, final_baseline", [
    ("micro", "cifar10_micro_search_smoke", "cifar10_micro_final_cutout_smoke"),
    ("rnn", "ptb_search_smoke", "ptb_final_smoke"),
])
def test_every_space_searches_and_trains_through_the_same_binaries(tmp_path, space, search_baseline,
                                                                   final_baseline):
    search_dir, final_dir = str(tmp_path / "search"), str(tmp_path / "final")
    result = _run("search", f"--baseline={search_baseline}", f"--output_dir={search_dir}", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    derived = json.load(open(os.path.join(search_dir, "derived.json")))
    assert derived["search_for"] == space
    result = _run("train", f"--baseline={final_baseline}", f"--derived_json={search_dir}",
                  f"--output_dir={final_dir}", "--num_epochs=1", "--noprogress")
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.load(open(os.path.join(final_dir, "final_metrics.json")))
    assert metrics["arc"] == derived["best"]["arc"] and metrics["search_for"] == space
    assert any(key.startswith("test_") for key in metrics)


def test_search_strategy_and_rank_bad_input_is_one_line_and_exit_2(tmp_path):
    line = _one_clean_line(_run("search", "--baseline=cifar10_macro_search_smoke", f"--output_dir={tmp_path / 's'}",
                                "--search_strategy=bogus"))
    assert "--search_strategy: unknown strategy 'bogus'" in line and not os.path.exists(tmp_path / "s")
    line = _one_clean_line(_run("search", "--baseline=cifar10_micro_search_smoke", f"--output_dir={tmp_path / 'm'}",
                                "--child_reward_bn=moving"))
    assert "--child_reward_bn: the micro space supports batch" in line
    line = _one_clean_line(_run("rank", f"--search_dir={tmp_path}", f"--output_dir={tmp_path / 'r'}",
                                "--rank_num_archs=3"))
    assert "--rank_num_archs: must be >= 4" in line
    line = _one_clean_line(_run("rank", f"--search_dir={tmp_path}", f"--output_dir={tmp_path / 'r'}"))
    assert "not the output directory of a finished or interrupted enas-search" in line
