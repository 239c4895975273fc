"""Search-mode macro children: the shared-weight child, and a static twin of one architecture.

Search semantics follow the official search graph (reference section 1.1), with the op choice fixed
so that the *sampled* op runs:

* stem: 3x3 conv(C) + BN, no ReLU; the stored-layer list starts as ``[stem]``;
* layer i: every candidate op owns its weights (``1x1 conv + BN + ReLU`` then the op; conv and
  sep-conv ops end in BN + ReLU); the op reads the last stored layer;
* layer i > 0: ``out = BN(op_out + sum_j bit_j * stored[j])`` (a sum, no ReLU after the BN);
  layer 0 has no skips and no BN after its op, as in the official code. With ``skip_mode="concat"``
  (not the official search graph) a layer combines its inputs as the final model does instead:
  ``out = BN(1x1 conv(ReLU(concat[bit_0 * stored[0], ..., bit_{i-1} * stored[i-1], op_out])))``, one
  projection per layer over all ``(i + 1) * C`` channels, an unselected input's channels zero (so each
  architecture computes the final model's function with its share of the projection weights);
* after each pool layer (``macro.pool_layers``) every stored layer goes through its own
  factorized reduction; the width C stays constant;
* head: global average pool -> dropout(1 - keep_prob) -> dense(num_classes, no bias).

:class:`MacroSharedChild` takes the architecture as an int32 token tensor at call time and picks
each layer's op with ``keras.ops.switch`` (``tf.switch_case``: only the chosen branch runs, and the
unchosen branches get zero gradients inside ``tf.function``), so one traced graph serves every
architecture. Skips are 0/1 masks multiplied in. :class:`MacroStaticSearchChild` computes the same
function for one architecture chosen in Python, with the same layers, so weights copy across; the
tests compare the two and ``bench/child_step.py`` times them.

All BNs use momentum 0.9 and epsilon 1e-5, including those inside the conv branches (the official
"masked" BN there used 1e-3; with whole channels it is a plain BN, and the difference is negligible).
"""

from __future__ import annotations

import keras
from keras import ops

from enas.spaces.macro import arc as macro
from enas.spaces.layers import FactorizedReduction, batch_norm, he_normal, max_pool_3x3
from enas.config import SKIP_MODES
from enas.errors import ConfigError

# (kind, kernel size) of each op id, from the space's op table.
OP_KINDS = macro.OP_KINDS


@keras.saving.register_keras_serializable(package="enas")
class SearchBranch(keras.layers.Layer):
    """One candidate op of one layer in search mode: 1x1 conv + BN + ReLU, then the op.

    Conv ops: kxk conv + BN + ReLU. Sep-conv ops: depthwise kxk (multiplier 1) + pointwise conv,
    BN, ReLU. Pool ops: 3x3 pooling, stride 1, SAME padding.

    Args:
      filters: output channels C.
      op_id: index into ``macro.OP_NAMES``.
      **kwargs: ``keras.layers.Layer`` arguments.
    """

    def __init__(self, filters: int, op_id: int, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.op_id = int(filters), int(op_id)
        kind, size = OP_KINDS[self.op_id]
        self.input_conv = keras.layers.Conv2D(self.filters, 1, use_bias=False,
                                              kernel_initializer=he_normal, name="input_conv")
        self.input_bn = batch_norm(name="input_bn")
        self.op_bn = None
        if kind == "conv":
            self.op = keras.layers.Conv2D(self.filters, size, padding="same", use_bias=False,
                                          kernel_initializer=he_normal, name="conv")
        elif kind == "sep":
            self.op = keras.layers.SeparableConv2D(
                self.filters, size, padding="same", depth_multiplier=1, use_bias=False,
                depthwise_initializer=he_normal, pointwise_initializer=he_normal, name="sep_conv")
        elif kind == "avg":
            self.op = keras.layers.AveragePooling2D(size, strides=1, padding="same", name="avg_pool")
        else:
            self.op = None  # max_pool_3x3: a switch branch needs its own gradient (see there)
        if kind in ("conv", "sep"):
            self.op_bn = batch_norm(name="op_bn")

    def build(self, input_shape):
        # Built eagerly: variables cannot be created inside a switch branch of a traced function.
        self.input_conv.build(input_shape)
        output_shape = tuple(input_shape[:3]) + (self.filters,)
        self.input_bn.build(output_shape)
        if self.op_bn is not None:
            self.op.build(output_shape)
            self.op_bn.build(output_shape)

    def call(self, inputs, training=None, in_switch=False):
        """``in_switch``: the call runs inside a ``keras.ops.switch`` branch."""
        x = ops.relu(self.input_bn(self.input_conv(inputs), training=training))
        x = max_pool_3x3(x, in_switch) if self.op is None else self.op(x)
        if self.op_bn is not None:
            x = ops.relu(self.op_bn(x, training=training))
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:3]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, op_id=self.op_id)
        return config


