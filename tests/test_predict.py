"""captcha_ocr.predict: the command on files, folders and globs, and Recognizer after save/load."""

import json
from functools import partial

import numpy as np
from conftest import assert_user_error, run_module
from PIL import Image


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

    from captcha_ocr.core.images import to_array
    from captcha_ocr.inference.recognizer import Recognizer

    files = sorted(generated_folder.glob("*.png"))[:8]
    rec = Recognizer.load(smoke_run)
    by_path = rec.predict([str(f) for f in files])
    by_pil = rec.predict([Image.open(f) for f in files])
    arrays = np.stack([to_array(f, 80, 30, 1) for f in files])
    assert by_path == by_pil == rec.predict(arrays)
    reloaded = keras.saving.load_model(smoke_run / "model.keras", compile=False)
    logits = reloaded.predict(arrays.astype(np.float32) / 255.0, verbose=0)
    from captcha_ocr.model.decode import decode

    texts, conf, _ = decode(logits, rec.charset, rec.spec.loss)
    assert texts == [p.text for p in by_path]
    np.testing.assert_allclose(conf, [p.confidence for p in by_path], rtol=1e-5)
    # the bare .keras file is enough: it carries charset, length and input size
    alone = Recognizer.load(smoke_run / "model.keras").predict([str(files[0])])[0]
    assert alone.text == by_path[0].text
    np.testing.assert_allclose(alone.confidence, by_path[0].confidence, rtol=1e-5)


def test_predict_reads_with_an_export_as_with_its_run(smoke_run, generated_folder, workdir, tmp_path):
    out = tmp_path / "savedmodel"
    run_module("export", "--model", smoke_run, "--format", "savedmodel", "--out", out, cwd=workdir, check=True)
    by_run = run_module("predict", "--model", smoke_run, generated_folder, cwd=workdir, check=True).stdout
    by_export = run_module("predict", "--model", out, generated_folder, cwd=workdir, check=True).stdout
    rows = lambda text: [line.split("\t") for line in text.splitlines()]  # noqa: E731
    assert [r[:2] for r in rows(by_export)] == [r[:2] for r in rows(by_run)] and len(rows(by_run)) == 24
    for a, b in zip(rows(by_run), rows(by_export)):
        assert abs(float(a[2]) - float(b[2])) <= 0.002
    proc = run_module("predict", "--model", out, "--length", "4", generated_folder, cwd=workdir)
    assert_user_error(proc, "is an export, which decodes in its graph")


def base_ctc2_texts(folder, workdir, *args) -> list[str]:
    """What `predict --model base_ctc2 --json ARGS FOLDER` reads, in order."""
    proc = run_module("predict", "--model", "base_ctc2", "--json", *args, folder, cwd=workdir, check=True)
    return [json.loads(line)["text"] for line in proc.stdout.splitlines()]


def test_length_holds_a_ctc_models_reads_to_the_captchas_lengths(smoke_run, generated_folder, workdir):
    texts = partial(base_ctc2_texts, generated_folder, workdir)
    free = texts()  # base_ctc2 reads 1 to 10 characters; the captchas have 4
    held = texts("--length", "6")
    assert len(held) == len(free) == 24
    assert all(len(text) in (0, 6) for text in held) and any(len(text) != 6 for text in free), (free, held)
    assert [len(text) for text in texts("--length", "2-3")] == [min(max(len(t), 2), 3) if t else 0 for t in free]
    for args, fragment in ((("--length", "3-2"), "'3-2' is not N or LOW-HIGH"), (("--length", "x"), "'x' is not"),
                           (("--length", "11"), "at most 10 characters"),):
        proc = run_module("predict", "--model", "base_ctc2", *args, generated_folder, cwd=workdir)
        assert proc.returncode == 2 and fragment in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    proc = run_module("predict", "--model", smoke_run, "--length", "4", generated_folder, cwd=workdir)
    assert_user_error(proc, "--length holds the reads of a ctc model")


def test_chars_reads_only_the_characters_the_captchas_use(generated_folder, workdir):
    texts = partial(base_ctc2_texts, generated_folder, workdir)
    free, digits = texts(), texts("--chars", "0123456789", "--length", "4")
    assert len(free) == len(digits) == 24
    assert any(not text.isdigit() for text in free), free
    assert all(text.isdigit() and len(text) == 4 for text in digits if text), digits
    for chars, fragment in (("09é", "the model does not read 'é'"), ("", "give the characters your captchas use")):
        proc = run_module("predict", "--model", "base_ctc2", "--chars", chars, generated_folder, cwd=workdir)
        assert_user_error(proc, fragment)
