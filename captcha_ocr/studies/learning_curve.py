"""How many labels do I need? `python -m captcha_ocr.learning_curve --data FOLDER --labels 100 500 --out reports/NAME`.

Takes a labeled folder of one captcha style, sets a fixed part of it aside as
the test set (`--test`, 1,000 by default), and trains on the first N labels of
the rest for each `--labels N` (nested subsets: the 500 include the 100), with
each `--methods` entry:

- `zero_shot`: the `--init-from` model (the shipped `base_ctc` by default) as it
  is, no training (one point, drawn flat across the label counts);
- `finetune`: `--config` (configs/finetune_ctc.yaml by default) started from `--init-from`;
- `scratch`: the same config and data from random weights, for contrast;
- `pseudo`: `finetune` plus self-training on the folder's images that are not
  among the N labels and not in the test set, their labels unused
  (`data.unlabeled_folder`, see captcha_ocr.train), and on the images of
  `--unlabeled FOLDER` if given (any that are byte for byte an image of the
  labeled folder are left out, so a test captcha never trains).

Every training runs in its own process with `train.time_budget_min` set to
`--budget-min`, 10% of its N labels held out for validation (model
selection), and the test set as `data.test_folder`. A config that keeps its
last epoch (`train.keep: last`) trains on all N labels and validates on none. The charset is the
characters of the folder's labels (`--chars` to set it), and the input
geometry is the `--init-from` model's (its size and resizing; gray or colour is
the config's), for every method alike.

    reports/NAME/
        data/             labels.csv of the test set and of each label count (paths into FOLDER)
        runs/             one run directory and log per (method, label count)
        report.md         the table, the plot and the labels estimated for 90/95/99%
        summary.json      the numbers
        curve.png         whole-captcha test accuracy against labels, one line per method

The estimate fits the test error of each method as a power law of the label
count (a straight line in log-log, through the measured points) and solves for
1 - target; beyond the largest count measured it is an extrapolation and
marked so. Run the same command again and finished runs are reused.
"""

from __future__ import annotations

import hashlib
import json
import math
import shlex
from pathlib import Path
from typing import Sequence

import numpy as np

from captcha_ocr.core.atomic import write_text_atomic
from captcha_ocr.core.charset import covering
from captcha_ocr.core.cli import output_dir
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.machine import report_machine
from captcha_ocr.core.tables import markdown_table
from captcha_ocr.data.folder import LABELS_CSV, image_paths, list_folder, write_labels_csv
from captcha_ocr.model.scoring import TARGETS
from captcha_ocr.studies.runner import attempt_error, run_command, run_training
from captcha_ocr.training import rundir

METHODS = ("zero_shot", "finetune", "scratch", "pseudo")
VAL_SHARE = 0.1


def split_folder(folder: str | Path, test: int, seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(pool, test): the folder's (absolute path, label) pairs, shuffled by `seed`, the last `test` set aside.

    Raises:
        UserError: the folder has too few labeled images for `test` and a pool.
    """
    items = [(str(Path(p).resolve()), label) for p, label in list_folder(folder)]
    if len(items) <= test:
        raise UserError(f"{folder} has {len(items)} labeled images; --test {test} leaves none to train on: "
                        "lower --test or label more")
    order = np.random.default_rng(seed).permutation(len(items))
    shuffled = [items[i] for i in order]
    return shuffled[:-test], shuffled[-test:]


def extra_unlabeled(folder: str | Path, labeled: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """(absolute path, "") of the images of `folder` (labels ignored) whose bytes are no labeled image's.

    Raises:
        UserError: the folder does not exist or holds no image that is not also in the labeled folder.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"--unlabeled {str(root)!r} not found; give a folder of captchas of the same style")
    paths = image_paths(root)
    if not paths:
        raise UserError(f"--unlabeled {root}: no images found; give a folder of captchas of the same style")
    digest = lambda path: hashlib.sha256(Path(path).read_bytes()).hexdigest()  # noqa: E731
    seen = {digest(path) for path, _ in labeled}
    out = [(str(Path(path).resolve()), "") for path in paths if digest(path) not in seen]
    if not out:
        raise UserError(f"--unlabeled {root}: every image in it is also in the labeled folder; give other captchas")
    return out


def write_labels(items: Sequence[tuple[str, str]], folder: Path) -> Path:
    """A labels.csv (absolute paths) describing `items` as a labeled folder; written atomically."""
    folder.mkdir(parents=True, exist_ok=True)
    write_labels_csv(folder / LABELS_CSV, items)
    return folder