def _halve(size):
    return None if size is None else (size + 1) // 2


class _MacroSearchNetwork(keras.Model):
    """What both search-mode children share: stem, post-sum BNs, reductions and head."""

    def __init__(self, num_layers: int, out_filters: int, num_classes: int, image_shape,
                 keep_prob: float = 1.0, skip_mode: str = SKIP_MODES[0], **kwargs):
        super().__init__(**kwargs)
        if skip_mode not in SKIP_MODES:
            raise ConfigError(f"--child_skip_mode: expected one of {', '.join(SKIP_MODES)}; got '{skip_mode}'")
        self.skip_mode = skip_mode
        self.num_layers, self.out_filters = int(num_layers), int(out_filters)
        self.num_classes, self.keep_prob = int(num_classes), float(keep_prob)
        self.image_shape = tuple(image_shape)
        self.pool_layers = macro.pool_layers(self.num_layers)
        filters = self.out_filters
        self.stem_conv = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False,
                                             kernel_initializer=he_normal, name="stem_conv")
        self.stem_bn = batch_norm(name="stem_bn")
        self.sum_bns = [batch_norm(name=f"layer{i}_sum_bn") for i in range(1, self.num_layers)]
        # skip_mode "concat": layer i's projection of its (i + 1) * C concatenated channels back to C.
        self.skip_convs = [keras.layers.Conv2D(filters, 1, use_bias=False, kernel_initializer=he_normal,
                                               name=f"layer{i}_skip_conv")
                           for i in range(1, self.num_layers)] if skip_mode == "concat" else []
        # After pool layer p the list holds p + 2 entries (stem, out_0..out_p): one FR each, flat.
        self.reductions = [FactorizedReduction(filters, name=f"reduce{p}_{j}")
                           for p in self.pool_layers for j in range(p + 2)]
        self.dropout = keras.layers.Dropout(1.0 - self.keep_prob, name="dropout")
        self.classifier = keras.layers.Dense(self.num_classes, use_bias=False,
                                             kernel_initializer=he_normal, name="classifier")

    def _layer_branches(self, layer: int) -> list:
        """The branch layers of ``layer``: subclasses set ``self.branches``, the same count per layer."""
        per_layer = len(self.branches) // self.num_layers
        return self.branches[layer * per_layer:(layer + 1) * per_layer]

    def build(self, input_shape=None):
        """Creates every variable now (from ``image_shape``), so weights copy before any call."""
        height, width = self.image_shape[0], self.image_shape[1]
        self.stem_conv.build((None, height, width, self.image_shape[2]))
        shape = (None, height, width, self.out_filters)
        self.stem_bn.build(shape)
        for layer in range(self.num_layers):
            for branch in self._layer_branches(layer):
                branch.build(shape)
            if layer > 0:
                self.sum_bns[layer - 1].build(shape)
                if self.skip_convs:
                    self.skip_convs[layer - 1].build(shape[:3] + ((layer + 1) * self.out_filters,))
            for reduction in self._reductions_after(layer):
                reduction.build(shape)
            if layer in self.pool_layers:
                shape = (None, _halve(shape[1]), _halve(shape[2]), self.out_filters)
        self.classifier.build((None, self.out_filters))
        self.built = True

    def _reductions_after(self, layer: int) -> list:
        if layer not in self.pool_layers:
            return []
        start = sum(p + 2 for p in self.pool_layers if p < layer)
        return self.reductions[start:start + layer + 2]

    def _stem(self, images, training):
        return self.stem_bn(self.stem_conv(images), training=training)

    def _combine(self, layer: int, out, gated: list):
        """Layer ``layer``'s op output with its gated earlier entries (``gated[j]``: ``bit_j * stored[j]``,
        or None for an unselected one): their sum, or with ``skip_mode="concat"`` the projection of their
        concatenation (an unselected entry's channels zero)."""
        if not self.skip_convs:
            for term in gated:
                if term is not None:
                    out = out + term
            return out
        inputs = [ops.zeros_like(out) if term is None else term for term in gated] + [out]
        return self.skip_convs[layer - 1](ops.relu(ops.concatenate(inputs, axis=-1)))

    def _finish_layer(self, layer: int, out, stored: list, training) -> list:
        """BN of the skip sum, append, then reduce every stored layer after a pool layer."""
        if layer > 0:
            out = self.sum_bns[layer - 1](out, training=training)
        stored = stored + [out]
        reductions = self._reductions_after(layer)
        if reductions:
            stored = [reduce(x, training=training) if self._is_read_after(j, layer) else None
                      for j, (reduce, x) in enumerate(zip(reductions, stored))]
        return stored

    def _is_read_after(self, entry: int, layer: int) -> bool:
        """Whether a later layer may read stored ``entry`` (always, unless the arc is known)."""
        del entry, layer
        return True

    def _head(self, x, training):
        x = ops.mean(x, axis=(1, 2))
        return self.classifier(self.dropout(x, training=training))

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "num_layers": self.num_layers,
                "out_filters": self.out_filters, "num_classes": self.num_classes,
                "image_shape": list(self.image_shape), "keep_prob": self.keep_prob, "skip_mode": self.skip_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _run_branch(branch, training):
    # A factory, so each switch branch binds its own layer (the official tf.case closure bug made
    # every branch return the last-built op).
    return lambda x: branch(x, training=training, in_switch=True)


