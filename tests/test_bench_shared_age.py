"""bench/shared_age.py's pieces that need no search: child overrides, figures, table, bad input
(its end-to-end run is in tests/test_bench_efficacy.py, on the efficacy smoke seed)."""

import json
import os
import runpy

import pytest

from enas.config import ChildConfig

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench", "shared_age.py")


@pytest.fixture(scope="module")
def module():
    return runpy.run_path(SCRIPT)


def test_child_overrides_take_each_fields_type(module):
    child = ChildConfig(search_for="macro", num_layers=6)
    changed = module["child_overrides"](child, "skip_mode=concat,num_layers=4,keep_prob=0.7,sep_as_conv=true")
    assert (changed.skip_mode, changed.num_layers, changed.keep_prob, changed.sep_as_conv) == ("concat", 4, 0.7, True)
    assert changed.out_filters == child.out_filters
    for bad in ("bogus=1", "skip_mode", "num_layers=four"):
        with pytest.raises(ValueError):
            module["child_overrides"](child, bad)


def test_summary_and_table_by_hand(module):
    standalone = [0.7, 0.8, 0.9, 0.6]
    features = {"skips": [3, 2, 1, 4], "k5": [0, 1, 2, 0]}
    scores = {"batch": [0.1, 0.2, 0.3, 0.0], "moving": [0.3, 0.2, 0.1, 0.4]}
    figures = module["summary"](scores, standalone, features)
    assert figures["batch"]["tau"] == pytest.approx(1.0) and figures["moving"]["tau"] == pytest.approx(-1.0)
    assert figures["batch"]["tau_skips"] == pytest.approx(-1.0)
    assert figures["batch"]["mean_score"] == pytest.approx(0.15)
    # k5 has one tie (0, 0): 5 of 6 pairs ordered, all concordant with batch -> 5 / sqrt(5 * 6).
    assert figures["batch"]["tau_k5"] == pytest.approx(5 / 30 ** 0.5)
    text = module["table"]({"random": {"30": {"scores": scores}, "8": {"scores": scores}}}, standalone, features)
    lines = text.splitlines()
    assert lines[1].startswith("  random     8 epochs: batch +1.00 [0.150; -1.00 +0.91]")
    assert lines[2].startswith("  random    30 epochs:")


def test_bad_input_is_one_error_line(module, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        module["main"]([f"--seed_dir={tmp_path}", "--epochs=8"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "is not a finished bench/efficacy.py seed" in err
    for epochs in ("8,x", "30,8", "0"):
        with pytest.raises(SystemExit) as exit_info:
            module["main"]([f"--seed_dir={tmp_path}", f"--epochs={epochs}"])
        assert exit_info.value.code == 2
        assert capsys.readouterr().err.startswith("error: --epochs")
    (tmp_path / "result.json").write_text(json.dumps({"standalone": {"a": 0.5}}))
    with pytest.raises(SystemExit) as exit_info:
        module["main"]([f"--seed_dir={tmp_path}", "--epochs=8"])
    assert exit_info.value.code == 2 and "has no final_metrics.json" in capsys.readouterr().err
