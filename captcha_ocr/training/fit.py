"""Train (or resume) a run: `train(config, run_dir)` writes the run directory (see `training.rundir`).

Running it again after an interruption resumes from the last finished epoch;
a changed charset, image, model or loss is refused.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Sequence

from captcha_ocr.core.cli import logger
from captcha_ocr.core.config import Config, save_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.training import rundir
from captcha_ocr.training.compile import compile_model, with_chosen_precision

# The score that picks model.keras (and stops early): validation whole-captcha accuracy, ties
# broken by per-character accuracy, and remaining ties by validation loss. The weights keep each
# key below the smallest step of the one before for any validation set under a million characters,
# so the score orders epochs as the tuple (whole, per-character, -loss) would: a run whose
# validation never reads a captcha whole still keeps its best reader, and of the epochs that read a
# small validation set equally well, the one that fits it best wins instead of the first.
# The accuracies must be exact for ties to be ties: `exact_fractions` first.
SELECT = "val_select"


def selection_score(logs: dict) -> float:
    """`SELECT` of one epoch's logs (or history row)."""
    loss = float(logs.get("val_loss", float("nan")))
    fit = 1.0 / (1.0 + loss) if math.isfinite(loss) and loss >= 0 else 0.0
    return float(logs.get("val_captcha_acc", 0.0)) + 1e-6 * float(logs.get("val_char_acc", 0.0)) + 1e-12 * fit


def last_epoch_score(logs: dict) -> float:
    """The score that makes every epoch better than the one before (`train.keep: last`): the images seen so far."""
    return float(logs.get("images", 0.0))


def keep_score(config: Config):
    """The score that picks the model a run keeps (model.keras), by `train.keep`."""
    return last_epoch_score if config.train.keep == "last" else selection_score


def exact_fractions(logs: dict, captchas: int, positions: int) -> None:
    """Snap the validation accuracies in `logs` to the counts they stand for, k/captchas and k/(captchas*positions).

    Keras averages them in float32, batch by batch, so the same count reads as 0.98666674 after one
    epoch and 0.98666662 after another; that difference would outweigh the loss in `selection_score`.
    """
    for key, total in (("val_captcha_acc", captchas), ("val_char_acc", captchas * positions)):
        if key in logs and total:
            logs[key] = round(float(logs[key]) * total) / total


def _callbacks(run_dir: Path, config: Config, rows: list[dict], val_size: int, extra_first: Sequence = ()):
    import keras

    from captcha_ocr.training.resume import ReseedEachEpoch, ResumableEarlyStopping, RunRecorder

    elapsed, images_seen = rundir.progress(rows)

    class Clock(keras.callbacks.Callback):
        """Adds wall-clock time, images seen, the learning rate and the selection score to each epoch's logs
        (and makes its validation accuracies exact fractions)."""

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
            if "val_captcha_acc" in logs:
                exact_fractions(logs, val_size, config.charset.max_length)
                logs[SELECT] = selection_score(logs)
            budget = config.train.time_budget_min * 60
            if budget and logs["time_s"] >= budget and not config.train.time_budget_fit:  # else: its plan stops it
                logger.info(f"time budget of {config.train.time_budget_min:g} min reached after epoch {epoch + 1}")
                self.model.stop_training = True

    from captcha_ocr.training.averaging import validate_averaged

    cbs = [
        *([validate_averaged()] if config.train.ema else []),
        ReseedEachEpoch(config.train.seed),
        Clock(),
        *extra_first,  # before the recorder, which records what they add to the logs
        RunRecorder(run_dir, rows, keep_score(config)),
        keras.callbacks.TensorBoard(str(run_dir / rundir.LOGS), write_graph=False, profile_batch=0),
    ]
    if config.train.early_stopping_patience:
        cbs.append(ResumableEarlyStopping(rows, selection_score, monitor=SELECT,
                                          patience=config.train.early_stopping_patience))
    return cbs


def _progress(config: Config, steps: int, log) -> list:
    """Plain progress lines where Keras's bar does not draw (stdout not a terminal)."""
    if sys.stdout.isatty():
        return []
    from captcha_ocr.training.progress import ProgressLines

    return [ProgressLines(config.train.epochs, steps, config.train.batch_size, log)]


