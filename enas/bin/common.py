"""What the thin binaries share: flag parsing, help, clean errors (one line, exit 2), interrupts.

Every bad input ends a binary with one ``error:`` line on stderr and exit status 2, never a
traceback: flag-parsing errors (absl's own would exit 1), library errors (:class:`EnasError`),
unwritable paths (``OSError``) and running out of memory. Flags are parsed and checked before
TensorFlow is imported, so that bad flags are rejected in a fraction of a second.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile

from absl import app, flags, logging

from enas.errors import EnasError
from enas.flags import BASELINES_DIR

HELP_ARGS = ("--help", "-help", "-h", "--helpshort", "-?")
# TensorFlow's C++ start-up lines, written before its logging is set up (so TF_CPP_MIN_LOG_LEVEL
# does not hide them): the absl::InitializeLog notice and glog-style lines (oneDNN, CPU features).
_TF_STARTUP_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog|"
                               r"[IWE]\d{4} [\d:. ]+\d+ \w+\.cc:\d+\])")


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
        if not name or not os.path.exists(path):
            fail(f"--baseline: unknown baseline {name!r}; available: {', '.join(available_baselines())}")
        expanded.append("--flagfile=" + path)
    return expanded


def fail(message: str, status: int = 2) -> None:
    """Prints ``error: message`` (on one line) on stderr and exits (no traceback)."""
    print("error: " + " ".join(str(message).split()), file=sys.stderr, flush=True)
    sys.exit(status)


def define_baseline_flag() -> None:
    """Defines ``--baseline`` so that help lists it (it is expanded before parsing, see above)."""
    if "baseline" not in flags.FLAGS:
        flags.DEFINE_string("baseline", "", "A packaged baseline flagfile by name (flags after it override it): "
                            + ", ".join(available_baselines()) + ".")


def print_help(doc: str) -> None:
    """The binary's usage (its docstring) and the help of every enas flag it takes, on stdout."""
    print((doc or "").strip() + "\n")
    print("Flags:")
    for module, module_flags in sorted(flags.FLAGS.flags_by_module_dict().items()):
        if module.startswith("enas.") or module == "__main__":
            print(flags.FLAGS.module_help(module))
    print("\nMore: --helpfull (adds absl's own flags).")


def parse_flags(argv: list[str], doc: str = "") -> list[str]:
    """absl's flag parser, with ``--help`` showing this binary's flags and errors as one line, exit 2."""
    if any(arg in HELP_ARGS for arg in argv[1:]):
        try:
            print_help(doc)
            sys.stdout.flush()
        except BrokenPipeError:  # `enas-search --help | head`
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    argv = expand_baseline(list(argv))
    flags.FLAGS.unparse_flags()  # a fresh parse when called again in one process (tests)
    try:
        rest = flags.FLAGS(argv)
    except flags.Error as error:
        fail(f"{str(error).replace('ERROR:: ', '')}; see --help")
    if len(rest) > 1:
        fail(f"unexpected arguments {' '.join(rest[1:])}; every option is a --flag (see --help)")
    return rest


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow with its C++ start-up lines filtered out of stderr (others are kept)."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow  # noqa: F401  pylint: disable=import-outside-toplevel,unused-import
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if not _TF_STARTUP_NOISE.match(line):
                    print(line, file=sys.stderr)


def _is_out_of_memory(error: BaseException) -> bool:
    text = str(error)[:500]
    return (isinstance(error, MemoryError) or type(error).__name__ == "ResourceExhaustedError"
            or "OOM when allocating" in text or "out of memory" in text.lower())


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
        except OSError as error:  # a path that cannot be read or written
            where = f"{error.filename}: " if error.filename else ""
            fail(f"{where}{error.strerror or error}")
        except Exception as error:  # pylint: disable=broad-except
            if _is_out_of_memory(error):
                fail("out of memory: the model or batch is too large for this machine (lower "
                     "--child_out_filters, --child_num_layers, --batch_size or --eval_batch_size)")
            raise

    return wrapper


def run_main(main, define_flags, doc: str = "", argv=None, baselines: bool = True) -> None:
    """Defines flags, parses them (``--baseline``, one-line errors) and runs ``main`` under absl.

    ``doc`` is shown by ``--help`` (the binary's docstring); ``argv`` defaults to ``sys.argv``.
    """
    define_flags()
    if baselines:
        define_baseline_flag()
    app.run(guarded(main), argv=list(sys.argv if argv is None else argv),
            flags_parser=functools.partial(parse_flags, doc=doc))
