"""The learning-curve plots of a comparison (accuracy and loss against images seen and wall-clock time).

matplotlib's Agg backend is imported only when plotting; without matplotlib
`write_plots` returns None and the report carries the table alone.
"""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Sequence

from captcha_ocr.studies.report import THRESHOLDS, Run, Variant


def curve(runs: Sequence[Run], x_key: str, y_key: str) -> dict[str, list[float]]:
    """One learning curve over seeds, aligned by epoch.

    Args:
        runs: successful runs of one variant.
        x_key, y_key: history columns, e.g. 'images' and 'val_captcha_acc'.

    Returns:
        {'x', 'mean', 'min', 'max'}: per epoch, the mean x and the mean/min/max y
        over the runs that ran that epoch (runs stopped early drop out).
    """
    out = {"x": [], "mean": [], "min": [], "max": []}
    length = max((len(r.history) for r in runs), default=0)
    for i in range(length):
        rows = [r.history[i] for r in runs if len(r.history) > i and x_key in r.history[i] and y_key in r.history[i]]
        if not rows:
            continue
        ys = [row[y_key] for row in rows]
        out["x"].append(statistics.fmean(row[x_key] for row in rows))
        out["mean"].append(statistics.fmean(ys))
        out["min"].append(min(ys))
        out["max"].append(max(ys))
    return out


def _time_unit(seconds: float) -> tuple[float, str]:
    if seconds < 600:
        return 1.0, "s"
    if seconds < 3 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def _draw(ax, variants: Sequence[Variant], x_key: str, y_key: str, x_scale: float = 1.0, y_scale: float = 1.0):
    for v in variants:
        c = curve(v.succeeded, x_key, y_key)
        if not c["x"]:
            continue
        x = [a / x_scale for a in c["x"]]
        (line,) = ax.plot(x, [a * y_scale for a in c["mean"]], marker="o", markersize=3,
                          label=f"{v.name} ({len(v.succeeded)} seed{'s' if len(v.succeeded) != 1 else ''})")
        ax.fill_between(x, [a * y_scale for a in c["min"]], [a * y_scale for a in c["max"]],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    ax.grid(True, alpha=0.3)


def write_plots(variants: Sequence[Variant], out_dir: Path) -> list[str] | None:
    """Write accuracy.png and loss.png (learning curves of all variants) into `out_dir`.

    Args:
        variants: the variants; only their successful runs are drawn.
        out_dir: the report folder.

    Returns:
        The file names written ([] if no run succeeded), or None if matplotlib is not installed.
    """
    try:
        # The Agg canvas and a bare Figure: no GUI backend and no pyplot global state.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None

    names = ["accuracy.png", "loss.png"]
    if not any(r.history for v in variants for r in v.succeeded):
        for name in names:  # so that no plot of an earlier comparison in this folder is taken for this one
            (out_dir / name).unlink(missing_ok=True)
        return []
    max_time = max((r.history[-1].get("time_s", 0) for v in variants for r in v.succeeded if r.history), default=0)
    t_scale, t_unit = _time_unit(max_time)

    fig = Figure(figsize=(17, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    by_images, by_time, chars = fig.subplots(1, 3)
    _draw(by_images, variants, "images", "val_captcha_acc", y_scale=100)
    _draw(by_time, variants, "time_s", "val_captcha_acc", x_scale=t_scale, y_scale=100)
    # Per character: short runs whose whole-captcha accuracy is still 0 show their progress here.
    _draw(chars, variants, "images", "val_char_acc", y_scale=100)
    chars.set(title="per character, against training images seen", xlabel="training images seen (images)",
              ylabel="validation per-character accuracy (%)")
    for ax in (by_images, by_time, chars):
        for t in THRESHOLDS:
            ax.axhline(t * 100, color="gray", linestyle=":", linewidth=1)
        ax.set_ylim(-2, 102)
    by_images.set(title="against training images seen", xlabel="training images seen (images)",
                  ylabel="validation whole-captcha accuracy (%)")
    by_time.set(title="against wall-clock training time", xlabel=f"wall-clock training time ({t_unit}, mean over seeds)")
    by_images.legend(loc="best", fontsize="small")
    fig.suptitle("Validation accuracy (line: mean over seeds, band: min–max; dotted: 50% and 90%)")
    fig.savefig(out_dir / names[0], dpi=110)

    fig = Figure(figsize=(12, 4.8), layout="constrained")
    FigureCanvasAgg(fig)
    train_ax, val_ax = fig.subplots(1, 2, sharey=True)
    _draw(train_ax, variants, "images", "loss")
    _draw(val_ax, variants, "images", "val_loss")
    for ax, what in ((train_ax, "training"), (val_ax, "validation")):
        ax.set(title=f"{what} loss", xlabel="training images seen (images)", yscale="log")
    train_ax.set_ylabel("loss per captcha (log scale)")
    train_ax.legend(loc="best", fontsize="small")
    fig.suptitle("Loss (line: mean over seeds, band: min–max; each loss function has its own scale)")
    fig.savefig(out_dir / names[1], dpi=110)
    return names
