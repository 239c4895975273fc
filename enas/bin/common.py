"""What the thin binaries share: clean errors (one line, exit 2), interrupts, ``--baseline``."""

from __future__ import annotations

import functools
import os
import sys

from absl import app, flags, logging

from enas.errors import EnasError
from enas.flags import BASELINES_DIR


def available_baselines() -> list[str]:
    """Names of the packaged baseline flagfiles."""
    return sorted(name[:-4] for name in os.listdir(BASELINES_DIR) if name.endswith(".cfg"))


def expand_baseline(argv: list[str]) -> list[str]:
    """Replaces ``--baseline=NAME`` (or ``--baseline NAME``) by ``--flagfile=<packaged NAME.cfg>``.

    Done before absl parses, so flags after it override the baseline's values.
    """
    expanded, args = [], iter(argv)
    for arg in args:
        if arg == "--baseline":
            name = next(args, "")
        elif arg.startswith("--baseline="):
            name = arg.split("=", 1)[1]
        else:
            expanded.append(arg)
            continue
        path = os.path.join(BASELINES_DIR, name + ".cfg")
        if not os.path.exists(path):
            fail(f"--baseline: unknown baseline {name!r}; available: {', '.join(available_baselines())}")
        expanded.append("--flagfile=" + path)
    return expanded


def fail(message: str, status: int = 2) -> None:
    """Prints ``error: message`` on stderr and exits (no traceback)."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(status)


def guarded(main):
    """Wraps an absl ``main`` so library errors end as one line and exit status 2."""

    @functools.wraps(main)
    def wrapper(argv):
        from enas.trainers.run_dir import Interrupted  # pylint: disable=import-outside-toplevel

        if not flags.FLAGS["verbosity"].present:  # TensorFlow's INFO chatter hides the progress lines
            logging.set_verbosity(logging.WARNING)
        if len(argv) > 1:
            fail(f"unexpected arguments {' '.join(argv[1:])}; every option is a --flag")
        try:
            return main(argv)
        except EnasError as error:
            fail(str(error))
        except Interrupted as stop:
            fail(str(stop), status=130)

    return wrapper


def run_main(main, define_flags) -> None:
    """Defines flags, expands ``--baseline`` and runs ``main`` under absl."""
    define_flags()
    app.run(guarded(main), argv=expand_baseline(sys.argv))
