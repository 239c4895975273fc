"""bench/rank_ceiling.py's statistics and report on tiny synthetic inputs (nothing is trained)."""

import dataclasses
import json
import math
import os
import runpy

import pytest

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "rank_ceiling.py")


@pytest.fixture(scope="module")
def module():
    return runpy.run_path(SCRIPT)


def test_identical_repeats_have_tau_one_and_no_seed_noise(module):
    runs = [[0.70, 0.75, 0.80, 0.72, 0.78]] * 3
    stats = module["ceiling_stats"]([f"a{i}" for i in range(5)], runs)
    assert stats["num_complete"] == 5 and stats["num_runs_per_arch"] == 3
    assert stats["repeat_tau_pairs"] == {"0-1": pytest.approx(1.0), "0-2": pytest.approx(1.0),
                                         "1-2": pytest.approx(1.0)}
    assert stats["repeat_tau_mean"] == pytest.approx(1.0)
    assert stats["within_std"] == pytest.approx(0.0)
    assert stats["reliability_single_run"] == pytest.approx(1.0)
    assert stats["between_std_of_means"] == pytest.approx(stats["between_std_single_run"])
    assert stats["oracle_tau_vs_one_run"] == pytest.approx(1.0)
    assert stats["oracle_tau_vs_mean_of_runs"] == pytest.approx(1.0)
    # n = 5: sqrt(2 * 15 / (9 * 5 * 4)).
    assert stats["tau_null_std"] == pytest.approx(math.sqrt(30 / 180))


def test_statistics_by_hand(module):
    # Repeat 1 swaps the first two architectures: 6 pairs, 1 discordant -> tau (5 - 1) / 6.
    runs = [[0.1, 0.2, 0.3, 0.4], [0.2, 0.1, 0.3, 0.4]]
    scores = {"enas": {"batch": [1.0, 2.0, 3.0, 4.0], "moving": [4.0, 3.0, 2.0, 1.0]}}
    stats = module["ceiling_stats"](["a", "b", "c", "d"], runs, scores)
    assert stats["repeat_tau_mean"] == pytest.approx(4 / 6)
    # Per-architecture variances (ddof 1): 0.005, 0.005, 0, 0 -> pooled 0.0025.
    assert stats["within_std"] == pytest.approx(0.05)
    assert [a["mean"] for a in stats["archs"]] == pytest.approx([0.15, 0.15, 0.3, 0.4])
    assert stats["archs"][0]["std"] == pytest.approx(math.sqrt(0.005))
    # Means [0.15, 0.15, 0.3, 0.4]: var (ddof 1) = 0.045 / 3 = 0.015; architecture variance = 0.015 - 0.0025 / 2.
    assert stats["between_std_of_means"] == pytest.approx(math.sqrt(0.015))
    assert stats["arch_std_estimate"] == pytest.approx(math.sqrt(0.015 - 0.00125))
    # Reliability of one run: 0.01375 / (0.01375 + 0.0025); of the mean of 2: 0.01375 / (0.01375 + 0.00125).
    assert stats["reliability_single_run"] == pytest.approx(0.01375 / 0.01625)
    assert stats["oracle_tau_vs_one_run"] == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.01375 / 0.01625)))
    assert stats["oracle_tau_vs_mean_of_runs"] == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.01375 / 0.015)))
    batch = stats["score_tau"]["enas"]["batch"]
    assert batch["vs_repeat0"] == pytest.approx(1.0)
    assert batch["vs_each_repeat_mean"] == pytest.approx((1.0 + 4 / 6) / 2)
    # Against the means (one tie in y): 5 concordant, 0 discordant -> 5 / sqrt(6 * 5), the project's tau-b.
    assert batch["vs_mean_of_repeats"] == pytest.approx(5 / math.sqrt(30))
    assert stats["score_tau"]["enas"]["moving"]["vs_mean_of_repeats"] == pytest.approx(-5 / math.sqrt(30))
    table = module["table"](stats)
    for row in ("within-architecture std", "between-architecture std of one run", "mean over pairs (the ceiling)",
                "noiseless oracle vs one run", "enas weights, batch", "vs mean of runs"):
        assert row in table


def test_partial_runs_count_only_complete_architectures(module):
    runs = [[0.1, 0.2, 0.3, 0.4, 0.5], [0.1, None, 0.3, 0.4, 0.5]]
    stats = module["ceiling_stats"](list("abcde"), runs, {"s": {"m": [5, 4, 3, 2, 1]}})
    assert stats["num_complete"] == 4
    assert stats["archs"][1]["runs"] == [0.2, None] and stats["archs"][1]["std"] is None
    assert stats["repeat_tau_mean"] == pytest.approx(1.0)
    assert stats["score_tau"]["s"]["m"]["vs_mean_of_repeats"] == pytest.approx(-1.0)
    assert "4 of 5 architectures" in module["table"](stats)
    with pytest.raises(ValueError):
        module["ceiling_stats"](list("ab"), [[0.1, 0.2, 0.3]])


