"""Learning-rate schedules: linear warm-up, then constant, cosine or one-cycle decay."""

from __future__ import annotations

import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="captcha_ocr")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over `warmup` steps to `peak`, then `kind` decay until `total` steps.

    - constant: stays at `peak` after warm-up.
    - cosine: cosine from `peak` to 0.
    - onecycle: warms from peak/25 over `warmup` steps (30% of all if 0) and
      anneals with a cosine to peak/1e4.
    """

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
