"""Progress where people look: one plain line at least every 30 s while an epoch trains, when stdout is
not a terminal (`nohup ... > log`, CI, a notebook's captured output).

Keras's progress bar redraws one terminal line; written to a file it is nothing until the epoch ends
(`verbose=2` prints one line per epoch), so a 20-minute epoch looked like a hung job. This callback adds
`epoch 1/36, step 40/156: 102 images/s, loss 3.21, epoch ETA 1 min 54 s` lines in between.
"""

from __future__ import annotations

import time
from typing import Callable

import keras

EVERY_S = 30.0


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


class ProgressLines(keras.callbacks.Callback):
    """Logs `epoch E/N, step S/T: R images/s, loss L, epoch ETA D` every `every_s` seconds of an epoch.

    Args:
        epochs: the run's epochs (the N of E/N).
        steps: batches per epoch.
        batch_size: images per batch.
        log: where lines go (the train command's log: stdout).
        every_s: the most seconds between two lines.
        clock: seconds from an arbitrary start (tests give their own).
    """

    def __init__(self, epochs: int, steps: int, batch_size: int, log: Callable[[str], None],
                 every_s: float = EVERY_S, clock: Callable[[], float] = time.perf_counter):
        super().__init__()
        self.epochs, self.steps, self.batch_size = epochs, steps, batch_size
        self.log, self.every_s, self.clock = log, every_s, clock

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.start = self.last = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        if now - self.last < self.every_s:
            return
        self.last = now
        done = batch + 1
        rate = done * self.batch_size / max(now - self.start, 1e-9)
        eta = (self.steps - done) * self.batch_size / rate
        loss = f", loss {float(logs['loss']):.4g}" if logs and "loss" in logs else ""
        self.log(f"epoch {self.epoch + 1}/{self.epochs}, step {done}/{self.steps}: {rate:.0f} images/s{loss}, "
                 f"epoch ETA {_duration(eta)}")
