"""bench/rank_features.py's features, taus and report on tiny synthetic rank_ceiling.json files."""

import json
import os
import runpy

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "rank_features.py")

# 3-layer macro architectures (op, then one skip bit per earlier layer): ops 0 conv3, 1 sep3, 2 conv5,
# 3 sep5, 4 avg pool, 5 max pool.
ARCS = ["0 1 0 4 1 1",
        "4 5 1 4 0 0",
        "2 3 0 0 1 1",
        "5 0 1 3 1 0",
        "1 4 0 5 0 1"]


@pytest.fixture(scope="module")
def module():
    return runpy.run_path(SCRIPT)


def test_features_by_hand(module):
    # "0 1 0 4 1 1": layer 0 conv_3x3; layer 1 sep_conv_3x3, skip bit 0; layer 2 avg_pool, bits 1 1.
    assert module["arc_features"]("0 1 0 4 1 1", 1234) == {
        "pool": 1, "sep": 1, "conv": 1, "k5": 0, "skips": 2, "last_pool": 1, "params": 1234}
    # "2 3 0 0 1 1": conv_5x5, sep_conv_5x5, conv_3x3; two skips; no params given.
    assert module["arc_features"]("2 3 0 0 1 1") == {
        "pool": 0, "sep": 1, "conv": 2, "k5": 2, "skips": 2, "last_pool": 0}


def _ceiling(scores, target, seed_dir=""):
    return {"arcs": ARCS, "archs": [{"name": f"a{i}", "mean": t} for i, t in enumerate(target)],
            "scores": scores, "seed_dir": seed_dir}


def test_a_score_that_counts_pooling_layers_is_flagged(module):
    pools = [module["arc_features"](a)["pool"] for a in ARCS]  # 1, 3, 0, 1, 2
    assert pools == [1, 3, 0, 1, 2]
    target = [0.80, 0.70, 0.90, 0.81, 0.75]                     # fewer pools, better alone
    scores = {"random": {"batch": [float(p) for p in pools]}}  # the shared weights like pools
    figures = module["seed_figures"](_ceiling(scores, target))
    assert "params" not in figures["feature_names"]
    assert figures["taus"]["pool"]["random/batch"] == pytest.approx(1.0)
    # 9 of the 10 pairs discordant, one tied in pools (a0, a3): tau-b = -9 / sqrt(9 * 10).
    assert figures["taus"]["pool"]["standalone"] == pytest.approx(-9 / (9 * 10) ** 0.5)
    assert figures["score_vs_standalone"]["random/batch"] == pytest.approx(-9 / (9 * 10) ** 0.5)
    # Within the median split of pools (<= 1: a0, a2, a3; > 1: a1, a4) only the first half has 3.
    split = module["within_split"](_ceiling(scores, target), pools)
    # first half: scores 1, 0, 1 against 0.80, 0.90, 0.81 -> pairs (a0,a2) discordant, (a0,a3) tied score,
    # (a2,a3) discordant: tau-b = -2 / sqrt(2 * 3).
    assert split["random/batch"] == pytest.approx(-2 / 6 ** 0.5)


def test_the_script_end_to_end_and_its_errors(module, tmp_path, capsys):
    seed_dir = tmp_path / "seed0"
    for i, _ in enumerate(ARCS):
        (seed_dir / "standalone" / f"a{i}").mkdir(parents=True)
        (seed_dir / "standalone" / f"a{i}" / "final_metrics.json").write_text(json.dumps({"num_params": 100 + i}))
    ceiling_dir = tmp_path / "ceiling0"
    ceiling_dir.mkdir()
    scores = {"enas": {"batch": [0.5, 0.4, 0.6, 0.45, 0.3], "moving": [0.1, 0.2, 0.3, 0.4, 0.5]}}
    (ceiling_dir / "rank_ceiling.json").write_text(
        json.dumps(_ceiling(scores, [0.80, 0.70, 0.90, 0.81, 0.75], str(seed_dir))))
    out = tmp_path / "features.json"
    result = module["main"]([f"--ceiling_dirs={ceiling_dir},{ceiling_dir}", f"--output={out}"])
    text = capsys.readouterr().out
    assert "params" in text and "enas/batch" in text and "within a median split of 'pool'" in text
    assert json.loads(out.read_text())["split_feature"] == "pool"
    assert result["per_seed"][0]["taus"]["params"]["standalone"] == pytest.approx(
        module["seed_figures"](_ceiling(scores, [0.80, 0.70, 0.90, 0.81, 0.75]), [100, 101, 102, 103, 104])
        ["taus"]["params"]["standalone"])
    with pytest.raises(SystemExit) as exit_info:
        module["main"]([f"--ceiling_dirs={tmp_path / 'nowhere'}"])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("error: ")
