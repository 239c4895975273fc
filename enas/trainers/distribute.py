"""Search and final training on several devices and machines (``--distribution``), with tf.distribute.

``--distribution=none`` (the default) puts no strategy anywhere: :func:`current` returns None and every
task keeps its single-device functions. ``mirrored`` is a ``tf.distribute.MirroredStrategy`` over the
devices of one machine (``--devices``), ``multi_worker`` a ``MultiWorkerMirroredStrategy`` over the
``TF_CONFIG`` cluster, the same command running on every worker.

How a distributed run works:

* The child's weights and optimizer are created under the strategy's scope
  (:func:`scope`, entered by ``enas.trainers.tasks``), so every replica holds a mirrored copy.
* The input pipelines are distributed (:class:`DistributedData`, ``distribute_datasets_from_function``):
  each worker builds one pipeline holding only its own replicas' shares of every batch (replica ``r``
  of ``N``: rows ``[r*B/N, (r+1)*B/N)`` of the one-device global batch, augmented as those rows are in
  it; uneven evaluation batches split as evenly as possible), so positions in every stream are the
  single-device ones and resuming needs nothing new. The compiled steps take these distributed
  values (their input signatures are the distributed datasets' element specs, any batch size for
  evaluation) and the architecture tokens as a tensor, so every replica trains the same architecture
  and one traced graph still serves every architecture.
* Batch norms use each replica's own share of the batch, unless ``--child_sync_bn`` builds them
  synchronized: their batch statistics are then summed over every replica by a collective all-reduce
  launched inside each replica (:meth:`Distribution._replica_sum`), which works inside a shared child's
  architecture switch too (tf.distribute's own ``merge_call`` cannot run there). Their moving statistics are
  set to the replicas' mean after every train step (each replica updates its own copy, and a
  checkpoint holds one copy: without this a restart changed the other replicas' statistics). The
  statistics mode of a reward or evaluation (``enas.trainers.bn_stats``), a thread-local setting, is
  passed on to the replica threads.
* Losses are scaled for the global batch: each replica's cross-entropy is summed and divided by the
  global batch size, the L2 term is added once per replica divided by ``N``; gradients are summed over
  replicas (all-reduce), then clipped and applied once. Reported losses, correct counts and rewards are
  summed over replicas, so they are the global-batch values a single device would report.
* The controller (or any search strategy) is not distributed: each worker keeps its own copy, created
  with the same seed, sampling from the same checkpointed stream. The rewards it is fed are computed
  by the replicated evaluation step and reduced over every replica of every worker, so all workers
  receive identical rewards, make identical REINFORCE updates and sample identical architectures,
  with no extra communication.
* Only the chief (worker 0) writes the output directory; the others write their config, logs and
  checkpoints to a temporary directory deleted at exit (:func:`worker_output_dir`) and restore from the
  chief's checkpoints (the output directory must be on storage every worker can read to resume).
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import os
import shutil
import tempfile
from typing import Callable, Optional, Sequence

import tensorflow as tf

from enas.errors import ConfigError
from enas.spaces.layers import statistics_restored, statistics_state, summed_over_replicas
from enas.trainers.bn_stats import moving_statistics

# The one strategy of this process, with the settings it was made for (a strategy cannot be remade:
# a multi-worker one owns a server, logical devices are fixed once TensorFlow starts).
_CURRENT: dict = {}


class Distribution:
    """A ``tf.distribute`` strategy and what the tasks need of it.

    Args:
      strategy: a ``MirroredStrategy`` or ``MultiWorkerMirroredStrategy``.
      kind: ``mirrored`` or ``multi_worker``.
    """

    def __init__(self, strategy, kind: str):
        self.strategy, self.kind = strategy, kind
        self.num_replicas = int(strategy.num_replicas_in_sync)

    def scope(self):
        return self.strategy.scope()

    def replicate(self, fn: Callable, reductions: Sequence[str], count_examples: bool = False) -> Callable:
        """``fn`` run on every replica on its share of distributed inputs (its first two arguments,
        from :class:`DistributedData`; the others, architecture and flags, given whole), its outputs
        reduced over every replica with ``reductions`` (``sum`` or ``mean``, one per output; the
        outputs are scalars, returned as float32).
        ``count_examples``: one more output, the examples of the global batch (the rows of the second
        argument, summed over replicas). Call the result inside a ``tf.function``."""
        strategy, count = self.strategy, self.num_replicas
        reductions = (*reductions, "sum") if count_examples else tuple(reductions)

        def run(*args):
            # Thread-local settings read while tracing (a batch norm's statistics mode) are set on the
            # calling thread; a mirrored strategy traces each replica on a thread of its own.
            mode = statistics_state()

            def per_replica(*replica_args):
                with statistics_restored(mode), summed_over_replicas(self._replica_sum()):
                    outputs = fn(*replica_args)
                outputs = tuple(outputs) if isinstance(outputs, (tuple, list)) else (outputs,)
                if count_examples:
                    outputs += (tf.cast(tf.shape(replica_args[1])[0], tf.float32),)
                # The step's scalars travel as one vector: one cross-replica reduction, not one each.
                return tf.stack([tf.cast(value, tf.float32) for value in outputs])

            summed = strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(per_replica, args=args), axis=None)
            reduced = tuple(summed[index] / count if name == "mean" else summed[index]
                            for index, name in enumerate(reductions))
            return reduced[0] if len(reduced) == 1 else reduced

        return run

    def _replica_sum(self) -> Callable:
        """This replica's float tensor -> its sum over every replica of every worker, for synchronized
        batch norms (:func:`enas.spaces.layers.summed_over_replicas`). Call it in the replica's trace.

        The sum is the strategy's own collective all-reduce launched directly on this replica (as
        tf.distribute does itself where it avoids ``merge_call``), so it can run inside the architecture
        switch: every replica takes the same branch, so the collectives match. Two things make it work
        there: its gradient is the same all-reduce of the incoming gradient (all-reduce has no registered
        gradient), and the collective ordering token, a resource handle, is captured by the enclosing
        function rather than by the switch's gradient branch (a branch capturing it directly fails to
        build). Built on first use, so a run without synchronized batch norms touches none of this."""
        if self.num_replicas == 1:
            return lambda value: value
        built = []

        def replica_sum(value):
            if not built:
                built.append(self._collective_sum())
            return built[0](value)

        return replica_sum

    def _collective_sum(self) -> Callable:
        """:meth:`_replica_sum`'s all-reduce, made in the replica's trace (it uses TensorFlow internals:
        the strategy's per-device collective launchers)."""
        extended = self.strategy.extended
        collectives = getattr(extended, "_collective_ops", None) or getattr(extended, "_cross_device_ops", None)
        replica = getattr(tf.distribute.get_replica_context(), "_replica_id", None)
        launchers = getattr(collectives, "_launchers", None)
        if not launchers or not isinstance(replica, int) or not hasattr(launchers[replica], "_ordering_token"):
            raise ConfigError("--child_sync_bn: this TensorFlow's strategy does not expose the collective "
                              "all-reduce that synchronized batch norms use; run without --child_sync_bn")
        launcher = launchers[replica]
        graph = tf.compat.v1.get_default_graph()
        while getattr(graph, "is_control_flow_graph", False):
            graph = graph.outer_graph
        token = launcher._ordering_token.handle  # pylint: disable=protected-access
        if getattr(graph, "building_function", False):
            with graph.as_default():
                token = graph.capture(token)

        def collective_sum(value):
            launcher._get_ordering_token = lambda: token  # pylint: disable=protected-access
            try:
                return launcher.all_reduce(value)
            finally:
                del launcher._get_ordering_token  # pylint: disable=protected-access

        @tf.custom_gradient
        def replica_sum(value):
            return collective_sum(value), collective_sum

        return replica_sum

    def train_step(self, model, optimizer, forward: Callable, child, global_batch: int,
                   aux_weight: float) -> Callable:
        """The replicated SGD step of an image child: ``(images, labels, *extra) -> (loss, accuracy,
        grad_norm)`` on the global batch, as the single-device step computes it."""
        count = self.num_replicas
        # Batch norms update their moving statistics on each replica's own copy (a Keras update inside
        # the replica), so the copies would drift apart while a checkpoint keeps one of them: a restart
        # (or the chief's checkpoint on another worker) would then change the other replicas' statistics.
        # Each step sets every copy to the replicas' mean, all-reduced with the gradients.
        statistics = moving_statistics(model)

        def replica_step(images, labels, *extra):
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                outputs = forward(images, *extra)
                logits, aux_logits = (outputs[0], outputs[1]) if isinstance(outputs, (list, tuple)) else (outputs, None)
                loss = _summed_cross_entropy(labels, logits) / global_batch
                total = loss
                if aux_logits is not None:
                    total += aux_weight * _summed_cross_entropy(labels, aux_logits) / global_batch
                if child.l2_reg > 0:  # added on every replica, so each adds 1/N of it
                    total += child.l2_reg / count * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
            grads = tape.gradient(total, variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            # One all-reduce of the gradients (summed) and the moving statistics (summed, then / N). The
            # statistics are read on this replica's device (a multi-worker all-reduce needs one).
            # With one replica both are the identity, and skipped.
            if count > 1:
                device = next((t.device for t in (loss, *grads) if t.device), None)
                with tf.device(device) if device else contextlib.nullcontext():
                    local = [tf.identity(tf.convert_to_tensor(v)) for v in statistics]
                summed = tf.distribute.get_replica_context().all_reduce(tf.distribute.ReduceOp.SUM, grads + local)
                grads = summed[:len(grads)]
                for variable, total in zip(statistics, summed[len(grads):]):
                    variable.assign(total / count)
            grad_norm = tf.linalg.global_norm(grads)
            if child.grad_bound > 0:
                grads, _ = tf.clip_by_global_norm(grads, child.grad_bound, use_norm=grad_norm)
            with gradients_already_summed(optimizer):
                optimizer.apply_gradients(zip(grads, variables))
            predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
            correct = tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))
            return loss, correct, grad_norm

        replicated = self.replicate(replica_step, ("sum", "sum", "mean"))

        def step(images, labels, *extra):
            loss, correct, grad_norm = replicated(images, labels, *extra)
            return loss, correct / global_batch, grad_norm

        return step


