"""Shared fixtures of the trainer tests: the embedded data loaded once, tiny run configs."""

import pytest

from enas.config import ChildConfig, Config, ControllerConfig, DataConfig, RunConfig

BATCH = 16


@pytest.fixture(scope="session")
def embedded_data():
    from enas.data import load_image_data

    return load_image_data(DataConfig(dataset="embedded", valid_size=1000, batch_size=BATCH, eval_batch_size=100))


def _tiny_config(output_dir, search_for="macro", **run) -> Config:
    """A seconds-long search configuration on the embedded data."""
    child = {"macro": ChildConfig(search_for="macro", num_layers=3, out_filters=4, num_branches=6, keep_prob=0.9,
                                  lr_max=0.05, lr_min=0.001),
             # Compiled switches: the same computation, traced and instantiated in a fraction of the
             # time (tests/spaces/test_micro_shared.py checks it against the copied switches, the
             # pinned micro search and one smoke search run the default).
             "micro": ChildConfig(search_for="micro", num_layers=1, num_cells=2, out_filters=4, num_branches=5,
                                  keep_prob=0.9, lr_max=0.05, lr_min=0.001, use_aux_heads=True,
                                  compiled_switches=True)}[search_for]
    run_values = dict(output_dir=str(output_dir), num_epochs=2, max_steps_per_epoch=4, max_eval_batches=1,
                      derive_num_samples=4, derive_top_k=2, derive_num_batches=1, progress=False, seed=1)
    run_values.update(run)
    return Config(
        data=DataConfig(dataset="embedded", valid_size=1000, batch_size=BATCH, eval_batch_size=100),
        child=child,
        controller=ControllerConfig(lstm_size=16, train_steps=2, num_aggregate=2, train_every=1,
                                    tanh_constant=1.5, entropy_weight=1e-4, skip_weight=0.8, skip_target=0.4),
        run=RunConfig(**run_values))


@pytest.fixture
def tiny_config():
    """Builds a seconds-long search configuration: ``tiny_config(output_dir, search_for, **run)``."""
    return _tiny_config


# The pinned-log tests (test_search_pinned, test_final_pinned). Their files were written on one CPU,
# where a rerun matches them to 1e-9. Another CPU's kernels (AVX-512 against AVX2, oneDNN's choices)
# round differently: measured on an AMD EPYC, the first epoch's training loss moves by 1e-7 (macro) to
# 1e-5 (micro) relative, and after a few steps the tiny near-chance models flip predictions, so their
# evaluation losses, rewards and controller losses drift by up to 20%. So: everything discrete
# (architectures, steps, counts, names) must match exactly; where the probe (the first epoch's training
# loss) matches to PINNED_SAME_CPU, this CPU rounds as the pinning one did and every float must match
# to PINNED_SAME_CPU; elsewhere the probe must match to PINNED_OTHER_CPU (same initialisation, data and
# first steps), and a behaviour change that moves no discrete value and not the first epoch is caught
# only on a CPU like the pinning one (CI's).
PINNED_SAME_CPU = 1e-9
PINNED_OTHER_CPU = 1e-3


def _pinned_floats(pinned, actual, where, floats):
    if isinstance(pinned, dict):
        assert isinstance(actual, dict), where
        for key, value in pinned.items():
            assert key in actual, f"{where}.{key} missing"
            _pinned_floats(value, actual[key], f"{where}.{key}", floats)
    elif isinstance(pinned, list):
        assert isinstance(actual, list) and len(actual) == len(pinned), where
        for index, (a, b) in enumerate(zip(pinned, actual)):
            _pinned_floats(a, b, f"{where}[{index}]", floats)
    elif isinstance(pinned, float):
        assert isinstance(actual, (int, float)), where
        floats[where] = (pinned, actual, abs(actual - pinned) / max(abs(pinned), 1e-12))
    else:
        assert actual == pinned, where


def assert_same_as_pinned(pinned, actual, probe: str, where: str = "") -> bool:
    """Every key of ``pinned`` is in ``actual`` with the same discrete values; floats as above.
    ``probe``: the path of the first epoch's training loss. Returns whether this CPU rounds as the
    pinning one did (every float then matched to PINNED_SAME_CPU)."""
    floats = {}
    _pinned_floats(pinned, actual, where, floats)
    old, new, difference = floats[probe]
    if difference <= PINNED_SAME_CPU:
        for path, (old, new, difference) in floats.items():
            assert difference <= PINNED_SAME_CPU, f"{path}: {new} against the pinned {old}"
        return True
    assert difference <= PINNED_OTHER_CPU, f"{probe}: {new} against the pinned {old} (another CPU?)"
    return False


@pytest.fixture
def same_as_pinned():
    return assert_same_as_pinned
