"""Plain, frozen configuration objects that the library takes.

Binaries turn absl flags into these once (``enas.flags.configs_from_flags``); research code builds
them directly. Field names are spelled out; the flag behind each field keeps its official ENAS name
(``child_out_filters`` -> ``ChildConfig.out_filters``). ``validate()`` raises
:class:`enas.errors.ConfigError` naming the flag.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Optional

from enas.errors import ConfigError


def _check(condition: bool, flag: str, message: str) -> None:
    if not condition:
        raise ConfigError(f"--{flag}: {message}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is batched and augmented.

    Args:
      dataset: a dataset name (``enas.data.DATASETS``), e.g. ``embedded`` or ``cifar10``; ``ptb``
        for the language model.
      data_dir: TFDS data directory, IDX/NPZ directory, or PTB text directory.
      valid_size: images held out of the end of the training split for validation (0: none).
      batch_size: training (and reward) minibatch size.
      eval_batch_size: evaluation minibatch size.
      cutout_size: side of the cutout square on training images (0: off).
      seed: seed of shuffling and augmentation.
      bptt_steps: language model: tokens per BPTT window.
      variable_bptt: language model: AWD-style variable window lengths.
    """

    dataset: str = "embedded"
    data_dir: str = ""
    valid_size: int = 5000
    batch_size: int = 32
    eval_batch_size: int = 100
    cutout_size: int = 0
    seed: int = 0
    bptt_steps: int = 35
    variable_bptt: bool = False

    def validate(self) -> "DataConfig":
        _check(self.valid_size >= 0, "valid_size", f"must be >= 0, got {self.valid_size}")
        _check(self.batch_size > 0, "batch_size", f"must be > 0, got {self.batch_size}")
        _check(self.eval_batch_size > 0, "eval_batch_size", f"must be > 0, got {self.eval_batch_size}")
        _check(self.cutout_size >= 0, "child_cutout_size", f"must be >= 0 (0 disables cutout), got {self.cutout_size}")
        _check(self.bptt_steps > 0, "child_bptt_steps", f"must be > 0, got {self.bptt_steps}")
        return self


@dataclasses.dataclass(frozen=True)
class ChildConfig:
    """The child network of a search space and its optimizer.

    Args:
      search_for: search space name: ``macro``, ``micro`` or ``rnn``.
      num_layers: macro: layers L; micro: cells per stage count L (L + 2 cells); rnn: searched nodes.
      num_cells: micro: computed nodes B per cell.
      out_filters: channels C (macro, micro).
      num_branches: number of candidate ops (macro 6, micro 5; rnn: activations, 4).
      keep_prob: dropout keep probability before the classifier.
      drop_path_keep_prob: micro fixed child: final drop-path keep probability.
      use_aux_heads: micro fixed child: auxiliary head (weight 0.4).
      l2_reg: L2 weight decay coefficient.
      lr_max, lr_min, lr_T_0, lr_T_mul: cosine schedule with warm restarts (epochs).
      lr: constant learning rate where no cosine schedule is used (rnn).
      grad_bound: gradient norm bound (0: no clipping).
      fixed_arc: an architecture string for final training ("" during search).
      hidden_size: rnn: hidden and embedding size.
      embed_keep, input_keep, hidden_keep, output_keep: rnn dropouts (keep probabilities).
      slowness_reg: rnn: slowness regulariser beta.
      average_after_epochs: rnn final training: ASGD-style weight averaging from this epoch (0: off).
    """

    search_for: str = "macro"
    num_layers: int = 12
    num_cells: int = 5
    out_filters: int = 36
    num_branches: int = 6
    keep_prob: float = 0.5
    drop_path_keep_prob: float = 1.0
    use_aux_heads: bool = False
    l2_reg: float = 1e-4
    lr_max: float = 0.05
    lr_min: float = 0.0005
    lr_T_0: int = 10
    lr_T_mul: int = 2
    lr: float = 0.1
    grad_bound: float = 0.0
    fixed_arc: str = ""
    hidden_size: int = 200
    embed_keep: float = 1.0
    input_keep: float = 1.0
    hidden_keep: float = 1.0
    output_keep: float = 1.0
    slowness_reg: float = 0.0
    average_after_epochs: int = 0

    def validate(self) -> "ChildConfig":
        _check(self.num_layers > 0, "child_num_layers", f"must be > 0, got {self.num_layers}")
        _check(self.num_cells > 0, "child_num_cells", f"must be > 0, got {self.num_cells}")
        _check(self.out_filters > 0, "child_out_filters", f"must be > 0, got {self.out_filters}")
        _check(self.num_branches > 0, "child_num_branches", f"must be > 0, got {self.num_branches}")
        for flag, value in (("child_keep_prob", self.keep_prob),
                            ("child_drop_path_keep_prob", self.drop_path_keep_prob),
                            ("child_lstm_e_keep", self.embed_keep), ("child_lstm_x_keep", self.input_keep),
                            ("child_lstm_h_keep", self.hidden_keep), ("child_lstm_o_keep", self.output_keep)):
            _check(0.0 < value <= 1.0, flag, f"is a keep probability and must be in (0, 1], got {value}")
        _check(self.l2_reg >= 0, "child_l2_reg", f"must be >= 0, got {self.l2_reg}")
        _check(self.lr_max >= self.lr_min >= 0, "child_lr_max",
               f"needs child_lr_max >= child_lr_min >= 0, got {self.lr_max} and {self.lr_min}")
        _check(self.lr_T_0 > 0, "child_lr_T_0", f"must be > 0, got {self.lr_T_0}")
        _check(self.lr_T_mul >= 1, "child_lr_T_mul", f"must be >= 1, got {self.lr_T_mul}")
        _check(self.grad_bound >= 0, "child_grad_bound", f"must be >= 0 (0 disables clipping), got {self.grad_bound}")
        _check(self.average_after_epochs >= 0, "child_average_after_epochs",
               f"must be >= 0 (0: off), got {self.average_after_epochs}")
        _check(self.hidden_size > 0, "child_lstm_hidden_size", f"must be > 0, got {self.hidden_size}")
        _check(self.lr > 0, "child_lr", f"must be > 0, got {self.lr}")
        return self


