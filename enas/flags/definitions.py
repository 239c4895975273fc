"""absl flag definitions with the official ENAS names and defaults.

Nothing is defined at import: binaries call :func:`define_flags` under ``__main__``. Every flag has
a help string. ``enas.flags.configs_from_flags`` turns the parsed values into :class:`enas.config.Config`.
Defaults are those of the official ``main.py`` (reference section 4) unless the help says otherwise;
the official scripts' values live in the flagfiles under ``enas/flags/baselines/``.
"""

from __future__ import annotations

from absl import flags


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> flags.FlagValues:
    """Defines every enas flag on ``flag_values`` (idempotent) and returns it."""
    if "search_for" in flag_values:  # already defined on these flag values
        return flag_values
    fv = flag_values
    DEFINE = flags  # noqa: N806  (short alias keeps the table below readable)

    # --- run ----------------------------------------------------------------------------------
    DEFINE.DEFINE_string("output_dir", "", "Directory for config.json, logs, checkpoints and results.", flag_values=fv)
    DEFINE.DEFINE_boolean("reset_output_dir", False, "Delete --output_dir first instead of resuming the run in it.",
                          flag_values=fv)
    DEFINE.DEFINE_string("search_for", None, "Search space: macro, micro or rnn.", flag_values=fv)
    DEFINE.DEFINE_integer("num_epochs", 300, "Epochs to train (search: child epochs).", flag_values=fv)
    DEFINE.DEFINE_integer("log_every", 50, "Training steps between progress log lines.", flag_values=fv)
    DEFINE.DEFINE_integer("eval_every_epochs", 1, "Epochs between full evaluations.", flag_values=fv)
    DEFINE.DEFINE_integer("derive_num_samples", 100,
                          "Derivation: architectures sampled from the trained controller and scored.", flag_values=fv)
    DEFINE.DEFINE_integer("derive_top_k", 10, "Derivation: how many scored architectures derived.json lists.",
                          flag_values=fv)
    DEFINE.DEFINE_integer("derive_num_batches", 5, "Derivation: validation batches each architecture is scored on.",
                          flag_values=fv)
    DEFINE.DEFINE_integer("max_steps_per_epoch", 0, "Cap on training steps per epoch, for smoke runs (0: no cap).",
                          flag_values=fv)
    DEFINE.DEFINE_integer("max_eval_batches", 0, "Cap on evaluation batches, for smoke runs (0: no cap).",
                          flag_values=fv)
    DEFINE.DEFINE_integer("seed", 0, "Seed of weights, data order, augmentation and controller sampling.",
                          flag_values=fv)
    DEFINE.DEFINE_boolean("jit_compile", False, "Compile step functions with XLA (slower on CPU; try it on GPU).",
                          flag_values=fv)
    DEFINE.DEFINE_boolean("progress", True, "Show a progress bar.", flag_values=fv)

    # --- data ---------------------------------------------------------------------------------
    DEFINE.DEFINE_string("dataset", "embedded",
                         "Dataset: embedded (a Fashion-MNIST sample shipped in the package), a TFDS name "
                         "(cifar10, cifar100, mnist, fashion_mnist, svhn_cropped), idx, npz; ptb (--data_dir "
                         "with the PTB files) or ptb_synthetic (a small generated corpus) for --search_for=rnn.",
                         flag_values=fv)
    DEFINE.DEFINE_string("data_dir", "", "TFDS data directory, IDX directory, .npz file, or PTB text directory.",
                         flag_values=fv)
    DEFINE.DEFINE_alias("data_path", "data_dir", flag_values=fv)
    DEFINE.DEFINE_integer("valid_size", 5000, "Training images held out (from the end) for validation; 0: none.",
                          flag_values=fv)
    DEFINE.DEFINE_integer("batch_size", 32, "Training minibatch size; also the controller reward minibatch.",
                          flag_values=fv)
    DEFINE.DEFINE_integer("eval_batch_size", 100, "Evaluation minibatch size.", flag_values=fv)
    DEFINE.DEFINE_integer("child_cutout_size", 0, "Cutout square side on training images; 0 disables cutout.",
                          flag_values=fv)
    DEFINE.DEFINE_integer("child_bptt_steps", 35, "Language model: tokens per BPTT window.", flag_values=fv)
    DEFINE.DEFINE_boolean("child_variable_bptt", False,
                          "Language model: AWD-style variable BPTT lengths, learning rate scaled by length.",
                          flag_values=fv)

    # --- child --------------------------------------------------------------------------------
    DEFINE.DEFINE_integer("child_num_layers", 5, "Macro: layers; micro: cells per stage count L (L+2 cells); "
                          "rnn: searched nodes.", flag_values=fv)
    DEFINE.DEFINE_integer("child_num_cells", 5, "Micro: computed nodes per cell (B).", flag_values=fv)
    DEFINE.DEFINE_integer("child_out_filters", 48, "Channels C of the child (macro, micro).", flag_values=fv)
    DEFINE.DEFINE_integer("child_num_branches", 4, "Candidate ops (macro up to 6, micro 5, rnn activations 4).",
                          flag_values=fv)
    DEFINE.DEFINE_float("child_keep_prob", 0.5, "Dropout keep probability before the classifier.", flag_values=fv)
    DEFINE.DEFINE_float("child_drop_path_keep_prob", 1.0, "Micro final training: drop-path keep probability.",
                        flag_values=fv)
    DEFINE.DEFINE_boolean("child_use_aux_heads", False, "Micro child (search and final training): auxiliary head "
                          "(loss weight 0.4), as the official micro scripts.",
                          flag_values=fv)
    DEFINE.DEFINE_float("child_l2_reg", 1e-4, "L2 weight decay on all child weights.", flag_values=fv)
    DEFINE.DEFINE_boolean("child_lr_cosine", True,
                          "Cosine schedule with warm restarts. The only schedule for image children; "
                          "--nochild_lr_cosine is rejected.", flag_values=fv)
    DEFINE.DEFINE_float("child_lr_max", 0.05, "Cosine schedule: maximum learning rate.", flag_values=fv)
    DEFINE.DEFINE_float("child_lr_min", 0.0005, "Cosine schedule: minimum learning rate.", flag_values=fv)
    DEFINE.DEFINE_integer("child_lr_T_0", 10, "Cosine schedule: first period in epochs.", flag_values=fv)
    DEFINE.DEFINE_integer("child_lr_T_mul", 2, "Cosine schedule: period multiplier after each restart.",
                          flag_values=fv)
    DEFINE.DEFINE_float("child_lr", 0.1, "Constant learning rate (language model).", flag_values=fv)
    DEFINE.DEFINE_float("child_grad_bound", 0.0, "Global gradient-norm bound; 0 disables clipping. (The official "
                        "CIFAR code never clipped: its clipping was a no-op.)", flag_values=fv)
    DEFINE.DEFINE_string("child_fixed_arc", "", "Architecture string for final training (official format).",
                         flag_values=fv)
    DEFINE.DEFINE_integer("child_lstm_hidden_size", 200, "Language model: hidden and embedding size.",
                          flag_values=fv)
    DEFINE.DEFINE_float("child_lstm_e_keep", 1.0, "Language model: embedding (word) keep probability.",
                        flag_values=fv)
    DEFINE.DEFINE_float("child_lstm_x_keep", 1.0, "Language model: input keep probability.", flag_values=fv)
    DEFINE.DEFINE_float("child_lstm_h_keep", 1.0, "Language model: hidden keep probability.", flag_values=fv)
    DEFINE.DEFINE_float("child_lstm_o_keep", 1.0, "Language model: output keep probability.", flag_values=fv)
    DEFINE.DEFINE_float("child_rnn_slowness_reg", 0.0, "Language model: slowness regulariser weight.",
                        flag_values=fv)

    # --- controller ---------------------------------------------------------------------------
    DEFINE.DEFINE_integer("controller_lstm_size", 64, "Controller LSTM units.", flag_values=fv)
    DEFINE.DEFINE_integer("controller_lstm_num_layers", 1, "Controller LSTM layers.", flag_values=fv)
    DEFINE.DEFINE_float("controller_lr", 1e-3, "Controller Adam learning rate.", flag_values=fv)
    DEFINE.DEFINE_float("controller_bl_dec", 0.99, "Decay of the reward baseline's moving average.", flag_values=fv)
    DEFINE.DEFINE_float("controller_tanh_constant", 0.0, "Logits become c*tanh(logits); 0: none.", flag_values=fv)
    DEFINE.DEFINE_float("controller_op_tanh_reduce", 1.0, "Micro: op logits use tanh_constant / this.",
                        flag_values=fv)
    DEFINE.DEFINE_float("controller_temperature", 0.0, "Logits are divided by it; 0: none.", flag_values=fv)
    DEFINE.DEFINE_float("controller_entropy_weight", 0.0, "Weight of the entropy bonus added to the reward.",
                        flag_values=fv)
    DEFINE.DEFINE_float("controller_skip_target", 0.8, "Macro: target skip rate of the KL penalty.", flag_values=fv)
    DEFINE.DEFINE_float("controller_skip_weight", 0.0, "Macro: weight of the skip KL penalty.", flag_values=fv)
    DEFINE.DEFINE_integer("controller_num_aggregate", 1, "Samples whose gradients are averaged per update.",
                          flag_values=fv)
    DEFINE.DEFINE_integer("controller_train_steps", 50, "Controller updates per controller phase.", flag_values=fv)
    DEFINE.DEFINE_integer("controller_train_every", 2, "Epochs between controller phases.", flag_values=fv)
    DEFINE.DEFINE_float("controller_grad_bound", 0.0, "Controller gradient-norm bound; 0: none.", flag_values=fv)
    DEFINE.DEFINE_boolean("controller_search_whole_channels", True,
                          "Macro: whole-channel ops. The only mode (the official channel-range mode was broken); "
                          "--nocontroller_search_whole_channels is rejected.", flag_values=fv)
    DEFINE.DEFINE_boolean("controller_sync_replicas", True,
                          "Accepted for the official scripts; gradients are always averaged over "
                          "--controller_num_aggregate samples.", flag_values=fv)
    DEFINE.DEFINE_boolean("controller_training", True,
                          "Train the controller during search. With --nocontroller_training the search trains "
                          "the shared child on a frozen (initial) controller's samples.", flag_values=fv)

    # --- search strategy and reward ----------------------------------------------------------------
    DEFINE.DEFINE_string("search_strategy", "enas",
                         "Search strategy: enas (LSTM controller + REINFORCE), random (random search with "
                         "weight sharing: uniform architectures for the child, derivation by shared-weight "
                         "score of uniform samples) or darts (first-order DARTS: the mixture of every "
                         "candidate, architecture logits trained on validation batches).", flag_values=fv)
    DEFINE.DEFINE_string("child_reward_bn", "",
                         "Image spaces: batch-norm statistics used to score an architecture with the shared "
                         "weights (rewards, validation, derivation): moving, batch or recalibrate. Empty: the "
                         "space's default, chosen by measurement (README: 'Does the search beat random?').",
                         flag_values=fv)
    DEFINE.DEFINE_integer("child_reward_recalibrate_batches", 10,
                          "--child_reward_bn=recalibrate: training batches the statistics of each scored "
                          "architecture are re-estimated on.", flag_values=fv)
    DEFINE.DEFINE_float("darts_arch_lr", 3e-4, "--search_strategy=darts: Adam learning rate of the architecture "
                        "logits.", flag_values=fv)
    DEFINE.DEFINE_float("darts_arch_weight_decay", 1e-3, "--search_strategy=darts: L2 weight decay of the "
                        "architecture logits.", flag_values=fv)

    # --- reproduction fidelity (issue 11) -------------------------------------------------------
    DEFINE.DEFINE_integer("num_classes", 0, "Classes (image datasets) or vocabulary size (ptb) of the dataset; "
                          "0: unknown, taken from the data. Runs check a non-zero value against the data; "
                          "enas-describe needs it (the baselines carry it).", flag_values=fv)
    DEFINE.DEFINE_integer("test_batch_size", 0, "Language model: test streams (enas_lm final training: 1); "
                          "0: as --eval_batch_size.", flag_values=fv)
    DEFINE.DEFINE_float("child_lstm_i_keep", 1.0, "Language model: keep probability of enas_lm's embedding "
                        "dropout (its child_drop_i is 1 - this): a second variational mask on the embedded "
                        "input, besides --child_lstm_x_keep.", flag_values=fv)
    DEFINE.DEFINE_float("child_alpha", 0.0, "Language model: activation regulariser, this times the mean "
                        "squared cell output is added to the training loss (enas_lm final: 0.7).",
                        flag_values=fv)
    DEFINE.DEFINE_float("child_init_range", None, "Language model: weights start uniform in +-this; unset: "
                        "enas_lm's value, 0.04 for the search child and 0.05 for the fixed child.",
                        flag_values=fv)
    DEFINE.DEFINE_integer("child_best_valid_ppl_threshold", 0,
                          "Language model final training: start ASGD-style weight averaging once the "
                          "validation perplexity is worse than the best before the last this-many "
                          "evaluations (enas_lm's trigger; its final training uses 10); 0: no averaging.",
                          flag_values=fv)
    DEFINE.DEFINE_boolean("child_sep_as_conv", False,
                          "Macro final child: build the separable ops as full k x k convolutions, as the "
                          "official fixed macro child did (the published 24-layer arc: 42,559,392 trainable "
                          "parameters instead of 30,947,424).", flag_values=fv)
    DEFINE.DEFINE_boolean("child_reward_dropout", True,
                          "Micro search: keep dropout active in the controller's reward pass, as the official "
                          "micro search did (batch normalisation is unaffected); --nochild_reward_dropout "
                          "turns it off.", flag_values=fv)
    DEFINE.DEFINE_float("controller_init_range", None, "Controller weights start uniform in +-this; unset: the "
                        "official value of the space (CIFAR 0.1, enas_lm 0.01).", flag_values=fv)
    DEFINE.DEFINE_float("controller_adam_beta1", None, "Controller Adam beta1; unset: the official value of the "
                        "space (CIFAR 0.0, enas_lm Adam's default 0.9).", flag_values=fv)
    DEFINE.DEFINE_float("controller_adam_epsilon", None, "Controller Adam epsilon; unset: the official value of "
                        "the space (CIFAR 1e-3, enas_lm Adam's default 1e-8).", flag_values=fv)

    # --- checkpoints within an epoch ------------------------------------------------------------
    DEFINE.DEFINE_integer("checkpoint_every_steps", 0, "Also checkpoint every this many training steps within an "
                          "epoch (0: off); a kill then loses at most these steps.", flag_values=fv)
    DEFINE.DEFINE_float("checkpoint_every_minutes", 10.0, "Also checkpoint when this many minutes have passed since "
                        "the last checkpoint (0: off); the epoch-end checkpoint is always written.", flag_values=fv)
    return fv
