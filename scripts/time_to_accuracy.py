"""Test accuracy against wall-clock time of a real training run: `python scripts/time_to_accuracy.py --config C`.

    python scripts/time_to_accuracy.py --config configs/benchmark.yaml --budget-min 30 --target 0.95 \\
        --out reports/tta-benchmark

Trains with `captcha_ocr.training.fit.train` into `<out>/run` and, after every
epoch, reads the fixed test set with the model as it is at that moment (with
`train.ema`, the moving average of its weights, as the run keeps it). The
clock starts before the training data is built, so data generation counts:
by default the synthetic sets are rendered into a fresh cache (`<out>/cache`,
deleted at the end) rather than read from `data.cache_dir`; `--reuse-cache`
reads the config's cache instead (and the summary says so). The time spent
evaluating the test set is measurement, not training: it is taken off the
clock. Training stops at the first batch that ends past the budget.

Writes to --out:

    run/           the run directory (config.yaml, model.keras, history.csv, metrics.json, ...)
    curve.csv      one row before training and one per epoch: epoch, wall_s, images,
                   test_captcha_acc, test_char_acc, val_captcha_acc
    curve.png      whole-captcha and per-character test accuracy against minutes
    summary.json   final accuracy, time, images, time to --target, the best-validation
                   model's test accuracy (run/metrics.json) and the machine
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

from captcha_ocr.core.cli import add_config_args, config_from_args, float_above, output_dir, parser, run_cli
from captcha_ocr.core.config import Config
from captcha_ocr.core.errors import UserError
from captcha_ocr.studies.report import first_row

CURVE_COLUMNS = ("epoch", "wall_s", "images", "test_captcha_acc", "test_char_acc", "val_captcha_acc")


def make_callback(config: Config, start: float, budget_s: float, curve_csv: Path, log: Callable[[str], None] = print):
    """The Keras callback that records the curve and stops training at the budget.

    Args:
        config: the run's config (its test set is read once training begins).
        start: `time.perf_counter()` when the clock started (before the data was built).
        budget_s: training stops at the first batch that ends after this many clock seconds.
        curve_csv: rows are appended as they are measured, so an interrupted run keeps its curve.
        log: where one line per point goes.

    Returns:
        A `keras.callbacks.Callback` with `points` (list of dicts), `paused_s` (evaluation time
        taken off the clock) and `stopped_by_budget`.
    """
    import keras

    from captcha_ocr.data.pipeline import test_set
    from captcha_ocr.model.scoring import evaluate_arrays
    from captcha_ocr.training.averaging import averaged_weights

    class TimeToAccuracy(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.points: list[dict] = []
            self.paused_s = 0.0
            self.stopped_by_budget = False
            self.test_images = self.test_labels = None

        def clock(self) -> float:
            """Seconds since the start, evaluation excluded."""
            return time.perf_counter() - start - self.paused_s

        def _record(self, epoch: int, images: int, val_captcha_acc: float | None) -> None:
            wall = self.clock()
            paused_at = time.perf_counter()
            if self.test_images is None:
                # Read from the cache build_datasets has just written: measurement, off the clock.
                self.test_images, self.test_labels = test_set(config)
            with averaged_weights(self.model):  # train.ema: the model as the run keeps it
                report = evaluate_arrays(self.model, self.test_images, self.test_labels, batch_size=256)
            self.paused_s += time.perf_counter() - paused_at
            point = {"epoch": epoch, "wall_s": round(wall, 2), "images": images,
                     "test_captcha_acc": report["captcha_acc"], "test_char_acc": report["char_acc"],
                     "val_captcha_acc": "" if val_captcha_acc is None else val_captcha_acc}
            self.points.append(point)
            with open(curve_csv, "a", newline="") as fh:
                csv.DictWriter(fh, CURVE_COLUMNS).writerow(point)
            log(f"[time-to-accuracy] {wall / 60:6.2f} min  {images:>9,} images  "
                f"test whole-captcha {report['captcha_acc']:.2%}  per-character {report['char_acc']:.2%}")

        def on_train_begin(self, logs=None):
            # The untrained model at the moment training starts: the curve shows how long data took.
            self._record(0, 0, None)

        def on_train_batch_end(self, batch, logs=None):
            if self.clock() >= budget_s and not self.model.stop_training:
                self.stopped_by_budget = True
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            # The run's own clock callback, called before this one, has put the images trained so far
            # (batches counted, so an epoch stopped by the budget counts only what it trained) in logs.
            val = logs.get("val_captcha_acc")
            self._record(epoch + 1, int(logs["images"]), None if val is None else float(val))

    return TimeToAccuracy()


def plot_curve(points: Sequence[dict], path: Path, title: str, target: float | None, budget_s: float) -> None:
    """Draw test accuracy (%) against wall-clock minutes to `path` (matplotlib Agg, no GUI)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    minutes = [p["wall_s"] / 60 for p in points]
    fig = Figure(figsize=(8, 5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(minutes, [100 * p["test_captcha_acc"] for p in points], "o-", label="whole-captcha (test)")
    ax.plot(minutes, [100 * p["test_char_acc"] for p in points], "s--", alpha=0.7, label="per-character (test)")
    if target is not None:
        ax.axhline(100 * target, color="tab:red", linestyle=":", label=f"target {target * 100:g}%")
    ax.axvline(budget_s / 60, color="gray", linestyle="-.", linewidth=1, label=f"budget {budget_s / 60:g} min")
    ax.set_xlabel("wall-clock time since start, data generation included (min)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)


def time_to_accuracy(config: Config, out: Path, *, budget_min: float, target: float | None = None,
                     reuse_cache: bool = False, name: str = "", log: Callable[[str], None] = print) -> dict:
    """Train a run into `out/run`, recording test accuracy against wall-clock time.

    Args:
        config: the resolved config.
        out: the output folder (must not hold an earlier measurement).
        budget_min: wall-clock budget in minutes (clock minus evaluation time).
        target: whole-captcha accuracy to report the time to, and to draw; None for none.
        reuse_cache: read already rendered synthetic sets from `data.cache_dir` instead of
            rendering them on the clock.
        name: shown in the plot title.
        log: where progress goes.

    Returns:
        The summary (also written to `out/summary.json`).
    """
    from captcha_ocr.core.config import config_from_dict
    from captcha_ocr.core.machine import machine_info
    from captcha_ocr.training.fit import train

    out.mkdir(parents=True, exist_ok=True)
    cache = out / "cache"
    if not reuse_cache:
        data = config.to_dict()
        data["data"]["cache_dir"] = str(cache)
        config = config_from_dict(data, "time-to-accuracy config")
    curve_csv = out / "curve.csv"
    with open(curve_csv, "w", newline="") as fh:
        csv.DictWriter(fh, CURVE_COLUMNS).writeheader()
    budget_s = budget_min * 60

    start = time.perf_counter()  # before any data is built or read
    callback = make_callback(config, start, budget_s, curve_csv, log)
    try:
        metrics = train(config, out / "run", callbacks=[callback], log=log)
    finally:
        if not reuse_cache:
            shutil.rmtree(cache, ignore_errors=True)
    total_s = time.perf_counter() - start
    points = callback.points
    last = points[-1]
    found = first_row(points, target, "test_captcha_acc") if target is not None else None
    reached = found[1] if found else None
    machine = machine_info()
    test_size = int(metrics.get("test", {}).get("count", 0))
    summary = {
        "config_name": name,
        "budget_min": budget_min,
        "target": target,
        "stopped_by_budget": callback.stopped_by_budget,
        "data_cache": "reused from data.cache_dir (generation not on the clock)" if reuse_cache
        else "synthetic sets rendered fresh on the clock" + (", folder loaded on the clock"
                                                          if config.data.source == "folder" else ""),
        "final": {"epoch": last["epoch"], "wall_s": last["wall_s"], "images": last["images"],
                  "test_captcha_acc": last["test_captcha_acc"], "test_char_acc": last["test_char_acc"]},
        "setup_s": points[0]["wall_s"],
        "time_to_target_s": reached["wall_s"] if reached else None,
        "images_to_target": reached["images"] if reached else None,
        "best_val_model_test": metrics.get("test"),
        "best_epoch": metrics.get("best_epoch"),
        "evaluation_off_clock_s": round(callback.paused_s, 2),
        "total_s": round(total_s, 2),
        "test_size": test_size,
        "clock": "time.perf_counter from before the data is built; per-epoch test evaluation taken off",
        "machine": machine,
        "config": config.to_dict(),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    title = (f"Test accuracy vs wall-clock: {name or 'run'}\n"
             f"({test_size} fresh test captchas; {machine['cpu_count']} cores, {machine['cpu']})")
    plot_curve(points, out / "curve.png", title, target, budget_s)
    log(f"[time-to-accuracy] final: {last['test_captcha_acc']:.2%} whole-captcha, "
        f"{last['test_char_acc']:.2%} per-character after {last['wall_s'] / 60:.1f} min, {last['images']:,} images"
        + (f"; target {target * 100:g}% reached after {reached['wall_s'] / 60:.1f} min" if reached else "")
        + (f"; target {target * 100:g}% not reached" if target is not None and not reached else ""))
    log(f"[time-to-accuracy] written: {curve_csv}, {out / 'curve.png'}, {out / 'summary.json'}")
    return summary


def build_parser():
    p = parser("python scripts/time_to_accuracy.py", __doc__)
    add_config_args(p, "YAML config (default: the defaults of configs/base.yaml)")
    p.add_argument("--budget-min", type=float_above(0), default=30.0, help="wall-clock budget in minutes (default 30)")
    p.add_argument("--target", type=float, help="whole-captcha test accuracy to time and draw, e.g. 0.95")
    p.add_argument("--out", help="output folder (default: reports/tta-<config name>)")
    p.add_argument("--reuse-cache", action="store_true",
                   help="read synthetic sets already rendered in data.cache_dir (generation then not timed)")
    p.add_argument("--restart", action="store_true", help="discard an earlier measurement in --out")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.budget_min > 0:
        raise UserError(f"--budget-min must be a positive number of minutes, got {args.budget_min}")
    if args.target is not None and not 0 < args.target <= 1:
        raise UserError(f"--target is a whole-captcha accuracy between 0 and 1 (e.g. 0.95), got {args.target}")
    config = config_from_args(args)
    name = Path(args.config).stem if args.config else "default"
    out = Path(args.out) if args.out else Path("reports") / f"tta-{name}"
    try:
        import matplotlib  # noqa: F401  (checked now rather than after a 30-minute run)
    except ImportError:
        raise UserError("curve.png needs matplotlib: pip install matplotlib") from None
    earlier = [n for n in ("run", "curve.csv", "summary.json") if (out / n).exists()]
    if earlier:
        if not args.restart:
            # A resumed run would put a second clock on one curve.
            raise UserError(f"{out} already holds a measurement ({', '.join(earlier)}); "
                            "pass --restart to discard it, or another --out")
        for n in earlier + ["curve.png"]:
            old = out / n
            shutil.rmtree(old) if old.is_dir() else old.unlink(missing_ok=True)
    output_dir(out)
    time_to_accuracy(config, out, budget_min=args.budget_min, target=args.target, reuse_cache=args.reuse_cache,
                     name=name)
    return 0


if __name__ == "__main__":
    run_cli(main)
