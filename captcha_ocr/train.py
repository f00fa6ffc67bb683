"""Train a captcha model: `python -m captcha_ocr.train --config configs/X.yaml`.

The run directory is the record of a run:

    config.yaml     the resolved config (defaults + file + --set)
    model.keras     the best model on validation whole-captcha accuracy
    last.keras      the model after the last finished epoch
    history.csv     per-epoch loss, accuracies, learning rate, wall-clock time
    logs/           TensorBoard logs
    backup/         resume state (removed when the run finishes)
    metrics.json    test metrics of model.keras, written when the run finishes

Running the same command again after an interruption resumes from the last
finished epoch; a changed charset, image, model or loss is refused.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Sequence

from captcha_ocr.config import Config, load_config, read_yaml, config_from_dict, save_config
from captcha_ocr.errors import UserError, run_cli

# Sections whose change makes an existing run's weights meaningless for the new config.
MODEL_SECTIONS = ("charset", "image", "model", "loss")
_RUN_FILES = ("config.yaml", "model.keras", "last.keras", "history.csv", "metrics.json", "evaluation.json")


def default_run_dir(config_path: str | None) -> Path:
    return Path("runs") / (Path(config_path).stem if config_path else "default")


def _make_schedule(config: Config, steps_per_epoch: int):
    from captcha_ocr.schedules import WarmupSchedule

    t = config.train
    warmup = int(round(t.warmup_epochs * steps_per_epoch))
    if t.schedule == "constant" and not warmup:
        return t.learning_rate
    return WarmupSchedule(t.learning_rate, t.epochs * steps_per_epoch, warmup, t.schedule)


def make_optimizer(config: Config, steps_per_epoch: int):
    """The configured optimizer with its learning-rate schedule."""
    import keras

    t = config.train
    lr = _make_schedule(config, steps_per_epoch)
    if t.optimizer == "adam":
        return keras.optimizers.Adam(lr)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)


def compile_model(model, config: Config, steps_per_epoch: int) -> None:
    """Compile with the configured loss, optimizer and the two accuracies."""
    from captcha_ocr.losses import captcha_acc, char_acc, get_loss

    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=get_loss(config.loss.name, config.loss.label_smoothing),
        metrics=[char_acc, captcha_acc],
        jit_compile=config.train.jit_compile,
    )


def _previous_elapsed(history_csv: Path) -> tuple[float, int]:
    """Wall-clock seconds and images seen recorded by the last finished epoch, for a resumed run."""
    rows = read_history(history_csv)
    if not rows:
        return 0.0, 0
    return rows[-1].get("time_s", 0.0), int(rows[-1].get("images", 0))


def _callbacks(run_dir: Path, config: Config, elapsed: float, images_seen: int):
    import keras

    class Clock(keras.callbacks.Callback):
        """Adds wall-clock time, images seen and the learning rate to each epoch's logs."""

        def on_train_begin(self, logs=None):
            self.start = time.perf_counter() - elapsed
            self.images = images_seen
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            # Counted per batch (all batches are full: the training sets repeat), so an epoch
            # that a callback stops early does not count as a whole one.
            self.batches += 1

        def on_epoch_end(self, epoch, logs=None):
            self.images += self.batches * config.train.batch_size
            self.batches = 0
            logs["time_s"] = round(time.perf_counter() - self.start, 2)
            logs["images"] = self.images
            lr = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(lr.numpy() if hasattr(lr, "numpy") else lr)
            budget = config.train.time_budget_min * 60
            if budget and logs["time_s"] >= budget:
                print(f"time budget of {config.train.time_budget_min:g} min reached after epoch {epoch + 1}")
                self.model.stop_training = True

    cbs = [
        Clock(),
        keras.callbacks.BackupAndRestore(str(run_dir / "backup"), double_checkpoint=True, delete_checkpoint=False),
        keras.callbacks.ModelCheckpoint(str(run_dir / "model.keras"), monitor="val_captcha_acc", mode="max",
                                        save_best_only=True),
        keras.callbacks.ModelCheckpoint(str(run_dir / "last.keras")),
        keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
        keras.callbacks.TensorBoard(str(run_dir / "logs"), write_graph=False, profile_batch=0),
    ]
    if config.train.early_stopping_patience:
        cbs.append(keras.callbacks.EarlyStopping(monitor="val_captcha_acc", mode="max",
                                                 patience=config.train.early_stopping_patience))
    return cbs


