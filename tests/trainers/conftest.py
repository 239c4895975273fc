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
