"""Crash-proof runs: each epoch's record written in a safe order, resume from exactly where a run stopped.

`RunRecorder` is the Keras callback that writes a run directory's per-epoch
files. At the end of every epoch it writes, each atomically:

1. history.csv, whole, with this epoch's row;
2. last.keras, and model.keras when the epoch scored best so far;
3. the backup: this epoch's weights with the optimizer's state, then
   `backup/state.json` naming them: the commit point.

A kill before (3) finishes leaves the previous state.json, so the run resumes
after the previous epoch; the rows and checkpoints of the epoch it redoes are
overwritten by the same epoch trained again. `restore` loads the backup into a
fresh model before `fit(initial_epoch=...)`, and `ResumableEarlyStopping`
replays the history so early stopping counts patience as if never stopped.
Together with training data whose element k depends only on the seed and k
(`captcha_ocr.data.pipeline`) and stateless augmentation, a resumed run repeats the
uninterrupted one (see the README's "Resume" for what differs: wall-clock
time, and runs with a time budget or self-training).

`run_lock` keeps a second training out of a run directory in use.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from pathlib import Path

import keras

from captcha_ocr.core.atomic import write_atomic, write_text_atomic
from captcha_ocr.core.errors import UserError
from captcha_ocr.training import rundir
from captcha_ocr.training.averaging import averaged_weights


class RunRecorder(keras.callbacks.Callback):
    """Writes history.csv, model.keras, last.keras and the backup at the end of every epoch (in that order).

    Args:
        run_dir: the run directory.
        rows: the history of the epochs before this process's first (trimmed to the backup).
        score: logs -> the selection score that picks model.keras.
    """

    def __init__(self, run_dir: Path, rows: list[dict], score):
        super().__init__()
        self.run_dir, self.rows, self.score = Path(run_dir), list(rows), score
        self.best = max(map(score, rows)) if rows else None

    def on_epoch_end(self, epoch, logs=None):
        with interrupts_deferred():
            self._record(epoch, dict(logs or {}))

    def _record(self, epoch: int, logs: dict) -> None:
        # Keras counts epochs from 0; the record counts them from 1, as its log and metrics.json do.
        self.rows = [r for r in self.rows if int(r["epoch"]) <= epoch] + [{"epoch": epoch + 1, **logs}]
        rundir.write_history(self.run_dir, self.rows)
        with averaged_weights(self.model):  # train.ema: the models keep the weights' average, the backup the weights
            write_atomic(self.run_dir / rundir.LAST, self.model.save)
            score = self.score(logs)
            if self.best is None or score > self.best:
                self.best = score
                write_atomic(self.run_dir / rundir.MODEL, self.model.save)
        self._backup(epoch + 1)

    def _backup(self, epochs: int) -> None:
        backup = self.run_dir / rundir.BACKUP
        backup.mkdir(exist_ok=True)
        name = f"epoch-{epochs}.weights.h5"
        write_atomic(backup / name, self.model.save_weights)
        write_text_atomic(backup / rundir.BACKUP_STATE, json.dumps({"epoch": epochs, "weights": name}))
        for old in backup.iterdir():  # earlier epochs' weights, and Keras's BackupAndRestore files
            if old.name not in (name, rundir.BACKUP_STATE):
                old.unlink(missing_ok=True)


class ReseedEachEpoch(keras.callbacks.Callback):
    """Sets the model's random state (dropout's seed generators) from (seed, epoch) as each epoch begins.

    Keras saves weights and optimizer state but not the seed generators' counters, so a resumed run
    would draw other dropout masks than the uninterrupted one; seeded per epoch, both draw the same.
    """

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        import numpy as np

        generators = [g for layer in self.model._flatten_layers() for g in getattr(layer, "_seed_generators", [])]
        if not generators:
            return
        starts = np.random.default_rng([self.seed, epoch, 104729]).integers(1, 2**31, len(generators))
        for generator, start in zip(generators, starts):
            generator.state.assign(np.array([start, 0], dtype=generator.state.dtype))


@contextlib.contextmanager
def interrupts_deferred():
    """Hold Ctrl-C (SIGINT) until the block ends, then raise it: an epoch's files are written whole.

    Libraries that save models may catch and drop a KeyboardInterrupt raised in their code, which
    made Ctrl-C during a save go unheard; deferred, it always stops the run, between epochs.
    """
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        yield
        return
    received = []
    previous = signal.signal(signal.SIGINT, lambda *_: received.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt


def restore(model, run_dir: Path) -> int:
    """Load the backup's weights and optimizer state into a compiled model; returns the epochs it holds (0: none).

    Raises:
        UserError: the backup cannot be read (it is then not silently ignored: a fresh start would
            overwrite the run's history).
    """
    epochs, weights = rundir.backup_state(run_dir)
    if not epochs:
        return 0
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(weights)
    except Exception as err:  # h5py and Keras raise many types for an unreadable file
        raise UserError(f"{weights}: cannot read the resume backup ({type(err).__name__}: {str(err)[:150]}); "
                        "pass --restart to train this run from the start") from None
    return epochs


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping on the selection score, starting from the state that `rows` lead to."""

    def __init__(self, rows: list[dict], score, **kwargs):
        super().__init__(mode="max", **kwargs)
        self.replayed = replay_early_stopping([score(r) for r in rows])

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.best, self.wait = self.replayed

    def _is_improvement(self, monitor_value, reference_value):
        # In Python floats, as replay_early_stopping compares: Keras compares in float32, where the
        # selection score's per-character and loss keys (1e-6 and 1e-12 of it) vanish.
        return reference_value is None or float(monitor_value) - self.min_delta > float(reference_value)


def replay_early_stopping(scores: list[float]) -> tuple[float | None, int]:
    """(best score or None, epochs since it) after these epochs, as keras.callbacks.EarlyStopping counts them."""
    best, wait = None, 0
    for score in scores:
        wait += 1
        if best is None or score > best:
            best, wait = score, 0
    return best, wait


def finished_before(rows: list[dict], epochs: int, patience: int, budget_s: float, score) -> str | None:
    """Why an uninterrupted run would have stopped after these rows (None: it trains on).

    A run killed after its last epoch was recorded, but before metrics.json, must not train more.
    """
    if len(rows) >= epochs:
        return f"all {epochs} epochs are done"
    if patience and len(rows) > 1 and replay_early_stopping([score(r) for r in rows])[1] >= patience:
        return "early stopping had stopped it"
    if budget_s and rows and rows[-1].get("time_s", 0.0) >= budget_s:
        return "its time budget was used up"
    return None


@contextlib.contextmanager
def run_lock(run_dir: Path):
    """Hold an exclusive lock on a run directory while training it.

    The lock is a hidden file beside the run directory (`.NAME.lock`), held with `flock`, so it
    is released when the process ends in any way, kill -9 included.

    Raises:
        UserError: another process trains this run directory now.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no flock; trainings there are not protected from each other
        yield
        return
    run_dir = Path(run_dir)
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    path = run_dir.parent / f".{run_dir.name}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "another process"
            raise UserError(f"{run_dir} is being trained by process {holder} right now; wait for it to finish, "
                            "or give this training another --run-dir") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
