"""bench/efficacy.py --smoke end to end: every row of the table is a measured figure."""

import os
import runpy

import pytest


@pytest.mark.slow
def test_efficacy_smoke_prints_the_table(tmp_path, capsys):
    script = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "efficacy.py")
    module = runpy.run_path(script)
    result = module["main"](["--smoke", f"--output_dir={tmp_path}"])
    (seed,) = result["results"]
    assert set(seed["derived"]) == {"enas", "random"}
    assert len([k for k in seed["standalone"] if k.startswith("uniform-")]) == 2
    assert all(0.0 <= v <= 1.0 for v in seed["standalone"].values())
    assert set(seed["ranking"]["enas"]) == {"moving", "batch", "recalibrate"}
    # The scores behind each tau are kept, one per architecture, and give the tau again.
    from enas.trainers.rank_stats import kendall_tau

    names = list(seed["archs"])
    assert len(names) == 4 and all(len(v) == 4 for v in seed["scores"]["random"].values())
    accuracies = [seed["standalone"][name] for name in names]
    assert kendall_tau(seed["scores"]["enas"]["batch"], accuracies) == pytest.approx(seed["ranking"]["enas"]["batch"])
    table = capsys.readouterr().out
    for row in ("enas-derived best", "random-derived best", "uniform random (mean of K)",
                "Kendall tau, enas weights, batch", "search wall time, enas"):
        assert row in table
    assert os.path.exists(tmp_path / "efficacy.json")
    # The same searches, re-measured with the search's schedule: nothing searches again, the derived
    # architectures are the same, and each stand-alone run says which schedule it trained with.
    import json

    from enas.trainers import search as search_module

    def no_search(*args, **kwargs):
        raise AssertionError("--searches_from must not search again")

    again_dir = tmp_path / "again"
    original = search_module.search
    search_module.search = no_search
    try:
        again = module["main"](["--smoke", f"--output_dir={again_dir}", f"--searches_from={tmp_path}",
                                "--retrain_schedule=search"])
    finally:
        search_module.search = original
    (again_seed,) = again["results"]
    assert again_seed["derived"] == seed["derived"] and again_seed["search_seconds"] == seed["search_seconds"]
    assert again_seed["retrain_schedule"] == "search" and seed["retrain_schedule"] == "anneal"
    for directory, period in ((tmp_path, 1), (again_dir, 10)):  # smoke: 1 retrain epoch; the search's T_0 = 10
        with open(directory / "seed0" / "standalone" / "uniform-0" / "config.json") as handle:
            assert json.load(handle)["config"]["child"]["lr_T_0"] == period
    with pytest.raises(SystemExit, match="retrain_schedule=anneal"):
        module["main"](["--smoke", f"--output_dir={tmp_path}", "--retrain_schedule=search"])
