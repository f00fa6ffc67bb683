"""The run directory: the record of one training run, and the one place that reads and writes it.

    config.yaml       the resolved config (defaults + file + --set)
    model.keras       the best model on validation whole-captcha accuracy
    last.keras        the model after the last finished epoch
    history.csv       per epoch (counted from 1, as metrics.json's best_epoch and the log's "Epoch N/M"):
                      loss, accuracies, learning rate, wall-clock time, images seen
    logs/             TensorBoard logs
    backup/           the resume point: state.json (epochs done) and that epoch's weights and
                      optimizer state (removed when the run finishes)
    metrics.json      test metrics of model.keras, written when the run finishes
    evaluation.json   the full test report of model.keras (per position, confusions, coverage)

Every file is written atomically (`captcha_ocr.core.atomic`), and each epoch's files
are written in an order that makes the backup the commit point: history row,
checkpoints, backup weights, and last `backup/state.json` (`captcha_ocr.training.resume`).
A run killed at any moment resumes from the last epoch whose state.json was
written; history rows beyond it are dropped and that epoch is trained again.

A run is *finished* when metrics.json exists. `train` prepares and writes a
run directory; `evaluate`, `predict`, `export` and `compare` read one through
`load_run` and `read_run`. Keras is imported only by `load_run`.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from captcha_ocr.core.atomic import write_text_atomic
from captcha_ocr.core.config import Config, changed_keys, config_from_dict, read_yaml
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.spec import SPEC_FILE

CONFIG, MODEL, LAST, HISTORY = "config.yaml", "model.keras", "last.keras", "history.csv"
METRICS, EVALUATION, BACKUP, LOGS = "metrics.json", "evaluation.json", "backup", "logs"
RUN_FILES = (CONFIG, MODEL, LAST, HISTORY, METRICS, EVALUATION)

# Sections whose change makes an existing run's weights meaningless for the new config.
MODEL_SECTIONS = ("charset", "image", "model", "loss")
# Train keys that shape the optimizer's state, which the resume backup holds: changed, it could not be loaded.
STATE_KEYS = ("train.optimizer", "train.ema")

# Models shipped inside the package, by the short name that `--model` and `--init-from` take
# (a file or folder of that name in the working directory wins).
SHIPPED_MODELS = {name: Path(__file__).parents[1] / "pretrained" / name
                  for name in ("base", "base_ctc", "base_ctc2", "base_ctc3", "base_ctc4")}


def resolve_model(path: str | Path) -> Path:
    """A `--model`/`--init-from` argument as a path: a shipped model's name ("base") or the path itself."""
    path = Path(path)
    if not path.exists() and str(path) in SHIPPED_MODELS:
        return SHIPPED_MODELS[str(path)]
    return path


def shipped_name(path: str | Path) -> str | None:
    """The shipped model's name if `path` resolves to one ("base"), else None."""
    return str(path) if resolve_model(path) != Path(path) else None


def default_run_dir(config_path: str | None) -> Path:
    """runs/<config file's stem> (runs/default without a config file)."""
    return Path("runs") / (Path(config_path).stem if config_path else "default")


def is_finished(run_dir: Path) -> bool:
    """A run is finished once train has written its metrics.json."""
    return (Path(run_dir) / METRICS).is_file()


def read_config(run_dir: Path) -> Config | None:
    """The config a run was trained with, or None if the directory has none."""
    path = Path(run_dir) / CONFIG
    if not path.is_file():
        return None
    return config_from_dict(read_yaml(path), str(path))


def prepare_run_dir(run_dir: Path, config: Config, restart: bool = False) -> str:
    """Check a run directory (emptying it for `restart`); returns 'new', 'resume' or 'finished'.

    Raises:
        UserError: the directory holds a run whose model-defining config (or optimizer) differs,
            or a finished run whose config differs at all.
    """
    if restart and run_dir.exists():
        for name in RUN_FILES:
            (run_dir / name).unlink(missing_ok=True)
        for name in (BACKUP, LOGS):
            shutil.rmtree(run_dir / name, ignore_errors=True)
    old = read_config(run_dir)
    if old is None:
        return "new"
    changes = changed_keys(old, config, MODEL_SECTIONS)
    changes.update((k, v) for k, v in changed_keys(old, config, ("train",)).items() if k in STATE_KEYS)
    if changes:
        raise UserError(f"{run_dir} holds a run with a different {_describe(changes)}; "
                        "pass --run-dir for a new run, or --restart to discard the old one")
    if is_finished(run_dir):
        changes = changed_keys(old, config)
        if changes:
            raise UserError(f"{run_dir} holds a finished run with a different {_describe(changes)}; "
                            "pass --run-dir for a new run, or --restart to discard the old one")
        return "finished"
    return "resume"


def _describe(changes: dict[str, tuple]) -> str:
    """'train config (train.epochs: 10 -> 3)' for the changed keys of a config."""
    sections = list(dict.fromkeys(key.split(".", 1)[0] for key in changes))
    shown = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in list(changes.items())[:3])
    more = f"; and {len(changes) - 3} more" if len(changes) > 3 else ""
    return f"{', '.join(sections)} config ({shown}{more})"


BACKUP_STATE = "state.json"
LEGACY_BACKUP_STATE = "training_metadata.json"  # keras.callbacks.BackupAndRestore's, used before resume.py


def backup_state(run_dir: Path) -> tuple[int, Path | None]:
    """(epochs the resume backup holds, its weights file); (0, None) if there is none."""
    backup = Path(run_dir) / BACKUP
    for name, weights_key in ((BACKUP_STATE, "weights"), (LEGACY_BACKUP_STATE, None)):
        try:
            state = json.loads((backup / name).read_text())
            weights = backup / (state[weights_key] if weights_key else "latest.weights.h5")
            if weights.is_file():
                return int(state["epoch"]), weights
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return 0, None


