"""enas-rank end to end on a tiny search: rank.json, rank.png, resume, bad input."""

import dataclasses
import json
import math
import os

import pytest

from enas.config import RankConfig
from enas.errors import ConfigError, OutputDirError
from enas.trainers import rank as rank_module
from enas.trainers.search import search


def test_rank_writes_correlations_per_reward_mode_and_resumes(tmp_path, tiny_config, embedded_data, monkeypatch):
    search_config = tiny_config(tmp_path / "search", num_epochs=1)
    search(search_config, data=embedded_data)
    search_dir = search_config.run.output_dir
    config = RankConfig(search_dir=search_dir, output_dir=str(tmp_path / "rank"), num_archs=4, train_epochs=1,
                        score_batches=1, top_k=2, max_steps_per_epoch=2, progress=False)
    result = rank_module.rank(config, data=embedded_data)
    assert set(result["modes"]) == {"moving", "batch", "recalibrate"}
    for stats in result["modes"].values():
        assert set(stats) == {"kendall_tau", "spearman_rho", "top_2_overlap"}
    archs = result["archs"]
    assert len(archs) == 4 and len({a["arc"] for a in archs}) == 4
    assert [a["source"] for a in archs] == ["enas", "enas", "uniform", "uniform"]
    for arch in archs:
        assert 0.0 <= arch["standalone"] <= 1.0 and arch["num_params"] > 0
        assert set(arch["shared_scores"]) == set(result["modes"])
    on_disk = json.load(open(os.path.join(config.output_dir, "rank.json")))
    for mode, stats in result["modes"].items():
        assert on_disk["modes"][mode] == pytest.approx(stats, nan_ok=True)
    assert os.path.getsize(os.path.join(config.output_dir, "rank.png")) > 1000

    # An interrupted ranking keeps what it trained: forget one result, and only that one retrains.
    state_path = os.path.join(config.output_dir, "rank_state.json")
    state = json.load(open(state_path))
    del state["archs"][3]["standalone"]
    json.dump(state, open(state_path, "w"))
    trained = []
    from enas.trainers import final as final_module

    real_train_final = final_module.train_final

    def counting(cfg, data=None):
        trained.append(cfg.child.fixed_arc)
        assert (cfg.child.lr_T_0, cfg.child.lr_T_mul) == (1, 1)  # --rank_anneal (default): one period
        return real_train_final(cfg, data=data)

    monkeypatch.setattr(final_module, "train_final", counting)
    again = rank_module.rank(config, data=embedded_data)
    assert trained == [archs[3]["arc"]]
    assert again["archs"][3]["standalone"] == pytest.approx(archs[3]["standalone"])


def test_standalone_training_anneals_over_its_epochs_unless_told_not_to(tmp_path, tiny_config):
    from enas.trainers.schedules import child_learning_rate

    search_config = tiny_config(tmp_path / "search", num_epochs=1)
    search_config = search_config.replace(child=dataclasses.replace(search_config.child, lr_T_0=10, lr_T_mul=2))
    common = dict(search_dir=".", output_dir=".", train_epochs=4)
    annealed = rank_module.standalone_config(search_config, "x", "out", RankConfig(**common)).child
    kept = rank_module.standalone_config(search_config, "x", "out", RankConfig(**common, anneal=False)).child
    assert (annealed.lr_T_0, annealed.lr_T_mul) == (4, 1) and (kept.lr_T_0, kept.lr_T_mul) == (10, 2)
    assert dataclasses.replace(annealed, lr_T_0=10, lr_T_mul=2) == kept  # nothing else changes
    annealed_lrs = [child_learning_rate(epoch, annealed) for epoch in range(4)]
    kept_lrs = [child_learning_rate(epoch, kept) for epoch in range(4)]
    assert annealed_lrs == sorted(annealed_lrs, reverse=True) and annealed_lrs[0] == kept_lrs[0]
    # The last epoch: 15% of the way from lr_min to lr_max, against 79% with the search's period.
    lo, hi = annealed.lr_min, annealed.lr_max
    assert (annealed_lrs[-1] - lo) / (hi - lo) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 4)))
    assert (kept_lrs[-1] - lo) / (hi - lo) == pytest.approx(0.5 * (1 + math.cos(math.pi * 3 / 10)))


def test_rank_bad_input(tmp_path):
    search_dir = str(tmp_path / "search")
    with pytest.raises(ConfigError, match="rank_num_archs: must be >= 4"):
        RankConfig(search_dir=search_dir, output_dir=str(tmp_path), num_archs=3).validate()
    (tmp_path / "not_a_search").mkdir()
    with pytest.raises(OutputDirError, match="not the output directory of a finished or interrupted enas-search"):
        rank_module.rank(RankConfig(search_dir=str(tmp_path / "not_a_search"), output_dir=str(tmp_path / "out")))
    with pytest.raises(ConfigError, match="must differ from --search_dir"):
        rank_module.rank(RankConfig(search_dir=search_dir, output_dir=search_dir))
