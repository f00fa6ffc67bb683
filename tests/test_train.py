"""captcha_ocr.train: the command end to end (run directory, resume, fine-tuning, time budget) and train() in-process."""

import csv
import json
import shutil
import signal
from pathlib import Path

import keras
import pytest
from conftest import SMOKE, assert_user_error, history_rows, needs_bfloat16, run_module, start_and_interrupt

from captcha_ocr.core.config import load_config
from captcha_ocr.training.fit import exact_fractions, keep_score, selection_score, train
from captcha_ocr.training.rundir import load_run, read_config, read_history


class StopAfter(keras.callbacks.Callback):
    """Stops training in the middle of the first epoch, as a time budget does."""

    def __init__(self, batches: int):
        super().__init__()
        self.batches = batches

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.batches:
            self.model.stop_training = True


def test_history_counts_the_images_of_an_epoch_stopped_early(workdir, monkeypatch):
    monkeypatch.chdir(workdir)  # the smoke data cache is shared with the other tests
    config = load_config(SMOKE)  # 256 training captchas, batches of 32: 8 batches per epoch
    run_dir = workdir / "runs" / "stopped-early"
    train(config, run_dir, callbacks=[StopAfter(3)], log=lambda *a: None)
    rows = read_history(run_dir / "history.csv")
    assert len(rows) == 1
    assert rows[0]["images"] == 3 * 32


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


def test_resume_after_interruption(workdir):
    for sig in (signal.SIGINT, signal.SIGKILL):
        run_dir = workdir / "runs" / f"resume-{sig}"
        args = ["--set", "train.epochs=30"]
        done = start_and_interrupt(run_dir, workdir, sig, args)
        assert 2 <= done < 30, "the first process was stopped mid-run"
        assert not (run_dir / "metrics.json").exists()
        proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, *args, cwd=workdir, check=True)
        assert "resuming" in proc.stdout
        resumed_at = int(proc.stdout.split("after epoch ")[1].split()[0])
        assert resumed_at >= 1
        epochs = [int(r["epoch"]) for r in history_rows(run_dir)]
        assert epochs == list(range(1, 31)), "each epoch once, none repeated or lost"
        assert proc.stdout.count("Epoch ") == 30 - resumed_at
        assert (run_dir / "metrics.json").is_file()


def test_time_budget_stops_training_after_the_epoch_that_passes_it(workdir):
    run_dir = workdir / "runs" / "budget"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.epochs=50",
                      "--set", "train.time_budget_min=0.0001", cwd=workdir, check=True)
    assert "time budget of 0.0001 min reached after epoch 1" in proc.stdout
    assert len(history_rows(run_dir)) == 1
    assert json.loads((run_dir / "metrics.json").read_text())["epochs"] == 1


def test_finetune_cli_logs_kept_and_reinitialized_layers(smoke_run, generated_folder, workdir):
    run_dir = workdir / "runs" / "finetune"
    proc = run_module(
        "train", "--config", SMOKE, "--init-from", smoke_run, "--run-dir", run_dir,
        "--set", "data.source=folder", "--set", f"data.folder={generated_folder}",
        "--set", "data.split=[0.5, 0.25, 0.25]", "--set", "charset.max_length=5",
        "--set", "data.synthetic_ratio=0.5", "--set", "augment.enabled=true", "--set", "train.batch_size=4",
        cwd=workdir, check=True)
    assert ("kept 5 layers (conv1, bn1, conv2, bn2, logits (partly: rows of 62 shared characters and the pad "
            "at 4 of 5 positions; 0 new characters start fresh))") in proc.stdout
    assert "re-initialized 0 layers (none)" in proc.stdout
    assert "mixed with a synthetic pool" in proc.stdout and "augmented" in proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["init_from"] == str(smoke_run) and metrics["test"]["count"] == 6


def test_the_external_recipe_fine_tunes_the_gray_base_into_a_colour_model_on_every_label(generated_folder, workdir):
    run_dir = workdir / "runs" / "external"
    proc = run_module(
        "train", "--config", "finetune_external", "--init-from", "base_ctc", "--run-dir", run_dir,
        "--set", f"data.folder={generated_folder}", "--set", "train.epochs=2", "--set", "train.steps_per_epoch=2",
        "--set", "train.batch_size=8", "--set", f"data.unlabeled_folder={generated_folder}", cwd=workdir, check=True)
    assert "conv1 (from gray to RGB input)" in proc.stdout and "re-initialized 0 layers (none)" in proc.stdout
    assert "no validation (train.keep: last)" in proc.stdout and "last model of epoch 2" in proc.stdout
    assert "labeled images and the kept reads alike" in proc.stdout  # the recipe's pseudo_share: auto
    assert [r["epoch"] for r in json.loads((run_dir / "metrics.json").read_text())["pseudo_rounds"]] == [1]  # 2 epochs: both rounds due after the first
    model = load_run(run_dir)[0]
    assert model.input.shape[-1] == 3
    # dropout 0.1 after each of the five blocks (RELDS's rule), none of it costing a weight of the base's above
    assert {layer.name: layer.rate for layer in model.layers if layer.name.startswith("drop")} == \
        {f"drop{i}": 0.1 for i in range(1, 6)}
    assert model.output.shape[1] == 48  # 48 frames (RELDF's rule) from base_ctc's 24, every weight kept (above)


