"""Image classification tasks (macro and micro spaces): the child's steps, compiled once.

TensorFlow-specific by design (``tf.function``, ``tf.GradientTape``): the child models themselves use
only Keras. Every step function has a fixed input signature with the architecture as an int32
tensor, so one traced graph serves every sampled architecture.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Mapping, Optional

import keras
import numpy as np
import tensorflow as tf

from enas.config import Config
from enas.errors import ConfigError
from enas.spaces import Space, set_training_progress
from enas.trainers import bn_stats, distribute
from enas.trainers.optimizers import MomentumSGD
from enas.trainers.schedules import child_learning_rate
from enas.trainers.task import FinalTask, SearchTask, check_num_classes

AUX_LOSS_WEIGHT = 0.4  # ENAS / NASNet auxiliary-head weight.


def _cross_entropy(labels, logits):
    return tf.reduce_mean(keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))


def _correct(labels, logits):
    predictions = tf.argmax(logits, axis=-1, output_type=tf.int32)
    return tf.reduce_sum(tf.cast(tf.equal(predictions, labels), tf.float32))


class _ImageTaskBase:
    """What the search and final image tasks share: data, optimizer, the train step."""

    def __init__(self, config: Config, data):
        from enas.data import load_image_data  # the data pipeline is only needed here

        self.config = config
        self.data = data if data is not None else load_image_data(config.data)
        check_num_classes(config.data, self.data.num_classes)
        self._epoch_iterator = None
        # None with --distribution=none: the single-device functions below, unchanged.
        self.dist = None if config.run.distribution == "none" else distribute.current(config.run)
        # The pipelines the steps read: the data's own, or each worker's shares of them (distributed).
        self._input = distribute.distributed_data(self.dist, self.data)
        self.optimizer = MomentumSGD(learning_rate=config.child.lr_max, momentum=0.9, nesterov=True)

    def steps_per_epoch(self) -> int:
        steps = self.data.steps_per_epoch
        cap = self.config.run.max_steps_per_epoch
        return min(steps, cap) if cap else steps

    def begin_epoch(self, epoch: int, skip_steps: int = 0) -> None:
        self.optimizer.learning_rate = child_learning_rate(epoch, self.config.child)
        self._epoch_iterator = iter(self._input.train_epoch(epoch, start_step=skip_steps))

    def _next_train_batch(self):
        if self._epoch_iterator is None:
            raise RuntimeError("begin_epoch() must be called before train_step()")
        return next(self._epoch_iterator)

    def _image_spec(self, batch: Optional[int]):
        return tf.TensorSpec([batch, *self.data.image_shape], tf.float32)

    def _make_train_fn(self, forward: Callable, extra_specs: list):
        """Compiles one SGD step: cross-entropy (+ aux) + L2 on all weights, optional clipping."""
        model, optimizer, child = self.model, self.optimizer, self.config.child
        batch = self.config.data.batch_size

        def step(images, labels, *extra):
            variables = model.trainable_variables
            with tf.GradientTape() as tape:
                outputs = forward(images, *extra)
                logits, aux_logits = (outputs[0], outputs[1]) if isinstance(outputs, (list, tuple)) else (outputs, None)
                loss = _cross_entropy(labels, logits)
                total = loss
                if aux_logits is not None:
                    total += AUX_LOSS_WEIGHT * _cross_entropy(labels, aux_logits)
                if child.l2_reg > 0:
                    total += child.l2_reg * tf.add_n([tf.reduce_sum(tf.square(v)) for v in variables])
            grads = tape.gradient(total, variables)
            grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
            grad_norm = tf.linalg.global_norm(grads)
            if child.grad_bound > 0:  # really clips (the official CIFAR code's clipping was a no-op)
                grads, _ = tf.clip_by_global_norm(grads, child.grad_bound, use_norm=grad_norm)
            optimizer.apply_gradients(zip(grads, variables))
            return loss, _correct(labels, logits) / tf.cast(tf.shape(labels)[0], tf.float32), grad_norm

        if self.dist is not None:  # the same step on every replica, on its share of the global batch
            step = self.dist.train_step(model, optimizer, forward, child, batch, AUX_LOSS_WEIGHT)  # noqa: F811
        signature = [*self._batch_spec(batch), *extra_specs]
        return tf.function(step, input_signature=signature, jit_compile=self.config.run.jit_compile)

    def _batch_spec(self, batch: Optional[int]) -> list:
        """The (images, labels) input signature of a step: distributed values under a distribution."""
        if self.dist is not None:
            return list(self._input.train_spec if batch else self._input.eval_spec)
        return [self._image_spec(batch), tf.TensorSpec([batch], tf.int32)]

    def _counted(self, outputs, labels) -> tuple:
        """A compiled evaluation's sums and the examples of the batch (distributed: its last output)."""
        if self.dist is not None:
            return tuple(float(value) for value in outputs[:-1]), int(outputs[-1])
        outputs = outputs if isinstance(outputs, (tuple, list)) else (outputs,)
        return tuple(float(value) for value in outputs), int(labels.shape[0])

    def _run_train_step(self, *extra, train_fn=None) -> Mapping[str, float]:
        images, labels = self._next_train_batch()
        loss, accuracy, grad_norm = (train_fn or self._train_fn)(images, labels, *extra)
        return {"loss": float(loss), "accuracy": float(accuracy), "grad_norm": float(grad_norm),
                "lr": float(keras.ops.convert_to_numpy(self.optimizer.learning_rate))}

    def _split(self, split: str):
        dataset = self._input.valid() if split == "valid" else self._input.test() if split == "test" else None
        if dataset is None:
            raise ValueError(f"no {split!r} split in this run (valid_size=0 or an unknown split name)")
        return dataset


