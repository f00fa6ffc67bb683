"""captcha_ocr.evaluate: the report computed by hand (accuracies, per length, confusions, coverage,
thresholds), and the command on a run's test set and on a folder."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import SMOKE, run_module

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.scoring import alike_scores, format_report, score

CS = Charset(chars="ABO0", max_length=3, min_length=2)
P = CS.pad_index


def test_report_on_hand_made_predictions():
    labels = np.array([[0, 1, P], [2, 2, 3], [3, 0, P], [1, 1, 1]])
    pred = np.array([[0, 1, P], [3, 2, 3], [3, 0, 0], [1, 1, 1]])
    texts = CS.decode_batch(pred)
    confidence = np.array([0.9, 0.4, 0.3, 0.8])
    report = score(texts, confidence, pred, labels, CS)
    assert report["count"] == 4
    assert report["captcha_acc"] == 0.5  # AB and BBB right; OO0 read as 0O0, 0A read as 0AA (an extra character)
    assert report["char_acc"] == 10 / 12
    assert report["per_position"] == [0.75, 1.0, 0.75]
    assert report["per_length"] == {"2": {"count": 2, "captcha_acc": 0.5, "char_acc": 5 / 6},
                                    "3": {"count": 2, "captcha_acc": 0.5, "char_acc": 5 / 6}}
    assert report["confusions"] == [{"true": "O", "pred": "0", "count": 1}, {"true": "_", "pred": "A", "count": 1}]
    # the most confident half (0.9 AB right, 0.8 BBB right) is read perfectly
    coverage = {c["coverage"]: c for c in report["coverage"]}
    assert coverage[0.5]["captcha_acc"] == 1.0 and coverage[0.5]["min_confidence"] == 0.8
    assert coverage[1.0]["captcha_acc"] == 0.5
    # 90% accuracy is reachable by keeping captchas of confidence >= 0.8 (half of them)
    assert report["confidence_for_accuracy"]["0.9"] == {"min_confidence": 0.8, "coverage": 0.5}
    assert "whole-captcha accuracy" in format_report(report) and "O→0: 1" in format_report(report)
    assert "confidence for accuracy 90%: >= 0.800 (keeps 50%)" in format_report(report)


def test_characters_drawn_alike_are_scored_as_one_and_bound_any_reader():
    labels = np.array([[0, 1, P], [2, 2, 3], [3, 0, P], [1, 1, 1]])  # AB, OO0, 0A, BBB
    pred = np.array([[0, 1, P], [3, 2, 3], [3, 0, 0], [1, 1, 1]])  # AB, 0O0, 0AA, BBB
    report = score(CS.decode_batch(pred), np.ones(4), pred, labels, CS, alike=["O0"])
    assert report["captcha_acc"] == 0.5
    # 0O0 for OO0 is right once O and 0 are one character; 0AA for 0A is still wrong
    assert report["alike"]["captcha_acc"] == 0.75
    # O and 0 are equally frequent (2 each): a reader guesses each right half the time; OO0 needs three guesses
    assert report["alike"]["ceiling"] == (1 + 0.5 ** 3 + 0.5 + 1) / 4
    # OO0 read 0O0: of its three characters read as an O or a 0, two are the right one (0AA has another length)
    assert report["alike"]["told_apart"] == 2 / 3 and "told apart 67% of the time" in format_report(report)
    assert "drawn alike O0" in format_report(report) and "at most 65.62%" in format_report(report)
    # the more frequent member is the better guess: with I twice as frequent as l, a lone I is read 2/3 of the time
    assert alike_scores(["lIa", "aaa", "Ib"], ["IIa", "aaa", "lb"], ["lI"]) == {
        "groups": ["lI"], "captcha_acc": 1.0, "ceiling": pytest.approx((4 / 9 + 1 + 2 / 3) / 3), "told_apart": 1 / 3}
    assert "alike" not in score(CS.decode_batch(pred), np.ones(4), pred, labels, CS)


def test_no_threshold_when_even_the_most_confident_is_wrong():
    labels = np.array([[0, 1, P]])
    pred = np.array([[1, 1, P]])
    report = score(CS.decode_batch(pred), np.array([0.99]), pred, labels, CS)
    assert report["confidence_for_accuracy"]["0.9"] is None


def test_evaluate_on_own_test_set(smoke_run, workdir):
    proc = run_module("evaluate", "--model", smoke_run, cwd=workdir, check=True)
    assert "whole-captcha accuracy" in proc.stdout and "per-character accuracy" in proc.stdout
    report = json.loads((smoke_run / "evaluation.json").read_text())
    assert report["count"] == 64 and len(report["per_position"]) == 4
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert report["captcha_acc"] == metrics["test"]["captcha_acc"]
    assert report["char_acc"] == metrics["test"]["char_acc"]


def test_evaluate_scores_characters_drawn_alike(smoke_run, workdir, tmp_path):
    out = tmp_path / "alike.json"
    proc = run_module("evaluate", "--model", smoke_run, "--alike", "lI", "--alike", "0oO", "--json", out,
                      cwd=workdir, check=True)
    report = json.loads(out.read_text())
    assert report["alike"]["groups"] == ["lI", "0oO"] and "drawn alike lI/0oO" in proc.stdout
    assert report["captcha_acc"] <= report["alike"]["captcha_acc"] and 0 < report["alike"]["ceiling"] <= 1
    for bad, why in (("l", "two or more"), ("l€", "not in the model's charset"), ("lI,I1", "in two groups")):
        proc = run_module("evaluate", "--model", smoke_run, *[a for g in bad.split(",") for a in ("--alike", g)],
                          cwd=workdir)
        assert proc.returncode == 2 and why in proc.stderr and "Traceback" not in proc.stderr, bad


def test_evaluate_on_a_folder_reports_skipped_files(smoke_run, generated_folder, workdir):
    folder = workdir / "mixed"
    shutil.copytree(generated_folder, folder)
    (folder / "XYZW_broken.png").write_bytes(b"not a png")
    shutil.copy(next(generated_folder.glob("*.png")), folder / "a+b_1.png")
    out = workdir / "eval.json"
    proc = run_module("evaluate", "--model", smoke_run / "model.keras", "--data", folder, "--json", out,
                      cwd=workdir, check=True)
    assert "2 skipped" in proc.stderr and "XYZW_broken.png" in proc.stderr and "'+' outside the charset" in proc.stderr
    assert json.loads(out.read_text())["count"] == 24


def test_two_folders_of_one_name_keep_two_reports(smoke_run, generated_folder, workdir, tmp_path):
    for parent in ("a", "b"):
        shutil.copytree(generated_folder, tmp_path / parent / "captchas")
        proc = run_module("evaluate", "--model", smoke_run, "--data", tmp_path / parent / "captchas",
                          cwd=workdir, check=True)
        assert f"report written to {smoke_run}" in proc.stdout
    reports = sorted(smoke_run.glob("evaluation-captchas-*.json"))
    assert len(reports) == 2 and all(json.loads(r.read_text())["count"] == 24 for r in reports)


def test_a_shipped_model_writes_its_report_in_the_current_directory(generated_folder, tmp_path):
    from captcha_ocr.training.rundir import SHIPPED_MODELS

    before = sorted(p.name for p in SHIPPED_MODELS["base"].iterdir())
    proc = run_module("evaluate", "--model", "base", "--data", generated_folder, cwd=tmp_path, check=True)
    written = list(tmp_path.glob("base-evaluation-generated-*.json"))
    assert len(written) == 1 and json.loads(written[0].read_text())["count"] == 24
    assert f"report written to {written[0].name}" in proc.stdout
    assert sorted(p.name for p in SHIPPED_MODELS["base"].iterdir()) == before  # nothing into the package


def test_write_errors_keeps_only_the_misread_with_their_labels(tmp_path):
    from PIL import Image

    from captcha_ocr.data.folder import read_labels_csv
    from captcha_ocr.studies.errors import write_errors

    images = np.stack([np.full((12, 30, 1), 40 * k, np.uint8) for k in range(4)])
    truth, texts = ["AB", "=1+1", "B0", "OO"], ["AB", "=1+7", "", "0O"]
    assert write_errors(tmp_path, images, truth, texts, np.array([0.9, 0.5, 0.1, 0.7])) == 3
    assert read_labels_csv(tmp_path / "labels.csv") == [("error-0001.png", "=1+1"), ("error-0002.png", "B0"),
                                                        ("error-0003.png", "OO")]
    readings = (tmp_path / "readings.csv").read_text().splitlines()
    assert readings[0] == "file,label,read,confidence" and readings[1] == "error-0001.png,'=1+1,'=1+7,0.5000"
    assert readings[2] == "error-0002.png,B0,,0.1000"
    assert np.array_equal(np.asarray(Image.open(tmp_path / "error-0003.png")), images[3, ..., 0])
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.width == 5 * (30 * 2 + 8) + 8 and sheet.height == 12 * 2 + 15 + 8 + 8  # 3 tiles, doubled: one row
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "error-0001.png", "error-0002.png", "error-0003.png", "labels.csv", "readings.csv", "sheet.png"]


def test_write_errors_copies_each_misread_original_as_it_was_drawn(tmp_path):
    from PIL import Image

    from captcha_ocr.studies.errors import ORIGINAL_MAX, write_errors

    drawn = tmp_path / "drawn"
    drawn.mkdir()
    see_through = Image.new("RGBA", (40, 10), (0, 0, 0, 0))
    see_through.paste((200, 0, 0, 255), (0, 0, 10, 10))
    see_through.save(drawn / "a.PNG")
    Image.new("RGB", (1600, 100), (0, 90, 0)).save(drawn / "wide.jpg", quality=70)
    Image.new("L", (20, 10), 30).save(drawn / "right.gif")
    sources = [str(drawn / name) for name in ("a.PNG", "right.gif", "wide.jpg")]
    images = np.zeros((3, 12, 30, 1), np.uint8)  # the model's input: nothing of the originals
    out = tmp_path / "errors"
    out.mkdir()
    assert write_errors(out, images, ["AB", "B0", "OO"], ["A", "B0", "0O"], np.array([0.9, 0.5, 0.1]),
                        sources=sources) == 2
    with open(out / "readings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file"], r["source"]) for r in rows] == [("error-0001.png", sources[0]), ("error-0002.png", sources[2])]
    assert sorted(p.name for p in (out / "originals").iterdir()) == ["error-0001.png", "error-0002.jpg"]
    assert (out / "originals" / "error-0002.jpg").read_bytes() == (drawn / "wide.jpg").read_bytes()
    sheet = np.asarray(Image.open(out / "sheet-originals.png"))
    wide = (ORIGINAL_MAX[0], ORIGINAL_MAX[0] * 100 // 1600)  # shrunk to fit, its shape kept
    assert sheet.shape[:2] == (wide[1] + 15 + 8 + 8, 5 * (wide[0] + 8) + 8)
    assert tuple(sheet[8 + 5, 8 + 5]) == (200, 0, 0) and tuple(sheet[8 + 5, 8 + 30]) == (255, 255, 255), \
        "drawn as it was, its transparency over white"
    assert abs(int(sheet[8 + 5, 8 + wide[0] + 8 + 5][1]) - 90) < 8, "the second misread original beside it"
    assert (out / "sheet.png").is_file() and "error-0001.png" in (out / "labels.csv").read_text()
    (drawn / "wide.jpg").unlink()  # changed since it was evaluated: one clear error, not a traceback
    with pytest.raises(UserError, match="wide.jpg.*evaluate again"):
        write_errors(tmp_path / "errors", images, ["AB", "B0", "OO"], ["A", "B0", "0O"], np.zeros(3),
                     sources=sources)


def test_write_errors_again_into_a_folder_leaves_only_its_own_errors(tmp_path):
    from PIL import Image

    from captcha_ocr.data.folder import read_labels_csv
    from captcha_ocr.studies.errors import write_errors

    drawn = tmp_path / "drawn"
    drawn.mkdir()
    for name in ("a.png", "b.jpg", "c.gif"):
        Image.new("RGB", (20, 10), (0, 90, 0)).save(drawn / name)
    sources = [str(drawn / name) for name in ("a.png", "b.jpg", "c.gif")]
    images = np.zeros((3, 12, 30, 1), np.uint8)
    out = tmp_path / "errors"
    out.mkdir()
    (out / "notes.txt").write_text("mine")  # a file of the user's: never touched
    assert write_errors(out, images, ["AB", "CD", "EF"], ["A", "C", "E"], np.zeros(3), sources=sources) == 3
    assert sorted(p.name for p in (out / "originals").iterdir()) == ["error-0001.png", "error-0002.jpg",
                                                                     "error-0003.gif"]
    # the same folder again, one error now, its original a JPEG where the first run's was a PNG
    assert write_errors(out, images, ["AB", "CD", "EF"], ["AB", "C", "EF"], np.zeros(3), sources=sources) == 1
    assert read_labels_csv(out / "labels.csv") == [("error-0001.png", "CD")]
    assert sorted(p.name for p in out.iterdir()) == [
        "error-0001.png", "labels.csv", "notes.txt", "originals", "readings.csv", "sheet-originals.png", "sheet.png"]
    assert [p.name for p in (out / "originals").iterdir()] == ["error-0001.jpg"]
    # and again with nothing misread and no originals: no sheet or copy of an earlier run is left to mislead,
    # and originals/ goes too once nothing of the user's is in it
    (out / "originals" / "mine.txt").write_text("mine")
    assert write_errors(out, images, ["AB", "CD", "EF"], ["AB", "CD", "EF"], np.zeros(3)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "notes.txt", "originals", "readings.csv"]
    assert [p.name for p in (out / "originals").iterdir()] == ["mine.txt"]
    (out / "originals" / "mine.txt").unlink()
    assert write_errors(out, images, ["AB", "CD", "EF"], ["AB", "CD", "EF"], np.zeros(3)) == 0
    assert sorted(p.name for p in out.iterdir()) == ["labels.csv", "notes.txt", "readings.csv"]
    assert (out / "notes.txt").read_text() == "mine"


def test_evaluate_writes_the_misread_captchas_as_a_folder_that_evaluates_again(smoke_run, generated_folder, workdir,
                                                                               tmp_path):
    errors = tmp_path / "errors"
    proc = run_module("evaluate", "--model", smoke_run, "--data", generated_folder, "--json", tmp_path / "r.json",
                      "--errors", errors, cwd=workdir, check=True)
    report = json.loads((tmp_path / "r.json").read_text())
    wrong = round((1 - report["captcha_acc"]) * report["count"])
    assert f"{wrong} misread captchas written to {errors} (look at {errors / 'sheet-originals.png'})" in proc.stdout
    assert len(list(errors.glob("error-*.png"))) == wrong > 0
    with open(errors / "readings.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:  # each misread captcha's own file, found by its label in the folder evaluated
        source = Path(row["source"])
        assert source.parent == generated_folder.resolve() and source.name.startswith(row["label"] + "_"), row
        assert (errors / "originals" / row["file"]).read_bytes() == source.read_bytes()
    again = run_module("evaluate", "--model", smoke_run, "--data", errors, "--json", tmp_path / "again.json",
                       cwd=workdir, check=True)
    assert "skipped" not in again.stderr, "labels.csv lists every image; the sheet is not one of them"
    assert json.loads((tmp_path / "again.json").read_text())["captcha_acc"] == 0.0, "every one of them is misread"


def test_errors_into_a_file_is_refused(smoke_run, workdir, tmp_path):
    (tmp_path / "taken").write_text("x")
    proc = run_module("evaluate", "--model", smoke_run, "--errors", tmp_path / "taken", cwd=workdir)
    assert proc.returncode == 2 and "--errors" in proc.stderr and "Traceback" not in proc.stderr


def misread_as(errors) -> list[str]:
    """What `evaluate --errors FOLDER` says each misread captcha was read as (its readings.csv)."""
    with open(errors / "readings.csv", newline="") as f:
        return [row["read"] for row in csv.DictReader(f)]


def test_evaluate_holds_a_ctc_models_reads_to_the_given_lengths(generated_folder, tmp_path):
    def report(*args) -> dict:
        run_module("evaluate", "--model", "base_ctc2", "--data", generated_folder, *args, cwd=tmp_path, check=True)
        name = "base_ctc2-evaluation-generated-*" + (f"-length{args[1]}.json" if args else ".json")
        (written,) = tmp_path.glob(name.replace("*", "??????"))
        return json.loads(written.read_text())

    free, four = report(), report("--length", "4-4")
    assert free["count"] == four["count"] == 24
    assert four["captcha_acc"] >= free["captcha_acc"], "held to the captchas' own length, a read can only gain"
    six = report("--length", "6-6", "--errors", tmp_path / "errors")
    assert six["captcha_acc"] == 0.0
    three = report("--length", "3-3")  # shorter than every label: all counted, none read
    assert three["count"] == 24 and three["captcha_acc"] == 0.0
    reads = misread_as(tmp_path / "errors")
    assert len(reads) == 24 and all(len(read) in (0, 6) for read in reads), reads


def test_evaluate_reads_only_the_given_characters(generated_folder, tmp_path):
    from captcha_ocr.data.folder import list_folder

    used = "".join(sorted({c for _, label in list_folder(generated_folder) for c in label}))
    reports, names = {}, set()
    for chars in (None, used, "0123456789"):
        args = ("--chars", chars, "--errors", tmp_path / f"errors-{len(chars)}") if chars else ()
        proc = run_module("evaluate", "--model", "base_ctc2", "--data", generated_folder, *args, cwd=tmp_path,
                          check=True)
        (written,) = [line.split("report written to ")[1] for line in proc.stdout.splitlines()
                      if "report written to" in line]
        reports[chars], names = json.loads((tmp_path / written).read_text()), names | {written}
    assert len(names) == 3, "a report of its own for each set of characters"
    # Only characters the labels use: a read that was right stays right, so whole-captcha accuracy cannot fall.
    assert reports[used]["captcha_acc"] >= reports[None]["captcha_acc"]
    reads = misread_as(tmp_path / "errors-10")
    assert reads and all(read.isdigit() or not read for read in reads), reads


def test_evaluate_holds_a_runs_own_test_set_to_the_given_lengths(workdir):
    run_dir = workdir / "runs" / "ctc-lengths"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "loss.name=ctc", "--set", "train.epochs=1",
               cwd=workdir, check=True)
    for length, name in (("3", "evaluation-length3-3.json"), ("2-4", "evaluation-length2-4.json")):
        run_module("evaluate", "--model", run_dir, "--length", length, cwd=workdir, check=True)
        report = json.loads((run_dir / name).read_text())
        assert report["count"] == json.loads((run_dir / "metrics.json").read_text())["test"]["count"]
        if length == "3":
            assert report["captcha_acc"] == 0.0, "the test captchas have 4 characters"
