"""Progress output: plain lines when stdout is not a terminal, the epoch line always, 4 significant digits."""

import io

from enas.config import RunConfig
from enas.trainers.progress import ProgressReporter, format_value, report_epoch


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_non_terminal_gets_plain_lines_without_control_codes():
    stream = io.StringIO()
    bar = ProgressReporter(4, "epoch 1/2", RunConfig(log_every=2), stream=stream)
    for step in range(1, 5):
        bar.update(step, loss=2.5, lr=5e-05)
    text = stream.getvalue()
    assert text == "epoch 1/2 step 2/4 loss=2.5 lr=5e-05\nepoch 1/2 step 4/4 loss=2.5 lr=5e-05\n"
    assert "\r" not in text and "\x1b" not in text


def test_progress_off_shows_nothing_and_a_terminal_gets_the_bar():
    quiet = io.StringIO()
    bar = ProgressReporter(4, "epoch 1/2", RunConfig(progress=False), stream=quiet)
    bar.update(4, loss=1.0, lr=0.1)
    assert quiet.getvalue() == ""
    assert ProgressReporter(4, "epoch 1/2", RunConfig(), stream=_Terminal())._bar is not None


def test_the_epoch_line_is_printed_with_small_values_intact(tmp_path, capsys):
    import tensorflow as tf

    from enas.trainers.run_dir import JsonlLog

    writer = tf.summary.create_file_writer(str(tmp_path / "tb"))
    log = JsonlLog(str(tmp_path / "log.jsonl"))
    report_epoch({"epoch": 1, "controller_lr": 5e-05, "child_loss": 2.345678}, writer, log)
    assert capsys.readouterr().out == "epoch=1 controller_lr=5e-05 child_loss=2.346\n"
    assert log.records() == [{"epoch": 1, "controller_lr": 5e-05, "child_loss": 2.345678}]
    assert format_value(0.0001234) == "0.0001234" and format_value(3) == "3"
