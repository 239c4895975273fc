"""Turns parsed flags into the frozen configs the library takes (done once, in binaries)."""

from __future__ import annotations

import dataclasses

from absl import flags

from enas.config import ChildConfig, Config, ControllerConfig, DataConfig, RunConfig, SearchConfig
from enas.errors import ConfigError


def configs_from_flags(fv: flags.FlagValues = flags.FLAGS, *, require_output_dir: bool = True) -> Config:
    """Builds and validates a :class:`Config` from parsed flags; raises ConfigError naming the flag."""
    if not fv.child_lr_cosine:
        raise ConfigError("--child_lr_cosine: only the cosine schedule with warm restarts is implemented; "
                          "drop --nochild_lr_cosine")
    if not fv.controller_search_whole_channels:
        raise ConfigError("--controller_search_whole_channels: only whole-channel macro search exists (the "
                          "official channel-range mode was broken); drop --nocontroller_search_whole_channels")
    data = DataConfig(
        dataset=fv.dataset, data_dir=fv.data_dir, valid_size=fv.valid_size, batch_size=fv.batch_size,
        eval_batch_size=fv.eval_batch_size, cutout_size=fv.child_cutout_size, seed=fv.seed,
        bptt_steps=fv.child_bptt_steps, variable_bptt=fv.child_variable_bptt)
    child = ChildConfig(
        search_for=fv.search_for or "", num_layers=fv.child_num_layers, num_cells=fv.child_num_cells,
        out_filters=fv.child_out_filters, num_branches=fv.child_num_branches, keep_prob=fv.child_keep_prob,
        drop_path_keep_prob=fv.child_drop_path_keep_prob, use_aux_heads=fv.child_use_aux_heads,
        l2_reg=fv.child_l2_reg, lr_max=fv.child_lr_max, lr_min=fv.child_lr_min, lr_T_0=fv.child_lr_T_0,
        lr_T_mul=fv.child_lr_T_mul, lr=fv.child_lr, grad_bound=fv.child_grad_bound,
        fixed_arc=" ".join((fv.child_fixed_arc or "").replace("|", " ").split()),
        hidden_size=fv.child_lstm_hidden_size, embed_keep=fv.child_lstm_e_keep, input_keep=fv.child_lstm_x_keep,
        hidden_keep=fv.child_lstm_h_keep, output_keep=fv.child_lstm_o_keep,
        slowness_reg=fv.child_rnn_slowness_reg)
    controller = ControllerConfig(
        lstm_size=fv.controller_lstm_size, lstm_num_layers=fv.controller_lstm_num_layers,
        temperature=fv.controller_temperature, tanh_constant=fv.controller_tanh_constant,
        op_tanh_reduce=fv.controller_op_tanh_reduce, entropy_weight=fv.controller_entropy_weight,
        skip_target=fv.controller_skip_target, skip_weight=fv.controller_skip_weight,
        learning_rate=fv.controller_lr, baseline_decay=fv.controller_bl_dec,
        num_aggregate=fv.controller_num_aggregate,
        train_steps=fv.controller_train_steps if fv.controller_training else 0,
        train_every=fv.controller_train_every, grad_bound=fv.controller_grad_bound, seed=fv.seed)
    # Reproduction-fidelity fields (issue 11).
    data = dataclasses.replace(data, num_classes=fv.num_classes, test_batch_size=fv.test_batch_size)
    child = dataclasses.replace(
        child, embedding_keep=fv.child_lstm_i_keep, activation_reg=fv.child_alpha,
        init_range=fv.child_init_range, average_patience=fv.child_best_valid_ppl_threshold,
        sep_as_conv=fv.child_sep_as_conv, reward_dropout=fv.child_reward_dropout)
    controller = dataclasses.replace(
        controller, init_range=fv.controller_init_range, adam_beta1=fv.controller_adam_beta1,
        adam_epsilon=fv.controller_adam_epsilon)
    run = RunConfig(
        output_dir=fv.output_dir, num_epochs=fv.num_epochs, reset_output_dir=fv.reset_output_dir,
        log_every=fv.log_every, eval_every_epochs=fv.eval_every_epochs,
        derive_num_samples=fv.derive_num_samples, derive_top_k=fv.derive_top_k,
        derive_num_batches=fv.derive_num_batches,
        max_steps_per_epoch=fv.max_steps_per_epoch, max_eval_batches=fv.max_eval_batches, seed=fv.seed,
        jit_compile=fv.jit_compile, progress=fv.progress, checkpoint_every_steps=fv.checkpoint_every_steps,
        checkpoint_every_minutes=fv.checkpoint_every_minutes)
    search = SearchConfig(strategy=fv.search_strategy, reward_bn=fv.child_reward_bn,
                          recalibrate_batches=fv.child_reward_recalibrate_batches,
                          darts_arch_lr=fv.darts_arch_lr, darts_arch_weight_decay=fv.darts_arch_weight_decay)
    config = Config(data=data, child=child, controller=controller, run=run, search=search)
    if not child.search_for:
        raise ConfigError("--search_for: required; one of macro, micro, rnn")
    config.data.validate()
    config.child.validate()
    config.controller.validate()
    config.search.validate()
    if require_output_dir:
        config.run.validate()
    return config
