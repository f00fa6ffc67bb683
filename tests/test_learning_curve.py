"""captcha_ocr.learning_curve: the command on a tiny budget writes its table, plot and estimates."""

import csv
import json
from pathlib import Path

import pytest
from conftest import SMOKE, assert_user_error, history_rows, markdown_rows, run_module

from captcha_ocr.core.charset import covering
from captcha_ocr.studies.learning_curve import labels_needed, split_folder


def test_labels_needed_from_a_power_law():
    # error halves when labels quadruple: error = 0.8 * (n / 100) ** -0.5
    points = [(100, 0.2), (400, 0.6), (1600, 0.8)]
    est = labels_needed(points, 0.9)
    assert est == {"labels": 6400, "extrapolated": True}
    assert labels_needed(points, 0.5)["extrapolated"] is False
    assert labels_needed([(100, 0.5)], 0.9) is None  # one point: no slope
    assert labels_needed([(100, 0.95), (200, 0.2)], 0.9) == {"labels": 100, "extrapolated": False}
    # a flat curve above the target (93.3% -> 93.6%): the law reaches 90% far below 100 labels, where nothing
    # was measured, so the answer is "at most 100" (it once said 1)
    assert labels_needed([(100, 0.933), (500, 0.936)], 0.9) == {"labels": 100, "extrapolated": False, "at_most": True}
    # a nearly flat curve (8.2% -> 8.3%): more labels than any folder holds, so no estimate (it overflowed once)
    assert labels_needed([(100, 0.082), (500, 0.083)], 0.9) is None


def test_charset_and_split_of_a_folder(generated_folder):
    assert covering(["b2", "a1b", "Z"]) == ("12Zab", 1, 3)
    pool, test = split_folder(generated_folder, 10, seed=0)
    assert len(pool) == 14 and len(test) == 10 and not set(pool) & set(test)
    assert split_folder(generated_folder, 10, seed=0) == (pool, test)


def test_tiny_learning_curve_writes_table_plot_and_summary(smoke_run, workdir, tmp_path):
    data = workdir / "lc-folder"
    run_module("generate", "--config", SMOKE, "--out", data, "--count", 40, "--seed", 3, cwd=workdir, check=True)
    out = tmp_path / "lc"
    args = ["--data", data, "--labels", 10, 20, "--test", 12, "--out", out, "--init-from", smoke_run,
            "--config", SMOKE, "--methods", "zero_shot", "finetune", "scratch", "--budget-min", 0.5,
            "--set", "train.epochs=2", "--set", "train.batch_size=8"]
    proc = run_module("learning_curve", *args, cwd=workdir, timeout=600, check=True)
    assert "[5/5] scratch-20" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["test"] == 12 and summary["pool"] == 28
    assert [p["labels"] for p in summary["methods"]["finetune"]] == [10, 20]
    for method in ("finetune", "scratch"):
        for point in summary["methods"][method]:
            metrics = json.loads((out / point["run"] / "metrics.json").read_text())
            assert metrics["test"]["count"] == 12 and point["captcha_acc"] == metrics["test"]["captcha_acc"]
    assert json.loads((out / "runs" / "finetune-10" / "metrics.json").read_text())["init_from"] == str(smoke_run)
    assert json.loads((out / "runs" / "scratch-10" / "metrics.json").read_text())["init_from"] is None
    with open(out / "data" / "labels-20" / "labels.csv") as fh:
        twenty = list(csv.DictReader(fh))
    with open(out / "data" / "labels-10" / "labels.csv") as fh:
        assert list(csv.DictReader(fh)) == twenty[:10]  # nested subsets
    report = (out / "report.md").read_text()
    assert "finetune" in {row[0] for row in markdown_rows(report)} and "10 labels" in report
    assert (out / "curve.png").stat().st_size > 1000
    summary["machine"]["cpu"] = "the CPU that trained them"  # the same command again, on another machine
    (out / "summary.json").write_text(json.dumps(summary))
    log = (out / "runs" / "finetune-20.log").read_text()
    again = run_module("learning_curve", *args, cwd=workdir, timeout=300, check=True)
    assert "[5/5]" in again.stdout and again.stdout.count("test whole-captcha accuracy") == 5
    assert (out / "runs" / "finetune-20.log").read_text() == log  # the runs were read back, not trained or logged
    # every run was reused, so the report still names the machine that trained them, not this one
    assert json.loads((out / "summary.json").read_text())["machine"]["cpu"] == "the CPU that trained them"
    assert "Machine: the CPU that trained them (" in (out / "report.md").read_text()


def test_the_budget_is_the_recipes_unless_given(smoke_run, generated_folder, workdir, tmp_path):
    base = ["--data", generated_folder, "--labels", 10, "--test", 10, "--init-from", smoke_run, "--config", SMOKE,
            "--methods", "zero_shot"]  # no training: only the budget each training would get is recorded
    budgets = {}
    for name, extra in (("recipe", ["--set", "train.time_budget_min=0.3"]), ("given", ["--budget-min", 2]),
                        ("none", [])):
        run_module("learning_curve", *base, *extra, "--out", tmp_path / name, cwd=workdir, check=True)
        budgets[name] = json.loads((tmp_path / name / "summary.json").read_text())["budget_min"]
    assert budgets == {"recipe": 0.3, "given": 2, "none": 15}, "smoke has no budget: the old default"


