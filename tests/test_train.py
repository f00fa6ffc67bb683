"""captcha_ocr.train.train called in-process, as scripts/time_to_accuracy.py calls it."""

import keras

from captcha_ocr.config import load_config
from captcha_ocr.train import read_history, train
from conftest import SMOKE


class StopAfter(keras.callbacks.Callback):
    """Stops training in the middle of the first epoch, as a time budget does."""

    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.batches:
            self.model.stop_training = True


def test_history_counts_the_images_of_an_epoch_stopped_early(workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # the smoke data cache is shared with the other tests
    config = load_config(SMOKE)  # 256 training captchas, batches of 32: 8 batches per epoch
    run_dir = workdir / "runs" / "stopped-early"
    train(config, run_dir, callbacks=[StopAfter(3)], log=lambda *a: None)
    rows = read_history(run_dir / "history.csv")
    assert len(rows) == 1
    assert rows[0]["images"] == 3 * 32