def prepare_run_dir(run_dir: Path, config: Config, restart: bool = False) -> str:
    """Check a run directory (emptying it for `restart`); returns 'new', 'resume' or 'finished'.

    Raises:
        UserError: the directory holds a run whose model-defining config differs.
    """
    saved = run_dir / "config.yaml"
    if restart and run_dir.exists():
        for name in _RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        for name in ("backup", "logs"):
            shutil.rmtree(run_dir / name, ignore_errors=True)
    if saved.is_file():
        old = config_from_dict(read_yaml(saved), str(saved))
        if old.fingerprint(*MODEL_SECTIONS) != config.fingerprint(*MODEL_SECTIONS):
            changed = [s for s in MODEL_SECTIONS if old.fingerprint(s) != config.fingerprint(s)]
            raise UserError(
                f"{run_dir} holds a run with a different {', '.join(changed)} config; "
                "pass --run-dir for a new run, or --restart to discard the old one"
            )
        if (run_dir / "metrics.json").is_file():
            changed = [s for s in old.to_dict() if old.fingerprint(s) != config.fingerprint(s)]
            if changed:
                raise UserError(
                    f"{run_dir} holds a finished run with a different {', '.join(changed)} config; "
                    "pass --run-dir for a new run, or --restart to discard the old one"
                )
            return "finished"
        status = "resume"
    else:
        status = "new"
    return status


def _trim_history(run_dir: Path, epochs: int) -> None:
    """Drop history rows of epochs that the backup does not hold (killed between the two writes)."""
    history = run_dir / "history.csv"
    if not history.is_file():
        return
    with open(history, newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) - 1 > epochs:
        with open(history, "w", newline="") as fh:
            csv.writer(fh).writerows(rows[: epochs + 1])


