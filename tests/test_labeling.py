"""captcha_ocr.serve.labeling: the queue, labels.csv after every change, undo, skip and resuming."""

from __future__ import annotations

import re
import shutil

import pytest

from captcha_ocr.core.errors import UserError
from captcha_ocr.data.folder import list_folder, read_labels_csv
from captcha_ocr.serve.labeling import LabelSession, check_label


@pytest.fixture(scope="module")
def model(smoke_run):
    from captcha_ocr.inference.readers import load_reader

    return load_reader(smoke_run, "smoke")


@pytest.fixture
def folder(generated_folder, tmp_path):
    """Eight captchas under names that say nothing of their text, and one broken image."""
    out = tmp_path / "to-label"
    out.mkdir()
    for i, f in enumerate(sorted(generated_folder.glob("*.png"))[:8]):
        shutil.copy(f, out / f"img{i}.png")
    (out / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n no more")
    return out


def open_session(folder, model) -> LabelSession:
    return LabelSession.open(folder, model.prepare, model.read)


def test_queue_is_least_confident_first_and_reads_match_the_model(folder, model):
    session = open_session(folder, model)
    state = session.state()
    assert state["total"] == 8 and state["labeled"] == 0 and state["remaining"] == 8
    assert [u["file"] for u in state["unreadable"]] == ["broken.png"]
    confidences = [session.reads[f].confidence for f in session.queue]
    assert confidences == sorted(confidences)
    item = state["item"]
    from captcha_ocr.inference.recognizer import Recognizer

    pred = Recognizer(model.reader.model).predict(str(folder / item["file"]))[0]
    assert item["text"] == pred.text and item["confidence"] == pytest.approx(pred.confidence)


def test_label_skip_undo_write_labels_csv_each_time(folder, model):
    session = open_session(folder, model)
    first, second, third = session.queue[:3]
    state = session.label(first, "  AB12 ")
    assert read_labels_csv(folder / "labels.csv") == [(first, "AB12")]
    assert state["labeled"] == 1 and state["item"]["file"] == second

    state = session.skip(second)
    assert state["item"]["file"] == third and session.queue[-1] == second
    accepted = session.reads[third].text
    session.label(third, accepted)  # the model's reading accepted as it is
    assert session.state()["agreement"] == {"agreed": 1, "compared": 2, "rate": 0.5}

    state = session.undo()
    assert state["item"]["file"] == third and read_labels_csv(folder / "labels.csv") == [(first, "AB12")]
    state = session.undo()
    assert state["item"]["file"] == first and state["labeled"] == 0
    assert read_labels_csv(folder / "labels.csv") == []
    with pytest.raises(UserError, match="nothing to undo"):
        session.undo()


def test_relabel_and_undo_restores_the_old_label(folder, model):
    session = open_session(folder, model)
    file = session.queue[0]
    session.label(file, "aaaa")
    session.label(file, "bbbb")
    assert dict(read_labels_csv(folder / "labels.csv"))[file] == "bbbb"
    session.undo()
    assert dict(read_labels_csv(folder / "labels.csv"))[file] == "aaaa" and file not in session.queue


def test_restart_resumes_and_keeps_foreign_rows(folder, model):
    (folder / "labels.csv").write_text("file,label\nelsewhere.png,zzzz\n")
    session = open_session(folder, model)
    labeled = session.queue[:3]
    for i, file in enumerate(labeled):
        session.label(file, f"ab{i}c")
    again = open_session(folder, model)  # as after a server restart
    state = again.state()
    assert state["labeled"] == 3 and state["remaining"] == 5
    assert not set(labeled) & set(again.queue)
    assert read_labels_csv(folder / "labels.csv")[0] == ("elsewhere.png", "zzzz")


def test_labels_csv_is_the_folder_format_train_reads(folder, model):
    session = open_session(folder, model)
    for file in list(session.queue[:4]):
        session.label(file, "Ab" + file[3])
    (folder / "labels.csv").write_text((folder / "labels.csv").read_text())  # as written, nothing added
    items = dict(list_folder(folder))
    assert len(items) == 4 and all(label.startswith("Ab") for label in items.values())


def test_bad_labels_and_unknown_files(folder, model):
    session = open_session(folder, model)
    for text, why in [("", "empty"), ("   ", "empty"), ("ab cd", "' '"), ("a\tb", "'\\t'"), ("x" * 65, "at most")]:
        with pytest.raises(UserError, match=re.escape(why)):
            session.label(session.queue[0], text)
    for name in ["../../etc/passwd", "broken.png", "labels.csv", "nope.png"]:
        with pytest.raises(KeyError):
            session.label(name, "abcd")
    assert not (folder / "labels.csv").exists()
    assert check_label(" Xy9 ") == "Xy9"


def test_folder_mistakes(tmp_path, model):
    with pytest.raises(UserError, match="not found"):
        open_session(tmp_path / "nowhere", model)
    with pytest.raises(UserError, match="no PNG"):
        open_session(tmp_path, model)


def test_train_command_fine_tunes_the_pre_filling_model_on_the_labels_so_far(generated_folder, model, smoke_run,
                                                                           tmp_path):
    """The page's next round: the command is built from the serving model and the labels, and it trains."""
    import shlex
    import subprocess
    import sys

    from conftest import ROOT

    folder = tmp_path / "mine"
    shutil.copytree(generated_folder, folder, ignore=shutil.ignore_patterns("labels.csv"))
    session = open_session(folder, model)
    assert session.state()["train_command"] is None  # no model named yet
    session.use_model(str(smoke_run), model.spec)
    texts = ["AB12", "cd34", "EF5", "gh67z"] + [f"Ab{i:02d}" for i in range(16)]
    for name, text in zip(list(session.queue), texts[:19]):
        state = session.label(name, text)
    assert state["train_command"] is None  # 19 labels: too few to set 2 aside to validate and 2 to test
    state = session.label(session.queue[0], texts[19])
    train, serve = state["train_command"].replace(" \\\n", " ").split("\n")
    run_dir = "runs/mine-20-labels"
    # The smoke model is not the base model's architecture: its own config is the recipe.
    assert f"--config {smoke_run / 'config.yaml'} --init-from {smoke_run} --run-dir {run_dir}" in train
    assert "charset.min_length=3 --set charset.max_length=5" in train  # the smoke model's 4, widened
    assert serve == f"python -m captcha_ocr.serve --model {run_dir} --label-folder {folder}"
    # Run as printed, but small and into tmp_path (the last --run-dir and --set win).
    args = shlex.split(train)[3:] + ["--run-dir", str(tmp_path / "run"), "--set", "train.epochs=1",
                                      "--set", "train.steps_per_epoch=2", "--set", "train.batch_size=4"]
    proc = subprocess.run([sys.executable, "-m", "captcha_ocr.train", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "run" / "model.keras").is_file()

    session.use_model("base", model.spec)  # the shipped base model: the fine-tuning recipe fits it
    assert "--config finetune --init-from base " in session.state()["train_command"]