def _reshaped(folder: Path, out: Path, scale_width: float) -> Path:
    """A copy of a labeled folder with every image's width scaled (labels as they were)."""
    from PIL import Image

    out.mkdir()
    for path in sorted(folder.iterdir()):
        if path.suffix == ".png":
            with Image.open(path) as img:
                img.resize((round(img.width * scale_width), img.height)).save(out / path.name)
        else:
            (out / path.name).write_bytes(path.read_bytes())
    return out


def test_captchas_wider_than_the_input_get_a_log_line_naming_the_width_that_reads_them_unsqueezed(generated_folder,
                                                                                                  workdir):
    from captcha_ocr.data.folder import aspect_hint

    wide = _reshaped(generated_folder, workdir / "wide", 3)  # the generated 80x30 captchas made 240x30 (8:1)
    proc = run_module("train", "--config", SMOKE, "--run-dir", workdir / "runs" / "wide", "--set", "data.source=folder",
                      "--set", f"data.folder={wide}", "--set", "image.resize=fit_height", "--set", "train.epochs=1",
                      "--set", "data.split=[0.5, 0.25, 0.25]", "--set", "charset.max_length=5", cwd=workdir, check=True)
    assert ("9 in 10 of its captchas are up to 8.0:1 and the input (80x30) is 2.7:1, so fit to 30 px high they are "
            "squeezed to as little as 33% of their width; --set image.width=240 reads them") in proc.stdout
    assert aspect_hint(wide, 30, 240) is None  # at that width, nothing to say
    assert aspect_hint(generated_folder, 30, 80) is None  # nor for the captchas as generated


def test_captchas_much_narrower_than_the_input_get_a_line_pointing_to_stretch(generated_folder, workdir):
    """16:9 captchas fit to 48 px high fill 44% of a 192-wide input; stretching them read 23.6 points more on
    one generator and 1.6 less on another (README, "Narrower than the input"): the line asks to compare."""
    from captcha_ocr.data.folder import aspect_hint

    narrow = _reshaped(generated_folder, workdir / "narrow", 0.5)  # 40x30 (1.3:1)
    hint = aspect_hint(narrow, 30, 80)
    assert hint == (f"{narrow}: 9 in 10 of its captchas are up to 1.3:1 and the input (80x30) is 2.7:1, so fit to 30 "
                    "px high they fill at most 50% of its width and their text gets as few of the model's frames; "
                    "--set image.resize=stretch fills the width, which read more where the text is stretched to the "
                    "canvas, less where the characters keep their shape: compare both (README, \"Narrower than the "
                    "input\")")
    assert aspect_hint(narrow, 30, 40) is None  # an input of their shape: nothing to say
    assert aspect_hint(narrow, 30, 64) is None  # filling 62% of it: not worth a line


def test_a_narrower_config_takes_the_width_of_a_wider_init_from_run_and_resumes_with_it(generated_folder, workdir):
    """finetune_external is base_ctc's width; from base_ctc3 (twice as wide) it could keep no weight, so it widens."""
    run_dir = workdir / "runs" / "from-wide"
    args = ("train", "--config", "finetune_external", "--init-from", "base_ctc3", "--run-dir", run_dir,
            "--set", f"data.folder={generated_folder}", "--set", "train.epochs=1", "--set", "train.steps_per_epoch=1",
            "--set", "train.batch_size=8")
    proc = run_module(*args, cwd=workdir, check=True)
    assert ("this run takes its model.filters [32, 64, 128, 128, 128] -> [64, 128, 256, 256, 256] and "
            "model.rnn_units 64 -> 128") in proc.stdout
    assert "re-initialized 0 layers (none)" in proc.stdout
    saved = read_config(run_dir)
    assert saved.model.filters == [64, 128, 256, 256, 256] and saved.model.rnn_units == 128
    again = run_module(*args, cwd=workdir, check=True)  # the same command finds its own run, not a config change
    assert "is already finished (metrics.json); pass --restart" in again.stdout
    (run_dir / "model.keras").unlink()  # as in a report folder, whose runs keep their records but not their weights
    without = run_module(*args, cwd=workdir, check=True)
    assert "is already finished (metrics.json), but its model.keras is missing" in without.stdout
    assert_user_error(run_module("evaluate", "--model", run_dir, "--data", generated_folder, cwd=workdir),
                      "is a finished run whose model.keras is missing")


