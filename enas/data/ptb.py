"""Penn Treebank word-level language-model data: vocabulary, batchified streams, BPTT windows.

Reads the standard Mikolov PTB files ``ptb.train.txt``, ``ptb.valid.txt`` and ``ptb.test.txt`` from
one directory (``DataConfig.data_dir``). Each line is split on whitespace and ``<eos>`` is appended,
so the 10,000-word vocabulary (with its ``<unk>``) becomes 10,000 ids. The vocabulary is built from
the training file in order of first appearance. Words of valid/test that the training file lacks map
to ``<unk>`` when the vocabulary has it (never the case for real PTB), and are an error otherwise.

Each split is *batchified*: its token stream is cut into ``batch_size`` (train) or
``eval_batch_size`` (valid; test too unless ``test_batch_size`` is set) equal parallel streams,
the remainder dropped; row ``b`` of the
``[streams, steps]`` array continues where row ``b - 1`` ends. A BPTT window ``(start, length)``
reads inputs ``data[:, start:start + length]`` and targets one token later.

Windows (:func:`bptt_windows`): fixed windows of ``bptt_steps`` tokens cover a stream, the last one
shorter. Variable windows follow AWD-LSTM / enas_lm: a base of ``bptt`` with probability 0.95 else
``bptt / 2``, then ``length = max(5, int(normal(base, 5)))``, learning rate scaled by
``length / bptt``. An epoch always has ``num_windows(steps, bptt)`` windows (the same count as
fixed windows, so the training loop sees a constant epoch length); a variable window is clipped at
the end of the stream and, in the rare epoch whose draws run past the end, the next window starts
again at the beginning. Window lengths depend only on ``(seed, epoch)``.

Get PTB from the ``simple-examples`` archive of Tomas Mikolov's RNNLM toolkit (its ``data/``
directory holds the three files); :func:`write_synthetic_ptb` writes a tiny learnable corpus in the
same format for smoke runs and tests::

    data = load_ptb(DataConfig(dataset="ptb", data_dir="simple-examples/data", batch_size=64))
    for window in bptt_windows(data.train.shape[1], 35, variable=True, seed=0, epoch=0):
        inputs, targets = window_batch(data.train, window)   # [64, window.length] int32 each
"""

from __future__ import annotations

import dataclasses
import os
import tempfile

import numpy as np

from enas.config import DataConfig
from enas.errors import DataError

SPLIT_FILES = {"train": "ptb.train.txt", "valid": "ptb.valid.txt", "test": "ptb.test.txt"}
EOS = "<eos>"
UNK = "<unk>"
# AWD-LSTM's variable BPTT: full base length with this probability, else half of it.
FULL_LENGTH_PROBABILITY = 0.95
LENGTH_STDDEV = 5.0
MIN_LENGTH = 5

_WHERE_TO_GET = ("get the standard Penn Treebank files ptb.train.txt, ptb.valid.txt and ptb.test.txt from "
                 "the simple-examples archive of Tomas Mikolov's RNNLM toolkit (directory "
                 "simple-examples/data) and pass that directory as --data_path")


@dataclasses.dataclass(frozen=True)
class Window:
    """One BPTT window of a batchified split.

    Args:
      start: first input position in every stream.
      length: number of input (and target) tokens.
      lr_scale: learning-rate multiplier (``length / bptt`` for variable windows, else 1).
    """

    start: int
    length: int
    lr_scale: float = 1.0


@dataclasses.dataclass(frozen=True)
class PtbData:
    """The three PTB splits as batchified int32 arrays.

    Args:
      vocab: the words, index = id.
      train: ``[batch_size, steps]`` training streams.
      valid: ``[eval_batch_size, steps]`` validation streams.
      test: ``[test_batch_size or eval_batch_size, steps]`` test streams.
    """

    vocab: tuple[str, ...]
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def split(self, name: str) -> np.ndarray:
        """The batchified array of ``train``, ``valid`` or ``test``."""
        if name not in SPLIT_FILES:
            raise ValueError(f"unknown split {name!r}; expected one of {', '.join(SPLIT_FILES)}")
        return getattr(self, name)

    def words(self, ids) -> list[str]:
        """The words of a sequence of ids (for inspecting batches)."""
        return [self.vocab[int(i)] for i in np.asarray(ids).reshape(-1)]


def read_words(path: str) -> list[list[str]]:
    """The lines of a PTB file as word lists, ``<eos>`` appended to each; DataError if missing/empty."""
    if not os.path.isfile(path):
        raise DataError(f"PTB file not found: {path}; {_WHERE_TO_GET}")
    with open(path, encoding="utf-8") as handle:
        lines = [line.split() + [EOS] for line in handle]
    if not any(len(words) > 1 for words in lines):
        raise DataError(f"PTB file {path} has no words; {_WHERE_TO_GET}")
    return lines


def build_vocab(lines: list[list[str]]) -> tuple[str, ...]:
    """Words in order of first appearance (ids are deterministic given the training file)."""
    return tuple(dict.fromkeys(word for words in lines for word in words))


