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
    # bench/shared_age.py on this seed: the random search copied and trained on to 2 epochs; the
    # efficacy directory is only read; age 1's scores are the efficacy run's own; a rerun trains nothing.
    age_script = os.path.join(os.path.dirname(script), "shared_age.py")
    age_module = runpy.run_path(age_script)
    random_log = tmp_path / "seed0" / "random" / "search_log.jsonl"
    before = random_log.read_text()
    age_dir = tmp_path / "age"
    state = age_module["main"]([f"--seed_dir={tmp_path / 'seed0'}", "--strategies=random", "--epochs=2",
                                f"--output_dir={age_dir}"])
    assert random_log.read_text() == before
    assert set(state["ages"]["random"]) == {"1", "2"}
    for mode, values in seed["scores"]["random"].items():
        assert state["ages"]["random"]["1"]["scores"][mode] == pytest.approx(values)
    assert state["arcs"] == [seed["archs"][name] for name in names]
    with open(age_dir / "random" / "search_log.jsonl") as handle:
        assert [json.loads(line)["epoch"] for line in handle if "\"epoch\"" in line][-1] == 2
    assert "random     2 epochs: moving" in state["table"]
    search_module.search = no_search
    try:
        assert age_module["main"]([f"--seed_dir={tmp_path / 'seed0'}", "--strategies=random", "--epochs=2",
                                   f"--output_dir={age_dir}"])["ages"] == state["ages"]
    finally:
        search_module.search = original
    with pytest.raises(SystemExit):
        age_module["main"]([f"--seed_dir={tmp_path / 'seed0'}", "--epochs=2,1", f"--output_dir={age_dir}"])
