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
    table = capsys.readouterr().out
    for row in ("enas-derived best", "random-derived best", "uniform random (mean of K)",
                "Kendall tau, enas weights, batch", "search wall time, enas"):
        assert row in table
    assert os.path.exists(tmp_path / "efficacy.json")