class DistributedData:
    """An :class:`enas.data.images.ImageData`'s pipelines distributed over a strategy's replicas
    (``distribute_datasets_from_function``): each worker builds one input pipeline holding only its
    own replicas' shares of every global batch (``shard`` of the ImageData methods), which the strategy
    hands to its local replicas in turn. Replica ``r`` of ``N`` gets rows ``[r*B/N, (r+1)*B/N)`` of
    the one-device global batch, augmented as those rows are in it, so positions in every stream, and
    resuming, are the one-device ones. Evaluation batches (the last one partial) are split as evenly
    as possible. Anything else is the ImageData's."""

    def __init__(self, data, distribution: Distribution):
        self.data, self.strategy = data, distribution.strategy

    def __getattr__(self, name):
        return getattr(self.data, name)

    def _distribute(self, make: Callable):
        def dataset_fn(context):
            count = context.num_replicas_in_sync // context.num_input_pipelines
            return make((context.input_pipeline_id * count, count, context.num_replicas_in_sync))

        return self.strategy.distribute_datasets_from_function(dataset_fn)

    def train_epoch(self, epoch: int, start_step: int = 0):
        return self._distribute(lambda shard: self.data.train_epoch(epoch, start_step, shard=shard))

    def reward_stream(self, start_batch: int = 0):
        return self._distribute(lambda shard: self.data.reward_stream(start_batch, shard=shard))

    def valid(self, batch_size: Optional[int] = None):
        if self.data.num_valid == 0:
            return None
        return self._distribute(lambda shard: self.data.valid(batch_size, shard=shard))

    def test(self, batch_size: Optional[int] = None):
        return self._distribute(lambda shard: self.data.test(batch_size, shard=shard))

    @property
    def train_spec(self) -> tuple:
        """The (images, labels) input signature of a replicated train step."""
        return tuple(self.train_epoch(0).element_spec)

    @property
    def eval_spec(self) -> tuple:
        """The (images, labels) input signature of a replicated evaluation step: any batch size, so
        reward (global batch) and evaluation (eval batch, the last partial) batches share one trace."""
        return tuple(self.test().element_spec)


