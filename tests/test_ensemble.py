"""`python -m captcha_ocr.ensemble` and `captcha_ocr.model.ensemble`: models read as one, with the mean of
their probabilities, by every command that takes a model."""

import numpy as np
import pytest
from conftest import SMOKE, assert_same_readings, assert_user_error, run_module

from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.build import build_model
from captcha_ocr.model.decode import probabilities
from captcha_ocr.model.layers import MeanProbabilities, Shift, model_spec

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
    from captcha_ocr.model.decode import ctc_decode

    members = [Recognizer.load(r) for r in ctc_runs]
    ensemble = Recognizer.load(ctc_ensemble)  # loaded back from the file the command wrote
    assert ensemble.spec == members[0].spec
    x = np.stack([ensemble.prepare(p) for p in pngs]).astype(np.float32) / 255.0
    member_logits = [np.asarray(m.model(x, training=False)) for m in members]
    assert not np.allclose(member_logits[0], member_logits[1], atol=1e-3)  # two different models
    mean = np.mean([probabilities(z, "ctc") for z in member_logits], axis=0)
    indices, chosen = ctc_decode(np.log(mean), ensemble.spec.min_length, ensemble.spec.max_length)
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


def shifted(x, dy, dx):
    """NumPy's reference for one view: `x` (batch, height, width, channels) moved down dy and right dx pixels,
    its edge rows and columns repeated."""
    h, w = x.shape[1:3]
    rows = np.clip(np.arange(h) - dy, 0, h - 1)
    cols = np.clip(np.arange(w) - dx, 0, w - 1)
    return x[:, rows][:, :, cols]


@pytest.mark.parametrize("dy, dx", [(1, 0), (-1, 0), (0, 1), (0, -1), (1, -1), (-1, 1), (0, 0)])
def test_shift_moves_the_image_and_repeats_its_edge(dy, dx):
    import tensorflow as tf

    x = np.random.default_rng(0).random((2, 5, 7, 3)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(Shift(dy, dx)(x)), shifted(x, dy, dx))
    in_data = tf.data.Dataset.from_tensor_slices(x).batch(2).map(Shift(dy, dx))  # and inside tf.data's graph
    np.testing.assert_array_equal(next(iter(in_data)).numpy(), shifted(x, dy, dx))


@pytest.fixture(scope="module")
def ctc_views(ctc_runs, workdir):
    out = workdir / "ensembles" / "views.keras"
    proc = run_module("ensemble", "--models", ctc_runs[0], "--views", "9", "--out", out, cwd=workdir, check=True)
    assert "1 model read as one, each in 9 views" in proc.stderr + proc.stdout
    return out


def test_one_model_in_nine_views_reads_with_the_mean_of_nine_moved_readings(ctc_runs, ctc_views, pngs):
    from captcha_ocr.core.choices import VIEWS
    from captcha_ocr.inference.recognizer import Recognizer
    from captcha_ocr.model.decode import ctc_decode
    from captcha_ocr.model.ensemble import ensemble_members, ensemble_views

    member, views = Recognizer.load(ctc_runs[0]), Recognizer.load(ctc_views)  # loaded back from the file written
    assert (ensemble_members(views.model), ensemble_views(views.model)) == (1, 9)
    assert views.spec == member.spec and len(set(VIEWS[9])) == 9
    x = np.stack([views.prepare(p) for p in pngs]).astype(np.float32) / 255.0
    readings = [probabilities(np.asarray(member.model(shifted(x, dy, dx), training=False)), "ctc")
                for dy, dx in VIEWS[9]]
    assert not np.allclose(readings[0], readings[4], atol=1e-3)  # a moved view reads otherwise
    indices, chosen = ctc_decode(np.log(np.mean(readings, axis=0)), views.spec.min_length,
                                 views.spec.max_length)
    got = views.predict(pngs)
    assert [p.text for p in got] == views.charset.decode_batch(indices)
    np.testing.assert_allclose([p.confidence for p in got], chosen.prod(axis=-1), rtol=1e-4)