class ImageSearchTask(_ImageTaskBase, SearchTask):
    """The shared-weight image child of ``space`` with its data and Nesterov SGD.

    Args:
      space: a registered image :class:`enas.spaces.Space`.
      config: the run's :class:`enas.config.Config`.
      data: an already loaded ``enas.data.ImageData`` (loaded from ``config.data`` when None).
    """

    def __init__(self, space: Space, config: Config, data=None):
        super().__init__(config, data)
        self.space = space
        self.num_tokens = space.controller_space(config.child).num_tokens
        self.model = space.build_shared_child(config.child, self.data.num_classes, self.data.image_shape)
        arc_spec = tf.TensorSpec([self.num_tokens], tf.int32)
        model = self.model
        # The space's builder creates every weight eagerly (variables cannot be created inside a switch
        # branch), so the model is not traced just to build it.
        self.optimizer.build(model.trainable_variables)
        self._train_fn = self._make_train_fn(lambda images, arc: model(images, arc, training=True), [arc_spec])
        # Reward, evaluation and derivation are one forward pass in inference mode: they share one
        # compiled function per batch-norm statistics mode (``enas.trainers.bn_stats``): ``moving`` and
        # ``recalibrate`` use ``_eval_fn``, ``batch`` its twin compiled with batch statistics. (The
        # micro child always normalises with batch statistics by its own design.) A child that asks
        # for it (micro, --child_reward_dropout, as the official micro search) computes rewards with
        # its dropout on: a boolean tensor argument, so rewards and evaluation share the one graph.
        self.reward_bn = space.reward_bn(config.search)
        self._arc_spec = arc_spec
        self._reward_dropout = bool(getattr(model, "reward_dropout", False))
        eval_signature = [*self._batch_spec(None), arc_spec, tf.TensorSpec([], tf.bool)]

        def correct(images, labels, arc, dropout):
            extra = {"dropout": dropout} if self._reward_dropout else {}
            return _correct(labels, model(images, arc, training=False, **extra))

        correct = distribute.replicate(self.dist, correct, ("sum",), count_examples=True)
        self._eval_fn = tf.function(correct, input_signature=eval_signature, jit_compile=config.run.jit_compile)
        self._batch_eval_fn = None if "batch" not in space.reward_bn_modes else bn_stats.batch_statistics_function(
            correct, eval_signature, jit_compile=config.run.jit_compile)
        self._recalibrator = None  # built on first use: it holds fixed training batches
        self._reward_iterator = None
        # How many reward batches were read: checkpointed, so a resumed search reads the batches an
        # uninterrupted one would.
        self.reward_batches = tf.Variable(0, dtype=tf.int64, trainable=False, name="reward_batches")
        self._mixture_train_fn = self._mixture_valid_fn = None  # built on first use (darts)

    def train_step(self, arc) -> Mapping[str, float]:
        return self._run_train_step(tf.convert_to_tensor(arc, tf.int32))

    def _build_mixture_functions(self) -> None:
        """The mixture's train step and validation gradient, each its own compiled function."""
        if self._mixture_train_fn is not None:
            return
        if not self.space.supports_mixture or not hasattr(self.model, "mixture_call"):
            raise ConfigError(self._no_mixture())
        model, jit = self.model, self.config.run.jit_compile
        weights_spec = tf.TensorSpec([self.num_tokens, None], tf.float32)
        self._mixture_train_fn = self._make_train_fn(
            lambda images, weights: model.mixture_call(images, weights, training=True), [weights_spec])

        def valid_gradient(images, labels, weights):
            with tf.GradientTape() as tape:
                tape.watch(weights)
                loss = _cross_entropy(labels, model.mixture_call(images, weights, training=False))
            return loss, tape.gradient(loss, weights)

        # Batch statistics without updates (the child's train mode of DARTS, without touching the moving
        # averages); no dropout.
        self._mixture_valid_fn = bn_stats.batch_statistics_function(
            valid_gradient, [self._image_spec(None), tf.TensorSpec([None], tf.int32), weights_spec], jit_compile=jit)

    def mixture_train_step(self, weights) -> Mapping[str, float]:
        self._build_mixture_functions()
        return self._run_train_step(tf.convert_to_tensor(weights, tf.float32), train_fn=self._mixture_train_fn)

    def _next_reward_batch(self):
        if self._reward_iterator is None:
            self._reward_iterator = iter(self._input.reward_stream(int(self.reward_batches.numpy())))
        batch = next(self._reward_iterator)
        self.reward_batches.assign_add(1)
        return batch

    def mixture_valid_gradient(self, weights) -> tuple:
        self._build_mixture_functions()
        images, labels = self._next_reward_batch()
        loss, gradient = self._mixture_valid_fn(images, labels, tf.convert_to_tensor(weights, tf.float32))
        return float(loss), gradient

    @property
    def reward_modes(self) -> tuple:
        return tuple(self.space.reward_bn_modes)

    def _mode(self, mode: Optional[str]) -> str:
        mode = mode or self.reward_bn
        if mode not in self.space.reward_bn_modes:
            raise ValueError(f"the {self.space.name} space scores with {', '.join(self.space.reward_bn_modes)}, "
                             f"not {mode!r}")
        return mode

    def _correct_many(self, batches, arc, mode: str, reward: bool = False) -> tuple[float, int]:
        """Correct predictions and examples of ``arc`` over ``batches`` in reward mode ``mode``.

        ``reward``: a controller reward, computed with the child's dropout on where it asks for it.
        """
        arc = tf.convert_to_tensor(arc, tf.int32)
        correct = total = 0
        if mode == "recalibrate":
            if self._recalibrator is None:
                model = self.model
                self._recalibrator = bn_stats.Recalibrator(
                    model, lambda images, arc_: model(images, arc_, training=False),
                    self._image_spec(self.config.data.batch_size), self._arc_spec,
                    self.data.calibration_batches(self.config.search.recalibrate_batches))
            with self._recalibrator.recalibrated(arc):
                dropout = tf.constant(reward and self._reward_dropout)
                for images, labels in batches:
                    (batch_correct,), examples = self._counted(self._eval_fn(images, labels, arc, dropout), labels)
                    correct, total = correct + batch_correct, total + examples
            return correct, total
        function = self._batch_eval_fn if mode == "batch" else self._eval_fn
        dropout = tf.constant(reward and self._reward_dropout)
        for images, labels in batches:
            (batch_correct,), examples = self._counted(function(images, labels, arc, dropout), labels)
            correct, total = correct + batch_correct, total + examples
        return correct, total

    def reward(self, arc, mode: Optional[str] = None) -> float:
        images, labels = self._next_reward_batch()
        correct, total = self._correct_many([(images, labels)], arc, self._mode(mode), reward=True)
        return correct / total

    def evaluate(self, split: str, sample_arc: Callable[[], Any], max_batches: int = 0,
                 mode: Optional[str] = None) -> Mapping[str, float]:
        mode, correct, total = self._mode(mode), 0.0, 0
        for index, batch in enumerate(self._split(split)):
            if max_batches and index >= max_batches:
                break
            batch_correct, batch_total = self._correct_many([batch], sample_arc(), mode)
            correct, total = correct + batch_correct, total + batch_total
        return {"accuracy": correct / max(total, 1), "examples": total}

    def score(self, arc, num_batches: int, mode: Optional[str] = None) -> float:
        # The same first validation batches for every architecture, so scores are comparable; one
        # recalibration per architecture.
        batches = list(itertools.islice(self._split("valid"), num_batches or None))
        correct, total = self._correct_many(batches, arc, self._mode(mode))
        return correct / max(total, 1)

    def trackables(self) -> Mapping[str, Any]:
        return {"child": self.model, "child_optimizer": self.optimizer, "reward_batches": self.reward_batches}


