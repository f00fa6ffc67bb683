"""The comparison command: statistics on hand-made histories, and real runs of the smoke config."""

import csv
import json
import shutil
import sys
from pathlib import Path

import pytest
import yaml
from conftest import SMOKE, assert_user_error, markdown_rows, run_module
from PIL import Image

from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.studies.compare import data_differences, variant_names
from captcha_ocr.studies.plots import curve, write_plots
from captcha_ocr.studies.report import (
    Run,
    Variant,
    first_reaching,
    format_mean_std,
    format_reach,
    mean_std,
    reach_summary,
    summarize,
    table,
)

# ---------------------------------------------------------------- statistics on hand-made data

# val_captcha_acc crosses 0.5 exactly at epoch 2 (>= counts) and 0.9 at epoch 4.
HISTORY = [
    {"epoch": 0, "val_captcha_acc": 0.10, "images": 1000, "time_s": 10.0, "loss": 9.0, "val_loss": 9.5},
    {"epoch": 1, "val_captcha_acc": 0.50, "images": 2000, "time_s": 21.0, "loss": 5.0, "val_loss": 6.0},
    {"epoch": 2, "val_captcha_acc": 0.70, "images": 3000, "time_s": 32.5, "loss": 3.0, "val_loss": 4.0},
    {"epoch": 3, "val_captcha_acc": 0.92, "images": 4000, "time_s": 43.5, "loss": 1.0, "val_loss": 2.0},
]
SLOW = [dict(row, val_captcha_acc=row["val_captcha_acc"] * 0.8) for row in HISTORY]  # peaks at 0.736


def test_first_reaching_a_threshold():
    assert first_reaching(HISTORY, 0.5) == {"epoch": 2, "images": 2000, "time_s": 21.0}
    assert first_reaching(HISTORY, 0.9) == {"epoch": 4, "images": 4000, "time_s": 43.5}
    assert first_reaching(HISTORY, 0.05) == {"epoch": 1, "images": 1000, "time_s": 10.0}
    assert first_reaching(HISTORY, 0.95) is None
    assert first_reaching([], 0.5) is None


def test_reach_summary_averages_over_the_seeds_that_reached_it():
    both = reach_summary([HISTORY, SLOW], 0.5)  # SLOW crosses 0.5 at epoch 3 (0.56)
    assert both["reached"] == 2 and both["runs"] == 2
    assert both["images"] == 2500 and both["time_s"] == pytest.approx((21.0 + 32.5) / 2) and both["epoch"] == 2.5
    assert format_reach(both, "images") == "2,500"
    assert format_reach(both, "time_s") == "27 s"

    one = reach_summary([HISTORY, SLOW], 0.9)
    assert (one["reached"], one["images"], one["time_s"]) == (1, 4000, 43.5)
    assert format_reach(one, "images") == "4,000 (1/2 seeds)"
    assert format_reach(one, "time_s") == "44 s (1/2 seeds)"

    none = reach_summary([HISTORY, SLOW], 0.95)
    assert none["reached"] == 0 and none["images"] is None
    assert format_reach(none, "images") == format_reach(none, "time_s") == "not reached"


def test_mean_std_uses_the_sample_std():
    mean, std = mean_std([0.5, 0.7, 0.9])
    assert mean == pytest.approx(0.7) and std == pytest.approx(0.2)  # ddof=0 would give 0.163
    assert mean_std([0.25]) == (0.25, None)
    assert format_mean_std([0.5, 0.7, 0.9]) == "70.0% ± 20.0%"
    assert format_mean_std([0.25]) == "25.0% ± –"
    assert format_mean_std([]) == "–"
    assert format_mean_std([100, 300], "{:.0f}") == "200 ± 141"


def _run(tmp: Path, name: str, seed: int, history=None, acc=0.5, confusions=(), per_position=(0.5, 0.5)) -> Run:
    run_dir, log = tmp / "runs" / f"{name}-seed{seed}", tmp / "runs" / f"{name}-seed{seed}.log"
    if history is None:
        return Run(name, seed, run_dir, log, ok=False, error="error: boom")
    metrics = {"test": {"captcha_acc": acc, "char_acc": acc + 0.1, "count": 100}, "best_epoch": len(history),
               "epochs": len(history), "params": 1234, "data": "hand-made"}
    evaluation = {"per_position": list(per_position), "confusions": [dict(true=t, pred=p, count=n) for t, p, n in confusions]}
    return Run(name, seed, run_dir, log, ok=True, history=history, metrics=metrics, evaluation=evaluation)