def to_ids(lines: list[list[str]], word_to_id: dict[str, int], path: str) -> np.ndarray:
    """Maps words to ids; unknown words become ``<unk>`` if the vocabulary has it, else DataError."""
    unk = word_to_id.get(UNK)
    ids = []
    for line_number, words in enumerate(lines, start=1):
        for word in words:
            index = word_to_id.get(word, unk)
            if index is None:
                raise DataError(f"vocabulary is inconsistent between splits: word {word!r} in {path} line "
                                f"{line_number} is not in the training vocabulary, which has no {UNK} to map "
                                "it to; use the standard PTB files (every word is in ptb.train.txt)")
            ids.append(index)
    return np.asarray(ids, dtype=np.int32)


def batchify(ids: np.ndarray, num_streams: int) -> np.ndarray:
    """``[num_streams, len(ids) // num_streams]``: stream b is the b-th contiguous chunk of ``ids``."""
    steps = len(ids) // num_streams
    if steps == 0:
        raise DataError(f"{len(ids)} tokens cannot fill {num_streams} streams; use a smaller batch size")
    return ids[:num_streams * steps].reshape(num_streams, steps)


def num_windows(num_steps: int, bptt: int) -> int:
    """Windows per epoch over a stream of ``num_steps`` tokens (the last input has a target)."""
    return -(-(num_steps - 1) // bptt)


def bptt_windows(num_steps: int, bptt: int, *, variable: bool = False, seed: int = 0,
                 epoch: int = 0) -> list[Window]:
    """The windows of one epoch over streams of ``num_steps`` tokens (see the module docstring)."""
    if num_steps < bptt + 1:
        raise DataError(f"BPTT length {bptt} is too long for streams of {num_steps} tokens (needs at least "
                        f"{bptt + 1}); use a smaller --child_bptt_steps or batch size")
    count, end = num_windows(num_steps, bptt), num_steps - 1
    if not variable:
        return [Window(start, min(bptt, end - start)) for start in range(0, end, bptt)]
    rng = np.random.default_rng([seed, epoch])
    windows, start = [], 0
    for _ in range(count):
        base = bptt if rng.random() < FULL_LENGTH_PROBABILITY else bptt / 2.0
        length = max(MIN_LENGTH, int(rng.normal(base, LENGTH_STDDEV)))
        if start >= end:  # ran past the end of the streams: start over at the beginning
            start = 0
        length = min(length, end - start)
        windows.append(Window(start, length, length / bptt))
        start += length
    return windows


def window_batch(data: np.ndarray, window: Window) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``data[:, start:start+length]`` and targets shifted by one token."""
    stop = window.start + window.length
    return data[:, window.start:stop], data[:, window.start + 1:stop + 1]


def write_synthetic_ptb(directory: str, vocab_size: int = 30, lines: tuple[int, int, int] = (200, 40, 40),
                        seed: int = 0) -> str:
    """Writes a small learnable corpus in the PTB file format (for smoke runs and tests).

    Words are ``w0 .. w{vocab_size - 3}`` and ``<unk>`` (with ``<eos>``: ``vocab_size`` ids); each
    line follows a random walk over the words, so a language model can learn it. ``lines``: line
    counts of train, valid and test. Returns ``directory``.
    """
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(vocab_size - 2)] + [UNK]
    os.makedirs(directory, exist_ok=True)
    for (split, name), count in zip(SPLIT_FILES.items(), lines):
        # Written aside, then renamed: runs started together share the directory, and a reader must
        # never see a file half written (the content is the same for the same seed).
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            for _ in range(count):
                position, line = int(rng.integers(len(words))), []
                for _ in range(int(rng.integers(3, 12))):
                    line.append(words[position])
                    position = (position + int(rng.integers(1, 3))) % len(words)
                handle.write(" " + " ".join(line) + " \n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, os.path.join(directory, name))
    return directory


def load_ptb(config: DataConfig) -> PtbData:
    """Reads and batchifies the three PTB files of ``config.data_dir``.

    Raises DataError when a file is missing or empty, when valid/test hold words the training file
    lacks and there is no ``<unk>``, or when a stream is shorter than ``bptt_steps + 1`` tokens.
    """
    directory = config.data_dir
    if config.dataset == "ptb_synthetic" and not directory:
        # Smoke runs and the quickstart: a small learnable corpus in the PTB format, made on the spot.
        directory = write_synthetic_ptb(os.path.join(tempfile.gettempdir(), f"enas_ptb_synthetic_{config.seed}"),
                                        seed=config.seed)
    if not directory:
        raise DataError(f"--data_path is empty; {_WHERE_TO_GET}")
    paths = {split: os.path.join(directory, name) for split, name in SPLIT_FILES.items()}
    lines = {split: read_words(path) for split, path in paths.items()}
    vocab = build_vocab(lines["train"])
    word_to_id = {word: index for index, word in enumerate(vocab)}
    arrays = {}
    for split, path in paths.items():
        streams = {"train": config.batch_size,
                   "test": getattr(config, "test_batch_size", 0) or config.eval_batch_size}.get(
                       split, config.eval_batch_size)
        ids = to_ids(lines[split], word_to_id, path)
        if len(ids) // streams < config.bptt_steps + 1:
            raise DataError(
                f"BPTT length {config.bptt_steps} is too long for {path}: {len(ids)} tokens in {streams} "
                f"streams give {len(ids) // streams} tokens each (each needs at least "
                f"{config.bptt_steps + 1}); use a "
                "smaller --child_bptt_steps, --batch_size or --eval_batch_size")
        arrays[split] = batchify(ids, streams)
    return PtbData(vocab=vocab, **arrays)
