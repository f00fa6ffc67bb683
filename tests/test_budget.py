"""train.time_budget_fit: the epochs planned to fit a time budget, the learning-rate schedule ending inside it."""

import time

import keras
import numpy as np
import pytest
from conftest import SMOKE, assert_user_error, run_module

from captcha_ocr.core.config import load_config
from captcha_ocr.model.schedules import FittedSchedule, make_schedule
from captcha_ocr.training.budget import FitToBudget, restore_plan
from captcha_ocr.training.fit import train
from captcha_ocr.training.rundir import read_history

PEAK = 0.002


def onecycle(total: int) -> FittedSchedule:
    return FittedSchedule(make_schedule("onecycle", PEAK, total, 0), total)


def lr(schedule, step: int) -> float:
    return float(schedule(step))


def test_a_plan_keeps_the_curve_continuous_and_ends_it_at_the_planned_step():
    schedule = onecycle(1000)
    as_made = make_schedule("onecycle", PEAK, 1000, 0)
    assert lr(schedule, 100) == pytest.approx(float(as_made(100)))
    before = lr(schedule, 200)
    schedule.plan(200, 500)
    assert lr(schedule, 200) == pytest.approx(before, rel=1e-5)
    assert lr(schedule, 500) == pytest.approx(PEAK * 1e-4, rel=1e-3), "annealed at the planned end"
    assert lr(schedule, 400) < lr(schedule, 300), "walked faster: already annealing at step 300"
    schedule.plan(300, 800)  # a later, longer plan (the machine sped up) is continuous too
    assert lr(schedule, 800) == pytest.approx(PEAK * 1e-4, rel=1e-3)


def test_a_fitted_schedule_saves_and_loads_with_its_plan():
    schedule = onecycle(1000)
    schedule.plan(100, 400)
    copy = FittedSchedule.from_config(keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)).get_config())
    for step in (0, 150, 399):
        assert lr(copy, step) == pytest.approx(lr(schedule, step))


class _Model:
    """What FitToBudget reads and writes of a Keras model: the optimizer's schedule and stop_training."""

    def __init__(self, schedule):
        self.optimizer = keras.optimizers.Adam(schedule)
        self.stop_training = False


def test_each_epoch_plans_the_epochs_that_fit_at_its_pace():
    steps, lines = 10, []
    callback = FitToBudget(epochs=20, steps=steps, budget_s=100, rows=[], log=lines.append)
    model = _Model(onecycle(20 * steps))
    callback.set_model(model)
    epoch, now, planned = 0, 0.0, []
    while not model.stop_training:
        now += 20.0 if epoch == 0 else 10.0  # the first epoch traces the graph: slower
        logs = {"time_s": now}
        callback.on_epoch_end(epoch, logs)
        planned.append(logs["planned_epochs"])
        epoch += 1
    assert planned[:2] == [5, 9], "after epoch 1, 80 s left at 20 s; after epoch 2, 70 s left at 10 s"
    assert epoch == 9 and now <= 100
    assert lr(model.optimizer._learning_rate, 9 * steps) == pytest.approx(PEAK * 1e-4, rel=1e-3)
    assert lines and "9 of 20 epochs fit" in lines[-1]


def test_a_fast_machine_trains_every_configured_epoch():
    callback = FitToBudget(epochs=4, steps=10, budget_s=1000, rows=[], log=lambda line: None)
    model = _Model(onecycle(40))
    callback.set_model(model)
    for epoch in range(4):
        logs = {"time_s": 5.0 * (epoch + 1)}
        callback.on_epoch_end(epoch, logs)
        assert logs["planned_epochs"] == 4
        assert logs["schedule_rate"] == pytest.approx(1.0)
    assert model.stop_training


def test_restore_plan_sets_the_schedule_of_the_last_recorded_epoch():
    model = _Model(onecycle(100))
    restore_plan(model, [{"epoch": 1, "schedule_offset": 12.5, "schedule_rate": 1.75, "planned_epochs": 6}])
    schedule = model.optimizer._learning_rate
    assert float(schedule.offset.numpy()) == 12.5 and float(schedule.rate.numpy()) == 1.75


class Slow(keras.callbacks.Callback):
    """Makes every epoch take at least `seconds`, so a budget holds few epochs on any machine."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_epoch_begin(self, epoch, logs=None):
        time.sleep(self.seconds)


class Crash(Exception):
    pass


class CrashAfterEpoch(keras.callbacks.Callback):
    """Ends the process's training abruptly once `epochs` are recorded, as a kill would."""

    def __init__(self, epochs: int):
        super().__init__()
        self.epochs = epochs

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epochs:
            raise Crash


class SeesPlan(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        schedule = self.model.optimizer._learning_rate
        self.plan = (float(schedule.offset.numpy()), float(schedule.rate.numpy()))


def test_a_budget_run_ends_annealed_at_its_plan_and_resumes_with_it(workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # the smoke data cache is shared with the other tests
    config = load_config(SMOKE, ["train.epochs=60", "train.schedule=onecycle", f"train.learning_rate={PEAK}",
                                 "train.time_budget_min=0.2", "train.time_budget_fit=true"])
    run_dir = workdir / "runs" / "budget-fit"
    quiet = dict(log=lambda *a: None)
    with pytest.raises(Crash):
        train(config, run_dir, callbacks=[Slow(0.4), CrashAfterEpoch(3)], **quiet)
    first = read_history(run_dir / "history.csv")
    assert len(first) == 3 and first[-1]["planned_epochs"] < 60
    sees = SeesPlan()
    metrics = train(config, run_dir, callbacks=[Slow(0.4), sees], **quiet)
    assert sees.plan == pytest.approx((first[-1]["schedule_offset"], first[-1]["schedule_rate"]))
    rows = read_history(run_dir / "history.csv")
    assert len(rows) == rows[-1]["planned_epochs"] == metrics["epochs"] < 60, "stopped at its plan, inside 12 s"
    assert rows[-1]["time_s"] <= 12 + 2
    assert rows[-1]["learning_rate"] == pytest.approx(PEAK * 1e-4, rel=1e-2), "the schedule annealed"
    assert np.all(np.diff([r["epoch"] for r in rows]) == 1)


def test_a_fitted_budget_without_a_budget_is_refused(workdir):
    proc = run_module("train", "--config", SMOKE, "--set", "train.time_budget_fit=true", cwd=workdir)
    assert_user_error(proc, "train.time_budget_fit", "train.time_budget_min")