def test_summary_counts_only_the_seeds_that_succeeded(tmp_path):
    variant = Variant("mixed", "mixed.yaml", [
        _run(tmp_path, "mixed", 0, HISTORY, acc=0.6, confusions=[("O", "0", 3), ("l", "1", 1)], per_position=(0.4, 0.8)),
        _run(tmp_path, "mixed", 1),
        _run(tmp_path, "mixed", 2, SLOW, acc=0.8, confusions=[("O", "0", 2), ("S", "5", 4)], per_position=(0.6, 1.0)),
    ])
    s = summarize(variant, tmp_path)
    assert s["succeeded"] == [0, 2] and [f["seed"] for f in s["failed"]] == [1]
    assert s["test_captcha_acc"]["mean"] == pytest.approx(0.7)
    assert s["per_position"] == pytest.approx([0.5, 0.9])
    assert s["confusions"][:2] == [{"true": "O", "pred": "0", "count": 5}, {"true": "S", "pred": "5", "count": 4}]
    assert s["images_per_s"]["values"] == pytest.approx([4000 / 43.5, 4000 / 43.5])
    header, rows = table([s])
    row = dict(zip(header, rows[0]))
    assert row["seeds ok"] == "2/3"
    assert row["whole-captcha acc"] == "70.0% ± 14.1%"
    assert row["images to 90%"] == "4,000 (1/2 seeds)"
    assert row["notes"] == "seed 1 failed (see runs/mixed-seed1.log)"

    all_failed = summarize(Variant("bad", "bad.yaml", [_run(tmp_path, "bad", 0)]), tmp_path)
    row = dict(zip(header, table([all_failed])[1][0]))
    assert row["seeds ok"] == "0/1" and row["whole-captcha acc"] == "–" and row["images to 50%"] == "–"
    assert row["notes"] == "seed 0 failed (see runs/bad-seed0.log)"


def test_curve_is_mean_min_max_per_epoch(tmp_path):
    runs = [_run(tmp_path, "v", 0, HISTORY), _run(tmp_path, "v", 1, SLOW[:2])]  # the second stopped early
    c = curve(runs, "images", "val_captcha_acc")
    assert c["x"] == [1000, 2000, 3000, 4000]
    assert c["mean"] == pytest.approx([0.09, 0.45, 0.70, 0.92])
    assert c["min"] == pytest.approx([0.08, 0.40, 0.70, 0.92]) and c["max"] == pytest.approx([0.10, 0.50, 0.70, 0.92])


def test_without_matplotlib_the_report_still_has_its_table(tmp_path, monkeypatch):
    from captcha_ocr.studies.compare import write_report

    for module in ("matplotlib", "matplotlib.figure", "matplotlib.backends", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, module, None)  # makes `import matplotlib...` fail
    variants = [Variant("v", "v.yaml", [_run(tmp_path, "v", 0, HISTORY)])]
    assert write_plots(variants, tmp_path) is None
    summary = write_report(variants, tmp_path, command="python -m captcha_ocr.compare ...", seeds=1, overrides=[])
    assert summary["plots"] is None and not list(tmp_path.glob("*.png"))
    report = (tmp_path / "report.md").read_text()
    assert "matplotlib is not installed" in report and "| v " in report


def test_variant_names_and_data_differences(tmp_path):
    (tmp_path / "activations").mkdir()
    for p in ("sigmoid.yaml", "softmax.yaml", "activations/sigmoid.yaml"):
        (tmp_path / p).write_text("{}\n")
    names = variant_names([tmp_path / "sigmoid.yaml", tmp_path / "activations/sigmoid.yaml", tmp_path / "softmax.yaml"])
    assert names == [f"{tmp_path.name}-sigmoid", "activations-sigmoid", "softmax"]
    with pytest.raises(UserError, match="given twice"):
        variant_names([tmp_path / "softmax.yaml", tmp_path / "activations" / ".." / "softmax.yaml"])

    smoke = load_config(SMOKE)
    assert data_differences([smoke, load_config(SMOKE, ["loss.name=softmax", "model.activation=elu"])]) == []
    assert data_differences([smoke, load_config(SMOKE, ["image.width=64", "data.val_size=32"])]) == ["image", "data"]


# ---------------------------------------------------------------- the command, end to end