def test_an_ensemble_of_recurrent_models_exports_to_tflite_and_reads_like_keras(ctc_ensemble, pngs, workdir):
    """The export unrolls the GRU of every member, as it does a single model's (TFLite has no while loop)."""
    from captcha_ocr.export.readers import load_exported
    from captcha_ocr.inference.recognizer import Recognizer

    out = workdir / "exports" / "ensemble-tflite"
    run_module("export", "--model", ctc_ensemble, "--format", "tflite", "--out", out, cwd=workdir, check=True)
    expected = Recognizer.load(ctc_ensemble).predict(pngs)
    assert_same_readings(expected, load_exported(out).predict(pngs), 1e-7, conf_atol=1e-4)


def test_evaluate_views_reads_as_the_model_file_in_views(ctc_runs, ctc_views, generated_folder, workdir):
    """`evaluate --views 9` scores what the file from `ensemble --views 9` reads; its report keeps its own name."""
    import json

    reports = [workdir / "views-flag.json", workdir / "views-file.json"]
    run_module("evaluate", "--model", ctc_runs[0], "--views", "9", "--data", generated_folder, "--json", reports[0],
               cwd=workdir, check=True)
    run_module("evaluate", "--model", ctc_views, "--data", generated_folder, "--json", reports[1], cwd=workdir,
               check=True)
    flag, file = (json.loads(r.read_text()) for r in reports)
    assert flag == file and flag["count"] == 24
    run_module("evaluate", "--model", ctc_runs[0], "--views", "5", cwd=workdir, check=True)  # its own test set
    assert (ctc_runs[0] / "evaluation-views5.json").exists()
    # predict --views reads as the file does too
    flag, file = (run_module("predict", "--model", *model, generated_folder, cwd=workdir, check=True).stdout
                  for model in ((ctc_runs[0], "--views", "9"), (ctc_views,)))
    assert flag == file and len(flag.splitlines()) == 24


def test_a_model_in_views_exports_to_tflite_and_reads_like_keras(ctc_views, pngs, workdir):
    from captcha_ocr.export.readers import load_exported
    from captcha_ocr.inference.recognizer import Recognizer

    out = workdir / "exports" / "views-tflite"
    run_module("export", "--model", ctc_views, "--format", "tflite", "--out", out, cwd=workdir, check=True)
    expected = Recognizer.load(ctc_views).predict(pngs)
    assert_same_readings(expected, load_exported(out).predict(pngs), 1e-7, conf_atol=1e-4)
    # an export reads as it was exported: views are asked of the model before export, not of the export
    assert_user_error(run_module("predict", "--model", out, "--views", "5", *pngs[:2], cwd=workdir),
                      "--views reads with a Keras model", "ensemble --models RUN --views 5")


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
    with pytest.raises(UserError, match="views 3: known counts are 1, 5, 9"):
        ensemble_model([ctc], views=3)
    ensemble_model([ctc], views=5)  # one model in several views is an ensemble too
    # ctc lengths only bound decoding: members may differ in them, and the first member's are the ensemble's
    longer = build_model(load_config(SMOKE, ["loss.name=ctc", "charset.max_length=6", "charset.min_length=2"]))
    joined = ensemble_model([ctc, longer])
    assert model_spec(joined).max_length == model_spec(ctc).max_length == 4
    with pytest.raises(UserError, match="has max_length 6"):  # per position, a length is a number of outputs
        ensemble_model([build_model(load_config(SMOKE, ["loss.name=softmax"])),
                        build_model(load_config(SMOKE, ["loss.name=softmax", "charset.max_length=6"]))])
    # softmax and sparse_softmax mean the same thing: those two average
    ensemble_model([build_model(load_config(SMOKE, ["loss.name=softmax"])),
                    build_model(load_config(SMOKE, ["loss.name=sparse_softmax"]))])


def test_bad_command_lines_are_user_errors(smoke_run, ctc_runs, ctc_ensemble, workdir, tmp_path):
    assert_user_error(run_module("ensemble", "--models", smoke_run, "--out", tmp_path / "a.keras", cwd=workdir),
                      "two or more models", "--views 9")
    assert_user_error(run_module("ensemble", "--models", smoke_run, "--views", "3", "--out", tmp_path / "a.keras",
                                 cwd=workdir), "--views", "invalid choice")
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
