"""The epoch timer: every second charged to one phase, nested phases taken out of the outer one."""

import time

import pytest

from enas.trainers.timing import FINAL_PHASES, PHASES, EpochTimer, TimedRewards, TimedTask


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


def test_timed_task_charges_each_named_method_to_its_phase():
    class Task:
        def train_step(self, arc):
            time.sleep(0.02)
            return {"loss": arc}

        def mixture_valid_gradient(self, weights):
            time.sleep(0.02)
            return weights

    timer = EpochTimer()
    task = TimedTask(Task(), timer)
    with timer.phase("propose"):
        assert task.train_step(1.5) == {"loss": 1.5}
        assert task.mixture_valid_gradient(3) == 3
    record = timer.record()
    assert record["time_child_train"] == pytest.approx(0.02, abs=0.015)
    assert record["time_strategy"] == pytest.approx(0.02, abs=0.015)
    assert record["time_propose"] < 0.015


def test_final_training_has_its_own_phases():
    timer = EpochTimer(FINAL_PHASES)
    with timer.phase("train"):
        time.sleep(0.01)
    assert set(timer.record()) == {"seconds"} | {"time_" + name for name in FINAL_PHASES}
    with pytest.raises(ValueError, match="need 'other'"):
        EpochTimer(("train",))
