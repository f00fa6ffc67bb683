"""The commands as a user runs them: real processes, real files, the smoke config."""

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from conftest import ROOT, SMOKE, assert_user_error, run_module


def test_generate_writes_labeled_pngs_reproducibly(generated_folder, workdir):
    files = sorted(generated_folder.glob("*.png"))
    assert len(files) == 24
    for f in files:
        label = f.stem.split("_")[0]
        assert len(label) == 4 and label.isalnum()
        assert Image.open(f).size == (160, 60)
    again = workdir / "generated-again"
    run_module("generate", "--config", SMOKE, "--out", again, "--count", 24, "--seed", 7, "--workers", 1,
               cwd=workdir, check=True)
    assert [f.read_bytes() for f in files] == [f.read_bytes() for f in sorted(again.glob("*.png"))]


def test_train_writes_the_run_directory(smoke_run):
    for name in ("config.yaml", "model.keras", "last.keras", "history.csv", "metrics.json", "logs"):
        assert (smoke_run / name).exists(), name
    assert not (smoke_run / "backup").exists(), "resume state is removed when the run finishes"
    # model.keras is for prediction: saved without the optimizer state that last.keras keeps
    assert (smoke_run / "model.keras").stat().st_size < 0.5 * (smoke_run / "last.keras").stat().st_size
    with open(smoke_run / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    for key in ("loss", "char_acc", "captcha_acc", "val_char_acc", "val_captcha_acc", "time_s", "images"):
        assert key in rows[0]
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert set(metrics["test"]) == {"captcha_acc", "char_acc", "count"}
    assert metrics["test"]["count"] == 64


def test_train_shows_summary_and_both_accuracies(workdir):
    proc = run_module("train", "--config", SMOKE, "--run-dir", workdir / "runs" / "shown", "--set", "train.epochs=1",
                      cwd=workdir, check=True)
    assert "Total params" in proc.stdout
    assert "captcha_acc" in proc.stdout and "char_acc" in proc.stdout
    assert "whole-captcha accuracy" in proc.stdout and "per-character accuracy" in proc.stdout


def test_rerunning_a_finished_run_does_not_retrain(smoke_run, workdir):
    before = (smoke_run / "model.keras").stat().st_mtime
    proc = run_module("train", "--config", SMOKE, "--run-dir", smoke_run, cwd=workdir, check=True)
    assert "already finished" in proc.stdout
    assert (smoke_run / "model.keras").stat().st_mtime == before


def test_resume_refuses_a_changed_model(smoke_run, workdir):
    proc = run_module("train", "--config", SMOKE, "--run-dir", smoke_run, "--set", "model.filters=[4,8]", cwd=workdir)
    assert_user_error(proc, "different model config", "--run-dir")


def _history_rows(run_dir: Path) -> list[dict]:
    path = run_dir / "history.csv"
    if not path.is_file():
        return []
    with open(path) as fh:
        return list(csv.DictReader(fh))


def _start_and_interrupt(run_dir: Path, workdir: Path, sig: int, args: list[str]) -> int:
    cmd = [sys.executable, "-m", "captcha_ocr.train", "--config", str(SMOKE), "--run-dir", str(run_dir), *args]
    # A shell that starts jobs in the background makes them ignore SIGINT, and children inherit
    # that; restore the default so the training process gets Ctrl-C as a user's terminal sends it.
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 240
    while len(_history_rows(run_dir)) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(timeout=60)
    return len(_history_rows(run_dir))


def test_resume_after_interruption(workdir):
    for sig in (signal.SIGINT, signal.SIGKILL):
        run_dir = workdir / "runs" / f"resume-{sig}"
        args = ["--set", "train.epochs=30"]
        done = _start_and_interrupt(run_dir, workdir, sig, args)
        assert 2 <= done < 30, "the first process was stopped mid-run"
        assert not (run_dir / "metrics.json").exists()
        proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, *args, cwd=workdir, check=True)
        assert "resuming" in proc.stdout
        resumed_at = int(proc.stdout.split("after epoch ")[1].split()[0])
        assert resumed_at >= 1
        epochs = [int(r["epoch"]) for r in _history_rows(run_dir)]
        assert epochs == list(range(30)), "each epoch once, none repeated or lost"
        assert proc.stdout.count("Epoch ") == 30 - resumed_at
        assert (run_dir / "metrics.json").is_file()