def fit_power_law(points: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """(a, b) of log(error) = a + b log(labels) through the points with 0 < accuracy < 1; None if under 2."""
    usable = [(n, acc) for n, acc in points if 0 < acc < 1]
    if len(usable) < 2 or len({n for n, _ in usable}) < 2:
        return None
    x = np.log([n for n, _ in usable])
    y = np.log([1 - acc for _, acc in usable])
    b, a = np.polyfit(x, y, 1)
    return float(a), float(b)


MAX_LABELS = 10**9  # beyond this a power-law estimate says nothing


def labels_needed(points: Sequence[tuple[int, float]], target: float) -> dict | None:
    """The label count at which the fitted power law reaches `target` whole-captcha accuracy.

    Returns:
        {"labels", "extrapolated"} or None when it cannot be estimated (fewer than two
        usable points, the error does not fall with more labels, or it falls so slowly
        that the law would need more than `MAX_LABELS`). Where the law reaches the target
        below the smallest count measured, the answer is that count with "at_most": True
        (the law says nothing below it).
    """
    reached = sorted(n for n, acc in points if acc >= target)
    fit = fit_power_law(points)
    if fit is None or fit[1] >= 0:
        return {"labels": reached[0], "extrapolated": False} if reached else None
    a, b = fit
    log_n = (math.log(1 - target) - a) / b
    if log_n > math.log(MAX_LABELS):  # a nearly flat curve: no count worth printing (and exp would overflow)
        return {"labels": reached[0], "extrapolated": False} if reached else None
    n = math.ceil(math.exp(log_n) - 1e-6)  # float noise must not add a label to an exact answer
    if n < min(count for count, _ in points):
        return {"labels": reached[0], "extrapolated": False, "at_most": True} if reached else None
    return {"labels": int(n), "extrapolated": n > max(count for count, _ in points)}


def _training_args(method: str, args, subset: Path, test_dir: Path, chars: str, lengths: tuple[int, int],
                   geometry: dict, unlabeled: Path | None) -> list[str]:
    sets = ["data.source=folder", f"data.folder={subset}", f"data.test_folder={test_dir}",
            f"data.split=[{1 - args.val_share}, {args.val_share}, 0.0]", f"charset.chars={chars}",
            f"charset.min_length={lengths[0]}", f"charset.max_length={lengths[1]}",
            f"train.time_budget_min={args.budget_min}", f"train.seed={args.seed}",
            *(f"image.{k}={v}" for k, v in geometry.items()), *args.overrides]
    if method == "pseudo":
        sets.append(f"data.unlabeled_folder={unlabeled}")
    out = ["--config", args.config, *(a for s in sets for a in ("--set", s))]
    if method in ("finetune", "pseudo"):
        out += ["--init-from", args.init_from]
    return out


def learning_curve(args) -> dict:
    """Train every (method, label count) of the command line and write the report; returns the summary."""
    out = output_dir(args.out)
    pool, test = split_folder(args.data, args.test, args.seed)
    if max(args.labels) > len(pool):
        raise UserError(f"--labels {max(args.labels)}: {args.data} has {len(pool)} labeled images besides the "
                        f"{args.test} of the test set; lower --labels or --test")
    labels_all = [label for _, label in pool + test]
    chars, low, high = covering(labels_all) if not args.chars else (args.chars, *covering(labels_all)[1:])
    test_dir = write_labels(test, out / "data" / "test")
    extra = extra_unlabeled(args.unlabeled, pool + test) if args.unlabeled else []
    geometry = {}
    if any(m != "scratch" for m in args.methods):
        model, _, _ = rundir.load_run(args.init_from)
        from captcha_ocr.model.layers import model_spec

        spec = model_spec(model)
        # Not its channels: the config's decide (a gray model fine-tunes into a colour one, model/transfer.py).
        geometry = {"width": spec.width, "height": spec.height, "resize": spec.resize}
        del model
    points: dict[str, list[dict]] = {m: [] for m in args.methods}
    total = len(args.labels) * len([m for m in args.methods if m != "zero_shot"]) + ("zero_shot" in args.methods)
    done, measured_here = 0, False
    if "zero_shot" in args.methods:
        done += 1
        report = out / "runs" / "zero_shot.json"
        print(f"[{done}/{total}] zero_shot: ", end="", flush=True)
        if not report.is_file():
            measured_here = True
            status, output = run_command("evaluate", ["--model", args.init_from, "--data", test_dir, "--json", report],
                                         out / "runs" / "zero_shot.log")
            if status:
                raise UserError(f"zero_shot: evaluating {args.init_from} failed: {attempt_error(output)}")
        result = json.loads(report.read_text())
        print(f"test whole-captcha accuracy {result['captcha_acc']:.1%}", flush=True)
        for n in args.labels:
            points["zero_shot"].append({"labels": n, "captcha_acc": result["captcha_acc"],
                                        "char_acc": result["char_acc"], "run": "runs/zero_shot.json"})
    for n in sorted(args.labels):
        subset = write_labels(pool[:n], out / "data" / f"labels-{n}")
        unlabeled = write_labels([(p, "") for p, _ in pool[n:]] + extra, out / "data" / f"unlabeled-{n}")
        for method in [m for m in args.methods if m != "zero_shot"]:
            done += 1
            name = f"{method}-{n}"
            run_dir, log = out / "runs" / name, out / "runs" / f"{name}.log"
            print(f"[{done}/{total}] {name}: ", end="", flush=True)
            measured_here = measured_here or not rundir.is_finished(run_dir)
            status, output = run_training(
                _training_args(method, args, subset, test_dir, chars, (low, high), geometry, unlabeled), run_dir, log)
            record = rundir.read_run(run_dir)
            if status or not record.finished:
                print(f"FAILED ({attempt_error(output)}); see {log}", flush=True)
                points[method].append({"labels": n, "captcha_acc": None, "char_acc": None, "run": f"runs/{name}",
                                       "error": attempt_error(output)})
                continue
            test_metrics = record.metrics["test"]
            print(f"test whole-captcha accuracy {test_metrics['captcha_acc']:.1%} "
                  f"(train {record.metrics['train_time_s'] / 60:.1f} min)", flush=True)
            points[method].append({"labels": n, "captcha_acc": test_metrics["captcha_acc"],
                                   "char_acc": test_metrics["char_acc"], "run": f"runs/{name}",
                                   "train_min": round(record.metrics["train_time_s"] / 60, 2),
                                   "best_epoch": record.metrics["best_epoch"], "epochs": record.metrics["epochs"]})
    summary = {
        "command": "python -m captcha_ocr.learning_curve " + shlex.join(map(str, args.argv)),
        "machine": report_machine(out / "summary.json", measured_here),
        "data": str(args.data), "test": len(test), "pool": len(pool), "charset": chars, "lengths": [low, high],
        "init_from": str(args.init_from), "unlabeled": len(extra), "config": str(args.config), "budget_min": args.budget_min,
        "val_share": args.val_share,
        "methods": points,
        "labels_needed": {m: {str(t): labels_needed([(p["labels"], p["captcha_acc"]) for p in pts
                                                      if p["captcha_acc"] is not None], t) for t in TARGETS}
                          for m, pts in points.items() if m != "zero_shot"},
    }
    summary["plot"] = _plot(points, out / "curve.png", f"{Path(args.data).name}: {len(test)} held-out captchas")
    write_text_atomic(out / "summary.json", json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    write_text_atomic(out / "report.md", render_markdown(summary))
    return summary


def _plot(points: dict[str, list[dict]], path: Path, title: str) -> str | None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for method, pts in points.items():
        pts = [p for p in pts if p["captcha_acc"] is not None]
        if pts:
            style = dict(linestyle="--") if method == "zero_shot" else dict(marker="o")
            ax.plot([p["labels"] for p in pts], [100 * p["captcha_acc"] for p in pts], label=method, **style)
    for target in TARGETS:
        ax.axhline(100 * target, color="gray", linestyle=":", linewidth=1)
    ax.set(xscale="log", ylim=(-2, 102), xlabel="labeled captchas (log scale)",
           ylabel="test whole-captcha accuracy (%)", title=title)
    ax.legend(loc="best", fontsize="small")
    fig.savefig(path, dpi=110)
    return path.name


def _validation(share: float) -> str:
    if not share:
        return "all its labels trained on and its last epoch kept, with no validation (`train.keep: last`)"
    return f"{share:.0%} of its labels for validation"


def _more_unlabeled(count: int | None) -> str:
    return f" Self-training also read {count} unlabeled captchas of `--unlabeled`." if count else ""


def render_markdown(summary: dict) -> str:
    """report.md of a learning curve."""
    counts = sorted({p["labels"] for pts in summary["methods"].values() for p in pts})
    lines = [f"# Learning curve: {summary['data']}", "", f"`{summary['command']}`", "",
             f"Test set: {summary['test']} held-out captchas of the folder (never trained on); labels drawn from the "
             f"other {summary['pool']}. Charset `{summary['charset']}`, lengths {summary['lengths'][0]}–"
             f"{summary['lengths'][1]}. Each training: `{summary['config']}`, at most {summary['budget_min']:g} min, "
             f"{_validation(summary.get('val_share', VAL_SHARE))}.{_more_unlabeled(summary.get('unlabeled'))} "
             f"Machine: {summary['machine']['cpu']} "
             f"({summary['machine']['cpu_count']} cores).", "",
             "Whole-captcha test accuracy (per character in brackets):", ""]
    rows = []
    for method, pts in summary["methods"].items():
        by_n = {p["labels"]: p for p in pts}
        cells = []
        for n in counts:
            p = by_n.get(n)
            if p is None:
                cells.append("")
            elif p["captcha_acc"] is None:
                cells.append("failed")
            else:
                cells.append(f"{p['captcha_acc']:.1%} ({p['char_acc']:.1%})")
        rows.append([method, *cells])
    lines += [markdown_table(["method", *(f"{n} labels" for n in counts)], rows), "",
              "Labels needed (power law fitted to the measured points; * = extrapolated beyond them; ≤ = reached at the "
              "smallest count measured):", ""]
    rows = []
    for method, needed in summary["labels_needed"].items():
        cells = []
        for t in TARGETS:
            est = needed[str(t)]
            cells.append("–" if est is None else
                         f"{'≤ ' if est.get('at_most') else ''}{est['labels']:,}{'*' if est['extrapolated'] else ''}")
        rows.append([method, *cells])
    lines.append(markdown_table(["method", *(f"{t:.0%}" for t in TARGETS)], rows))
    if summary.get("plot"):
        lines += ["", f"![whole-captcha accuracy against labels]({summary['plot']})"]
    return "\n".join(lines) + "\n"