@keras.saving.register_keras_serializable(package="enas")
class MacroSharedChild(_MacroSearchNetwork):
    """The shared-weight macro child: ``model(images, arc, training=...)`` -> logits.

    ``arc`` is the int32 token tensor ``[L + L(L-1)/2]`` of an architecture (``MacroArc.to_tokens``
    or a controller sample). Op ids must be below ``num_branches``: validate architectures first
    (``macro.check_arc``), because ``keras.ops.switch`` clips an out-of-range index silently.

    Args:
      num_layers: layers L.
      out_filters: width C (constant in search).
      num_branches: candidate ops per layer (the first ``num_branches`` of ``macro.OP_NAMES``).
      num_classes: classifier outputs.
      image_shape: ``(height, width, channels)`` of the images.
      keep_prob: dropout keep probability before the classifier.
      skip_mode: ``"sum"`` (the official search graph) or ``"concat"`` (a projection per layer of its
        concatenated inputs, as the final model; ``ChildConfig.skip_mode``).
      **kwargs: ``keras.Model`` arguments (``name``, ...).
    """

    def __init__(self, num_layers: int, out_filters: int, num_branches: int, num_classes: int,
                 image_shape, keep_prob: float = 1.0, skip_mode: str = SKIP_MODES[0], **kwargs):
        kwargs.setdefault("name", "macro_shared_child")
        super().__init__(num_layers, out_filters, num_classes, image_shape, keep_prob, skip_mode, **kwargs)
        self.num_branches = int(num_branches)
        if not 0 < self.num_branches <= len(OP_KINDS):
            raise ConfigError(f"--child_num_branches: the macro space has {len(OP_KINDS)} ops; got {num_branches}")
        # Flat list: the branch of op k in layer i is branches[i * num_branches + k].
        self.branches = [SearchBranch(out_filters, op, name=f"layer{i}_{macro.OP_NAMES[op]}")
                         for i in range(self.num_layers) for op in range(self.num_branches)]
        self.build()

    def branch(self, layer: int, op_id: int) -> SearchBranch:
        """The weights of op ``op_id`` in layer ``layer``."""
        return self.branches[layer * self.num_branches + op_id]

    def call(self, images, arc, training=None):
        expected = macro.num_tokens(self.num_layers)
        if arc.shape[0] is not None and arc.shape[0] != expected:
            raise ValueError(f"arc has {arc.shape[0]} tokens; a {self.num_layers}-layer macro "
                             f"architecture has {expected}")
        arc = ops.cast(arc, "int32")
        stored = [self._stem(images, training)]
        for layer in range(self.num_layers):
            start = macro.op_position(layer)
            branches = [_run_branch(b, training) for b in self._layer_branches(layer)]
            out = ops.switch(arc[start], branches, stored[-1])
            if layer > 0:
                bits = ops.cast(arc[start + 1:start + 1 + layer], out.dtype)
                out = self._combine(layer, out, [bits[j] * stored[j] for j in range(layer)])
            stored = self._finish_layer(layer, out, stored, training)
        return self._head(stored[-1], training)

    def mixture_call(self, images, weights, training=None):
        """Logits of the continuous relaxation (DARTS): every choice a weighted sum of its candidates.

        ``weights``: float ``[T, M]``, one row per token of the architecture's layout (``M`` at least
        ``num_branches``; extra columns are ignored). Row of layer i's op token: the weights of its
        ``num_branches`` ops, ``out_i = sum_k w_k op_k(stored[-1])``; row of skip bit j: column 1 is the
        gate of ``stored[j]`` (a 2-way choice whose weight of bit = 1 multiplies the skip). With one-hot
        rows this is :meth:`call` of that architecture, same weights, except that every branch runs (its
        batch norms, in training, update their moving statistics).
        """
        expected = macro.num_tokens(self.num_layers)
        if weights.shape[0] is not None and weights.shape[0] != expected:
            raise ValueError(f"weights have {weights.shape[0]} rows; a {self.num_layers}-layer macro "
                             f"architecture has {expected} tokens")
        weights = ops.cast(weights, self.compute_dtype)
        stored = [self._stem(images, training)]
        for layer in range(self.num_layers):
            start = macro.op_position(layer)
            out = None
            for op_id, branch in enumerate(self._layer_branches(layer)):
                term = weights[start, op_id] * branch(stored[-1], training=training)
                out = term if out is None else out + term
            if layer > 0:
                out = self._combine(layer, out, [weights[start + 1 + j, 1] * stored[j] for j in range(layer)])
            stored = self._finish_layer(layer, out, stored, training)
        return self._head(stored[-1], training)

    def get_config(self):
        config = super().get_config()
        config["num_branches"] = self.num_branches
        return config


