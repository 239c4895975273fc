"""A thin, TensorFlow-only helper that compiles the controller's pure functions.

Everything else in :mod:`enas.controller.controller` uses only ``keras.ops``/``keras.random``.
Under the TensorFlow backend :func:`compile_function` returns a ``tf.function`` with a fixed input
signature (one trace for every batch size); under any other backend it returns the function
unchanged (eager; correct but slower).
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence

import keras


def compile_function(fn: Callable, input_signature: Optional[Sequence[tuple]] = None,
                     jit_compile: bool = False) -> Callable:
    """Compile ``fn`` once for the given ``[(shape, dtype), ...]`` signature (``None`` dims allowed).

    Args:
      fn: a function of tensors that builds no variables.
      input_signature: one ``(shape, dtype)`` per positional argument; ``None`` lets TensorFlow
        trace per distinct input shape.
      jit_compile: compile with XLA (usually slower for the small controller on CPU).
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    import tensorflow as tf  # only here: the controller itself stays backend-agnostic

    signature = None
    if input_signature is not None:
        signature = [tf.TensorSpec(shape, dtype) for shape, dtype in input_signature]
    return tf.function(fn, input_signature=signature, jit_compile=jit_compile)
