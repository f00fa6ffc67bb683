"""Summarise and render a comparison of runs: statistics, tables and report.md (`plots` draws its curves).

`captcha_ocr.compare` trains the runs; this module only reads run directories
(through `captcha_ocr.training.rundir`) and turns them into numbers and text. The statistics are plain functions on plain data, so they can be checked
on a hand-made history:

- `mean_std` / `format_mean_std`: mean ± sample standard deviation over seeds;
- `first_reaching` / `reach_summary`: the training images and wall-clock time a
  run needed before its validation whole-captcha accuracy first reached a
  threshold.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from captcha_ocr.core.tables import markdown_table

# Validation whole-captcha accuracies whose first crossing the table reports.
THRESHOLDS = (0.5, 0.9)
TOP_CONFUSIONS = 10
NONE = "–"


@dataclass
class Run:
    """One training run of a comparison: a config trained with one seed."""

    variant: str
    seed: int
    run_dir: Path
    log: Path
    ok: bool
    error: str = ""
    history: list[dict[str, float]] = field(default_factory=list)
    metrics: dict | None = None
    evaluation: dict | None = None
    reused: bool = False  # finished before this comparison ran, so trained elsewhere or earlier


@dataclass
class Variant:
    """A config of the comparison and its runs, one per seed."""

    name: str
    config: str
    runs: list[Run]

    @property
    def succeeded(self) -> list[Run]:
        return [r for r in self.runs if r.ok]


# ---------------------------------------------------------------- statistics


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation of the values.

    Args:
        values: at least one number (e.g. one per seed).

    Returns:
        (mean, std) with std computed with ddof=1 (seeds are a sample of the
        possible seeds), or None when there is a single value.
    """
    if not values:
        raise ValueError("mean_std needs at least one value")
    mean = statistics.fmean(values)
    return mean, (statistics.stdev(values) if len(values) >= 2 else None)


def format_mean_std(values: Sequence[float], fmt: str = "{:.1%}") -> str:
    """'mean ± std' of the values, '–' for the std of a single value, '–' for none.

    Args:
        values: the numbers, one per seed.
        fmt: a `str.format` pattern applied to the mean and to the std.

    Returns:
        e.g. '70.0% ± 20.0%', '25.0% ± –' or '–'.
    """
    if not values:
        return NONE
    mean, std = mean_std(values)
    return f"{fmt.format(mean)} ± {NONE if std is None else fmt.format(std)}"


def first_row(rows: Sequence[Mapping], threshold: float, key: str) -> tuple[int, Mapping] | None:
    """(index, row) of the first row whose `key` is at least `threshold`, or None."""
    return next(((i, row) for i, row in enumerate(rows) if float(row[key]) >= threshold), None)


def first_reaching(history: Sequence[Mapping[str, float]], threshold: float,
                   key: str = "val_captcha_acc") -> dict | None:
    """The first epoch of a history whose `key` is at least `threshold`.

    Args:
        history: the rows of a run's history.csv, in epoch order, each with
            `key`, 'images' (training images seen) and 'time_s' (wall-clock
            seconds since training started).
        threshold: the accuracy to reach, e.g. 0.9.
        key: the column compared with the threshold.

    Returns:
        {'epoch' (1-based), 'images', 'time_s'} of that epoch, or None if no
        epoch reached the threshold.
    """
    found = first_row(history, threshold, key)
    if found is None:
        return None
    i, row = found
    return {"epoch": i + 1, "images": float(row["images"]), "time_s": float(row["time_s"])}


def reach_summary(histories: Sequence[Sequence[Mapping[str, float]]], threshold: float) -> dict:
    """How many runs reached a validation accuracy, and the mean cost over those that did.

    Args:
        histories: one history per (successful) run.
        threshold: the validation whole-captcha accuracy to reach.

    Returns:
        {'threshold', 'reached', 'runs', 'epoch', 'images', 'time_s'}: the
        means are over the runs that reached it (None if none did).
    """
    hits = [h for h in (first_reaching(hist, threshold) for hist in histories) if h]
    out = {"threshold": threshold, "reached": len(hits), "runs": len(histories)}
    for key in ("epoch", "images", "time_s"):
        out[key] = statistics.fmean(h[key] for h in hits) if hits else None
    return out


def format_count(n: float) -> str:
    """A count of images with thousands separators: 12800 -> '12,800'."""
    return f"{n:,.0f}"


def format_duration(seconds: float) -> str:
    """Wall-clock seconds in the largest unit that keeps them readable: '42 s', '3.5 min', '1.2 h'."""
    if seconds < 120:
        return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def format_reach(reach: dict, key: str) -> str:
    """One table cell for `reach_summary`: the mean images or time, '(k/n seeds)' if not all reached it."""
    if not reach["runs"]:
        return NONE
    if not reach["reached"]:
        return "not reached"
    text = format_count(reach[key]) if key == "images" else format_duration(reach[key])
    if reach["reached"] < reach["runs"]:
        text += f" ({reach['reached']}/{reach['runs']} seeds)"
    return text


