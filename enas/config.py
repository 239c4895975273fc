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


def setting(default: Any, flag: str, help: str, *, required: bool = False) -> Any:  # noqa: A002
    """A config field that is also a command-line flag: its one default, flag name and help.

    ``enas.flags`` defines the flags from these fields (:func:`flag_fields`) and builds the configs
    back from the parsed values, so a setting is written once and the library's and the binaries'
    defaults cannot differ. Fields of several sections may share one flag (``--seed``); they must
    then share the default too (a test checks it). ``required``: the flag has no default on the
    command line (``--search_for``); the library keeps ``default``.
    """
    return dataclasses.field(default=default, metadata={"flag": flag, "help": help, "required": required})


def flag_fields(section: type) -> list[dataclasses.Field]:
    """The fields of config class ``section`` that are flags (declared with :func:`setting`)."""
    return [field for field in dataclasses.fields(section) if "flag" in field.metadata]


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

    dataset: str = setting(
        "embedded", "dataset",
        "Dataset: embedded (a Fashion-MNIST sample shipped in the package), a TFDS name (cifar10, cifar100, "
        "mnist, fashion_mnist, svhn_cropped), idx, npz; ptb (--data_dir with the PTB files) or "
        "ptb_synthetic (a small generated corpus) for --search_for=rnn.")
    data_dir: str = setting("", "data_dir", "TFDS data directory, IDX directory, .npz file, or PTB text directory.")
    valid_size: int = setting(5000, "valid_size", "Training images held out (from the end) for validation; 0: none.")
    batch_size: int = setting(32, "batch_size", "Training minibatch size; also the controller reward minibatch.")
    eval_batch_size: int = setting(100, "eval_batch_size", "Evaluation minibatch size.")
    cutout_size: int = setting(0, "child_cutout_size", "Cutout square side on training images; 0 disables cutout.")
    seed: int = setting(0, "seed", "Seed of weights, data order, augmentation and controller sampling.")
    bptt_steps: int = setting(35, "child_bptt_steps", "Language model: tokens per BPTT window.")
    variable_bptt: bool = setting(
        False, "child_variable_bptt",
        "Language model: AWD-style variable BPTT lengths, learning rate scaled by length.")
    num_classes: int = setting(
        0, "num_classes",
        "Classes (image datasets) or vocabulary size (ptb) of the dataset; 0: unknown, taken from the data. "
        "Runs check a non-zero value against the data; enas-describe needs it (the baselines carry it).")
    test_batch_size: int = setting(
        0, "test_batch_size",
        "Language model: test streams (enas_lm final training: 1); 0: as --eval_batch_size.")

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