def _summed_cross_entropy(labels, logits):
    import keras  # pylint: disable=import-outside-toplevel

    return tf.reduce_sum(keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


@contextlib.contextmanager
def gradients_already_summed(optimizer):
    """Inside the block ``optimizer`` (an :class:`enas.trainers.optimizers.MomentumSGD`) applies the
    gradients it is given without summing them over replicas again (they were, before clipping)."""
    previous = getattr(optimizer, "gradients_summed", False)
    optimizer.gradients_summed = True
    try:
        yield
    finally:
        optimizer.gradients_summed = previous


def replicate(distribution: Optional[Distribution], fn: Callable, reductions: Sequence[str],
              count_examples: bool = False) -> Callable:
    """:meth:`Distribution.replicate`, or ``fn`` itself without a distribution."""
    return fn if distribution is None else distribution.replicate(fn, reductions, count_examples)


def distributed_data(distribution: Optional[Distribution], data):
    """:class:`DistributedData` of ``data``, or ``data`` itself without a distribution."""
    return data if distribution is None else DistributedData(data, distribution)


def scope(distribution: Optional[Distribution]):
    """The strategy's scope (a no-op without a distribution)."""
    return contextlib.nullcontext() if distribution is None else distribution.scope()


# -- making the strategy -----------------------------------------------------------------------------
def _settings(section) -> tuple:
    return (section.distribution, section.devices, section.logical_cpu_devices)


def configure_logical_cpus(count: int) -> None:
    """Splits the first CPU into ``count`` logical devices; must run before TensorFlow initialises."""
    if count <= 0:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    existing = tf.config.get_logical_device_configuration(cpu)
    if existing and len(existing) == count:
        return
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        raise ConfigError(f"--logical_cpu_devices={count}: TensorFlow has already started in this process "
                          "(logical devices can only be set before its first operation); set it in a new "
                          "process") from None


def _device_name(text: str) -> str:
    name = text.strip().upper().replace("/DEVICE:", "").lstrip("/")
    kind, _, index = name.rpartition(":")
    if kind not in ("CPU", "GPU") or not index.isdigit():
        raise ConfigError(f"--devices: {text.strip()!r} is not a device name (expected e.g. GPU:0 or CPU:1)")
    return f"/device:{kind}:{int(index)}"


def _mirrored_devices(section) -> list[str]:
    available = {f"/device:{d.device_type}:{d.name.rsplit(':', 1)[1]}" for d in tf.config.list_logical_devices()}
    if section.devices:
        devices = [_device_name(text) for text in section.devices.split(",") if text.strip()]
        missing = [device for device in devices if device not in available]
        if missing:
            def names(items):
                return ", ".join(sorted(item.replace("/device:", "") for item in items))
            raise ConfigError(f"--devices: {names(missing)} does not exist on this machine (available: "
                              f"{names(available)})")
        if len(set(devices)) != len(devices):
            raise ConfigError(f"--devices: a device is listed twice in {section.devices!r}")
        return devices
    gpus = sorted(d for d in available if ":GPU:" in d)
    if gpus:
        return gpus
    cpus = sorted((d for d in available if ":CPU:" in d), key=lambda d: int(d.rsplit(":", 1)[1]))
    return cpus if section.logical_cpu_devices else cpus[:1]


def current(section, batch_sizes: Sequence[int] = ()) -> Optional[Distribution]:
    """The process's :class:`Distribution` for ``section`` (a RunConfig or RankConfig); None for ``none``.

    Made on first use (logical CPU devices first) and kept: every later call must ask for the same
    settings. ``batch_sizes``: training batches that must split evenly over the replicas.
    """
    settings = _settings(section)
    if settings[0] == "none":
        configure_logical_cpus(section.logical_cpu_devices)
        return None
    if _CURRENT and _CURRENT["settings"] != settings:
        raise ConfigError(f"--distribution: this process already runs {_CURRENT['settings'][0]} with other devices; "
                          "one distribution per process")
    if not _CURRENT:
        configure_logical_cpus(section.logical_cpu_devices)
        if settings[0] == "mirrored":
            strategy = tf.distribute.MirroredStrategy(devices=_mirrored_devices(section))
        else:
            resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
            strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)
        _CURRENT.update(settings=settings, distribution=Distribution(strategy, settings[0]))
    distribution = _CURRENT["distribution"]
    for size in batch_sizes:
        if size % distribution.num_replicas:
            raise ConfigError(f"--batch_size={size} does not split over {distribution.num_replicas} replicas; "
                              f"use a multiple of {distribution.num_replicas} (it is the global batch)")
    return distribution