# ---------------------------------------------------------------- summary


def _stat(values: Sequence[float]) -> dict | None:
    if not values:
        return None
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "values": list(values)}


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path, root)).as_posix()


def summarize(variant: Variant, root: Path, thresholds: Sequence[float] = THRESHOLDS) -> dict:
    """The numbers of one variant over its successful seeds (JSON-ready).

    Args:
        variant: the config and its runs.
        root: the report folder; paths in the summary are relative to it.
        thresholds: validation accuracies for the time/images-to-reach columns.

    Returns:
        A dict with the test accuracies, best epoch, images per second, params,
        `reach` per threshold, per-position accuracy (mean over seeds), the
        most frequent confusions (summed over seeds) and the failed runs.
    """
    ok = variant.succeeded
    histories = [r.history for r in ok]
    speeds = [h[-1]["images"] / h[-1]["time_s"] for h in histories if h and h[-1].get("time_s")]
    positions = [r.evaluation["per_position"] for r in ok if r.evaluation]
    per_position = [statistics.fmean(col) for col in zip(*positions)] if positions else []
    confusions = Counter()
    for r in ok:
        for c in (r.evaluation or {}).get("confusions", []):
            confusions[(c["true"], c["pred"])] += c["count"]
    return {
        "name": variant.name,
        "config": variant.config,
        "seeds": [r.seed for r in variant.runs],
        "succeeded": [r.seed for r in ok],
        "failed": [{"seed": r.seed, "log": _rel(r.log, root), "error": r.error} for r in variant.runs if not r.ok],
        "test_count": ok[0].metrics["test"]["count"] if ok else None,
        "test_captcha_acc": _stat([r.metrics["test"]["captcha_acc"] for r in ok]),
        "test_char_acc": _stat([r.metrics["test"]["char_acc"] for r in ok]),
        "best_epoch": _stat([r.metrics["best_epoch"] for r in ok]),
        "epochs": _stat([r.metrics["epochs"] for r in ok]),
        "images_per_s": _stat(speeds),
        "params": ok[0].metrics["params"] if ok else None,
        "data": sorted({r.metrics.get("data", "") for r in ok}),
        "reach": {str(t): reach_summary(histories, t) for t in thresholds},
        "per_position": per_position,
        # each run's evaluation.json keeps its 20 most frequent confusions; these are summed
        "confusions": [{"true": t, "pred": p, "count": n} for (t, p), n in confusions.most_common(TOP_CONFUSIONS)],
        "runs": [{"seed": r.seed, "run_dir": _rel(r.run_dir, root), "log": _rel(r.log, root), "ok": r.ok}
                 for r in variant.runs],
    }


# ---------------------------------------------------------------- text


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _values(stat: dict | None) -> list[float]:
    return stat["values"] if stat else []