def test_evaluate_on_own_test_set(smoke_run, workdir):
    proc = run_module("evaluate", "--model", smoke_run, cwd=workdir, check=True)
    assert "whole-captcha accuracy" in proc.stdout and "per-character accuracy" in proc.stdout
    report = json.loads((smoke_run / "evaluation.json").read_text())
    assert report["count"] == 64 and len(report["per_position"]) == 4
    metrics = json.loads((smoke_run / "metrics.json").read_text())
    assert report["captcha_acc"] == metrics["test"]["captcha_acc"]
    assert report["char_acc"] == metrics["test"]["char_acc"]


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


def test_predict_files_folders_globs_and_bad_files(smoke_run, generated_folder, workdir):
    one = sorted(generated_folder.glob("*.png"))[0]
    proc = run_module("predict", "--model", smoke_run, one, cwd=workdir, check=True)
    path, text, conf = proc.stdout.strip().split("\t")
    assert path == str(one) and 0 <= float(conf) <= 1 and len(text) <= 4

    bad = workdir / "bad.png"
    bad.write_bytes(b"\x89PNG broken")
    proc = run_module("predict", "--model", smoke_run, generated_folder, bad, str(generated_folder / "*_0000[0-4].png"),
                      workdir / "missing.png", cwd=workdir)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 24 + 5
    assert "bad.png" in proc.stderr and "missing.png" in proc.stderr

    proc = run_module("predict", "--model", smoke_run, "--json", "--min-confidence", "1.0", generated_folder,
                      cwd=workdir, check=True)
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(rows) == 24 and all(r["text"] == "?" for r in rows)


def test_save_load_same_predictions(smoke_run, generated_folder):
    import keras

    from captcha_ocr import Recognizer
    from captcha_ocr.images import to_array

    files = sorted(generated_folder.glob("*.png"))[:8]
    rec = Recognizer.load(smoke_run)
    by_path = rec.predict([str(f) for f in files])
    by_pil = rec.predict([Image.open(f) for f in files])
    arrays = np.stack([to_array(f, 80, 30, 1) for f in files])
    assert by_path == by_pil == rec.predict(arrays)
    reloaded = keras.saving.load_model(smoke_run / "model.keras", compile=False)
    logits = reloaded.predict(arrays.astype(np.float32) / 255.0, verbose=0)
    from captcha_ocr.decode import decode

    texts, conf, _ = decode(logits, rec.charset, rec.loss)
    assert texts == [p.text for p in by_path]
    np.testing.assert_allclose(conf, [p.confidence for p in by_path], rtol=1e-5)
    # the bare .keras file is enough: it carries charset, length and input size
    alone = Recognizer.load(smoke_run / "model.keras").predict([str(files[0])])[0]
    assert alone.text == by_path[0].text
    np.testing.assert_allclose(alone.confidence, by_path[0].confidence, rtol=1e-5)


def test_bad_inputs_give_one_line_and_status_2(smoke_run, workdir, tmp_path):
    typo = tmp_path / "typo.yaml"
    typo.write_text("train:\n  epoch: 3\n")
    not_model = tmp_path / "model.keras"
    not_model.write_text("nope")
    cases = [
        (("train", "--config", tmp_path / "nope.yaml"), ["not found"]),
        (("train", "--config", typo), ["unknown key 'train.epoch'", "did you mean 'train.epochs'"]),
        (("train", "--config", SMOKE, "--set", "loss.name=softmx"), ["did you mean 'softmax'"]),
        (("train", "--config", SMOKE, "--set", "data.source=folder", "--set", f"data.folder={tmp_path / 'none'}",
          "--run-dir", tmp_path / "run"), ["not found"]),
        (("train", "--config", SMOKE, "--run-dir", smoke_run, "--set", "train.epochs=3"),
         ["finished run with a different train config"]),
        (("evaluate", "--model", tmp_path / "no-run"), ["not found"]),
        (("evaluate", "--model", smoke_run, "--data", tmp_path / "no-folder"), ["not found"]),
        (("predict", "--model", not_model, smoke_run / "config.yaml"), ["cannot load"]),
        (("generate", "--config", SMOKE, "--out", tmp_path / "g", "--count", 0), ["--count"]),
    ]
    for args, fragments in cases:
        assert_user_error(run_module(*args, cwd=workdir), *fragments)


def test_time_budget_stops_training_after_the_epoch_that_passes_it(workdir):
    run_dir = workdir / "runs" / "budget"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.epochs=50",
                      "--set", "train.time_budget_min=0.0001", cwd=workdir, check=True)
    assert "time budget of 0.0001 min reached after epoch 1" in proc.stdout
    assert len(_history_rows(run_dir)) == 1
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 1