def is_chief(section) -> bool:
    """Whether this process writes the output directory (always, except multi-worker non-chiefs). The
    chief is the ``chief`` task, or worker 0 of a cluster without one."""
    if section.distribution != "multi_worker":
        return True
    value = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task, cluster = value.get("task", {}), value.get("cluster", {})
    return task.get("type") == "chief" or (task.get("type") == "worker" and task.get("index") == 0
                                           and "chief" not in cluster)


# scratch directory of a non-chief worker -> the chief's output directory it resumes from (None: it
# starts over with the chief, --reset_output_dir).
_SCRATCH: dict = {}
_SCRATCH_OF: dict = {}  # the chief's output directory -> this worker's scratch directory


def worker_output_dir(output_dir: str, section) -> str:
    """Where this process writes: ``output_dir`` on the chief, a fresh temporary directory (deleted at
    exit) on the other workers of a multi-worker run."""
    if is_chief(section):
        return output_dir
    if output_dir in _SCRATCH_OF:  # one per output directory and process
        return _SCRATCH_OF[output_dir]
    scratch = tempfile.mkdtemp(prefix="enas-worker-")
    atexit.register(shutil.rmtree, scratch, True)
    _SCRATCH[scratch] = None if getattr(section, "reset_output_dir", False) else output_dir
    _SCRATCH_OF[output_dir] = scratch
    return scratch


