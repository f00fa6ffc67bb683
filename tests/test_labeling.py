"""captcha_ocr.serve.labeling: the queue, labels.csv after every change, undo, skip and resuming."""

from __future__ import annotations

import re
import shutil

import pytest

from captcha_ocr.core.errors import UserError
from captcha_ocr.data.folder import FORMULA_STARTS, list_folder, read_labels_csv, write_labels_csv
from captcha_ocr.serve.labeling import LabelSession, UnknownCharacters, check_label


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
    return LabelSession.open(folder, model)


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


def open_checked(folder, model, extra: str = "") -> LabelSession:
    """A session as the service opens it: labels checked against the model's charset (and `extra`)."""
    return LabelSession.open(folder, model, chars=model.spec.chars + extra, pad=model.spec.pad)


def test_labels_are_checked_against_the_charset_and_new_characters_are_confirmed_once(folder, model):
    session = open_checked(folder, model, extra="#")
    file = session.queue[0]
    for text, named in [("A_B", "'_'"), ("A\x00B", "'\\x00'"), ("A\u202eB", "'\\u202e'"), ("Aé1", "'é'"),
                        ("=1+1", "'='"), ("x" * 65, "65 characters")]:
        with pytest.raises(UserError, match=re.escape(named)):
            session.label(file, text)
    assert not (folder / "labels.csv").exists()
    session.label(file, "A#1")  # --charset's extra character
    with pytest.raises(UnknownCharacters) as refused:
        session.label(file, "Aé=")
    assert refused.value.chars == "é="
    with pytest.raises(UnknownCharacters):
        session.label(file, "Aé=", add_chars="é")  # '=' not confirmed: nothing saved
    assert dict(read_labels_csv(folder / "labels.csv"))[file] == "A#1"
    state = session.label(file, "Aé=", add_chars="éz=")  # 'z' is not in the label: ignored
    assert state["charset"] == model.spec.chars + "#é="
    session.label(session.queue[0], "=é")  # confirmed once, accepted from then on
    with pytest.raises(UserError, match="'_'"):
        session.label(file, "A_", add_chars="_")  # the pad is never a label's character


@pytest.mark.parametrize("label", ["=1+1", "+SUM(1)", "-x", "@x", '=HYPERLINK("http://x")', "'x", "''=x", "'=x",
                                   "a'b", "Ab12"])
def test_labels_csv_stores_formulas_so_they_cannot_run_and_reads_them_back_as_typed(tmp_path, label):
    import csv

    file = label.replace("/", "|") + ".png"  # a file name may start a formula too
    write_labels_csv(tmp_path / "labels.csv", [(file, label)])
    with open(tmp_path / "labels.csv", newline="") as fh:
        cells = list(csv.reader(fh))[1]  # as a spreadsheet sees them
    assert not any(cell.startswith(FORMULA_STARTS) for cell in cells), cells
    assert read_labels_csv(tmp_path / "labels.csv") == [(file, label)]
    (tmp_path / file).write_bytes(b"")  # the folder reader reads the same
    assert list_folder(tmp_path) == [(str(tmp_path / file), label)]


def test_links_out_of_the_folder_are_left_out_and_stale_temporaries_removed(folder, model, generated_folder):
    import os
    import subprocess
    import sys

    outside = sorted(generated_folder.glob("*.png"))[10]
    (folder / "out.png").symlink_to(outside)
    (folder / "in.png").symlink_to(folder / "img0.png")  # a link inside the folder is an image of it
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for pid in (dead.pid, alive.pid, os.getpid()):
            (folder / f".labels.{pid}-1.tmp.csv").write_text("file,label\n")
        session = open_session(folder, model)
        left = sorted(p.name for p in folder.glob(".labels.*.tmp.csv"))
    finally:
        alive.kill()
        alive.wait()
    assert left == sorted(f".labels.{pid}-1.tmp.csv" for pid in (alive.pid, os.getpid()))  # in use: kept
    assert "out.png" not in session.reads and "in.png" in session.reads
    with pytest.raises(KeyError):
        session.label("out.png", "Ab12")
    (folder / "img1.png").unlink()
    (folder / "img1.png").symlink_to(outside)  # swapped for a link after the start: not served
    with pytest.raises(KeyError):
        session.image_path("img1.png")


def test_the_retrain_command_loads_whatever_characters_the_labels_have(folder, model, smoke_run):
    """Labels with YAML's and the shell's special characters, a digits-only charset, and an old labels.csv
    row with the pad: the page's command still parses to a config that builds."""
    import dataclasses
    import shlex

    from captcha_ocr.core.config import load_config

    (folder / "labels.csv").write_text("file,label\nold.png,A_B\n")  # the pad, from before labels were checked
    session = open_checked(folder, model)
    session.use_model(str(smoke_run), model.spec)
    odd = ["=1+1", "a#b", "c:d", "'q'", '"w"', "\\e", "é", "{x}", "[y]", "&z", "*s", "!t", "%u", "@v", "`g", "|h",
           ">i", "-j", "~", "?k", "Ab 1"]  # and one with a space, from a labels.csv written by hand
    file = session.queue[0]
    session.label(file, odd[0], add_chars=odd[0])  # through the API once; the rest as if read from labels.csv
    session.labels.update({f"f{i}.png": text for i, text in enumerate(odd[1:])})
    commands = {"mixed": session.state()["train_command"]}
    digits = LabelSession.open(folder, model, chars="0123456789", pad="_")
    digits.labels = {f"{i}.png": f"{i:04d}" for i in range(20)}
    digits.use_model(str(smoke_run), dataclasses.replace(model.spec, chars="0123456789"))
    commands["digits"] = digits.state()["train_command"]
    for name, command in commands.items():
        assert command, name
        args = shlex.split(command.replace(" \\\n", " ").split("\n")[0])
        overrides = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
        config = load_config(args[args.index("--config") + 1], overrides)
        chars = config.charset.build().chars
        assert config.data.folder == str(folder) and "_" not in chars
        if name == "digits":
            assert chars == "0123456789"
        else:
            assert set("".join(odd[:-1])) <= set(chars) and chars.startswith(model.spec.chars) and " " not in chars
