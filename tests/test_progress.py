"""captcha_ocr.training.progress: plain progress lines at least every 30 s when stdout is no terminal."""

import numpy as np

from captcha_ocr.training.progress import ProgressLines


class Clock:
    def __init__(self, step_s: float):
        self.now, self.step_s = 0.0, step_s

    def __call__(self):
        self.now += self.step_s
        return self.now


def test_a_line_every_interval_with_step_rate_loss_and_eta():
    lines = []
    callback = ProgressLines(epochs=3, steps=10, batch_size=8, log=lines.append, every_s=30, clock=Clock(10.0))
    callback.on_epoch_begin(1)
    for batch in range(10):
        callback.on_train_batch_end(batch, {"loss": 2.5})
    # 10 s per batch: a line at 30, 60 and 90 s (batches 3, 6 and 9), none between.
    assert len(lines) == 3
    assert lines[0] == "epoch 2/3, step 3/10: 1 images/s, loss 2.5, epoch ETA 1 min 10 s"
    assert lines[2].startswith("epoch 2/3, step 9/10:") and lines[2].endswith("epoch ETA 10 s")


def test_no_line_when_batches_are_quicker_than_the_interval():
    lines = []
    callback = ProgressLines(epochs=1, steps=100, batch_size=64, log=lines.append, every_s=30, clock=Clock(0.1))
    callback.on_epoch_begin(0)
    for batch in range(100):
        callback.on_train_batch_end(batch, {"loss": 1.0})
    assert lines == []


def test_in_a_real_fit_the_lines_come_from_keras_batches():
    import keras

    lines = []
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x, y = np.zeros((32, 4), np.float32), np.zeros((32, 1), np.float32)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0,
              callbacks=[ProgressLines(2, 4, 8, lines.append, every_s=0.0)])
    assert [line.split(":")[0] for line in lines] == [f"epoch {e}/2, step {s}/4" for e in (1, 2) for s in (1, 2, 3, 4)]
    assert all("images/s, loss " in line for line in lines)


def test_training_adds_the_lines_when_stdout_is_not_a_terminal(monkeypatch):
    import io

    from captcha_ocr.core.config import load_config
    from captcha_ocr.training import fit

    config = load_config("smoke")
    monkeypatch.setattr("sys.stdout", io.StringIO())  # as under nohup or CI
    (callback,) = fit._progress(config, 8, print)
    assert isinstance(callback, ProgressLines) and callback.every_s <= 30
    assert (callback.epochs, callback.steps, callback.batch_size) == (config.train.epochs, 8, config.train.batch_size)

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr("sys.stdout", Terminal())  # Keras's own bar draws there
    assert fit._progress(config, 8, print) == []