def train(config: Config, run_dir: str | Path, *, restart: bool = False, init_from: str | Path | None = None,
          callbacks: Sequence = (), log=print) -> dict:
    """Train (or resume) a run and write its directory; returns the final metrics.

    Args:
        config: the resolved config.
        run_dir: where the run's files go.
        restart: discard an existing run in `run_dir` first.
        init_from: a run directory or .keras file whose weights start a new run
            (layers whose shapes no longer fit are re-initialized).
        callbacks: extra Keras callbacks (run after the run's own).
        log: where progress messages go.

    Returns:
        The content of metrics.json.
    """
    run_dir = Path(run_dir)
    status = prepare_run_dir(run_dir, config, restart)
    if status == "finished":
        log(f"{run_dir} is already finished (metrics.json); pass --restart to train it again")
        return json.loads((run_dir / "metrics.json").read_text())

    import keras
    from captcha_ocr.data import build_datasets
    from captcha_ocr.evaluate import evaluate_arrays, format_report
    from captcha_ocr.model import build_model

    keras.utils.set_random_seed(config.train.seed)
    initial_epoch = _backup_epoch(run_dir) if status == "resume" else 0
    _trim_history(run_dir, initial_epoch)
    if status == "resume":
        log(f"resuming {run_dir} after epoch {initial_epoch}")
    source = None
    if init_from and initial_epoch == 0:  # a resumed run gets its weights from the backup instead
        from captcha_ocr.predict import load_run

        source = load_run(init_from)[0]  # before the data: a wrong path fails in seconds
    data = build_datasets(config, initial_epoch=initial_epoch)
    log(f"data: {data.description}")
    model = build_model(config)
    model.summary(print_fn=lambda line, *a, **k: log(line))
    if source is not None:
        _init_weights(model, source, init_from, log)
    compile_model(model, config, data.steps_per_epoch)
    # Written only now, so a config that fails while building data or model leaves no run behind.
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(config, run_dir / "config.yaml")
    elapsed, images_seen = _previous_elapsed(run_dir / "history.csv")
    model.fit(
        data.train,
        epochs=config.train.epochs,
        steps_per_epoch=data.steps_per_epoch,
        validation_data=data.val,
        shuffle=False,  # the tf.data pipeline shuffles
        callbacks=_callbacks(run_dir, config, elapsed, images_seen) + list(callbacks),
        verbose=1 if sys.stdout.isatty() else 2,
    )
    best = keras.saving.load_model(run_dir / "model.keras", compile=False)
    best.save(run_dir / "model.keras")  # without the optimizer's state: a third of the size, all prediction needs
    report = evaluate_arrays(best, data.test_images, data.test_labels, batch_size=config.train.batch_size)
    history = read_history(run_dir / "history.csv")
    best_epoch = max(range(len(history)), key=lambda i: history[i]["val_captcha_acc"]) + 1 if history else 0
    metrics = {
        "test": {k: report[k] for k in ("captcha_acc", "char_acc", "count")},
        "best_epoch": best_epoch,
        "epochs": len(history),
        "train_time_s": history[-1]["time_s"] if history else 0.0,
        "images_seen": int(history[-1]["images"]) if history else 0,
        "params": int(model.count_params()),
        "init_from": str(init_from) if init_from else None,
        "data": data.description,
    }
    (run_dir / "evaluation.json").write_text(json.dumps(report, indent=2))
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    shutil.rmtree(run_dir / "backup", ignore_errors=True)
    log(format_report(report, title=f"test set ({report['count']} captchas), best model of epoch {best_epoch}"))
    log(f"run directory: {run_dir}")
    return metrics


def _init_weights(model, source, init_from: str | Path, log) -> None:
    """Start from another model's weights, keeping every layer whose shape still fits."""
    from captcha_ocr.model import load_matching_weights

    kept, fresh = load_matching_weights(model, source)
    if not kept:
        raise UserError(f"--init-from {init_from}: no layer of that model fits this config; is it a captcha_ocr run?")
    log(f"init from {init_from}: kept {len(kept)} layers ({', '.join(kept)})")
    log(f"init from {init_from}: re-initialized {len(fresh)} layers ({'; '.join(fresh) or 'none'})")


def _backup_epoch(run_dir: Path) -> int:
    """The number of epochs the resume backup holds (0 if none)."""
    path = run_dir / "backup" / "training_metadata.json"  # written by keras.callbacks.BackupAndRestore
    try:
        return int(json.loads(path.read_text())["epoch"])
    except (OSError, ValueError, KeyError):
        return 0


def read_history(path: Path) -> list[dict[str, float]]:
    """A run's history.csv as rows of floats (empty cells left out); [] if there is none."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: float(v) for k, v in row.items() if k and v not in (None, "")} for row in csv.DictReader(fh)]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m captcha_ocr.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="YAML file with differences from configs/base.yaml")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one config value, e.g. --set train.batch_size=32 (repeatable)")
    p.add_argument("--run-dir", help="where to write the run (default: runs/<config name>)")
    p.add_argument("--restart", action="store_true", help="discard an existing run in the run directory")
    p.add_argument("--init-from", metavar="RUN", help="start from this run's (or .keras file's) weights: fine-tuning; "
                   "layers that no longer fit the config (e.g. a new charset) are re-initialized")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = load_config(args.config, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else default_run_dir(args.config)
    train(config, run_dir, restart=args.restart, init_from=args.init_from)
    return 0


if __name__ == "__main__":
    run_cli(main)