def train(config: Config, run_dir: str | Path, *, restart: bool = False, init_from: str | Path | None = None,
          callbacks: Sequence = (), log=logger.info) -> dict:
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
    from captcha_ocr.training.distribute import own_run_dir, worker_role
    from captcha_ocr.training.resume import run_lock

    if init_from:
        config = as_wide_as(config, init_from, log)
    with own_run_dir(Path(run_dir), worker_role(config)) as run_dir, run_lock(run_dir):
        return _train(config, run_dir, restart, init_from, callbacks, log)


def as_wide_as(config: Config, init_from: str | Path, log=logger.info) -> Config:
    """`config` with the filters and GRU units of the `--init-from` run where that run is wider.

    A narrower model could keep none of a wider one's weights, while a wider one keeps them all
    (`captcha_ocr.model.widen`), so `--config finetune_external --init-from base_ctc3` fine-tunes a model
    as wide as base_ctc3. Read from the run's config.yaml before TensorFlow starts, so a resumed run
    gets the same widths; a .keras file (no config) or another number of blocks leaves `config` as it is.
    """
    path = rundir.resolve_model(init_from)
    try:
        source = rundir.read_config(path) if path.is_dir() else None
    except UserError:
        source = None
    if source is None:
        return config
    m, s = config.model, source.model
    wider = {}
    if len(s.filters) == len(m.filters) and s.filters != m.filters and all(a >= b for a, b in zip(s.filters, m.filters)):
        wider["filters"] = list(s.filters)
    if m.rnn_units and s.rnn_units > m.rnn_units:
        wider["rnn_units"] = s.rnn_units
    if not wider:
        return config
    log(f"--init-from {init_from} is wider: this run takes its "
        + " and ".join(f"model.{k} {getattr(m, k)} -> {v}" for k, v in wider.items()))
    return config.model_copy(update={"model": m.model_copy(update=wider)})


def _train(config: Config, run_dir: Path, restart: bool, init_from, callbacks: Sequence, log) -> dict:
    status = rundir.prepare_run_dir(run_dir, config, restart)
    if status == "finished":
        missing = "" if (run_dir / rundir.MODEL).is_file() else (
            f", but its {rundir.MODEL} is missing (predict, evaluate and ensemble cannot read it)")
        log(f"{run_dir} is already finished (metrics.json){missing}; pass --restart to train it again")
        return rundir.read_run(run_dir).metrics

    from captcha_ocr.training.distribute import fit_multi_worker, strategy_scope

    scope = strategy_scope(config, log)  # first: logical devices must exist before TensorFlow starts
    saved = config  # as given: a run made with `auto` resumes with `auto` on any machine
    config = with_chosen_precision(config, log)
    import keras

    from captcha_ocr.data.folder import aspect_hint
    from captcha_ocr.data.pipeline import build_datasets
    from captcha_ocr.model.build import build_model
    from captcha_ocr.model.ensemble import ensemble_members, ensemble_views
    from captcha_ocr.training.budget import FitToBudget, planned_epochs, restore_plan
    from captcha_ocr.training.resume import finished_before, restore
    from captcha_ocr.training.self_training import labeler, load_teacher, soft_targets

    keras.utils.set_random_seed(config.train.seed)
    initial_epoch = rundir.backup_epoch(run_dir) if status == "resume" else 0
    rows = rundir.trim_history(run_dir, initial_epoch)
    if status == "resume":
        log(f"resuming {run_dir} after epoch {initial_epoch} (its backup); epoch {initial_epoch + 1} comes next")
    source = None
    if init_from and initial_epoch == 0:  # a resumed run gets its weights from the backup instead
        source = rundir.load_run(init_from)[0]  # before the data: a wrong path fails in seconds
        members = ensemble_members(source)
        if members:
            views = ensemble_views(source)
            raise UserError(f"--init-from {init_from} is an ensemble of {members} model{'s' * (members > 1)}"
                            f"{f' in {views} views' if views > 1 else ''} (captcha_ocr.ensemble), which reads but "
                            "does not fine-tune; give one of the models it was made from")
    teacher = load_teacher(config)  # before the data too
    data = build_datasets(config, initial_epoch=initial_epoch)
    if config.data.pseudo_soft:  # the teacher reads each augmented batch as it comes
        data.train = data.train.map(soft_targets(teacher, config.charset.max_length)).prefetch(2)
    if data.val is None and config.train.early_stopping_patience:
        raise UserError("train.early_stopping_patience stops on validation, and data.split gives the val split "
                        "nothing; set train.early_stopping_patience=0 or give the val split a fraction")
    log(f"data: {data.description}")
    if config.data.source == "folder" and config.image.resize == "fit_height":
        hint = aspect_hint(config.data.folder, config.image.height, config.image.width)
        if hint:
            log(hint)
    with scope:
        model = build_model(config)
        model.summary(print_fn=lambda line, *a, **k: log(line))
        if source is not None:
            _init_weights(model, source, init_from, log)
        compile_model(model, config, data.steps_per_epoch)
        fit_multi_worker(model, config)
        if initial_epoch:
            restore(model, run_dir)
            restore_plan(model, rows)
    # Written only now, so a config that fails while building data or model leaves no run behind.
    run_dir.mkdir(parents=True, exist_ok=True)
    save_config(saved, run_dir / rundir.CONFIG)
    t = config.train
    planned = [FitToBudget(t.epochs, data.steps_per_epoch, t.time_budget_min * 60, rows, log)
               ] if t.time_budget_fit else []
    epochs = min(t.epochs, planned_epochs(rows) or t.epochs)
    extra = []
    if data.pseudo is not None:
        d = config.data
        extra.append(labeler(data.pseudo, config.charset.build(), config.loss.name, d.pseudo_min_confidence,
                             d.pseudo_rounds, epochs, initial_epoch, teacher, d.pseudo_held))
    done = finished_before(rows, epochs, t.early_stopping_patience, t.time_budget_min * 60, selection_score)
    if done:
        log(f"no epochs left to train: {done}")
    else:
        model.fit(
            data.train,
            epochs=t.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=data.steps_per_epoch,
            validation_data=data.val,
            shuffle=False,  # the tf.data pipeline shuffles
            callbacks=_callbacks(run_dir, config, rows, data.val_size, planned + extra) + list(callbacks) + _progress(
                config, data.steps_per_epoch, log),
            verbose=1 if sys.stdout.isatty() else 2,
        )
    return _finish(run_dir, config, model, data, init_from, extra, log)


