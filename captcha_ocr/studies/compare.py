"""Compare configs over seeds: `python -m captcha_ocr.compare --configs A.yaml B.yaml --out reports/NAME`.

Trains every config with each seed 0..N-1 (`--set train.seed=s`), then reports
test accuracy as mean ± std over the seeds, how many training images and how
much wall-clock time each variant needed to reach 50% and 90% validation
whole-captcha accuracy, learning curves, confusions and per-position accuracy:

    reports/NAME/
        runs/<name>-seed<s>/      a run directory (see captcha_ocr.train)
        runs/<name>-seed<s>.log   that run's output (each attempt appended)
        report.md                 command, machine, table, plots, confusions
        summary.json              the numbers of the report
        accuracy.png, loss.png    learning curves (need matplotlib)

Each run is its own `python -m captcha_ocr.train` process, so a failing run
leaves the others alone; its row says which seeds failed and where the log
is. Runs go one after another: parallel trainings would only share the same
cores and distort the wall-clock times. Train reuses a finished run and
resumes an interrupted one, so rerunning the same command after Ctrl-C (or
with more --seeds) only trains what is missing.

`--budget-min M` compares at equal wall-clock budget instead of equal
epochs: each variant first trains 2 epochs in a timing run
(OUT/probes/<name>), and all its runs then train as many whole epochs as fit
in M minutes at the pace of its second epoch (validation included), so its
learning-rate schedule still finishes. A slower design gets fewer epochs;
rendering a pool before training is not on the clock (it is cached and
shared), rendering a stream in the background is (it slows the steps).

A variant is named after its config file's stem (configs/softmax.yaml ->
softmax). When two configs share a stem, both are named <folder>-<stem>
instead (configs/sigmoid.yaml and configs/activations/sigmoid.yaml ->
configs-sigmoid and activations-sigmoid); names that still clash are an error.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from captcha_ocr.core.atomic import write_text_atomic
from captcha_ocr.core.cli import output_dir
from captcha_ocr.core.config import Config, changed_keys, load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.machine import report_machine
from captcha_ocr.studies.plots import write_plots
from captcha_ocr.studies.report import Run, Variant, render_markdown, summarize
from captcha_ocr.studies.runner import attempt_error, run_training
from captcha_ocr.training import rundir

# Sections that decide the training, validation and test images: when configs
# differ here the variants are not compared on identical data.
DATA_SECTIONS = ("charset", "image", "generator", "data")


def variant_names(paths: Sequence[str | Path]) -> list[str]:
    """A unique name per config file, used for its run directories and table row.

    Args:
        paths: the config files, in order.

    Returns:
        The stem of each file, or `<parent folder>-<stem>` for files whose
        stems clash (see the module docstring).

    Raises:
        UserError: the same file is given twice, or names still clash.
    """
    paths = [Path(p) for p in paths]
    seen: dict[Path, Path] = {}
    for p in paths:
        if p.resolve() in seen:
            raise UserError(f"--configs: {str(p)!r} is given twice (as {str(seen[p.resolve()])!r}); list each config once")
        seen[p.resolve()] = p
    stems = Counter(p.stem for p in paths)
    names = [f"{p.resolve().parent.name}-{p.stem}" if stems[p.stem] > 1 else p.stem for p in paths]
    clashes = sorted(n for n, k in Counter(names).items() if k > 1)
    if clashes:
        raise UserError(f"--configs: several configs would be named {', '.join(map(repr, clashes))}; "
                        "rename the files so their names (or folder-name) differ")
    return names


def data_differences(configs: Sequence[Config]) -> list[str]:
    """The data-defining sections (charset, image, generator, data) on which the configs disagree."""
    changed = {key.split(".", 1)[0] for other in configs[1:] for key in changed_keys(configs[0], other, DATA_SECTIONS)}
    return [s for s in DATA_SECTIONS if s in changed]


def run_name(name: str, seed: int) -> str:
    """The name of a variant's run with one seed: its run directory and log file under OUT/runs."""
    return f"{name}-seed{seed}"


def check_existing_runs(out: Path, config_paths: Sequence[str | Path], names: Sequence[str], seeds: int,
                        overrides: Sequence[str], per_variant: dict[str, list[str]] | None = None) -> None:
    """Refuse a report folder whose runs were made with other configs or --set values.

    Train would refuse such a run too, but only when its turn comes, after the
    runs before it have trained; this says so before anything is trained.

    Raises:
        UserError: naming the first mismatching run and the differing sections.
    """
    for path, name in zip(config_paths, names):
        for seed in range(seeds):
            run_dir = out / "runs" / run_name(name, seed)
            old = rundir.read_config(run_dir)
            if old is None:
                continue
            new = load_config(path, [f"train.seed={seed}", *overrides, *(per_variant or {}).get(name, [])])
            changes = changed_keys(old, new)
            if changes:
                sections = list(dict.fromkeys(key.split(".", 1)[0] for key in changes))
                raise UserError(
                    f"{run_dir} was trained with a different {', '.join(sections)} config "
                    f"({', '.join(changes)}) than {path} "
                    "with these --set values; use the --set values it was run with, another --out, "
                    "or delete that run directory to train it again"
                )


def _overrides_key(overrides: Sequence[str], key: str) -> bool:
    """Whether one of the `--set` values sets `key` (a dotted config key)."""
    return any(o.split("=", 1)[0].strip() == key for o in overrides)