@keras.saving.register_keras_serializable(package="enas")
class MacroStaticSearchChild(_MacroSearchNetwork):
    """Search semantics of one architecture, op and skips chosen in Python: ``model(images)``.

    Holds the same layers as :class:`MacroSharedChild` restricted to the chosen ops, so
    :meth:`copy_weights_from` can load a shared child's weights for that architecture. Reductions
    of stored layers that no later layer reads are skipped (they cannot change the output).

    Args:
      arc: the ``macro.MacroArc``.
      out_filters, num_classes, image_shape, keep_prob, skip_mode: as :class:`MacroSharedChild`.
      **kwargs: ``keras.Model`` arguments.
    """

    def __init__(self, arc, out_filters: int, num_classes: int, image_shape, keep_prob: float = 1.0,
                 skip_mode: str = SKIP_MODES[0], **kwargs):
        if isinstance(arc, str):
            arc = macro.MacroArc.from_string(arc)
        kwargs.setdefault("name", "macro_static_search_child")
        super().__init__(arc.num_layers, out_filters, num_classes, image_shape, keep_prob, skip_mode, **kwargs)
        self.arc = arc
        self.branches = [SearchBranch(out_filters, op, name=f"layer{i}_{macro.OP_NAMES[op]}")
                         for i, op in enumerate(arc.ops)]
        self.build()

    def _is_read_after(self, entry: int, layer: int) -> bool:
        # Skip the reductions of layers nobody reads again: a static model would not compute them.
        return macro.is_read_after(self.arc, entry, layer)

    def call(self, images, training=None):
        stored = [self._stem(images, training)]
        for layer in range(self.num_layers):
            out = self.branches[layer](stored[-1], training=training)
            if layer > 0:
                out = self._combine(layer, out, [stored[j] if bit else None
                                                 for j, bit in enumerate(self.arc.skips[layer])])
            stored = self._finish_layer(layer, out, stored, training)
        return self._head(stored[-1], training)

    def copy_weights_from(self, shared: MacroSharedChild) -> None:
        """Loads the weights ``shared`` uses for this architecture."""
        pairs = [(self.stem_conv, shared.stem_conv), (self.stem_bn, shared.stem_bn),
                 (self.classifier, shared.classifier)]
        pairs += list(zip(self.sum_bns, shared.sum_bns)) + list(zip(self.reductions, shared.reductions))
        if self.skip_mode != shared.skip_mode:
            raise ValueError(f"skip_mode {self.skip_mode} cannot take the weights of a {shared.skip_mode} child")
        pairs += list(zip(self.skip_convs, shared.skip_convs))
        pairs += [(self.branches[i], shared.branch(i, op)) for i, op in enumerate(self.arc.ops)]
        for target, source in pairs:
            target.set_weights(source.get_weights())

    def get_config(self):
        config = super().get_config()
        del config["num_layers"]
        config["arc"] = self.arc.to_string()
        return config


def build_shared_child(child_config, num_classes: int, input_shape) -> MacroSharedChild:
    """The shared-weight child of ``child_config`` for images of ``input_shape`` (H, W, C)."""
    return MacroSharedChild(child_config.num_layers, child_config.out_filters, child_config.num_branches,
                            num_classes, tuple(input_shape), keep_prob=child_config.keep_prob,
                            skip_mode=child_config.skip_mode)


def build_static_search_child(arc, child_config, num_classes: int, input_shape) -> MacroStaticSearchChild:
    """Search semantics of ``arc`` without a switch; weights load with ``copy_weights_from``."""
    return MacroStaticSearchChild(arc, child_config.out_filters, num_classes, tuple(input_shape),
                                  keep_prob=child_config.keep_prob, skip_mode=child_config.skip_mode)