def chief_checkpoints(output_dir: str) -> Optional[str]:
    """The chief's checkpoint directory a non-chief worker writing to ``output_dir`` restores from;
    None everywhere else (a run restores its own checkpoints)."""
    chief = _SCRATCH.get(output_dir)
    return os.path.join(chief, "checkpoints") if chief else None


def worker_config(config):
    """``config`` with ``run.output_dir`` replaced by :func:`worker_output_dir` (a Config)."""
    if is_chief(config.run):
        return config
    run = dataclasses.replace(config.run, output_dir=worker_output_dir(config.run.output_dir, config.run))
    return config.replace(run=run)


def start(config):
    """What a run does first (``SearchRun``, ``FinalRun``): validates ``config``, makes the process's
    strategy (before any TensorFlow operation, for ``--logical_cpu_devices``) and returns ``config``
    with the output directory this worker writes (:func:`worker_config`). A no-op for ``none``."""
    if config.run.distribution == "none" and not config.run.logical_cpu_devices:
        return config
    config.validate()
    current(config.run, [config.data.batch_size])
    return worker_config(config)


def check_supported(space, config, search: bool) -> None:
    """Refuses what has no replicated form: the language model, and synchronized batch norms in compiled
    op switches (one compiled function serves every replica, while each replica all-reduces on its own
    device)."""
    section = config.run
    if section.distribution != "none" and space.task != "image":
        raise ConfigError(f"--distribution={section.distribution}: only the image spaces (macro, micro) run "
                          f"distributed; the {space.name} language model runs with --distribution=none")
    if search and config.child.sync_bn and config.child.compiled_switches:
        raise ConfigError("--child_sync_bn: synchronized batch norms need the copied op switches of the micro "
                          "search child; run without --child_compiled_switches (and --child_recompute)")