def _sets(overrides: Sequence[str]) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def budget_epochs(config_path: str | Path, name: str, overrides: Sequence[str], minutes: float, out: Path) -> dict:
    """How many epochs of a variant fit in `minutes`, from a 2-epoch timing run of it (see the module docstring).

    The first epoch pays for tracing the model; the second is timed: training
    steps plus validation, as every later epoch. A finished timing run is reused.

    Returns:
        {"epoch_s": seconds per epoch, "epochs": whole epochs in the budget (at least 1), "probe": its run directory}.

    Raises:
        UserError: the timing run failed (naming its log).
    """
    run_dir, log = out / "probes" / name, out / "probes" / f"{name}.log"
    status, output = run_training(["--config", config_path, "--set", "train.seed=0", *_sets(overrides),
                                   "--set", "train.epochs=2", "--set", "train.time_budget_min=0",
                                   "--set", "train.early_stopping_patience=0"], run_dir, log)
    history = rundir.read_run(run_dir).history if status == 0 else []
    if len(history) < 2:
        raise UserError(f"--budget-min: the timing run of {name} failed ({attempt_error(output)}); see {log}")
    epoch_s = float(history[1]["time_s"]) - float(history[0]["time_s"])
    return {"epoch_s": round(epoch_s, 2), "epochs": max(1, int(minutes * 60 // epoch_s)), "probe": str(run_dir)}


def train_run(config_path: str | Path, seed: int, overrides: Sequence[str], run_dir: Path, log: Path) -> tuple[int, str]:
    """Train (or reuse, or resume) one run in its own process (`run_training`), its output in `log`.

    Args:
        config_path: the variant's config file.
        seed: the value of train.seed.
        overrides: the user's `--set` values, applied to every run.
        run_dir: the run directory.
        log: the log file.

    Returns:
        (exit status, the output of this attempt).
    """
    return run_training(["--config", config_path, "--set", f"train.seed={seed}", *_sets(overrides)], run_dir, log)


def collect_run(variant: str, seed: int, run_dir: Path, log: Path, returncode: int, error: str = "") -> Run:
    """The comparison's record of one run: its run directory read back, and whether it succeeded.

    Args:
        variant, seed: which run this is.
        run_dir: the run directory.
        log: the file holding the run's output.
        returncode: the train process's exit status.
        error: why it failed, for the report (ignored if it succeeded).

    Returns:
        The run; `ok` only if train exited 0 and finished the run (wrote metrics.json).
    """
    record = rundir.read_run(run_dir)
    if returncode == 0 and not record.finished:
        error = error or "train exited 0 but wrote no metrics.json"
    if returncode != 0 or not record.finished:
        return Run(variant, seed, run_dir, log, ok=False, error=error or f"exit status {returncode}")
    return Run(variant, seed, run_dir, log, ok=True, history=record.history, metrics=record.metrics,
               evaluation=record.evaluation)


def run_comparison(config_paths: Sequence[str | Path], names: Sequence[str], seeds: int, overrides: Sequence[str],
                   out: Path, per_variant: dict[str, list[str]] | None = None) -> list[Variant]:
    """Train every config with every seed, one process at a time, and collect the runs.

    Prints one progress line per run on stdout; the runs' own output goes to their logs.

    Args:
        config_paths: the config files.
        names: their variant names (from `variant_names`).
        seeds: train with train.seed = 0 .. seeds-1.
        overrides: `--set` values applied to every run.
        out: the report folder; runs go to out/runs.
        per_variant: more `--set` values for the runs of some variants, after `overrides`.

    Returns:
        One `Variant` per config, with its runs (failed ones included).
    """
    total = len(config_paths) * seeds
    variants = []
    i = 0
    for path, name in zip(config_paths, names):
        runs: list[Run] = []
        for seed in range(seeds):
            i += 1
            label = run_name(name, seed)
            run_dir, log_path = out / "runs" / label, out / "runs" / f"{label}.log"
            # The line starts before the run, so a long training shows which run it is.
            print(f"[{i}/{total}] {label}: ", end="", flush=True)
            started = time.perf_counter()
            reused = rundir.is_finished(run_dir)
            status, output = train_run(path, seed, [*overrides, *(per_variant or {}).get(name, [])], run_dir, log_path)
            run = collect_run(name, seed, run_dir, log_path, status, attempt_error(output) if status else "")
            run.reused = reused
            rel_log = Path(os.path.relpath(log_path, out)).as_posix()
            if not run.ok:
                outcome = f"FAILED ({run.error}); see {rel_log}"
            else:
                acc = run.metrics["test"]["captcha_acc"]
                done = "reused (already finished)" if reused else f"trained in {time.perf_counter() - started:.0f} s"
                outcome = f"{done}, test whole-captcha accuracy {acc:.1%}"
            print(outcome, flush=True)
            runs.append(run)
        variants.append(Variant(name, str(path), runs))
    return variants


def write_report(variants: Sequence[Variant], out: Path, *, command: str, seeds: int, overrides: Sequence[str],
                 warnings: Sequence[str] = (), budget: dict | None = None) -> dict:
    """Write summary.json, the plots and report.md into `out`.

    Args:
        variants: the collected runs.
        out: the report folder.
        command: the command line that produced the comparison, for the report.
        seeds: how many seeds each config was trained with.
        overrides: the `--set` values shared by all runs.
        warnings: one-line caveats to repeat in the report.
        budget: with --budget-min, {"minutes": M, "variants": {name: budget_epochs(...)}}.

    Returns:
        The summary (the content of summary.json) with 'plots': the image
        files written, or None if matplotlib is missing.
    """
    output_dir(out)
    summary = {
        "command": command,
        "machine": report_machine(out / "summary.json", not all(r.reused for v in variants for r in v.runs)),
        "seeds": list(range(seeds)),
        "overrides": list(overrides),
        "warnings": list(warnings),
        "budget": budget,
        "variants": [summarize(v, out) for v in variants],
    }
    summary["plots"] = write_plots(variants, out)
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(out / "report.md", render_markdown(summary, summary["plots"]))
    return summary