def backup_epoch(run_dir: Path) -> int:
    """The number of epochs the resume backup holds (0 if none)."""
    return backup_state(run_dir)[0]


COUNT_COLUMNS = ("epoch", "images", "pseudo_labels")  # written as whole numbers; the rest as floats


def history_columns(rows: list[dict]) -> list[str]:
    """history.csv's columns: epoch, then every other key in sorted order (as Keras's CSVLogger wrote them)."""
    keys = sorted({k for row in rows for k in row} - {"epoch"})
    return ["epoch", *keys]


def write_history(run_dir: Path, rows: list[dict]) -> None:
    """Rewrite history.csv whole, atomically, from rows of one epoch each."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, history_columns(rows), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (int(v) if k in COUNT_COLUMNS else float(v)) for k, v in row.items()})
    write_text_atomic(Path(run_dir) / HISTORY, buffer.getvalue())


def trim_history(run_dir: Path, epochs: int) -> list[dict]:
    """Keep the history rows of epochs 1..`epochs` (one each, in order); returns them.

    Rows past the backup belong to an epoch that is trained again; a duplicate or out-of-order
    row (left by versions before resume.py) is dropped in favour of the last row of its epoch.
    """
    by_epoch: dict[int, dict] = {}
    for row in read_history(run_dir):
        if "epoch" in row:
            by_epoch[int(row["epoch"])] = row
    rows = [by_epoch[e] for e in range(1, epochs + 1) if e in by_epoch]
    if (Path(run_dir) / HISTORY).is_file():
        write_history(run_dir, rows)
    return rows


def read_history(path: Path) -> list[dict[str, float]]:
    """A history.csv (or the run directory holding one) as rows of floats, empty cells left out; [] if none."""
    path = Path(path)
    if path.is_dir():
        path = path / HISTORY
    if not path.is_file():
        return []
    rows = []
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append({k: float(v) for k, v in row.items() if k and v not in (None, "")})
            except (TypeError, ValueError):
                continue  # a second header, written by two trainings at once before runs were locked
    if rows and rows[0].get("epoch") == 0:  # written before epochs were counted from 1 (Keras's CSVLogger)
        for row in rows:
            row["epoch"] = row.get("epoch", -1) + 1
    return rows


def progress(rows: list[dict]) -> tuple[float, int]:
    """Wall-clock seconds and images seen recorded by the last of these history rows ((0.0, 0) if none)."""
    if not rows:
        return 0.0, 0
    return rows[-1].get("time_s", 0.0), int(rows[-1].get("images", 0))


def write_results(run_dir: Path, metrics: dict, evaluation: dict) -> None:
    """Write evaluation.json and then metrics.json (which marks the run finished), and drop the backup."""
    write_text_atomic(run_dir / EVALUATION, json.dumps(evaluation, indent=2))
    write_text_atomic(run_dir / METRICS, json.dumps(metrics, indent=2))
    shutil.rmtree(run_dir / BACKUP, ignore_errors=True)


@dataclass
class RunRecord:
    """What a run directory holds, read back: history, and for a finished run its metrics."""

    run_dir: Path
    history: list[dict[str, float]]
    metrics: dict | None
    evaluation: dict | None

    @property
    def finished(self) -> bool:
        return self.metrics is not None


def read_run(run_dir: Path) -> RunRecord:
    """Read a run directory's history, metrics.json and evaluation.json (None where missing)."""
    run_dir = Path(run_dir)

    def read_json(name: str) -> dict | None:
        path = run_dir / name
        return json.loads(path.read_text()) if path.is_file() else None

    return RunRecord(run_dir, read_history(run_dir), read_json(METRICS), read_json(EVALUATION))


def load_run(path: str | Path):
    """Load a model from a run directory, a `.keras` file or a shipped model's name (`SHIPPED_MODELS`).

    Returns:
        (keras model, run directory or None, run config or None).

    Raises:
        UserError: nothing loadable at `path`.
    """
    import keras

    from captcha_ocr.model.layers import model_spec

    path = resolve_model(path)
    run_dir = None
    if path.is_dir():
        run_dir, path = path, path / MODEL
        if not path.is_file():
            if (run_dir / SPEC_FILE).is_file():
                raise UserError(f"{run_dir} is an export (it has {SPEC_FILE}), not a run: read it with "
                                f"captcha_ocr.export.load_exported({str(run_dir)!r}).predict(images), or give the "
                                "run directory it was exported from")
            if is_finished(run_dir):
                raise UserError(f"{run_dir} is a finished run whose {MODEL} is missing (report folders keep a run's "
                                f"records, not its weights); train it again with --restart")
            raise UserError(f"{run_dir} has no {MODEL}; is it a finished (or at least one-epoch) training run?")
    elif not path.is_file():
        raise UserError(f"model {str(path)!r} not found; give a run directory (runs/NAME), a .keras file "
                        f"or a shipped model ({', '.join(SHIPPED_MODELS)})")
    elif (path.parent / CONFIG).is_file():
        run_dir = path.parent
    try:
        model = keras.saving.load_model(path, compile=False)
    except Exception as err:  # Keras raises many types for a file that is not a model
        raise UserError(f"{path}: cannot load as a Keras model ({type(err).__name__}: {str(err)[:200]})") from None
    model_spec(model)
    config = read_config(run_dir) if run_dir is not None else None
    return model, run_dir, config
