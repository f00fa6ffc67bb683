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