def test_init_from_a_missing_run_fails_fast(workdir, tmp_path):
    proc = run_module("train", "--config", SMOKE, "--init-from", tmp_path / "nothing", "--run-dir", tmp_path / "r",
                      cwd=workdir)
    assert_user_error(proc, "not found")
    assert not (tmp_path / "r").exists()


def test_best_model_breaks_ties_in_whole_captcha_accuracy_by_per_character_accuracy(workdir, monkeypatch):
    """The smoke run reads no validation captcha whole: model.keras must still be its best reader, not epoch 1."""
    monkeypatch.chdir(workdir)
    import numpy as np

    config = load_config(SMOKE, ["train.epochs=3"])
    run_dir = workdir / "runs" / "ties"
    metrics = train(config, run_dir, log=lambda *a: None)
    rows = read_history(run_dir)
    assert all(r["val_captcha_acc"] == 0.0 for r in rows), "the smoke run is expected to read no captcha whole"
    best = max(range(len(rows)), key=lambda i: (rows[i]["val_char_acc"], -rows[i]["val_loss"]))
    assert metrics["best_epoch"] == best + 1
    for r in rows:  # exact fractions of the 64 validation captchas' 4 positions
        assert r["val_char_acc"] * 64 * 4 == round(r["val_char_acc"] * 64 * 4)
        assert r["val_select"] == pytest.approx(1e-6 * r["val_char_acc"] + 1e-12 / (1 + r["val_loss"]), abs=1e-16)
    if best == len(rows) - 1:  # then model.keras holds the weights of the last epoch
        best_model = keras.saving.load_model(run_dir / "model.keras", compile=False)
        last_model = keras.saving.load_model(run_dir / "last.keras", compile=False)
        for a, b in zip(best_model.get_weights(), last_model.get_weights()):
            np.testing.assert_array_equal(a, b)


def test_keep_last_keeps_the_last_epoch_whatever_validation_says(workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    import numpy as np

    falling = [{"epoch": 1, "images": 100, "val_captcha_acc": 0.5}, {"epoch": 2, "images": 200, "val_captcha_acc": 0.1}]
    assert max(falling, key=keep_score(load_config(SMOKE)))["epoch"] == 1
    assert max(falling, key=keep_score(load_config(SMOKE, ["train.keep=last"])))["epoch"] == 2
    lines = []
    metrics = train(load_config(SMOKE, ["train.epochs=3", "train.keep=last"]), workdir / "runs" / "last",
                    log=lines.append)
    assert (metrics["best_epoch"], metrics["keep"]) == (3, "last")
    assert any("last model of epoch 3" in line for line in lines)
    kept = keras.saving.load_model(workdir / "runs" / "last" / "model.keras", compile=False)
    last = keras.saving.load_model(workdir / "runs" / "last" / "last.keras", compile=False)
    for a, b in zip(kept.get_weights(), last.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_val, length", [(50, 6), (1000, 8), (100_000, 8)])
def test_the_selection_score_orders_epochs_by_whole_then_per_character_accuracy_then_loss(n_val, length):
    """The smallest step of each key outweighs everything the keys after it can add."""
    def row(whole, chars, loss):
        return {"val_captcha_acc": whole / n_val, "val_char_acc": chars / (n_val * length), "val_loss": loss}

    ranked = [row(3, 3 * length, 50.0),  # one more captcha whole beats every per-character count and loss
              row(2, n_val * length, 0.0),
              row(2, n_val * length - 1, 0.0),  # one more character beats any loss
              row(2, 2 * length + 1, 1e6),
              row(2, 2 * length, 0.10),  # equal reads: the lower loss wins
              row(2, 2 * length, 0.11),
              row(2, 2 * length, float("nan"))]  # a diverged epoch ranks below every finite loss
    scores = [selection_score(r) for r in ranked]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)


def test_validation_accuracies_that_count_the_same_reads_become_the_same_number():
    """Two epochs of dots's first 500-label run: 592 of 600 digits right in both, as Keras's float32 means logged them."""
    epochs = [{"val_captcha_acc": 0.9200000166893005, "val_char_acc": 0.986666738986969, "val_loss": 0.2707},
              {"val_captcha_acc": 0.9200000166893005, "val_char_acc": 0.9866666197776794, "val_loss": 0.1086}]
    assert selection_score(epochs[0]) > selection_score(epochs[1])  # the noise outweighed the loss
    for logs in epochs:
        exact_fractions(logs, captchas=50, positions=6)
        assert (logs["val_captcha_acc"], logs["val_char_acc"]) == (46 / 50, 592 / 600)
    assert selection_score(epochs[1]) > selection_score(epochs[0])  # now the lower loss wins


@needs_bfloat16
def test_a_mixed_precision_ctc_run_trains_and_saves_a_float32_model(workdir, generated_folder):
    run_dir = workdir / "runs" / "ctc-bf16"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "loss.name=ctc",
               "--set", "train.precision=mixed_bfloat16", "--set", "train.epochs=3", cwd=workdir, check=True)
    rows = read_history(run_dir)
    assert len(rows) == 3 and rows[-1]["loss"] < rows[0]["loss"]  # a falling CTC loss, computed in bfloat16
    from captcha_ocr.training.rundir import load_run

    model = load_run(run_dir)[0]
    assert {layer.compute_dtype for layer in model.layers if layer.weights} == {"float32"}
    assert model.output.shape[1:] == (20, 63)  # frames
    proc = run_module("predict", "--model", run_dir, "--json", *sorted(generated_folder.glob("*.png"))[:3],
                      cwd=workdir, check=True)
    reads = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(reads) == 3 and all(0 <= r["confidence"] <= 1 and len(r["text"]) <= 4 for r in reads)


