"""enas.bin: the thin absl binaries (console scripts ``enas-search``, ``enas-train``, ...)."""

import os as _os

# Quiet TensorFlow's C++ start-up log in the binaries unless the user chose a level.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
