"""captcha_ocr.training.rundir: the run directory's states, its history, and runs written before this module existed."""

import json
import shutil

import numpy as np
import pytest
from conftest import ROOT, SMOKE

from captcha_ocr.core.config import load_config, save_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.training import rundir

LEGACY_RUN = ROOT / "tests" / "data" / "legacy-run"


def test_new_resume_finished_and_restart(tmp_path):
    config = load_config(SMOKE)
    run = tmp_path / "run"
    assert rundir.prepare_run_dir(run, config) == "new"
    run.mkdir()
    save_config(config, run / rundir.CONFIG)
    assert rundir.prepare_run_dir(run, config) == "resume"
    assert not rundir.is_finished(run)
    rundir.write_results(run, {"test": {"captcha_acc": 0.5}}, {"count": 3})
    assert rundir.is_finished(run)
    assert rundir.prepare_run_dir(run, config) == "finished"
    assert rundir.read_run(run).metrics == {"test": {"captcha_acc": 0.5}}
    assert rundir.prepare_run_dir(run, config, restart=True) == "new"
    assert not any(run.iterdir())


def test_a_changed_config_is_refused_naming_the_key(tmp_path):
    config = load_config(SMOKE)
    run = tmp_path / "run"
    run.mkdir()
    save_config(config, run / rundir.CONFIG)
    with pytest.raises(UserError, match=r"different model config \(model.filters: \[8, 16\] -> \[16, 32\]\)"):
        rundir.prepare_run_dir(run, load_config(SMOKE, ["model.filters=[16, 32]"]))
    assert rundir.prepare_run_dir(run, load_config(SMOKE, ["train.epochs=5"])) == "resume"
    (run / rundir.METRICS).write_text("{}")
    with pytest.raises(UserError, match=r"finished run with a different train config \(train.epochs: 2 -> 5\)"):
        rundir.prepare_run_dir(run, load_config(SMOKE, ["train.epochs=5"]))


def test_history_trim_and_backup_epoch(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.HISTORY).write_text("epoch,loss,images\n0,2.5,32\n1,2.0,64\n2,1.5,96\n")
    assert rundir.read_history(run) == rundir.read_history(run / rundir.HISTORY)
    assert [r["loss"] for r in rundir.read_history(run)] == [2.5, 2.0, 1.5]
    assert rundir.progress(rundir.read_history(run)) == (0.0, 96)
    assert rundir.progress([]) == (0.0, 0)
    assert rundir.backup_epoch(run) == 0
    (run / rundir.BACKUP).mkdir()
    (run / rundir.BACKUP / "training_metadata.json").write_text(json.dumps({"epoch": 2}))
    assert rundir.backup_epoch(run) == 0, "a state without its weights file is no backup"
    (run / rundir.BACKUP / "latest.weights.h5").write_bytes(b"")  # the format of Keras's BackupAndRestore
    assert rundir.backup_epoch(run) == 2
    (run / rundir.BACKUP / "epoch-1.weights.h5").write_bytes(b"")
    (run / rundir.BACKUP / rundir.BACKUP_STATE).write_text(json.dumps({"epoch": 1, "weights": "epoch-1.weights.h5"}))
    assert rundir.backup_state(run) == (1, run / rundir.BACKUP / "epoch-1.weights.h5")  # ours wins
    assert [r["epoch"] for r in rundir.trim_history(run, 2)] == [1, 2], "counted from 1; older files from 0"
    assert (run / rundir.HISTORY).read_text() == "epoch,images,loss\n1,32,2.5\n2,64,2.0\n"
    assert rundir.read_history(tmp_path / "none") == []


def test_trim_history_repairs_what_older_versions_left(tmp_path):
    """Rows written twice, out of order, and a second header from two trainings at once (issue 14)."""
    run = tmp_path / "run"
    run.mkdir()
    (run / rundir.HISTORY).write_text("epoch,loss,images\n0,2.5,32\n1,2.0,64\n1,1.9,64\nepoch,loss,images\n"
                                      "3,1.2,128\n2,1.5,96\n4,1.0,160\n")
    rows = rundir.trim_history(run, 4)
    assert [(r["epoch"], r["loss"]) for r in rows] == [(1, 2.5), (2, 1.9), (3, 1.5), (4, 1.2)]
    assert [r["images"] for r in rundir.read_history(run)] == [32, 64, 96, 128]


def test_load_run_errors(tmp_path):
    with pytest.raises(UserError, match="not found"):
        rundir.load_run(tmp_path / "missing")
    with pytest.raises(UserError, match="has no model.keras"):
        rundir.load_run(tmp_path)
    (tmp_path / rundir.METRICS).write_text("{}")  # finished, its weights not kept (as in a report folder)
    with pytest.raises(UserError, match="is a finished run whose model.keras is missing .*train it again with --restart"):
        rundir.load_run(tmp_path)
    (tmp_path / rundir.METRICS).unlink()
    (tmp_path / "junk.keras").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot load as a Keras model"):
        rundir.load_run(tmp_path / "junk.keras")
    export = tmp_path / "export" / "tflite"
    export.mkdir(parents=True)
    (export / "spec.json").write_text("{}")
    with pytest.raises(UserError, match=r"is an export \(it has spec.json\), not a run: read it with "
                                        r"captcha_ocr.export.load_exported"):
        rundir.load_run(export)


def test_a_run_written_before_this_version_loads_and_reads(tmp_path):
    """tests/data/legacy-run: model.keras and config.yaml as the code before the typed ModelSpec wrote them."""
    from captcha_ocr.inference.recognizer import Recognizer
    from captcha_ocr.synth.imagecaptcha import GeneratorSpec, render

    run = tmp_path / "legacy"
    shutil.copytree(LEGACY_RUN, run)
    model, run_dir, config = rundir.load_run(run)
    assert run_dir == run and config is not None
    recognizer = Recognizer(model)
    assert recognizer.spec.input_shape == config.image.shape
    images, labels = render(GeneratorSpec.from_config(config), 0, "legacy-check", 64, config.image.shape, workers=1)
    texts = [p.text for p in recognizer.predict_arrays(images)]
    expected = json.loads((LEGACY_RUN / "expected.json").read_text())
    assert texts == expected["texts"]
    # The same run directory is also a valid place to resume into with its own config.
    assert rundir.prepare_run_dir(run, config) == "finished"
    assert np.mean([t == config.charset.build().decode(y) for t, y in zip(texts, labels)]) == expected["accuracy"]