@dataclasses.dataclass(frozen=True)
class ControllerConfig:
    """The LSTM controller and its REINFORCE update.

    Args:
      lstm_size, lstm_num_layers: controller LSTM (ENAS: 64 units, 1 layer).
      temperature: logits are divided by it (0: none).
      tanh_constant: logits become ``tanh_constant * tanh(logits)`` (0: none).
      op_tanh_reduce: micro: op logits use ``tanh_constant / op_tanh_reduce``.
      entropy_weight: weight of the entropy bonus added to the reward.
      skip_target, skip_weight: macro: KL penalty toward a skip rate ``skip_target``.
      learning_rate: Adam learning rate (beta1 = 0, epsilon 1e-3).
      baseline_decay: EMA decay of the reward baseline.
      num_aggregate: samples whose gradients are averaged per applied update.
      train_steps: updates per controller phase.
      train_every: epochs between controller phases.
      grad_bound: gradient norm bound (0: no clipping).
      seed: sampling seed.
    """

    lstm_size: int = 64
    lstm_num_layers: int = 1
    temperature: float = 0.0
    tanh_constant: float = 0.0
    op_tanh_reduce: float = 1.0
    entropy_weight: float = 0.0
    skip_target: float = 0.8
    skip_weight: float = 0.0
    learning_rate: float = 1e-3
    baseline_decay: float = 0.99
    num_aggregate: int = 1
    train_steps: int = 50
    train_every: int = 2
    grad_bound: float = 0.0
    seed: int = 0

    def validate(self) -> "ControllerConfig":
        _check(self.lstm_size > 0, "controller_lstm_size", f"must be > 0, got {self.lstm_size}")
        _check(self.lstm_num_layers > 0, "controller_lstm_num_layers", f"must be > 0, got {self.lstm_num_layers}")
        _check(self.temperature >= 0, "controller_temperature", f"must be >= 0 (0: none), got {self.temperature}")
        _check(self.tanh_constant >= 0, "controller_tanh_constant", f"must be >= 0 (0: none), got {self.tanh_constant}")
        _check(self.op_tanh_reduce > 0, "controller_op_tanh_reduce", f"must be > 0, got {self.op_tanh_reduce}")
        _check(self.entropy_weight >= 0, "controller_entropy_weight", f"must be >= 0, got {self.entropy_weight}")
        _check(0.0 < self.skip_target < 1.0, "controller_skip_target", f"must be in (0, 1), got {self.skip_target}")
        _check(self.skip_weight >= 0, "controller_skip_weight", f"must be >= 0, got {self.skip_weight}")
        _check(self.learning_rate > 0, "controller_lr", f"must be > 0, got {self.learning_rate}")
        _check(0.0 <= self.baseline_decay < 1.0, "controller_bl_dec", f"must be in [0, 1), got {self.baseline_decay}")
        _check(self.num_aggregate > 0, "controller_num_aggregate", f"must be > 0, got {self.num_aggregate}")
        _check(self.train_steps >= 0, "controller_train_steps", f"must be >= 0, got {self.train_steps}")
        _check(self.train_every > 0, "controller_train_every", f"must be > 0, got {self.train_every}")
        _check(self.grad_bound >= 0, "controller_grad_bound", f"must be >= 0, got {self.grad_bound}")
        return self


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """The schedule and bookkeeping of a search or a final training run.

    Args:
      output_dir: where config, logs, checkpoints and results go.
      num_epochs: epochs to run.
      reset_output_dir: delete ``output_dir`` first instead of resuming.
      log_every: steps between progress lines.
      eval_every_epochs: epochs between full evaluations.
      derive_num_samples: architectures sampled and scored by derivation.
      derive_top_k: how many of them ``derived.json`` lists.
      derive_num_batches: validation batches each derived architecture is scored on.
      max_steps_per_epoch: cap on training steps per epoch (0: a full epoch); for smoke runs.
      max_eval_batches: cap on evaluation batches (0: the whole split); for smoke runs.
      seed: global seed (weights, sampling).
      jit_compile: compile step functions with XLA (off by default: slower on CPU).
      progress: show a progress bar (per-epoch lines are printed either way).
      checkpoint_every_steps: also checkpoint every this many training steps within an epoch (0: off).
      checkpoint_every_minutes: also checkpoint when this many minutes have passed since the last
        checkpoint (0: off); the epoch-end checkpoint is always written.
    """

    output_dir: str = ""
    num_epochs: int = 300
    reset_output_dir: bool = False
    log_every: int = 50
    eval_every_epochs: int = 1
    derive_num_samples: int = 100
    derive_top_k: int = 10
    derive_num_batches: int = 5
    max_steps_per_epoch: int = 0
    max_eval_batches: int = 0
    seed: int = 0
    jit_compile: bool = False
    progress: bool = True
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 10.0

    def validate(self) -> "RunConfig":
        _check(bool(self.output_dir), "output_dir", "is required: the directory for checkpoints and logs")
        _check(self.num_epochs > 0, "num_epochs", f"must be > 0, got {self.num_epochs}")
        _check(self.log_every > 0, "log_every", f"must be > 0, got {self.log_every}")
        _check(self.eval_every_epochs > 0, "eval_every_epochs", f"must be > 0, got {self.eval_every_epochs}")
        _check(self.derive_num_samples > 0, "derive_num_samples", f"must be > 0, got {self.derive_num_samples}")
        _check(self.derive_top_k > 0, "derive_top_k", f"must be > 0, got {self.derive_top_k}")
        _check(self.derive_num_batches > 0, "derive_num_batches", f"must be > 0, got {self.derive_num_batches}")
        _check(self.max_steps_per_epoch >= 0, "max_steps_per_epoch", f"must be >= 0, got {self.max_steps_per_epoch}")
        _check(self.max_eval_batches >= 0, "max_eval_batches", f"must be >= 0, got {self.max_eval_batches}")
        _check(self.checkpoint_every_steps >= 0, "checkpoint_every_steps",
               f"must be >= 0 (0: off), got {self.checkpoint_every_steps}")
        _check(self.checkpoint_every_minutes >= 0, "checkpoint_every_minutes",
               f"must be >= 0 (0: off), got {self.checkpoint_every_minutes}")
        return self


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything one run needs: data, child, controller and run schedule."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    child: ChildConfig = dataclasses.field(default_factory=ChildConfig)
    controller: ControllerConfig = dataclasses.field(default_factory=ControllerConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)

    def validate(self) -> "Config":
        self.data.validate()
        self.child.validate()
        self.controller.validate()
        self.run.validate()
        return self

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every field."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "Config":
        """Inverse of :meth:`to_dict`; unknown keys raise :class:`ConfigError`."""
        parts = {}
        for field in dataclasses.fields(cls):
            sub_type = {"data": DataConfig, "child": ChildConfig,
                        "controller": ControllerConfig, "run": RunConfig}[field.name]
            sub_values = dict(values.get(field.name, {}))
            known = {f.name for f in dataclasses.fields(sub_type)}
            unknown = sorted(set(sub_values) - known)
            if unknown:
                raise ConfigError(f"unknown {field.name} config keys: {', '.join(unknown)}")
            parts[field.name] = sub_type(**sub_values)
        return cls(**parts)

    def replace(self, **sections: Optional[Any]) -> "Config":
        """A copy with whole sections replaced (``config.replace(run=...)``)."""
        return dataclasses.replace(self, **sections)
