"""A time budget that the whole learning-rate schedule fits in (`train.time_budget_fit`).

`train.time_budget_min` alone stops a run after the epoch that passes the budget: on a machine
slower than the one a config was sized on, that cuts a one-cycle or cosine schedule before it
anneals, and the run ends at a high learning rate with a noisy model. With `time_budget_fit`,
`FitToBudget` plans instead. After every epoch it counts the epochs that still fit in the budget
at the pace of the epoch just finished (never more than `train.epochs`), and makes the schedule
(`model.schedules.FittedSchedule`) end with the last of them. So a fast machine trains the
configured epochs, and a slow one fewer, each ending annealed. A plan is kept while it ends less
than half an epoch past the budget: shortening it by one epoch at the last moment would stop
the run before its learning rate has annealed. The run may so end up to half an epoch late.

The plan is recorded in every history row (`planned_epochs`, `schedule_offset`, `schedule_rate`),
so a resumed run walks on from where it stopped (`restore_plan`).
"""

from __future__ import annotations

from typing import Callable

import keras

from captcha_ocr.model.schedules import FittedSchedule

PLANNED = "planned_epochs"
SLACK = 0.5  # of an epoch: how far past the budget a plan may end before it is shortened
OFFSET, RATE = "schedule_offset", "schedule_rate"


def planned_epochs(rows: list[dict]) -> int | None:
    """The epochs the plan of the last recorded epoch allows (None: no plan recorded)."""
    if rows and rows[-1].get(PLANNED) not in (None, ""):
        return int(float(rows[-1][PLANNED]))
    return None


def restore_plan(model, rows: list[dict]) -> None:
    """Set the schedule of a resumed run to the plan its last recorded epoch made."""
    schedule = model.optimizer._learning_rate
    if isinstance(schedule, FittedSchedule) and rows and rows[-1].get(RATE) not in (None, ""):
        schedule.set(float(rows[-1][OFFSET]), float(rows[-1][RATE]))


class FitToBudget(keras.callbacks.Callback):
    """Plans the epochs that fit in `budget_s` after each epoch, and ends the schedule with them.

    Must run after the callback that puts `time_s` (seconds since the run started, resumed
    epochs included) in the logs, and before the one that records the logs.

    Args:
        epochs: the configured epochs (the most the plan allows).
        steps: batches per epoch.
        budget_s: the budget in seconds of training (validation included, rendering not).
        rows: the history of the epochs before this process's first.
        log: where a changed plan is reported.
    """

    def __init__(self, epochs: int, steps: int, budget_s: float, rows: list[dict], log: Callable[[str], None]):
        super().__init__()
        self.epochs, self.steps, self.budget_s, self.log = epochs, steps, budget_s, log
        self.planned = planned_epochs(rows) or epochs
        self.last_time = float(rows[-1]["time_s"]) if rows else 0.0

    def on_epoch_end(self, epoch, logs=None):
        done, now = epoch + 1, float(logs["time_s"])
        pace, self.last_time = now - self.last_time, now
        fit = int((self.budget_s - now) // pace) if pace > 0 else self.epochs
        planned = max(done, min(self.epochs, done + max(fit, 0)))
        if done < self.planned and planned < self.planned and \
                now + (self.planned - done) * pace <= self.budget_s + SLACK * pace:
            planned = self.planned  # a little slower than planned: end a little late rather than cut the anneal
        if planned != self.planned:
            self.log(f"time budget of {self.budget_s / 60:g} min: {planned} of {self.epochs} epochs fit at "
                     f"{pace:.3g} s per epoch; the learning-rate schedule now ends with epoch {planned}")
        self.planned = planned
        schedule = self.model.optimizer._learning_rate
        if isinstance(schedule, FittedSchedule):
            if done < planned:
                schedule.plan(done * self.steps, planned * self.steps)
            logs[OFFSET], logs[RATE] = float(schedule.offset.numpy()), float(schedule.rate.numpy())
        logs[PLANNED] = planned
        if done >= planned:
            self.model.stop_training = True