# How the macro search child combines a layer's op output with its skips (ChildConfig.skip_mode);
# the first is the default.
SKIP_MODES = ("sum", "concat")


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
      skip_mode: macro search child: how a layer combines its op output with its skips: ``"sum"`` (the
        official search graph: ``BN(op_out + sum of skips)``) or ``"concat"`` (as the final model:
        ``BN(1x1 conv(ReLU(concat)))``, unselected inputs zero).
      sep_as_conv: macro fixed child: build the "separable" ops as full k x k convolutions, as the
        official fixed macro child did.
      reward_dropout: micro search: keep dropout active when the controller's reward is computed
        (the official micro search did); batch normalisation is unaffected.
      compiled_switches: micro search child: its op and input switches as compiled functions that every
        cell calls (faster start, less memory, slower steps on CPU); same computation.
      recompute: micro search child with ``compiled_switches``: its op switches keep no activations for
        the backward pass, which runs them again (gradient checkpointing: less memory, more compute);
        same computation.
      sync_bn: batch statistics over the global batch (every replica) under a distribution.
    """

    search_for: str = setting("macro", "search_for", "Search space: macro, micro or rnn.", required=True)
    num_layers: int = setting(
        5, "child_num_layers",
        "Macro: layers; micro: cells per stage count L (L+2 cells); rnn: searched nodes.")
    num_cells: int = setting(5, "child_num_cells", "Micro: computed nodes per cell (B).")
    out_filters: int = setting(48, "child_out_filters", "Channels C of the child (macro, micro).")
    num_branches: int = setting(4, "child_num_branches", "Candidate ops (macro up to 6, micro 5, rnn activations 4).")
    keep_prob: float = setting(0.5, "child_keep_prob", "Dropout keep probability before the classifier.")
    drop_path_keep_prob: float = setting(
        1.0, "child_drop_path_keep_prob",
        "Micro final training: drop-path keep probability.")
    use_aux_heads: bool = setting(
        False, "child_use_aux_heads",
        "Micro child (search and final training): auxiliary head (loss weight 0.4), as the official micro "
        "scripts.")
    l2_reg: float = setting(1e-4, "child_l2_reg", "L2 weight decay on all child weights.")
    lr_max: float = setting(0.05, "child_lr_max", "Cosine schedule: maximum learning rate.")
    lr_min: float = setting(0.0005, "child_lr_min", "Cosine schedule: minimum learning rate.")
    lr_T_0: int = setting(10, "child_lr_T_0", "Cosine schedule: first period in epochs.")
    lr_T_mul: int = setting(2, "child_lr_T_mul", "Cosine schedule: period multiplier after each restart.")
    lr: float = setting(0.1, "child_lr", "Constant learning rate (language model).")
    grad_bound: float = setting(
        0.0, "child_grad_bound",
        "Global gradient-norm bound; 0 disables clipping. (The official CIFAR code never clipped: its "
        "clipping was a no-op.)")
    fixed_arc: str = setting("", "child_fixed_arc", "Architecture string for final training (official format).")
    hidden_size: int = setting(200, "child_lstm_hidden_size", "Language model: hidden and embedding size.")
    embed_keep: float = setting(1.0, "child_lstm_e_keep", "Language model: embedding (word) keep probability.")
    input_keep: float = setting(1.0, "child_lstm_x_keep", "Language model: input keep probability.")
    hidden_keep: float = setting(1.0, "child_lstm_h_keep", "Language model: hidden keep probability.")
    output_keep: float = setting(1.0, "child_lstm_o_keep", "Language model: output keep probability.")
    slowness_reg: float = setting(0.0, "child_rnn_slowness_reg", "Language model: slowness regulariser weight.")
    embedding_keep: float = setting(
        1.0, "child_lstm_i_keep",
        "Language model: keep probability of enas_lm's embedding dropout (its child_drop_i is 1 - this): a "
        "second variational mask on the embedded input, besides --child_lstm_x_keep.")
    activation_reg: float = setting(
        0.0, "child_alpha",
        "Language model: activation regulariser, this times the mean squared cell output is added to the "
        "training loss (enas_lm final: 0.7).")
    init_range: Optional[float] = setting(
        None, "child_init_range",
        "Language model: weights start uniform in +-this; unset: enas_lm's value, 0.04 for the search child "
        "and 0.05 for the fixed child.")
    average_patience: int = setting(
        0, "child_best_valid_ppl_threshold",
        "Language model final training: start ASGD-style weight averaging once the validation perplexity is "
        "worse than the best before the last this-many evaluations (enas_lm's trigger; its final training "
        "uses 10); 0: no averaging.")
    skip_mode: str = setting(
        SKIP_MODES[0], "child_skip_mode",
        "Macro search child: how a layer combines its op output with its skip inputs. 'sum': the official "
        "search graph, BN(op + sum of skips); 'concat': as the final model, BN(1x1 conv(ReLU(concat of the "
        "skips and the op))), one projection per layer with an unselected input's channels zero (README: "
        "\"Does the search beat random?\").")
    sep_as_conv: bool = setting(
        False, "child_sep_as_conv",
        "Macro final child: build the separable ops as full k x k convolutions, as the official fixed macro "
        "child did (the published 24-layer arc: 42,559,392 trainable parameters instead of 30,947,424).")
    reward_dropout: bool = setting(
        True, "child_reward_dropout",
        "Micro search: keep dropout active in the controller's reward pass, as the official micro search "
        "did (batch normalisation is unaffected); --nochild_reward_dropout turns it off.")
    compiled_switches: bool = setting(
        False, "child_compiled_switches",
        "Micro search child: compile its op, input and loose-end switches once, as functions every cell calls, "
        "instead of copying them into each step's graph: about 3.5x faster to the first step and 1.6 GiB less "
        "memory at the search configuration, 3-6% slower steps on CPU (README: Start-up). The same "
        "computation; may change between a run and its resumption.")
    recompute: bool = setting(
        False, "child_recompute",
        "Micro search child, with --child_compiled_switches: recompute each op's activations in the backward "
        "pass instead of keeping them (gradient checkpointing of the op switches): the search configuration "
        "peaks at about 2.0 GiB instead of 2.7-3.3, for about 8% slower steps on CPU (README: Start-up). The "
        "same computation; may change between a run and its resumption.")
    sync_bn: bool = setting(
        False, "child_sync_bn",
        "Under --distribution=mirrored or multi_worker: batch statistics computed over the global batch (all "
        "replicas) instead of each replica's share; a no-op on one device.")

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
        _check(self.skip_mode in SKIP_MODES, "child_skip_mode",
               f"must be one of {', '.join(SKIP_MODES)}; got '{self.skip_mode}'")
        _check(self.skip_mode == "sum" or self.search_for == "macro", "child_skip_mode",
               f"chooses how the macro search child combines skips; --search_for={self.search_for} has none")
        _check(not self.recompute or self.search_for == "micro", "child_recompute",
               f"recomputes the micro search child's ops; --search_for={self.search_for} has none")
        # With the switches copied into the step's graph, TensorFlow's graph optimiser merges the
        # recomputation back into the forward pass (measured: the same peak memory and step time).
        _check(not self.recompute or self.compiled_switches, "child_recompute",
               "takes effect only with --child_compiled_switches (pass both)")
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

    lstm_size: int = setting(64, "controller_lstm_size", "Controller LSTM units.")
    lstm_num_layers: int = setting(1, "controller_lstm_num_layers", "Controller LSTM layers.")
    temperature: float = setting(0.0, "controller_temperature", "Logits are divided by it; 0: none.")
    tanh_constant: float = setting(0.0, "controller_tanh_constant", "Logits become c*tanh(logits); 0: none.")
    op_tanh_reduce: float = setting(1.0, "controller_op_tanh_reduce", "Micro: op logits use tanh_constant / this.")
    entropy_weight: float = setting(
        0.0, "controller_entropy_weight",
        "Weight of the entropy bonus added to the reward.")
    skip_target: float = setting(0.8, "controller_skip_target", "Macro: target skip rate of the KL penalty.")
    skip_weight: float = setting(0.0, "controller_skip_weight", "Macro: weight of the skip KL penalty.")
    learning_rate: float = setting(1e-3, "controller_lr", "Controller Adam learning rate.")
    baseline_decay: float = setting(0.99, "controller_bl_dec", "Decay of the reward baseline's moving average.")
    num_aggregate: int = setting(1, "controller_num_aggregate", "Samples whose gradients are averaged per update.")
    train_steps: int = setting(50, "controller_train_steps", "Controller updates per controller phase.")
    train_every: int = setting(2, "controller_train_every", "Epochs between controller phases.")
    grad_bound: float = setting(0.0, "controller_grad_bound", "Controller gradient-norm bound; 0: none.")
    seed: int = setting(0, "seed", "Seed of weights, data order, augmentation and controller sampling.")
    init_range: Optional[float] = setting(
        None, "controller_init_range",
        "Controller weights start uniform in +-this; unset: the official value of the space (CIFAR 0.1, "
        "enas_lm 0.01).")
    adam_beta1: Optional[float] = setting(
        None, "controller_adam_beta1",
        "Controller Adam beta1; unset: the official value of the space (CIFAR 0.0, enas_lm Adam's default "
        "0.9).")
    adam_epsilon: Optional[float] = setting(
        None, "controller_adam_epsilon",
        "Controller Adam epsilon; unset: the official value of the space (CIFAR 1e-3, enas_lm Adam's "
        "default 1e-8).")

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


DISTRIBUTIONS = ("none", "mirrored", "multi_worker")


def check_distribution(section) -> None:
    """Checks the distribution settings of ``section`` (RunConfig or RankConfig) without TensorFlow.

    ``multi_worker`` needs a ``TF_CONFIG`` environment variable naming a cluster with workers and this
    process's task in it.
    """
    _check(section.distribution in DISTRIBUTIONS, "distribution",
           f"must be one of {', '.join(DISTRIBUTIONS)}, got {section.distribution!r}")
    _check(section.logical_cpu_devices >= 0, "logical_cpu_devices",
           f"must be >= 0 (0: off), got {section.logical_cpu_devices}")
    _check(not section.devices or section.distribution == "mirrored", "devices",
           f"is for --distribution=mirrored only (got --distribution={section.distribution})")
    if section.distribution == "multi_worker":
        import os  # pylint: disable=import-outside-toplevel

        text = os.environ.get("TF_CONFIG", "")
        _check(bool(text), "distribution", "multi_worker needs the TF_CONFIG environment variable "
               '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
               '"index": 0}}), the same cluster on every worker')
        try:
            value = json.loads(text)
        except ValueError as error:
            raise ConfigError(f"--distribution: TF_CONFIG is not valid JSON ({error})") from None
        cluster = value.get("cluster", {}) if isinstance(value, dict) else {}
        task = value.get("task", {}) if isinstance(value, dict) else {}
        workers = cluster.get("worker", []) if isinstance(cluster, dict) else []
        _check(isinstance(workers, list) and bool(workers), "distribution",
               "TF_CONFIG has no cluster.worker list (host:port of every worker)")
        _check(isinstance(task, dict) and task.get("type") in ("worker", "chief")
               and isinstance(task.get("index"), int) and 0 <= task["index"] < len(cluster.get(task.get("type"), [])),
               "distribution", f"TF_CONFIG's task {task!r} is not a worker of its cluster")


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
      distribution: ``none``, ``mirrored`` or ``multi_worker`` (``enas.trainers.distribute``).
      devices: ``mirrored``: comma-separated device names ("": every GPU, or the logical CPUs).
      logical_cpu_devices: split the CPU into this many logical devices (0: off).
    """

    output_dir: str = setting("", "output_dir", "Directory for config.json, logs, checkpoints and results.")
    num_epochs: int = setting(300, "num_epochs", "Epochs to train (search: child epochs).")
    reset_output_dir: bool = setting(
        False, "reset_output_dir",
        "Delete --output_dir first instead of resuming the run in it.")
    log_every: int = setting(50, "log_every", "Training steps between progress log lines.")
    eval_every_epochs: int = setting(1, "eval_every_epochs", "Epochs between full evaluations.")
    derive_num_samples: int = setting(
        100, "derive_num_samples",
        "Derivation: architectures sampled from the trained controller and scored.")
    derive_top_k: int = setting(10, "derive_top_k", "Derivation: how many scored architectures derived.json lists.")
    derive_num_batches: int = setting(
        5, "derive_num_batches",
        "Derivation: validation batches each architecture is scored on.")
    max_steps_per_epoch: int = setting(
        0, "max_steps_per_epoch",
        "Cap on training steps per epoch, for smoke runs (0: no cap).")
    max_eval_batches: int = setting(0, "max_eval_batches", "Cap on evaluation batches, for smoke runs (0: no cap).")
    seed: int = setting(0, "seed", "Seed of weights, data order, augmentation and controller sampling.")
    jit_compile: bool = setting(
        False, "jit_compile",
        "Compile step functions with XLA (slower on CPU; try it on GPU).")
    progress: bool = setting(True, "progress", "Show a progress bar.")
    checkpoint_every_steps: int = setting(
        0, "checkpoint_every_steps",
        "Also checkpoint every this many training steps within an epoch (0: off); a kill then loses at most "
        "these steps.")
    checkpoint_every_minutes: float = setting(
        10.0, "checkpoint_every_minutes",
        "Also checkpoint when this many minutes have passed since the last checkpoint (0: off); the "
        "epoch-end checkpoint is always written.")
    distribution: str = setting(
        "none", "distribution",
        "none (one device), mirrored (one replica per device of this machine: --devices) or multi_worker "
        "(the same command on every machine of the TF_CONFIG cluster); --batch_size is the global batch.")
    devices: str = setting(
        "", "devices",
        "--distribution=mirrored: comma-separated devices (e.g. GPU:0,GPU:1); empty: every visible GPU, or "
        "every logical CPU device with --logical_cpu_devices.")
    logical_cpu_devices: int = setting(
        0, "logical_cpu_devices",
        "Split the CPU into this many logical devices before TensorFlow starts (0: off); to try "
        "--distribution on a machine without GPUs (tests, benchmarks).")

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
        check_distribution(self)
        return self


