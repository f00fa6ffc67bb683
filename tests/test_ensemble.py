"""`python -m captcha_ocr.ensemble` and `captcha_ocr.model.ensemble`: models read as one, with the mean of
their probabilities, by every command that takes a model."""

import numpy as np
import pytest
from conftest import SMOKE, assert_same_readings, assert_user_error, run_module

from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.build import build_model
from captcha_ocr.model.decode import probabilities
from captcha_ocr.model.layers import MeanProbabilities

CTC_GRU = ["--set", "loss.name=ctc", "--set", "model.rnn_units=8"]


@pytest.fixture(scope="module")
def ctc_runs(workdir):
    """Two smoke CTC models with a GRU, trained alike by the real command but for their seeds."""
    runs = []
    for seed in (0, 1):
        run_dir = workdir / "runs" / f"ensemble-ctc-{seed}"
        run_module("train", "--config", SMOKE, "--run-dir", run_dir, *CTC_GRU, "--set", "train.epochs=3",
                   "--set", f"train.seed={seed}", cwd=workdir, check=True)
        runs.append(run_dir)
    return runs


@pytest.fixture(scope="module")
def ctc_ensemble(ctc_runs, workdir):
    out = workdir / "ensembles" / "ctc.keras"
    run_module("ensemble", "--models", *ctc_runs, "--out", out, cwd=workdir, check=True)
    return out


@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_mean_probabilities_matches_numpy(kind):
    rng = np.random.default_rng(0)
    logits = [rng.normal(0, 4, (2, 5, 7)).astype(np.float32) for _ in range(3)]
    logits[0][0, 0] = 60.0  # far past where a plain exp overflows float32's precision
    logits[1][0, 1] = -60.0
    out = np.asarray(MeanProbabilities(kind)(logits))
    assert np.isfinite(out).all()
    expected = np.mean([probabilities(x, kind) for x in logits], axis=0)
    np.testing.assert_allclose(probabilities(out, kind), expected, rtol=1e-5, atol=1e-6)


def test_an_ensemble_reads_with_the_mean_of_its_members_probabilities(ctc_runs, ctc_ensemble, pngs):
    from captcha_ocr.inference.recognizer import Recognizer
    from captcha_ocr.model.decode import ctc_greedy

    members = [Recognizer.load(r) for r in ctc_runs]
    ensemble = Recognizer.load(ctc_ensemble)  # loaded back from the file the command wrote
    assert ensemble.spec == members[0].spec
    x = np.stack([ensemble.prepare(p) for p in pngs]).astype(np.float32) / 255.0
    member_logits = [np.asarray(m.model(x, training=False)) for m in members]
    assert not np.allclose(member_logits[0], member_logits[1], atol=1e-3)  # two different models
    mean = np.mean([probabilities(z, "ctc") for z in member_logits], axis=0)
    indices, chosen = ctc_greedy(np.log(mean), ensemble.spec.max_length)
    got = ensemble.predict(pngs)
    assert [p.text for p in got] == ensemble.charset.decode_batch(indices)
    np.testing.assert_allclose([p.confidence for p in got], chosen.prod(axis=-1), rtol=1e-4)


def test_a_model_joined_with_itself_reads_as_the_model(smoke_run, generated_folder, workdir):
    """evaluate and predict take the ensemble's file as --model; a model averaged with itself is itself."""
    out = workdir / "ensembles" / "twice.keras"
    run_module("ensemble", "--models", smoke_run, smoke_run, "--out", out, cwd=workdir, check=True)
    one = run_module("predict", "--model", smoke_run, generated_folder, cwd=workdir, check=True).stdout
    two = run_module("predict", "--model", out, generated_folder, cwd=workdir, check=True).stdout
    rows = [[line.split("\t") for line in text.splitlines()] for text in (one, two)]
    assert len(rows[0]) == 24 and [r[:2] for r in rows[0]] == [r[:2] for r in rows[1]]
    assert np.allclose([float(r[2]) for r in rows[0]], [float(r[2]) for r in rows[1]], atol=1e-3)
    report = run_module("evaluate", "--model", out, "--data", generated_folder, "--json", workdir / "twice.json",
                        cwd=workdir, check=True)
    assert "whole-captcha accuracy" in report.stdout


def test_an_ensemble_of_recurrent_models_exports_to_tflite_and_reads_like_keras(ctc_ensemble, pngs, workdir):
    """The export unrolls the GRU of every member, as it does a single model's (TFLite has no while loop)."""
    from captcha_ocr.export.readers import load_exported
    from captcha_ocr.inference.recognizer import Recognizer

    out = workdir / "exports" / "ensemble-tflite"
    run_module("export", "--model", ctc_ensemble, "--format", "tflite", "--out", out, cwd=workdir, check=True)
    expected = Recognizer.load(ctc_ensemble).predict(pngs)
    assert_same_readings(expected, load_exported(out).predict(pngs), 1e-7, conf_atol=1e-4)


def test_models_that_cannot_be_averaged_are_refused():
    from captcha_ocr.model.ensemble import ensemble_model

    ctc = build_model(load_config(SMOKE, ["loss.name=ctc"]))
    cases = [
        ([ctc], "two or more models"),
        ([ctc, build_model(load_config(SMOKE, ["loss.name=ctc", "charset.chars=0123456789"]))], "has chars '0123"),
        ([ctc, build_model(load_config(SMOKE, ["loss.name=ctc", "model.width_pools=1"]))], "number of frames"),
        ([build_model(load_config(SMOKE)), build_model(load_config(SMOKE, ["loss.name=softmax"]))],
         "cannot be averaged"),
    ]
    for models, message in cases:
        with pytest.raises(UserError, match=message):
            ensemble_model(models)
    # softmax and sparse_softmax mean the same thing: those two average
    ensemble_model([build_model(load_config(SMOKE, ["loss.name=softmax"])),
                    build_model(load_config(SMOKE, ["loss.name=sparse_softmax"]))])


def test_bad_command_lines_are_user_errors(smoke_run, ctc_runs, ctc_ensemble, workdir, tmp_path):
    assert_user_error(run_module("ensemble", "--models", smoke_run, "--out", tmp_path / "a.keras", cwd=workdir),
                      "two or more models")
    assert_user_error(run_module("ensemble", "--models", smoke_run, smoke_run, "--out", tmp_path / "a.h5",
                                 cwd=workdir), "must end in .keras")
    assert_user_error(run_module("ensemble", "--models", smoke_run, tmp_path / "missing", "--out",
                                 tmp_path / "a.keras", cwd=workdir), "not found")
    assert_user_error(run_module("ensemble", "--models", smoke_run, ctc_runs[0], "--out", tmp_path / "a.keras",
                                 cwd=workdir), "model 2")
    assert not list(tmp_path.glob("*.keras")) and not list(tmp_path.glob(".*"))  # nothing half written
    proc = run_module("train", "--config", SMOKE, *CTC_GRU, "--init-from", ctc_ensemble, "--run-dir",
                      tmp_path / "run", cwd=workdir)
    assert_user_error(proc, "is an ensemble of 2 models", "give one of the models")