def _smoke_variant(path: Path, **changes) -> Path:
    """A copy of configs/smoke.yaml with some sections replaced (a YAML file cannot inherit)."""
    data = yaml.safe_load(SMOKE.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def _result_rows(report: str) -> list[list[str]]:
    """The rows (as cells) of the table under '## Results' in report.md."""
    lines = report.split("## Results", 1)[1].strip().splitlines()
    table_lines = []
    for line in lines:
        if not line.startswith("|"):
            break
        table_lines.append(line)
    return [[c.strip() for c in line.strip("|").split("|")] for line in table_lines[2:]]


@pytest.fixture(scope="module")
def comparison(workdir, tmp_path_factory):
    """Two smoke variants (sigmoid, softmax) x 2 seeds, one epoch each, compared by the real command."""
    tmp = tmp_path_factory.mktemp("compare")
    configs = [_smoke_variant(tmp / "sigmoid.yaml"), _smoke_variant(tmp / "softmax.yaml", loss={"name": "softmax"})]
    out = tmp / "report"
    args = ["--configs", *configs, "--seeds", 2, "--set", "train.epochs=1", "--out", out]
    proc = run_module("compare", *args, cwd=workdir, check=True)
    return {"out": out, "args": args, "configs": configs, "proc": proc}


def test_compare_writes_report_summary_and_plots(comparison):
    out, proc = comparison["out"], comparison["proc"]
    assert [line.split(":")[0] for line in proc.stdout.splitlines() if line.startswith("[")] == [
        "[1/4] sigmoid-seed0", "[2/4] sigmoid-seed1", "[3/4] softmax-seed0", "[4/4] softmax-seed1"]
    rows = _result_rows((out / "report.md").read_text())
    assert [r[0] for r in rows] == ["sigmoid", "softmax"], "one row per config"
    assert all(r[1] == "2/2" and " ± " in r[2] for r in rows)
    assert "| sigmoid " in proc.stdout, "the table is printed too"

    report = (out / "report.md").read_text()
    assert "python -m captcha_ocr.compare --configs" in report and "CPU cores" in report
    for png in ("accuracy.png", "loss.png"):
        assert f"]({png})" in report
        assert Image.open(out / png).size[0] > 500
    assert "## Most frequent confusions" in report and "position 4" in report

    summary = json.loads((out / "summary.json").read_text())
    assert [v["name"] for v in summary["variants"]] == ["sigmoid", "softmax"]
    for v in summary["variants"]:
        accs = []
        for seed in (0, 1):
            run_dir = out / "runs" / f"{v['name']}-seed{seed}"
            assert yaml.safe_load((run_dir / "config.yaml").read_text())["train"]["seed"] == seed
            assert (out / "runs" / f"{v['name']}-seed{seed}.log").is_file()
            accs.append(json.loads((run_dir / "metrics.json").read_text())["test"]["captcha_acc"])
        assert v["test_captcha_acc"]["values"] == accs
    assert yaml.safe_load((out / "runs" / "softmax-seed0" / "config.yaml").read_text())["loss"]["name"] == "softmax"


def test_rerunning_the_comparison_reuses_the_runs(comparison, workdir):
    out = comparison["out"]
    models = sorted((out / "runs").glob("*/model.keras"))
    assert len(models) == 4
    before = [m.stat().st_mtime for m in models]
    logs = {log: log.read_text() for log in (out / "runs").glob("*.log")}
    proc = run_module("compare", *comparison["args"], cwd=workdir, check=True)
    assert proc.stdout.count("reused (already finished)") == 4
    assert [m.stat().st_mtime for m in models] == before
    # a log tells how its run trained: reading the run back adds nothing to it
    assert len(logs) == 4 and {log: log.read_text() for log in logs} == logs
    assert len(_result_rows((out / "report.md").read_text())) == 2


def test_a_failing_config_is_reported_and_the_others_kept(comparison, workdir, tmp_path):
    # 8 pooling blocks shrink the 30x80 smoke image to nothing: train exits 2 while building the model.
    bad = _smoke_variant(tmp_path / "bad.yaml", model={"filters": [4] * 8})
    out = tmp_path / "report"
    # The sigmoid run of seed 0 is already trained by the comparison fixture: reuse it, as a resumed comparison would.
    shutil.copytree(comparison["out"] / "runs" / "sigmoid-seed0", out / "runs" / "sigmoid-seed0")
    # The failing config comes first, so the one after it must still run.
    proc = run_module("compare", "--configs", bad, comparison["configs"][0], "--seeds", 1, "--set", "train.epochs=1",
                      "--out", out, cwd=workdir)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "[1/2] bad-seed0: FAILED (error: model.filters: block 5 of 8" in proc.stdout
    assert "[2/2] sigmoid-seed0: reused" in proc.stdout
    rows = {r[0]: r for r in _result_rows((out / "report.md").read_text())}
    assert list(rows) == ["bad", "sigmoid"]
    assert rows["sigmoid"][1] == "1/1" and rows["sigmoid"][2].endswith("± –") and rows["sigmoid"][-1] == ""
    assert rows["bad"][1] == "0/1" and rows["bad"][-1] == "seed 0 failed (see runs/bad-seed0.log)"
    assert "shrinks" in (out / "runs" / "bad-seed0.log").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["variants"][0]["succeeded"] == [] and summary["variants"][1]["succeeded"] == [0]
    assert summary["variants"][1]["test_captcha_acc"]["values"] == [
        json.loads((out / "runs" / "sigmoid-seed0" / "metrics.json").read_text())["test"]["captcha_acc"]]


def test_user_errors(comparison, workdir, tmp_path):
    sigmoid, softmax = comparison["configs"]
    out = tmp_path / "report"
    cases = [
        (["--out", out], ["no configs to compare"]),
        (["--configs", sigmoid, tmp_path / "nope.yaml", "--out", out], ["nope.yaml", "not found"]),
        (["--configs", sigmoid, softmax, sigmoid, "--out", out], ["given twice"]),
        (["--configs", sigmoid, "--set", "train.seed=3", "--out", out], ["--seeds"]),
        (["--configs", sigmoid, "--set", "train.epohcs=3", "--out", out], ["did you mean 'train.epochs'"]),
        (["--configs", sigmoid], ["--out"]),
        # the comparison's runs were made with train.epochs=1: refused before training anything
        (["--configs", sigmoid, softmax, "--seeds", 2, "--out", comparison["out"]], ["different train config"]),
    ]
    for args, fragments in cases:
        assert_user_error(run_module("compare", *args, cwd=workdir), *fragments)
    assert not out.exists()


def test_an_equal_time_budget_gives_each_variant_the_epochs_its_timing_run_fits(workdir, tmp_path):
    configs = [_smoke_variant(tmp_path / "small.yaml"),
               _smoke_variant(tmp_path / "large.yaml", model={"filters": [32, 64], "head_dropout": 0.0})]
    out = tmp_path / "report"
    args = ["--configs", *configs, "--seeds", 1, "--budget-min", 0.1, "--out", out]
    proc = run_module("compare", *args, cwd=workdir, check=True)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["budget"]["minutes"] == 0.1
    report = (out / "report.md").read_text()
    assert "Equal wall-clock budget of 0.1 minutes" in report
    for name in ("small", "large"):
        probe = [row for row in csv.DictReader((out / "probes" / name / "history.csv").open())]
        assert len(probe) == 2, "the timing run trains 2 epochs"
        epoch_s = float(probe[1]["time_s"]) - float(probe[0]["time_s"])
        fit = summary["budget"]["variants"][name]
        assert fit["epochs"] == max(1, int(6 // epoch_s)) and fit["epoch_s"] == pytest.approx(epoch_s, abs=0.01)
        run_config = yaml.safe_load((out / "runs" / f"{name}-seed0" / "config.yaml").read_text())
        assert run_config["train"]["epochs"] == fit["epochs"]
        assert [name, f"{fit['epoch_s']:.1f}", str(fit["epochs"])] in markdown_rows(report)
        assert f"timing {name}" in proc.stdout
    # run again: the timing runs and the runs are reused, so nothing is trained and the epochs are the same
    summary["machine"]["cpu"] = "the CPU that trained them"  # as if run again on another machine
    (out / "summary.json").write_text(json.dumps(summary))
    logs = {log: log.read_text() for log in (out / "probes").glob("*.log")}
    again = run_module("compare", *args, cwd=workdir, check=True)
    assert again.stdout.count("reused (already finished)") == 2
    assert len(logs) == 2 and {log: log.read_text() for log in logs} == logs  # the timing runs read back, not logged
    again_summary = json.loads((out / "summary.json").read_text())
    assert again_summary["budget"] == summary["budget"]
    assert again_summary["machine"]["cpu"] == "the CPU that trained them"  # it names the machine that trained them


def test_budget_user_errors(workdir, tmp_path):
    config = _smoke_variant(tmp_path / "a.yaml")
    out = tmp_path / "report"
    assert_user_error(run_module("compare", "--configs", config, "--budget-min", 0, "--out", out, cwd=workdir),
                      "--budget-min", "above 0")
    assert_user_error(run_module("compare", "--configs", config, "--budget-min", "soon", "--out", out, cwd=workdir),
                      "--budget-min", "expected a number")
    assert_user_error(run_module("compare", "--configs", config, "--budget-min", 1, "--set", "train.epochs=3",
                                 "--out", out, cwd=workdir), "--budget-min sets each variant's epochs")
    assert not out.exists()