@dataclasses.dataclass(frozen=True)
class SearchConfig:
    """How a search proposes architectures and how the shared child scores them.

    Args:
      strategy: the search strategy (``enas.strategies``): ``enas`` (controller + REINFORCE),
        ``random`` (random search with weight sharing), ``evolution`` (aging evolution with weight
        sharing), or one registered by research code.
      reward_bn: how an image child's batch norm scores an architecture (rewards, validation,
        derivation): ``moving`` (the moving statistics every sampled architecture wrote into),
        ``batch`` (the scored minibatch's own statistics) or ``recalibrate`` (statistics re-estimated
        for the architecture on ``recalibrate_batches`` training batches); "" picks the space's
        default (``enas.spaces.Space.default_reward_bn``).
      recalibrate_batches: training batches that ``recalibrate`` re-estimates the statistics on.
      evolution_population: ``evolution``: architectures in the aging-evolution population (P).
      evolution_tournament_size: ``evolution``: members drawn per tournament (S <= P); the fittest is
        the parent of the next child.
      darts_arch_lr: ``darts``: Adam learning rate of the architecture logits (DARTS: 3e-4).
      darts_arch_weight_decay: ``darts``: L2 weight decay of the architecture logits (DARTS: 1e-3).
    """

    strategy: str = setting(
        "enas", "search_strategy",
        "Search strategy: enas (LSTM controller + REINFORCE), random (random search with weight sharing: "
        "uniform architectures for the child, derivation by shared-weight score of uniform samples), "
        "evolution (aging evolution with weight sharing: one mutated child per phase step, "
        "--controller_train_steps x --controller_num_aggregate steps every --controller_train_every "
        "epochs) or darts (first-order DARTS: the mixture of every candidate, architecture logits trained "
        "on validation batches).")
    reward_bn: str = setting(
        "", "child_reward_bn",
        "Image spaces: batch-norm statistics used to score an architecture with the shared weights "
        "(rewards, validation, derivation): moving, batch or recalibrate. Empty: the space's default, "
        "chosen by measurement (README: 'Does the search beat random?').")
    recalibrate_batches: int = setting(
        10, "child_reward_recalibrate_batches",
        "--child_reward_bn=recalibrate: training batches the statistics of each scored architecture are "
        "re-estimated on.")
    evolution_population: int = setting(
        50, "evolution_population",
        "--search_strategy=evolution: architectures in the aging-evolution population (>= 2).")
    evolution_tournament_size: int = setting(
        10, "evolution_tournament_size",
        "--search_strategy=evolution: members drawn per tournament (1 .. --evolution_population); the "
        "fittest is the parent of the next child.")
    darts_arch_lr: float = setting(
        3e-4, "darts_arch_lr", "--search_strategy=darts: Adam learning rate of the architecture logits.")
    darts_arch_weight_decay: float = setting(
        1e-3, "darts_arch_weight_decay", "--search_strategy=darts: L2 weight decay of the architecture logits.")

    def validate(self) -> "SearchConfig":
        _check(bool(self.strategy), "search_strategy", "must name a search strategy (enas, random, evolution, darts)")
        _check(self.reward_bn in ("", "moving", "batch", "recalibrate"), "child_reward_bn",
               f"must be moving, batch or recalibrate, got {self.reward_bn!r}")
        _check(self.recalibrate_batches > 0, "child_reward_recalibrate_batches",
               f"must be > 0, got {self.recalibrate_batches}")
        _check(self.evolution_population >= 2, "evolution_population",
               f"must be >= 2, got {self.evolution_population}")
        _check(self.evolution_tournament_size >= 1, "evolution_tournament_size",
               f"must be >= 1, got {self.evolution_tournament_size}")
        _check(self.evolution_tournament_size <= self.evolution_population, "evolution_tournament_size",
               f"must be <= --evolution_population={self.evolution_population}, got {self.evolution_tournament_size}")
        _check(self.darts_arch_lr > 0, "darts_arch_lr", f"must be > 0, got {self.darts_arch_lr}")
        _check(self.darts_arch_weight_decay >= 0, "darts_arch_weight_decay",
               f"must be >= 0, got {self.darts_arch_weight_decay}")
        return self