def table(summaries: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """The comparison table: a header and one row per variant.

    Args:
        summaries: `summarize` results, in the order to show.

    Returns:
        (header, rows) of strings.
    """
    header = ["variant", "seeds ok", "whole-captcha acc", "per-char acc", "best epoch"]
    thresholds = list(summaries[0]["reach"]) if summaries else []
    for t in thresholds:
        header += [f"images to {float(t):.0%}", f"time to {float(t):.0%}"]
    header += ["images/s", "params", "notes"]
    rows = []
    for s in summaries:
        row = [
            s["name"],
            f"{len(s['succeeded'])}/{len(s['seeds'])}",
            format_mean_std(_values(s["test_captcha_acc"])),
            format_mean_std(_values(s["test_char_acc"])),
            _epoch(s["best_epoch"]["mean"]) if s["best_epoch"] else NONE,
        ]
        for t in thresholds:
            row += [format_reach(s["reach"][t], "images"), format_reach(s["reach"][t], "time_s")]
        row += [format_mean_std(_values(s["images_per_s"]), "{:.0f}"),
                format_count(s["params"]) if s["params"] is not None else NONE]
        if s["failed"]:
            seeds = ", ".join(str(f["seed"]) for f in s["failed"])
            logs = ", ".join(f["log"] for f in s["failed"])
            row.append(f"seed{'s' if len(s['failed']) > 1 else ''} {seeds} failed (see {logs})")
        else:
            row.append("")
        rows.append(row)
    return header, rows


def confusion_table(summaries: Sequence[dict]) -> str:
    """Most frequent test-set confusions per variant, as a Markdown table."""
    rows = [[s["name"], ", ".join(f"{c['true']}→{c['pred']}: {c['count']}" for c in s["confusions"]) or NONE]
            for s in summaries]
    return markdown_table(["variant", f"top {TOP_CONFUSIONS} confusions (true→predicted: count)"], rows)


def position_table(summaries: Sequence[dict]) -> str:
    """Test-set accuracy per character position (mean over seeds), as a Markdown table."""
    width = max((len(s["per_position"]) for s in summaries), default=0)
    rows = [[s["name"]] + [_pct(a) for a in s["per_position"]] + [NONE] * (width - len(s["per_position"]))
            for s in summaries]
    return markdown_table(["variant"] + [f"position {i + 1}" for i in range(width)], rows)


def render_markdown(summary: dict, plots: Sequence[str] | None) -> str:
    """The text of report.md.

    Args:
        summary: the content of summary.json (see `compare.run_comparison`).
        plots: image file names relative to the report, or None if matplotlib is missing.

    Returns:
        Markdown: command, machine, table, plots, confusions, per-position accuracy, runs.
    """
    variants = summary["variants"]
    m = summary["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    seeds = summary["seeds"]
    lines = [
        f"# Comparison: {', '.join(v['name'] for v in variants)}",
        "",
        "Produced by:",
        "",
        "```",
        summary["command"],
        "```",
        "",
        f"Machine: {m['cpu_count']} CPU cores (os.cpu_count), {m['platform']}, Python {m['python']}"
        + (f", {versions}" if versions else "") + ". "
        "Runs were trained one after another; wall-clock times include validation and any other load on "
        "the machine (a reused run keeps the times of when it was trained).",
        "",
        f"Seeds: {', '.join(map(str, seeds))} (`train.seed`: data sets and initialisation)."
        + (f" Overrides: `{' '.join('--set ' + o for o in summary['overrides'])}`." if summary["overrides"] else ""),
    ]
    for warning in summary["warnings"]:
        lines += ["", f"**Warning:** {warning}"]
    budget = summary.get("budget")
    if budget:
        lines += ["", f"Equal wall-clock budget of {budget['minutes']:g} minutes of training per run "
                      "(`--budget-min`): each variant trains the whole epochs that fit at the pace of the second "
                      "epoch of a 2-epoch timing run of it (validation included; rendering a cached pool is not "
                      "on the clock, a background stream is):", "",
                  markdown_table(["variant", "s per epoch (timing run)", "epochs"],
                                 [[name, f"{fit['epoch_s']:.1f}", fit["epochs"]]
                                  for name, fit in budget["variants"].items()], align="lrr")]
    data = sorted({d for v in variants for d in v["data"]})
    if data:
        lines += ["", "Data: " + "; ".join(data)]
    counts = sorted({v["test_count"] for v in variants if v["test_count"]})
    test = f"the test set ({', '.join(map(str, counts))} captchas)" if counts else "the test set"
    lines += [
        "",
        "## Results",
        "",
        markdown_table(*table(variants)),
        "",
        f"Accuracies are on {test} with each run's best model (on validation whole-captcha accuracy), "
        "mean ± standard deviation over the seeds (ddof=1; – for a single seed). "
        "*Images/time to X%*: training images seen and wall-clock time at the end of the first epoch whose "
        "validation whole-captcha accuracy is at least X%, mean over the seeds that reached it. "
        "*Images/s*: training images seen over wall-clock time at the last epoch (validation included).",
        "",
        "## Learning curves",
        "",
    ]
    if plots:
        lines += [f"![{Path(p).stem}]({p})\n" for p in plots]
        lines += ["Lines: mean over the seeds that ran that epoch; bands: min–max over those seeds. "
                  "Losses of different loss functions are on different scales.", ""]
    elif plots is None:
        lines += ["No plots: matplotlib is not installed (`pip install matplotlib`).", ""]
    else:
        lines += ["No plots: no run succeeded.", ""]
    lines += [
        "## Most frequent confusions",
        "",
        "Test set, summed over seeds (of each run's 20 most frequent).",
        "",
        confusion_table(variants),
        "",
        "## Accuracy per position",
        "",
        "Test set, share of captchas whose character at that position is right, mean over seeds.",
        "",
        position_table(variants),
        "",
        "## Runs",
        "",
        markdown_table(["variant", "seed", "run directory", "log", "status"], [
            [v["name"], str(r["seed"]), r["run_dir"], r["log"], "ok" if r["ok"] else "failed"]
            for v in variants for r in v["runs"]
        ]),
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- plots


def _epoch(mean: float) -> str:
    """An epoch as a whole number; a mean over seeds that is not one with a decimal."""
    return f"{mean:.0f}" if float(mean).is_integer() else f"{mean:.1f}"
