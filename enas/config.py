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
      num_classes: classes (image datasets) or vocabulary size (PTB) the run expects; 0: unknown,
        taken from the data (runs check a non-zero value against the data; ``enas-describe``
        needs it).
      test_batch_size: language model: test streams (enas_lm final training: 1); 0: as
        ``eval_batch_size``.
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
    num_classes: int = 0
    test_batch_size: int = 0

    def validate(self) -> "DataConfig":
        _check(self.valid_size >= 0, "valid_size", f"must be >= 0, got {self.valid_size}")
        _check(self.batch_size > 0, "batch_size", f"must be > 0, got {self.batch_size}")
        _check(self.eval_batch_size > 0, "eval_batch_size", f"must be > 0, got {self.eval_batch_size}")
        _check(self.cutout_size >= 0, "child_cutout_size", f"must be >= 0 (0 disables cutout), got {self.cutout_size}")
        _check(self.bptt_steps > 0, "child_bptt_steps", f"must be > 0, got {self.bptt_steps}")
        _check(self.num_classes >= 0, "num_classes", f"must be >= 0 (0: from the data), got {self.num_classes}")
        _check(self.test_batch_size >= 0, "test_batch_size",
               f"must be >= 0 (0: as --eval_batch_size), got {self.test_batch_size}")
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
      use_aux_heads: micro child, search and final: auxiliary head (loss weight 0.4).
      l2_reg: L2 weight decay coefficient.
      lr_max, lr_min, lr_T_0, lr_T_mul: cosine schedule with warm restarts (epochs).
      lr: constant learning rate where no cosine schedule is used (rnn).
      grad_bound: gradient norm bound (0: no clipping).
      fixed_arc: an architecture string for final training ("" during search).
      hidden_size: rnn: hidden and embedding size.
      embed_keep, input_keep, hidden_keep, output_keep: rnn dropouts (keep probabilities).
      slowness_reg: rnn: slowness regulariser beta.
      embedding_keep: rnn: keep probability of enas_lm's embedding dropout ``drop_i`` (a second
        ``[B, H]`` mask on the embedded input, besides ``input_keep``).
      activation_reg: rnn: enas_lm's ``alpha``, weight of ``mean(h_t^2)`` in the training loss.
      init_range: rnn: weights start uniform in ``[-init_range, init_range]``; None: enas_lm's
        value for the role (search child 0.04, fixed child 0.05).
      average_patience: rnn final training: start ASGD-style weight averaging once the validation
        perplexity is worse than the best of all evaluations before the last ``average_patience``
        ones (enas_lm's ``best_valid_ppl_threshold``); 0: no averaging.
      sep_as_conv: macro fixed child: build the "separable" ops as full k x k convolutions, as the
        official fixed macro child did.
      reward_dropout: micro search: keep dropout active when the controller's reward is computed
        (the official micro search did); batch normalisation is unaffected.
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
    embedding_keep: float = 1.0
    activation_reg: float = 0.0
    init_range: Optional[float] = None
    average_patience: int = 0
    sep_as_conv: bool = False
    reward_dropout: bool = True

    def validate(self) -> "ChildConfig":
        _check(self.num_layers > 0, "child_num_layers", f"must be > 0, got {self.num_layers}")
        _check(self.num_cells > 0, "child_num_cells", f"must be > 0, got {self.num_cells}")
        _check(self.out_filters > 0, "child_out_filters", f"must be > 0, got {self.out_filters}")
        _check(self.num_branches > 0, "child_num_branches", f"must be > 0, got {self.num_branches}")
        for flag, value in (("child_keep_prob", self.keep_prob),
                            ("child_drop_path_keep_prob", self.drop_path_keep_prob),
                            ("child_lstm_e_keep", self.embed_keep), ("child_lstm_x_keep", self.input_keep),
                            ("child_lstm_h_keep", self.hidden_keep), ("child_lstm_o_keep", self.output_keep),
                            ("child_lstm_i_keep", self.embedding_keep)):
            _check(0.0 < value <= 1.0, flag, f"is a keep probability and must be in (0, 1], got {value}")
        _check(self.l2_reg >= 0, "child_l2_reg", f"must be >= 0, got {self.l2_reg}")
        _check(self.lr_max >= self.lr_min >= 0, "child_lr_max",
               f"needs child_lr_max >= child_lr_min >= 0, got {self.lr_max} and {self.lr_min}")
        _check(self.lr_T_0 > 0, "child_lr_T_0", f"must be > 0, got {self.lr_T_0}")
        _check(self.lr_T_mul >= 1, "child_lr_T_mul", f"must be >= 1, got {self.lr_T_mul}")
        _check(self.grad_bound >= 0, "child_grad_bound", f"must be >= 0 (0 disables clipping), got {self.grad_bound}")
        _check(self.average_patience >= 0, "child_best_valid_ppl_threshold",
               f"must be >= 0 (0: no averaging), got {self.average_patience}")
        _check(self.activation_reg >= 0, "child_alpha", f"must be >= 0, got {self.activation_reg}")
        _check(self.init_range is None or self.init_range > 0, "child_init_range",
               f"must be > 0, got {self.init_range}")
        _check(self.hidden_size > 0, "child_lstm_hidden_size", f"must be > 0, got {self.hidden_size}")
        _check(self.lr > 0, "child_lr", f"must be > 0, got {self.lr}")
        return self


# Official controller settings per space: the CIFAR code (macro, micro) and enas_lm (rnn).
CONTROLLER_DEFAULTS = {
    "cifar": {"init_range": 0.1, "adam_beta1": 0.0, "adam_epsilon": 1e-3},
    "rnn": {"init_range": 0.01, "adam_beta1": 0.9, "adam_epsilon": 1e-8},
}


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
      learning_rate: Adam learning rate.
      baseline_decay: EMA decay of the reward baseline.
      num_aggregate: samples whose gradients are averaged per applied update.
      train_steps: updates per controller phase.
      train_every: epochs between controller phases.
      grad_bound: gradient norm bound (0: no clipping).
      seed: sampling seed.
      init_range: weights start uniform in ``[-init_range, init_range]``.
      adam_beta1, adam_epsilon: Adam's beta1 and epsilon.
        These three default to None, the official value of the space (:data:`CONTROLLER_DEFAULTS`):
        the CIFAR code's 0.1, 0.0 and 1e-3, enas_lm's 0.01 and Adam's defaults 0.9 and 1e-8 for
        ``rnn``. A :class:`Config` fills them from ``child.search_for``; a lone ControllerConfig
        leaves them to :meth:`resolved`.
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
    init_range: Optional[float] = None
    adam_beta1: Optional[float] = None
    adam_epsilon: Optional[float] = None

    def resolved(self, search_for: str = "") -> "ControllerConfig":
        """A copy whose unset (None) official-default fields hold the value of space ``search_for``."""
        defaults = CONTROLLER_DEFAULTS.get(search_for, CONTROLLER_DEFAULTS["cifar"])
        missing = {name: value for name, value in defaults.items() if getattr(self, name) is None}
        return dataclasses.replace(self, **missing) if missing else self

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
        _check(self.init_range is None or self.init_range > 0, "controller_init_range",
               f"must be > 0, got {self.init_range}")
        _check(self.adam_beta1 is None or 0 <= self.adam_beta1 < 1, "controller_adam_beta1",
               f"must be in [0, 1), got {self.adam_beta1}")
        _check(self.adam_epsilon is None or self.adam_epsilon > 0, "controller_adam_epsilon",
               f"must be > 0, got {self.adam_epsilon}")
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
class SearchConfig:
    """How a search proposes architectures and how the shared child scores them.

    Args:
      strategy: the search strategy (``enas.strategies``): ``enas`` (controller + REINFORCE) or
        ``random`` (random search with weight sharing), or one registered by research code.
      reward_bn: how an image child's batch norm scores an architecture (rewards, validation,
        derivation): ``moving`` (the moving statistics every sampled architecture wrote into),
        ``batch`` (the scored minibatch's own statistics) or ``recalibrate`` (statistics re-estimated
        for the architecture on ``recalibrate_batches`` training batches); "" picks the space's
        default (``enas.spaces.Space.default_reward_bn``).
      recalibrate_batches: training batches that ``recalibrate`` re-estimates the statistics on.
      darts_arch_lr: ``darts``: Adam learning rate of the architecture logits (DARTS: 3e-4).
      darts_arch_weight_decay: ``darts``: L2 weight decay of the architecture logits (DARTS: 1e-3).
    """

    strategy: str = "enas"
    reward_bn: str = ""
    recalibrate_batches: int = 10
    darts_arch_lr: float = 3e-4
    darts_arch_weight_decay: float = 1e-3

    def validate(self) -> "SearchConfig":
        _check(bool(self.strategy), "search_strategy", "must name a search strategy (enas, random)")
        _check(self.reward_bn in ("", "moving", "batch", "recalibrate"), "child_reward_bn",
               f"must be moving, batch or recalibrate, got {self.reward_bn!r}")
        _check(self.recalibrate_batches > 0, "child_reward_recalibrate_batches",
               f"must be > 0, got {self.recalibrate_batches}")
        _check(self.darts_arch_lr > 0, "darts_arch_lr", f"must be > 0, got {self.darts_arch_lr}")
        _check(self.darts_arch_weight_decay >= 0, "darts_arch_weight_decay",
               f"must be >= 0, got {self.darts_arch_weight_decay}")
        return self


@dataclasses.dataclass(frozen=True)
class RankConfig:
    """A ranking evaluation of a search's shared weights (``enas-rank``, ``enas.trainers.rank``).

    Args:
      search_dir: output directory of a finished or interrupted search.
      output_dir: where ``rank.json``, ``rank.png`` and the stand-alone runs go.
      num_archs: architectures ranked (half the strategy's candidates, half uniform); at least 4.
      train_epochs: stand-alone training epochs of each (the search's child settings, from scratch).
      score_batches: validation batches of each shared-weight score (0: the whole split).
      top_k: the k of the top-k overlap.
      max_steps_per_epoch: cap on stand-alone training steps per epoch (0: full epochs).
      seed: seed of the choice of architectures and of stand-alone training.
      progress: print a line per architecture.
    """

    search_dir: str = ""
    output_dir: str = ""
    num_archs: int = 10
    train_epochs: int = 3
    score_batches: int = 0
    top_k: int = 3
    max_steps_per_epoch: int = 0
    seed: int = 0
    progress: bool = True

    def validate(self) -> "RankConfig":
        _check(bool(self.search_dir), "search_dir", "is required: the output directory of an enas-search run")
        _check(bool(self.output_dir), "output_dir", "is required: where rank.json and the stand-alone runs go")
        _check(self.num_archs >= 4, "rank_num_archs",
               f"must be >= 4 (a rank correlation needs pairs; 10 or more mean something), got {self.num_archs}")
        _check(self.train_epochs > 0, "rank_train_epochs", f"must be > 0, got {self.train_epochs}")
        _check(self.score_batches >= 0, "rank_score_batches", f"must be >= 0 (0: all), got {self.score_batches}")
        _check(0 < self.top_k < self.num_archs, "rank_top_k",
               f"must be in [1, rank_num_archs - 1], got {self.top_k}")
        _check(self.max_steps_per_epoch >= 0, "max_steps_per_epoch", f"must be >= 0, got {self.max_steps_per_epoch}")
        return self


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything one run needs: data, child, controller, search and run schedule."""

    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    child: ChildConfig = dataclasses.field(default_factory=ChildConfig)
    controller: ControllerConfig = dataclasses.field(default_factory=ControllerConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    search: SearchConfig = dataclasses.field(default_factory=SearchConfig)

    def __post_init__(self):
        # The controller's unset official defaults depend on the space the child searches.
        object.__setattr__(self, "controller", self.controller.resolved(self.child.search_for))

    def validate(self) -> "Config":
        self.data.validate()
        self.child.validate()
        self.controller.validate()
        self.run.validate()
        self.search.validate()
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
            sub_type = {"data": DataConfig, "child": ChildConfig, "controller": ControllerConfig,
                        "run": RunConfig, "search": SearchConfig}[field.name]
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