# The distribution settings: RankConfig takes RunConfig's (one flag each, the same default and help).
_FIELD_META = {field.name: field.metadata for field in dataclasses.fields(RunConfig)}


@dataclasses.dataclass(frozen=True)
class RankConfig:
    """A ranking evaluation of a search's shared weights (``enas-rank``, ``enas.trainers.rank``).

    Args:
      search_dir: output directory of a finished or interrupted search.
      output_dir: where ``rank.json``, ``rank.png`` and the stand-alone runs go.
      num_archs: architectures ranked (half the strategy's candidates, half uniform); at least 4.
      train_epochs: stand-alone training epochs of each (the search's child settings, from scratch).
      anneal: image spaces: the stand-alone learning rate follows one cosine period over ``train_epochs``
        (``lr_T_0 = train_epochs``, ``lr_T_mul = 1``) instead of the search's warm-restart schedule, so a short
        training ends at a low learning rate (measured: far less seed noise, ``bench/rank_ceiling.py``).
      score_batches: validation batches of each shared-weight score (0: the whole split).
      top_k: the k of the top-k overlap.
      max_steps_per_epoch: cap on stand-alone training steps per epoch (0: full epochs).
      seed: seed of the choice of architectures and of stand-alone training.
      progress: print a line per architecture.
      distribution, devices, logical_cpu_devices: as :class:`RunConfig` (scoring and stand-alone runs).
    """

    search_dir: str = setting("", "search_dir", "Output directory of a finished or interrupted enas-search run.",
                              required=True)
    output_dir: str = setting("", "output_dir", "Where rank.json, rank.png and the stand-alone runs go.",
                              required=True)
    num_archs: int = setting(10, "rank_num_archs", "Architectures ranked: half the strategy's candidates, half "
                             "uniform (at least 4; 10 or more for a meaningful correlation).")
    train_epochs: int = setting(3, "rank_train_epochs", "Stand-alone training epochs of each architecture.")
    anneal: bool = setting(True, "rank_anneal", "Image spaces: stand-alone training with one cosine period over "
                           "--rank_train_epochs (the learning rate decays towards --child_lr_min) instead of the "
                           "search's warm-restart schedule, which leaves a short training at a high learning rate and "
                           "its accuracy noisy (--norank_anneal keeps the search's schedule).")
    score_batches: int = setting(0, "rank_score_batches", "Validation batches of each shared-weight score (0: all).")
    top_k: int = setting(3, "rank_top_k", "The k of the top-k overlap.")
    max_steps_per_epoch: int = setting(0, "max_steps_per_epoch",
                                       "Cap on stand-alone training steps per epoch (0: full epochs).")
    seed: int = setting(0, "seed", "Seed of the choice of architectures and of stand-alone training.")
    progress: bool = setting(True, "progress", "Print a line per architecture.")
    distribution: str = dataclasses.field(default=RunConfig.distribution, metadata=_FIELD_META["distribution"])
    devices: str = dataclasses.field(default=RunConfig.devices, metadata=_FIELD_META["devices"])
    logical_cpu_devices: int = dataclasses.field(default=RunConfig.logical_cpu_devices,
                                                 metadata=_FIELD_META["logical_cpu_devices"])

    def validate(self) -> "RankConfig":
        _check(bool(self.search_dir), "search_dir", "is required: the output directory of an enas-search run")
        _check(bool(self.output_dir), "output_dir", "is required: where rank.json and the stand-alone runs go")
        _check(self.num_archs >= 4, "rank_num_archs",
               f"must be >= 4 (a rank correlation needs pairs; 10 or more mean something), got {self.num_archs}")
        _check(self.train_epochs > 0, "rank_train_epochs", f"must be > 0, got {self.train_epochs}")
        _check(self.score_batches >= 0, "rank_score_batches", f"must be >= 0 (0: all), got {self.score_batches}")
        _check(0 < self.top_k < self.num_archs, "rank_top_k",
               f"must be in [1, rank_num_archs - 1], got {self.top_k}")
        check_distribution(self)
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
            sub_type = SECTION_TYPES[field.name]
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


#: The sections of a :class:`Config`, by field name.
SECTION_TYPES = {"run": RunConfig, "data": DataConfig, "child": ChildConfig, "controller": ControllerConfig,
                 "search": SearchConfig}
