"""captcha_ocr.training.averaging (`train.ema`): validation, model.keras and last.keras get the weights' moving
average, training goes on with the raw weights, and a run stopped and resumed ends as one never stopped."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from conftest import SMOKE, assert_user_error, history_rows, run_module

from captcha_ocr.core.config import load_config
from captcha_ocr.training.averaging import averaged_weights
from captcha_ocr.training.fit import train


def values(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def averages(model) -> list[np.ndarray]:
    return values(model.optimizer._model_variables_moving_average)


def assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_the_average_is_swapped_in_and_out_exactly():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.9), loss="mse")
    x, y = np.random.default_rng(0).normal(size=(64, 3)), np.random.default_rng(1).normal(size=(64, 1))
    for start in range(0, 64, 8):  # not fit, which ends by writing the average into the weights
        model.train_on_batch(x[start:start + 8], y[start:start + 8])
    raw, average = values(model.trainable_variables), averages(model)
    assert any(not np.array_equal(a, b) for a, b in zip(raw, average)), "the average must differ to test anything"
    with averaged_weights(model):
        assert_same(values(model.trainable_variables), average)
    assert_same(values(model.trainable_variables), raw)
    assert_same(averages(model), average)


def test_without_an_average_nothing_changes():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    before = values(model.trainable_variables)
    with averaged_weights(model):
        assert_same(values(model.trainable_variables), before)


class Watch(keras.callbacks.Callback):
    """Records what validation reads, and the raw weights and their averages at each epoch's end.
    Runs after the run's own callbacks, so the run's model files of the epoch are written by then."""

    def __init__(self, stop_after: int = 0):
        super().__init__()
        self.read, self.raw, self.average, self.stop_after = [], [], [], stop_after

    def on_test_begin(self, logs=None):
        self.read.append(values(self.model.trainable_variables))

    def on_epoch_end(self, epoch, logs=None):
        self.raw.append(values(self.model.trainable_variables))
        self.average.append(averages(self.model))
        if epoch + 1 == self.stop_after:
            raise KeyboardInterrupt  # as a user's Ctrl-C after the epoch's files are written


def saved(path) -> list[np.ndarray]:
    return values(keras.saving.load_model(path, compile=False).trainable_variables)


def ema_config(epochs: int):
    return load_config(SMOKE, [f"train.epochs={epochs}", "train.ema=0.9", "train.schedule=cosine"])


def test_validation_and_the_kept_models_read_the_average_and_training_goes_on_with_the_raw_weights(workdir,
                                                                                                    monkeypatch):
    monkeypatch.chdir(workdir)  # the smoke data cache is shared with the other tests
    run_dir, watch = workdir / "runs" / "ema", Watch()
    train(ema_config(2), run_dir, callbacks=[watch], log=lambda *a: None)
    for epoch in range(2):
        assert_same(watch.read[epoch], watch.average[epoch])
        assert any(not np.array_equal(a, b) for a, b in zip(watch.raw[epoch], watch.average[epoch]))
    assert_same(saved(run_dir / "last.keras"), watch.average[-1])
    assert_same(saved(run_dir / "model.keras"), watch.average[int(max(history_rows(run_dir),
                                                                      key=lambda r: float(r["val_select"]))["epoch"]) - 1])


def test_a_run_with_an_average_stopped_and_resumed_ends_as_one_never_stopped(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    reference, run_dir = workdir / "runs" / "ema-whole", workdir / "runs" / "ema-stopped"
    train(ema_config(3), reference, log=lambda *a: None)
    with pytest.raises(KeyboardInterrupt):
        train(ema_config(3), run_dir, callbacks=[Watch(stop_after=2)], log=lambda *a: None)
    logs = []
    train(ema_config(3), run_dir, log=logs.append)
    assert any("resuming" in line and "after epoch 2" in line for line in logs), logs
    for name in ("model.keras", "last.keras"):
        assert_same(saved(run_dir / name), saved(reference / name))
    drop = {"time_s"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in history_rows(run_dir)] == [
        {k: v for k, v in r.items() if k not in drop} for r in history_rows(reference)]


def test_an_average_momentum_of_one_or_more_is_refused(workdir):
    proc = run_module("train", "--config", SMOKE, "--run-dir", workdir / "runs" / "ema-bad", "--set", "train.ema=1",
                      cwd=workdir)
    assert_user_error(proc, "train.ema")


def test_a_run_is_not_resumed_with_the_average_turned_on_or_off(workdir):
    # The backup holds the optimizer's state, averages included or not: it would not load.
    run_dir = workdir / "runs" / "ema-toggled"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.epochs=1", cwd=workdir, check=True)
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.epochs=1", "--set",
                      "train.ema=0.99", cwd=workdir)
    assert_user_error(proc, "holds a run with a different train config (train.ema: 0.0 -> 0.99)", "--restart")
