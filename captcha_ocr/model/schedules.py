"""Learning-rate schedules: linear warm-up, then constant, cosine or one-cycle decay, all Keras's `CosineDecay`.

- constant: warms from 0 to the peak, then stays there (`alpha=1`: the cosine has nothing to decay);
- cosine: warms from 0 to the peak, then a cosine to 0;
- onecycle: warms from peak/25 over the warm-up (30% of all steps if none is set),
  then a cosine to peak/1e4.

`WarmupSchedule`, this package's own implementation of the same three curves
before Keras's was used, stays registered so that models and backups saved by
older versions still load.
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


def make_schedule(kind: str, peak: float, total_steps: int, warmup_steps: int):
    """The learning rate of `kind` over `total_steps` steps: a float for a plain constant, else a schedule.

    Args:
        kind: "constant", "cosine" or "onecycle".
        peak: the largest learning rate.
        total_steps: steps of the whole run (epochs x steps per epoch).
        warmup_steps: steps of linear warm-up (onecycle: 30% of all when 0).
    """
    total_steps = max(int(total_steps), 1)
    if kind == "constant" and not warmup_steps:
        return peak
    if kind == "onecycle":
        warmup_steps = warmup_steps or max(1, int(0.3 * total_steps))
        start, alpha = peak / 25.0, 1e-4
    else:
        start, alpha = 0.0, 1.0 if kind == "constant" else 0.0
    if not warmup_steps:
        return keras.optimizers.schedules.CosineDecay(peak, total_steps, alpha=alpha)
    return keras.optimizers.schedules.CosineDecay(
        start, max(total_steps - warmup_steps, 1), alpha=alpha, warmup_target=peak, warmup_steps=warmup_steps)


@keras.saving.register_keras_serializable(package="captcha_ocr")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """The schedules of versions before 0.2 (see the module docstring); kept so their files load."""

    def __init__(self, peak: float, total: int, warmup: int, kind: str):
        self.peak, self.total, self.warmup, self.kind = float(peak), int(total), int(warmup), kind

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        total = float(max(self.total, 1))
        if self.kind == "onecycle":
            warm = float(self.warmup or max(1, int(0.3 * total)))
            start, end = self.peak / 25.0, self.peak / 1e4
        else:
            warm, start, end = float(self.warmup), 0.0, 0.0
        up = start + (self.peak - start) * step / max(warm, 1.0)
        if self.kind == "constant":
            down = tf.constant(self.peak, tf.float32)
        else:
            frac = tf.clip_by_value((step - warm) / max(total - warm, 1.0), 0.0, 1.0)
            down = end + (self.peak - end) * 0.5 * (1.0 + tf.cos(math.pi * frac))
        return tf.where(step < warm, up, down)

    def get_config(self):
        return {"peak": self.peak, "total": self.total, "warmup": self.warmup, "kind": self.kind}


@keras.saving.register_keras_serializable(package="captcha_ocr")
class FittedSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """`inner` walked at a pace set while training, so that it ends at a step planned then.

    The rate at step s is `inner(min(offset + rate * s, total_steps))`; `plan` changes `offset` and
    `rate` from the current step on, so the curve stays continuous and reaches its end (the
    annealed learning rate) exactly at the planned last step. A time budget uses it to finish the
    whole schedule inside the budget on a slow machine (`training.budget`).

    Args:
        inner: the schedule made by `make_schedule` for `total_steps`.
        total_steps: the steps `inner` was made for.
        offset, rate: the current plan (0.0 and 1.0: `inner` as made).
    """

    def __init__(self, inner, total_steps: int, offset: float = 0.0, rate: float = 1.0):
        self.inner, self.total_steps = inner, int(total_steps)
        self.offset = tf.Variable(float(offset), trainable=False, dtype=tf.float32, name="schedule_offset")
        self.rate = tf.Variable(float(rate), trainable=False, dtype=tf.float32, name="schedule_rate")

    def __call__(self, step):
        at = tf.minimum(self.offset + self.rate * tf.cast(step, tf.float32), float(self.total_steps))
        return self.inner(at)

    def plan(self, step: int, end_step: int) -> None:
        """From `step` on, walk the rest of `inner` so that it ends at `end_step`."""
        now = min(float(self.offset.numpy()) + float(self.rate.numpy()) * step, float(self.total_steps))
        rate = (self.total_steps - now) / max(end_step - step, 1)
        self.set(now - rate * step, rate)

    def set(self, offset: float, rate: float) -> None:
        """Restore a plan (a resumed run's, from its history)."""
        self.offset.assign(float(offset))
        self.rate.assign(float(rate))

    def get_config(self):
        return {"inner": keras.optimizers.schedules.serialize(self.inner), "total_steps": self.total_steps,
                "offset": float(self.offset.numpy()), "rate": float(self.rate.numpy())}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["inner"] = keras.optimizers.schedules.deserialize(config["inner"])
        return cls(**config)