def _finish(run_dir: Path, config: Config, model, data, init_from, extra: list, log) -> dict:
    """Evaluate model.keras on the test set and write metrics.json, which marks the run finished."""
    import keras

    from captcha_ocr.core.atomic import write_atomic
    from captcha_ocr.model.build import float32_copy
    from captcha_ocr.model.scoring import evaluate_arrays, format_report

    # Computing in float32 (a mixed-precision run's weights are float32 already), and without
    # the optimizer's state: a third of the size, all prediction needs.
    best = float32_copy(keras.saving.load_model(run_dir / rundir.MODEL, compile=False), config)
    write_atomic(run_dir / rundir.MODEL, best.save)
    report = evaluate_arrays(best, data.test_images, data.test_labels, batch_size=config.train.batch_size)
    history = rundir.read_history(run_dir)
    best_epoch = int(max(history, key=keep_score(config))["epoch"]) if history else 0  # the first of equals
    metrics = {
        "test": {k: report[k] for k in ("captcha_acc", "char_acc", "count")},
        "best_epoch": best_epoch,  # the epoch of model.keras (train.keep: best or last)
        "keep": config.train.keep,
        "epochs": len(history),
        "train_time_s": history[-1]["time_s"] if history else 0.0,
        "images_seen": int(history[-1]["images"]) if history else 0,
        "params": int(model.count_params()),
        "precision": config.train.precision,  # what `auto` chose
        "init_from": str(init_from) if init_from else None,
        "pseudo_rounds": extra[0].rounds if extra else None,
        "data": data.description,
    }
    rundir.write_results(run_dir, metrics, report)
    kept = "best model" if config.train.keep == "best" else "last model"
    log(format_report(report, title=f"test set ({report['count']} captchas), {kept} of epoch {best_epoch}"))
    log(f"run directory: {run_dir}")
    return metrics


def _init_weights(model, source, init_from: str | Path, log) -> None:
    """Start from another model's weights, keeping every layer whose shape still fits."""
    from captcha_ocr.model.transfer import load_matching_weights

    kept, fresh = load_matching_weights(model, source)
    if not kept:
        raise UserError(f"--init-from {init_from}: no layer of that model fits this config ({'; '.join(fresh[:3])}); "
                        "give a model with the same model.filters and kernel size")
    log(f"init from {init_from}: kept {len(kept)} layers ({', '.join(kept)})")
    log(f"init from {init_from}: re-initialized {len(fresh)} layers ({'; '.join(fresh) or 'none'})")