def _write(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as handle:
        json.dump(value, handle)


def test_stats_only_report_from_a_seed_directory(module, tmp_path, capsys):
    """A fake finished efficacy seed plus one repeat on disk: the JSON and the table, nothing trained."""
    seed_dir, out = tmp_path / "efficacy" / "seed0", tmp_path / "ceiling"
    arcs = {"x-derived": "0 1 0", "uniform-0": "1 0 1", "uniform-1": "2 1 1"}
    stored = {"x-derived": 0.80, "uniform-0": 0.75, "uniform-1": 0.70}
    again = {"x-derived": 0.78, "uniform-0": 0.76, "uniform-1": 0.71}
    _write(str(seed_dir / "result.json"), {"seed": 0, "derived": {}, "standalone": stored})
    efficacy, eargs = module["recipe_args"](module["_args"]([f"--seed_dir={seed_dir}"]))
    recipe = dataclasses.asdict(module["final_config"](efficacy, eargs, 0, 0, "0 1 0", "x"))
    for name, arc in arcs.items():
        _write(str(seed_dir / "standalone" / name / "final_metrics.json"), {"arc": arc, "test_accuracy": stored[name]})
        _write(str(seed_dir / "standalone" / name / "config.json"), {"config": recipe})
        _write(str(out / "repeat1" / name / "final_metrics.json"), {"arc": arc, "test_accuracy": again[name]})
    stats = module["main"]([f"--seed_dir={seed_dir}", f"--output_dir={out}", "--repeats=1", "--stats_only"])
    assert stats["num_complete"] == 3 and stats["repeat_tau_mean"] == pytest.approx(1.0)
    assert stats["repeat_seeds"] == {"1": 1000} and stats["stored_run_is_repeat0"]
    with open(out / "rank_ceiling.json") as handle:
        saved = json.load(handle)
    for key in ("archs", "within_std", "between_std_single_run", "repeat_tau_pairs", "repeat_tau_mean", "score_tau",
                "table", "arcs"):
        assert key in saved
    assert "x-derived" in capsys.readouterr().out
    # A stored run trained with another recipe is refused: the repeats would measure something else.
    recipe["child"]["out_filters"] += 1
    _write(str(seed_dir / "standalone" / "x-derived" / "config.json"), {"config": recipe})
    with pytest.raises(SystemExit, match="child.out_filters"):
        module["main"]([f"--seed_dir={seed_dir}", f"--output_dir={out}", "--repeats=1", "--stats_only"])


def test_retrain_schedule_follows_the_efficacy_run_and_never_mixes_with_other_runs(module, tmp_path):
    """The stand-alone schedule is the efficacy run's (one written before --retrain_schedule existed trained with
    the search's); another one given here needs --no_stored_run, and an output directory keeps one schedule."""
    seed_dir, out = tmp_path / "efficacy" / "seed0", tmp_path / "ceiling"
    _write(str(seed_dir / "result.json"), {"seed": 0, "derived": {}, "standalone": {"a": 0.8, "b": 0.7}})
    _write(str(tmp_path / "efficacy" / "efficacy.json"), {"args": {"retrain_epochs": 3}})  # before the flag
    efficacy, eargs = module["recipe_args"](module["_args"]([f"--seed_dir={seed_dir}"]))
    assert eargs.retrain_schedule == "search"
    plain = module["final_config"](efficacy, eargs, 0, 0, "0 1 0", "x")
    efficacy, eargs = module["recipe_args"](module["_args"]([f"--seed_dir={seed_dir}", "--retrain_schedule=anneal"]))
    annealed = module["final_config"](efficacy, eargs, 0, 0, "0 1 0", "x")
    assert (plain.child.lr_T_0, plain.child.lr_T_mul) == (10, 2)
    assert (annealed.child.lr_T_0, annealed.child.lr_T_mul) == (3, 1)
    assert dataclasses.replace(annealed.child, lr_T_0=10, lr_T_mul=2) == plain.child  # nothing else differs
    for name, arc in (("a", "0 1 0"), ("b", "1 0 1")):
        _write(str(seed_dir / "standalone" / name / "final_metrics.json"), {"arc": arc, "test_accuracy": 0.8})
        _write(str(seed_dir / "standalone" / name / "config.json"), {"config": dataclasses.asdict(plain)})
        _write(str(out / "repeat1" / name / "final_metrics.json"), {"arc": arc, "test_accuracy": 0.7})
        _write(str(out / "repeat2" / name / "final_metrics.json"), {"arc": arc, "test_accuracy": 0.75})
    args = [f"--seed_dir={seed_dir}", f"--output_dir={out}", "--repeats=2", "--stats_only", "--strategies=none"]
    with pytest.raises(SystemExit, match="child.lr_T_0"):  # the stored runs trained otherwise
        module["main"](args + ["--retrain_schedule=anneal"])
    stats = module["main"](args + ["--no_stored_run", "--retrain_schedule=anneal"])
    assert stats["recipe"]["retrain_schedule"] == "anneal" and not stats["stored_run_is_repeat0"]
    assert stats["num_runs_per_arch"] == 2
    with pytest.raises(SystemExit, match="retrain_schedule=anneal"):  # this directory holds annealed runs
        module["main"](args + ["--no_stored_run"])
