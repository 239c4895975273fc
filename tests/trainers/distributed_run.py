"""Runs one tiny search or final training in its own process and writes what the tests compare as JSON.

Used by ``test_distribute.py``: logical CPU devices and multi-worker strategies must be set up before
TensorFlow starts, so every distributed run is a fresh process. Usage::

    python distributed_run.py '<json spec>' result.json

The spec: ``kind`` (search or final), ``space``, ``output_dir``, ``distribution``, ``logical_cpu_devices``,
``sync_bn``, ``num_epochs``, ``steps``, ``arc`` (final). The result: per training step the sampled tokens
and the loss; per controller step the rewards; the derived (or final) metrics; the controller's weights;
the trace counts of the compiled steps.
"""

import json
import sys

import numpy as np

from enas.config import ChildConfig, Config, ControllerConfig, DataConfig, RunConfig


def make_config(spec) -> Config:
    child = {"macro": dict(search_for="macro", num_layers=2, out_filters=4, num_branches=6),
             "micro": dict(search_for="micro", num_layers=1, num_cells=2, out_filters=4,
                           num_branches=5)}[spec["space"]]
    child.update(keep_prob=1.0, lr_max=0.05, lr_min=0.001, sync_bn=spec.get("sync_bn", False),
                 fixed_arc=spec.get("arc", ""))
    run = dict(output_dir=spec["output_dir"], num_epochs=spec.get("num_epochs", 2),
               max_steps_per_epoch=spec.get("steps", 3), max_eval_batches=1, derive_num_samples=4, derive_top_k=2,
               derive_num_batches=1, progress=False, seed=1,
               checkpoint_every_steps=spec.get("checkpoint_every_steps", 0),
               distribution=spec.get("distribution", "none"),
               logical_cpu_devices=spec.get("logical_cpu_devices", 0))
    return Config(data=DataConfig(dataset="embedded", valid_size=1000, batch_size=16, eval_batch_size=100),
                  child=ChildConfig(**child),
                  controller=ControllerConfig(lstm_size=16, train_steps=2, num_aggregate=2, train_every=1,
                                              tanh_constant=1.5, entropy_weight=1e-4, skip_weight=0.8,
                                              skip_target=0.4),
                  run=RunConfig(**run))


def run_search(config, result):
    from enas.trainers.search import SearchRun

    class RecordingRun(SearchRun):
        def train_step(self):  # the architecture of every child step, as the strategy proposed it
            metrics = super().train_step()
            result["archs"].append([int(t) for t in np.asarray(self._arc)])
            result["losses"].append(metrics["loss"])
            return metrics

    run = RecordingRun(config)
    original_reward = run.task.reward

    def reward(arc, mode=None):
        value = original_reward(arc, mode)
        result["rewards"].append(value)
        return value

    run.task.reward = reward
    result["derived"] = run.run()
    result["controller"] = [np.asarray(v).tolist() for v in run.strategy.controller.trainable_variables]
    task = run.task  # pylint: disable=protected-access
    result["batch_norm"] = batch_norm_statistics(task.model, config)
    result["traces"] = {"train": task._train_fn.experimental_get_tracing_count(),
                        "eval": task._batch_eval_fn.experimental_get_tracing_count()}


def batch_norm_statistics(model, config):
    """The sum of every moving batch-norm statistic, one list per replica copy held by this process."""
    from enas.trainers import distribute
    from enas.trainers.bn_stats import moving_statistics

    distribution = distribute.current(config.run)
    copies = []
    for variable in moving_statistics(model):
        value = getattr(variable, "value", variable)
        local = distribution.strategy.experimental_local_results(value) if distribution else [value]
        copies.append([float(np.sum(np.asarray(copy, np.float64))) for copy in local])
    return [list(column) for column in zip(*copies)]


def run_final(config, result):
    from enas.trainers.final import FinalRun

    run = FinalRun(config)
    result["metrics"] = run.run()
    result["traces"] = {"train": run.task._train_fn.experimental_get_tracing_count()}


def main(spec_text, out_path):
    spec = json.loads(spec_text)
    config = make_config(spec)
    result = {"archs": [], "losses": [], "rewards": []}
    (run_search if spec.get("kind", "search") == "search" else run_final)(config, result)
    from enas.trainers import distribute

    distribution = distribute.current(config.run)
    result["num_replicas"] = 1 if distribution is None else distribution.num_replicas
    with open(out_path, "w") as handle:
        json.dump(result, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
