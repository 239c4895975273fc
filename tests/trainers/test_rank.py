"""enas-rank end to end on a tiny search: rank.json, rank.png, resume, bad input."""

import json
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
        return real_train_final(cfg, data=data)

    monkeypatch.setattr(final_module, "train_final", counting)
    again = rank_module.rank(config, data=embedded_data)
    assert trained == [archs[3]["arc"]]
    assert again["archs"][3]["standalone"] == pytest.approx(archs[3]["standalone"])


def test_rank_bad_input(tmp_path):
    search_dir = str(tmp_path / "search")
    with pytest.raises(ConfigError, match="rank_num_archs: must be >= 4"):
        RankConfig(search_dir=search_dir, output_dir=str(tmp_path), num_archs=3).validate()
    (tmp_path / "not_a_search").mkdir()
    with pytest.raises(OutputDirError, match="not the output directory of a finished or interrupted enas-search"):
        rank_module.rank(RankConfig(search_dir=str(tmp_path / "not_a_search"), output_dir=str(tmp_path / "out")))
    with pytest.raises(ConfigError, match="must differ from --search_dir"):
        rank_module.rank(RankConfig(search_dir=search_dir, output_dir=search_dir))
