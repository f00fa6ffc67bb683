"""captcha_ocr.training.teach (`train --teachers N`): N runs, read as one, teach a student; refusals come first."""

import json

import pytest
from conftest import SMOKE, assert_user_error, run_module

from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.training.self_training import confident_reads
from captcha_ocr.training.teach import check_teachers

FOLDER_RUN = ("--set", "data.source=folder", "--set", "data.split=[0.5, 0.25, 0.25]", "--set", "train.batch_size=4",
              "--set", "train.epochs=1", "--set", "data.pseudo_min_confidence=0.0")


def test_two_teachers_read_as_one_teach_the_student_and_a_second_run_trains_nothing(generated_folder, workdir,
                                                                                       tmp_path):
    from captcha_ocr.core.images import scale_pixels
    from captcha_ocr.data.folder import load_unlabeled
    from captcha_ocr.model.ensemble import ensemble_members
    from captcha_ocr.training.rundir import load_run, read_config

    run_dir = tmp_path / "student"
    args = ("train", "--config", SMOKE, "--run-dir", run_dir, *FOLDER_RUN, "--set", f"data.folder={generated_folder}",
            "--set", f"data.unlabeled_folder={generated_folder}", "--set", "train.seed=5", "--teachers", 2)
    proc = run_module(*args, cwd=workdir, check=True)
    teachers = [run_dir / "teachers" / f"seed-{s}" for s in (5, 6)]
    for seed, teacher in zip((5, 6), teachers):
        assert (teacher / "metrics.json").exists()
        config = read_config(teacher)
        assert config.train.seed == seed and config.data.pseudo_teacher is None and config.data.pseudo_rounds == 2
    ensemble_file = run_dir / "teachers" / "ensemble.keras"
    ensemble = load_run(ensemble_file)[0]
    assert ensemble_members(ensemble) == 2
    student = read_config(run_dir)
    assert (student.data.pseudo_teacher, student.data.pseudo_rounds, student.train.seed) == (str(ensemble_file), 0, 5)
    assert f"the first reads by {ensemble_file}" in proc.stdout
    # What the two as one keep, worked out here, is what the student trained on
    config = load_config(SMOKE, [])
    images, _ = load_unlabeled(generated_folder, config.image.shape)
    kept, _ = confident_reads(ensemble.predict(scale_pixels(images), verbose=0), config.charset.build(),
                              config.loss.name, 0.0)
    assert len(kept) > 0
    rounds = json.loads((run_dir / "metrics.json").read_text())["pseudo_rounds"]
    assert rounds == [{"epoch": 0, "kept": len(kept), "of": 24, "by": "teacher"}]

    # Again: every run is finished, and the ensemble is not joined again
    made = ensemble_file.stat().st_mtime_ns
    again = run_module(*args, cwd=workdir, check=True)
    assert again.stdout.count("is already finished") == 3, again.stdout
    assert "wrote" not in again.stdout and ensemble_file.stat().st_mtime_ns == made


@pytest.mark.parametrize("extra, message", [
    (["--teachers", "1", "--set", "data.unlabeled_folder={folder}"], "--teachers: must be at least 2, got 1"),
    (["--teachers", "2"], "and none is set; --set data.unlabeled_folder=FOLDER"),
    (["--teachers", "2", "--set", "data.unlabeled_folder={folder}", "--set", "data.pseudo_teacher=runs/other"],
     "data.pseudo_teacher is set too"),
])
def test_teachers_that_cannot_teach_are_refused_before_anything_trains(generated_folder, workdir, tmp_path, extra,
                                                                        message):
    proc = run_module("train", "--config", SMOKE, "--run-dir", tmp_path / "r", *FOLDER_RUN,
                      "--set", f"data.folder={generated_folder}", *(a.format(folder=generated_folder) for a in extra),
                      cwd=workdir)
    assert_user_error(proc, message)
    assert not (tmp_path / "r").exists()


def test_a_run_directory_holding_another_run_is_refused_before_the_teachers_train(generated_folder, workdir,
                                                                                   tmp_path):
    run_dir = tmp_path / "r"
    common = ("train", "--config", SMOKE, "--run-dir", run_dir, *FOLDER_RUN, "--set", f"data.folder={generated_folder}")
    run_module(*common, cwd=workdir, check=True)  # a plain run, finished
    proc = run_module(*common, "--set", f"data.unlabeled_folder={generated_folder}", "--teachers", "2", cwd=workdir)
    assert_user_error(proc, "holds a finished run with a different data config")
    assert not (run_dir / "teachers").exists()


def test_check_teachers_refuses_fewer_than_two_for_library_callers_too():
    config = load_config(SMOKE, ["data.source=folder", "data.folder=x", "data.unlabeled_folder=x"])
    check_teachers(config, 2)
    with pytest.raises(UserError, match="--teachers 1: the student learns from two or more teachers"):
        check_teachers(config, 1)


def test_the_teachers_learn_from_labels_and_only_the_student_from_their_probabilities():
    from pathlib import Path

    from captcha_ocr.training.teach import student_config, teacher_configs

    config = load_config(SMOKE, ["loss.name=ctc", "data.source=folder", "data.folder=f", "data.unlabeled_folder=u",
                                 "data.pseudo_soft=true"])
    teachers = teacher_configs(config, 3)
    assert [(t.train.seed, t.data.pseudo_soft) for t in teachers] == [(0, False), (1, False), (2, False)]
    student = student_config(config, Path("t/ensemble.keras"))
    assert (student.data.pseudo_soft, student.data.pseudo_rounds, student.data.pseudo_teacher) == (
        True, 0, "t/ensemble.keras")