class ImageFinalTask(_ImageTaskBase, FinalTask):
    """A fixed-architecture image child trained from scratch (cosine schedule, L2, dropout).

    Args:
      space: a registered image :class:`enas.spaces.Space`.
      arc: the architecture value (``space.arc_type``).
      config: the run's :class:`enas.config.Config`.
      data: an already loaded ``enas.data.ImageData`` (loaded from ``config.data`` when None).
    """

    def __init__(self, space: Space, arc, config: Config, data=None):
        super().__init__(config, data)
        self.space, self.arc = space, arc
        self.model = space.build_fixed_child(arc, config.child, self.data.num_classes, self.data.image_shape)
        model = self.model
        self.optimizer.build(model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="final_step")
        self._train_fn = self._make_train_fn(lambda images: model(images, training=True), [])

        def evaluate_batch(images, labels):
            outputs = model(images, training=False)
            logits = outputs[0] if isinstance(outputs, (list, tuple)) else outputs
            return _correct(labels, logits), tf.reduce_sum(
                keras.ops.sparse_categorical_crossentropy(labels, logits, from_logits=True))

        evaluate_batch = distribute.replicate(self.dist, evaluate_batch, ("sum", "sum"), count_examples=True)
        self._eval_fn = tf.function(evaluate_batch, input_signature=self._batch_spec(None))

    def train_step(self) -> Mapping[str, float]:
        total_steps = max(1, self.config.run.num_epochs * self.steps_per_epoch())
        set_training_progress(self.model, min(1.0, (int(self.step.numpy()) + 1) / total_steps))
        metrics = self._run_train_step()
        self.step.assign_add(1)
        return metrics

    def evaluate(self, split: str, max_batches: int = 0) -> Mapping[str, float]:
        correct = loss = total = 0.0
        for index, (images, labels) in enumerate(self._split(split)):
            if max_batches and index >= max_batches:
                break
            (batch_correct, batch_loss), examples = self._counted(self._eval_fn(images, labels), labels)
            correct, loss, total = correct + batch_correct, loss + batch_loss, total + examples
        total = max(total, 1)
        return {"accuracy": correct / total, "loss": loss / total, "examples": int(total)}

    def trackables(self) -> Mapping[str, Any]:
        return {"child": self.model, "child_optimizer": self.optimizer, "final_step": self.step}

    def export(self, path: str) -> None:
        self.model.save(path)


def count_parameters(model) -> int:
    """Trainable plus non-trainable parameter count of a built Keras model."""
    return int(np.sum([np.prod(v.shape) for v in model.weights]))