def test_an_explicit_bfloat16_that_cannot_run_under_the_isa_cap_is_one_line_and_writes_nothing(workdir):
    """ONEDNN_MAX_CPU_ISA=AVX2 on a CPU with AVX-512 (the way to measure the AVX2 kind on a newer CPU):
    bfloat16 would abort in the first convolution with oneDNN's traceback."""
    from captcha_ocr.core.machine import bfloat16_aborts

    if not bfloat16_aborts(isa_cap="AVX2"):
        pytest.skip("without AVX-512, TensorFlow's own kernels emulate bfloat16 and the run trains (with a warning)")
    run_dir = workdir / "runs" / "bf16-capped"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.precision=mixed_bfloat16",
                      "--set", "train.epochs=1", cwd=workdir, env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert_user_error(proc, "mixed_bfloat16 cannot run with ONEDNN_MAX_CPU_ISA=AVX2",
                      "set train.precision: auto or float32")
    assert not run_dir.exists()


def test_train_says_which_precision_auto_chose_and_records_it(workdir):
    from captcha_ocr.core.machine import choose_precision

    run_dir = workdir / "runs" / "auto"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.precision=auto",
                      "--set", "train.epochs=1", cwd=workdir, check=True)
    expected = choose_precision("auto")  # this machine's CPU: either answer is right, as long as it is said
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if "train.precision: auto chose" in line]
    assert len(lines) == 1 and expected.reason in lines[0], proc.stderr[-2000:]
    assert json.loads((run_dir / "metrics.json").read_text())["precision"] == expected.precision
    # The run keeps `auto` in its config, so it resumes as `auto` on another machine.
    assert "precision: auto" in (run_dir / "config.yaml").read_text()


def test_train_under_an_avx2_cap_chooses_float32_on_any_cpu(workdir):
    run_dir = workdir / "runs" / "auto-avx2"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "train.precision=auto",
                      "--set", "train.epochs=1", cwd=workdir, check=True, env={"ONEDNN_MAX_CPU_ISA": "AVX2"})
    assert "train.precision: auto chose float32" in proc.stdout + proc.stderr
    assert json.loads((run_dir / "metrics.json").read_text())["precision"] == "float32"


def test_a_ctc_run_refuses_labels_shorter_than_min_length_since_its_reads_are_held_to_it(generated_folder, workdir):
    # The generated captchas have 4 characters; held to 5, the model could never read one.
    run_dir = workdir / "runs" / "too-long"
    proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "data.source=folder",
                      "--set", f"data.folder={generated_folder}", "--set", "loss.name=ctc", "--set",
                      "charset.min_length=5", "--set", "charset.max_length=5", "--set", "train.epochs=1", cwd=workdir)
    assert_user_error(proc, "24 labels are shorter than charset.min_length=5", "--set charset.min_length=4")
    assert not (run_dir / "model.keras").exists()
    # So is a validation or test folder's: validation picks the kept epoch by reads held to the lengths.
    longer = workdir / "five-long"
    longer.mkdir(exist_ok=True)
    rows = ["file,label"]
    for png in sorted(generated_folder.glob("*.png")):
        shutil.copy(png, longer / png.name)
        rows.append(f"{png.name},{png.stem[:4] + png.stem[0]}")
    (longer / "labels.csv").write_text("\n".join(rows) + "\n")
    for split in ("val", "test"):
        proc = run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "data.source=folder",
                          "--set", f"data.folder={longer}", "--set", f"data.{split}_folder={generated_folder}",
                          "--set", "loss.name=ctc", "--set", "charset.min_length=5", "--set", "charset.max_length=5",
                          "--set", "train.epochs=1", cwd=workdir)
        assert_user_error(proc, f"{generated_folder}: 24 labels are shorter than charset.min_length=5")
        assert not (run_dir / "model.keras").exists()