def test_keeping_the_last_epoch_trains_on_every_label(smoke_run, generated_folder, workdir, tmp_path):
    out = tmp_path / "last"
    colour = tmp_path / "colour.yaml"  # a recipe in colour from a gray model: the recipe's channels count
    colour.write_text(Path(SMOKE).read_text().replace("height: 30}", "height: 30, channels: 3}"))
    run_module("learning_curve", "--data", generated_folder, "--labels", 10, "--test", 10, "--out", out,
               "--init-from", smoke_run, "--config", colour, "--methods", "finetune", "--budget-min", 0.5,
               "--set", "train.epochs=2", "--set", "train.batch_size=8", "--set", "train.keep=last",
               cwd=workdir, timeout=600, check=True)
    run = out / "runs" / "finetune-10"
    assert json.loads((run / "metrics.json").read_text())["keep"] == "last"
    assert "channels: 3" in (run / "config.yaml").read_text()
    assert "(train split): 10 images" in json.loads((run / "metrics.json").read_text())["data"]
    assert not any(key.startswith("val_") for key in history_rows(run)[0])
    assert json.loads((out / "summary.json").read_text())["val_share"] == 0.0
    assert "no validation" in (out / "report.md").read_text()


def test_self_training_reads_more_unlabeled_captchas_but_never_a_labeled_one(smoke_run, generated_folder, workdir,
                                                                             tmp_path):
    more = tmp_path / "more"
    run_module("generate", "--config", SMOKE, "--out", more, "--count", 8, "--seed", 8, cwd=workdir, check=True)
    copies = sorted(p for p in generated_folder.iterdir() if p.suffix == ".png")[:3]
    for i, path in enumerate(copies):  # the same bytes under other names: a test or label captcha must not train
        (more / f"copy{i}.png").write_bytes(path.read_bytes())
    (more / "labels.csv").unlink(missing_ok=True)  # the labels of an unlabeled folder are not read anyway
    out = tmp_path / "pseudo"
    run_module("learning_curve", "--data", generated_folder, "--labels", 10, "--test", 10, "--out", out,
               "--init-from", smoke_run, "--config", SMOKE, "--methods", "pseudo", "--unlabeled", more,
               "--budget-min", 0.5, "--set", "train.epochs=2", "--set", "train.batch_size=8",
               cwd=workdir, timeout=600, check=True)
    with open(out / "data" / "unlabeled-10" / "labels.csv") as fh:
        used = [Path(row["file"]) for row in csv.DictReader(fh)]
    assert len(used) == 4 + 8  # the 4 of the pool beyond the 10 labels, and the 8 new ones, not the 3 copies
    assert not any(p.name.startswith("copy") for p in used)
    assert json.loads((out / "summary.json").read_text())["unlabeled"] == 8
    assert "also read 8 unlabeled captchas" in (out / "report.md").read_text()
    assert "self-training on 12 unlabeled images" in (out / "runs" / "pseudo-10.log").read_text()


def test_an_empty_unlabeled_folder_is_named_as_such(generated_folder, workdir, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_module("learning_curve", "--data", generated_folder, "--out", tmp_path / "x", "--config", SMOKE,
                      "--methods", "pseudo", "--labels", 10, "--test", 10, "--unlabeled", tmp_path / "empty",
                      cwd=workdir)
    assert_user_error(proc, "no images found")


@pytest.mark.parametrize("extra, fragment", [
    (["--labels", "0"], "--labels"),
    (["--labels", "10", "--test", "24"], "--test 24 leaves none"),
    (["--labels", "100", "--test", "4"], "--labels 100"),
    (["--labels", "10", "--budget-min", "0"], "--budget-min"),
    (["--labels", "10", "--config", "nope.yaml"], "nope.yaml"),
    (["--labels", "10", "--set", "train.keep=last", "--set", "train.early_stopping_patience=2"],
     "train.early_stopping_patience=0"),
    (["--labels", "10", "--unlabeled", "nowhere"], "--methods pseudo"),
    (["--labels", "10", "--test", "10", "--methods", "pseudo", "--unlabeled", "nowhere"],
     "--unlabeled 'nowhere' not found"),
])
def test_bad_inputs(generated_folder, workdir, tmp_path, extra, fragment):
    base = ["--data", generated_folder, "--out", tmp_path / "x", "--config", SMOKE, "--methods", "scratch"]
    assert_user_error(run_module("learning_curve", *base, *extra, cwd=workdir), fragment)


def test_the_default_recipe_is_found_from_any_folder(tmp_path):
    # From an empty folder (as after pip install . elsewhere) the default config, the shipped recipe
    # finetune_ctc, resolves: the first error is the missing data folder, not the config.
    proc = run_module("learning_curve", "--data", tmp_path / "no-such-folder", "--labels", "10",
                      "--out", tmp_path / "x", cwd=tmp_path)
    assert_user_error(proc, "no-such-folder")
    assert "--config" not in proc.stderr
