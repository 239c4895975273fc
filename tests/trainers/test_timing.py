"""The epoch timer: every second charged to one phase, nested phases taken out of the outer one."""

import time

import pytest

from enas.trainers.timing import PHASES, EpochTimer, TimedRewards


def test_phases_are_exclusive_and_add_up_to_the_epoch():
    timer = EpochTimer()
    with timer.phase("child_train"):
        time.sleep(0.03)
        with timer.phase("propose"):
            time.sleep(0.02)
    time.sleep(0.01)
    record = timer.record()
    assert set(record) == {"seconds"} | {"time_" + name for name in PHASES}
    assert record["time_propose"] == pytest.approx(0.02, abs=0.015)
    assert record["time_child_train"] == pytest.approx(0.03, abs=0.015)
    assert record["time_other"] >= 0.01
    assert sum(value for key, value in record.items() if key.startswith("time_")) == pytest.approx(
        record["seconds"], abs=0.005)
    timer.start()
    assert timer.record()["time_child_train"] == 0.0
    with pytest.raises(ValueError, match="unknown phase"):
        with timer.phase("lunch"):
            pass


def test_timed_rewards_charges_rewards_and_delegates_the_rest():
    class Task:
        steps = 3

        def reward(self, arc):
            time.sleep(0.02)
            return arc * 2

    timer = EpochTimer()
    task = TimedRewards(Task(), timer)
    with timer.phase("strategy"):
        assert task.reward(4) == 8
    assert task.steps == 3
    record = timer.record()
    assert record["time_reward"] == pytest.approx(0.02, abs=0.015) and record["time_strategy"] < 0.015
