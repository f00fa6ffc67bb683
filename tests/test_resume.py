"""captcha_ocr.training.resume: a run killed with SIGKILL at random moments, any number of times, ends exactly
as the same run never killed; two trainings never share a run directory (issue 14)."""

from __future__ import annotations

import csv
import io
import json
import os
import random
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_user_error, run_module

# Dropout, augmentation, a pool smaller than an epoch's draws (steps_per_epoch): every source of
# randomness that a resumed run must repeat.
CONFIG = """\
image: {width: 80, height: 30}
data: {train_size: 200, val_size: 64, test_size: 64, workers: 1}
model: {filters: [8, 16], head_dropout: 0.3}
train: {batch_size: 32, epochs: 5, steps_per_epoch: 9, schedule: cosine}
augment: {enabled: true}
"""


def train_cmd(config: Path, run_dir: Path) -> list[str]:
    return [sys.executable, "-m", "captcha_ocr.train", "--config", str(config), "--run-dir", str(run_dir)]


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def weights(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
        return out


def record(run_dir: Path) -> tuple[list[dict], dict]:
    """history.csv rows and metrics.json, without the wall-clock figures (which no rerun repeats)."""
    with open(run_dir / "history.csv", newline="") as fh:
        rows = [{k: v for k, v in row.items() if k != "time_s"} for row in csv.DictReader(fh)]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    metrics.pop("train_time_s")
    return rows, metrics


@pytest.fixture(scope="module")
def setup(workdir):
    config = workdir / "resume.yaml"
    config.write_text(CONFIG)
    reference = workdir / "runs" / "never-killed"
    subprocess.run(train_cmd(config, reference), cwd=workdir, env=env(), check=True, capture_output=True)
    return config, reference


def run_and_kill(cmd: list[str], cwd: Path, delay: float | None) -> tuple[int, str]:
    """Run a training; with `delay`, SIGKILL it that many seconds after its first epoch began."""
    proc = subprocess.Popen(cmd, cwd=cwd, env=env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    began = threading.Event()

    def read():
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("Epoch "):
                began.set()

    reader = threading.Thread(target=read)
    reader.start()
    if delay is not None and began.wait(600):
        time.sleep(delay)
        proc.kill()
    proc.wait(600)
    reader.join()
    return proc.returncode, "".join(lines)


def test_killed_at_random_moments_ends_as_never_killed(setup, workdir):
    config, reference = setup
    epoch_s = json.loads((reference / "metrics.json").read_text())["train_time_s"] / 5
    run_dir = workdir / "runs" / "killed"
    rng = random.Random(14)
    kills, resumed = 0, 0
    while not (run_dir / "metrics.json").exists():
        # Four kills, each at a random moment of the next epoch and a half: mid-batch, mid-validation,
        # or while an epoch's files are being written; then one run to the end.
        delay = rng.uniform(0.0, 1.5 * epoch_s) if kills < 4 else None
        status, out = run_and_kill(train_cmd(config, run_dir), workdir, delay)
        assert status in (0, -9), out[-3000:]
        kills += status == -9
        resumed += "resuming" in out
    assert kills >= 2 and resumed >= 2, f"the test must kill runs mid-way: {kills} kills, {resumed} resumes"

    rows, metrics = record(run_dir)
    ref_rows, ref_metrics = record(reference)
    assert [int(r["epoch"]) for r in rows] == list(range(1, 6))
    assert [int(r["images"]) for r in rows] == [288 * (e + 1) for e in range(5)]
    assert rows == ref_rows, "every history value but the wall-clock time is the same"
    assert metrics == ref_metrics
    for name in ("model.keras", "last.keras"):
        got, want = weights(run_dir / name), weights(reference / name)
        assert sorted(got) == sorted(want)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}")
    assert not [p for p in run_dir.rglob("*") if ".tmp" in p.name], "no temporary file is left behind"


def test_a_second_training_of_the_same_run_is_refused(setup, workdir):
    config, _ = setup
    run_dir = workdir / "runs" / "twice"
    first = subprocess.Popen(train_cmd(config, run_dir), cwd=workdir, env=env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    lock = run_dir.parent / ".twice.lock"
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text() == str(first.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    second = run_module("train", "--config", config, "--run-dir", run_dir, cwd=workdir)
    out, _ = first.communicate(timeout=600)
    assert first.returncode == 0, out[-2000:]
    assert_user_error(second, f"being trained by process {first.pid}", "--run-dir")
    text = (run_dir / "history.csv").read_text()
    assert text.count("epoch,") == 1 and len(text.splitlines()) == 6
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 5


def test_killed_after_its_last_epoch_it_only_evaluates(setup, workdir, tmp_path):
    """Killed after the last epoch's backup but before metrics.json: no epoch is trained again."""
    config, reference = setup
    run_dir = tmp_path / "last-epoch-done"
    (run_dir / "backup").mkdir(parents=True)
    for name in ("config.yaml", "history.csv", "model.keras", "last.keras"):
        (run_dir / name).write_bytes((reference / name).read_bytes())
    with zipfile.ZipFile(reference / "last.keras") as z:  # the same layout as the backup's weights file
        (run_dir / "backup" / "epoch-5.weights.h5").write_bytes(z.read("model.weights.h5"))
    (run_dir / "backup" / "state.json").write_text(json.dumps({"epoch": 5, "weights": "epoch-5.weights.h5"}))
    proc = run_module("train", "--config", config, "--run-dir", run_dir, cwd=workdir, check=True)
    assert "no epochs left to train: all 5 epochs are done" in proc.stdout and "Epoch " not in proc.stdout
    assert record(run_dir) == record(reference)


def test_an_unreadable_backup_is_one_line(setup, workdir, tmp_path):
    config, reference = setup
    run_dir = tmp_path / "broken"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_bytes((reference / "config.yaml").read_bytes())
    (run_dir / "backup").mkdir()
    (run_dir / "backup" / "epoch-2.weights.h5").write_bytes(b"\x89HDF\r\n truncated")
    (run_dir / "backup" / "state.json").write_text(json.dumps({"epoch": 2, "weights": "epoch-2.weights.h5"}))
    assert_user_error(run_module("train", "--config", config, "--run-dir", run_dir, cwd=workdir),
                      "cannot read the resume backup", "--restart")


def test_replay_early_stopping_counts_as_keras_does():
    from captcha_ocr.training.resume import finished_before, replay_early_stopping

    assert replay_early_stopping([]) == (None, 0)
    assert replay_early_stopping([0.1, 0.3, 0.2, 0.2]) == (0.3, 2)
    rows = [{"s": s} for s in (0.1, 0.3, 0.2, 0.2)]
    assert finished_before(rows, 10, 2, 0, lambda r: r["s"]) == "early stopping had stopped it"
    assert finished_before(rows, 10, 3, 0, lambda r: r["s"]) is None
    assert finished_before(rows, 4, 0, 0, lambda r: r["s"]) == "all 4 epochs are done"
    assert finished_before([{"s": 0, "time_s": 61}], 9, 0, 60, lambda r: r["s"]) == "its time budget was used up"


def test_early_stopping_sees_what_the_selection_score_sees():
    """Epochs that read validation equally well but fit it better improve the score by ~1e-13: no stop.

    (Keras compares in float32, where those steps vanish: runs whose 10-captcha validation was all
    read stopped after 11 of 12 epochs.)
    """
    from types import SimpleNamespace

    from captcha_ocr.training.fit import selection_score
    from captcha_ocr.training.resume import ResumableEarlyStopping, replay_early_stopping

    epochs = [{"val_captcha_acc": 1.0, "val_char_acc": 1.0, "val_loss": loss} for loss in (0.005, 0.004, 0.003, 0.002)]
    scores = [selection_score(e) for e in epochs]
    callback = ResumableEarlyStopping([], selection_score, monitor="val_select", patience=2)
    callback._model = SimpleNamespace(stop_training=False)
    callback.on_train_begin()
    for epoch, score in enumerate(scores):
        callback.on_epoch_end(epoch, {"val_select": score})
    assert not callback.model.stop_training and callback.wait == 0 and callback.best == scores[-1]
    assert replay_early_stopping(scores) == (scores[-1], 0)
