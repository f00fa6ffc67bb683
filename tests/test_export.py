"""Exports made by the real command, read back, and compared with the Keras model they came from.

The smoke model is barely trained, so parity is checked text by text on a
batch rather than by accuracy: the same pixels must give the same argmax.
"""

import io
import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import SMOKE, assert_same_readings, assert_user_error, run_module
from PIL import Image

from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import to_array

# Measured on the smoke model (2 epochs, its 63 classes' logits close together): the int8 model reads
# 20 of the 24 generated captchas as the float one does, each of the other 4 off by one character
# (92 of 96 characters), and its confidences are within 0.5% (median; 1.9% at most) of the float ones.
# Texts say little about so untrained a model: quantizing the preprocessing too still gave 17 of 24 texts
# but confidences off by 20%. The bounds leave room for run-to-run changes.
INT8_MIN_SAME_TEXT = 0.6
INT8_MIN_SAME_CHAR = 0.85
INT8_MAX_CONFIDENCE_CHANGE = 0.05


def _onnx_available() -> bool:
    try:
        import onnxruntime  # noqa: F401
        import tf2onnx  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def exports(smoke_run, workdir):
    """The smoke run exported by the CLI to each format, the processes run side by side."""
    outs = {
        "savedmodel": ["--format", "savedmodel"],
        "tflite": ["--format", "tflite"],
        "tflite-int8": ["--format", "tflite", "--quantize", "int8", "--calibration-count", 64],
    }
    if _onnx_available():
        outs["onnx"] = ["--format", "onnx"]
    base = workdir / "exports"

    def export(name):
        return run_module("export", "--model", smoke_run, *outs[name], "--out", base / name, "--check", 16,
                          cwd=workdir, check=True)

    with ThreadPoolExecutor(len(outs)) as pool:
        procs = dict(zip(outs, pool.map(export, outs)))
    return {name: (base / name, procs[name]) for name in outs}


@pytest.fixture(scope="module")
def keras_reader(smoke_run):
    from captcha_ocr.inference.recognizer import Recognizer

    return Recognizer.load(smoke_run)


def test_cli_writes_model_spec_and_reports_size(exports, smoke_run):
    for name, (out, proc) in exports.items():
        spec = json.loads((out / "spec.json").read_text())
        assert spec["format"] == name.split("-")[0]
        assert spec["quantize"] == ("int8" if name.endswith("int8") else None)
        assert (spec["width"], spec["height"], spec["channels"], spec["max_length"]) == (80, 30, 1, 4)
        assert spec["source_model"] == str(smoke_run.resolve())
        assert f"wrote {out}" in proc.stdout and "KiB" in proc.stdout
        assert "same text as the Keras model on 16 synthetic captchas" in proc.stdout
    assert (exports["savedmodel"][0] / "saved_model.pb").is_file()
    float_size = (exports["tflite"][0] / "model.tflite").stat().st_size
    int8_size = (exports["tflite-int8"][0] / "model.tflite").stat().st_size
    assert int8_size < 0.4 * float_size, (int8_size, float_size)


def test_savedmodel_reads_files_and_bytes_like_keras(exports, keras_reader, pngs):
    from captcha_ocr.export.readers import load_exported

    reader = load_exported(exports["savedmodel"][0])
    expected = keras_reader.predict(pngs)
    # 160x60 PNGs resized to 80x30 in the graph (decoding included): the same pixels as PIL's.
    assert_same_readings(expected, reader.predict(pngs), 1e-5)
    assert_same_readings(expected, reader.predict([p.read_bytes() for p in pngs]), 1e-5)
    # One batch of different sizes and formats: each image is decoded and resized on its own.
    small = io.BytesIO()
    Image.open(pngs[1]).resize((80, 30), Image.BILINEAR).save(small, "PNG")
    jpeg = io.BytesIO()
    Image.open(pngs[2]).convert("RGB").save(jpeg, "JPEG", quality=80)
    mixed = [pngs[0], small.getvalue(), jpeg.getvalue()]
    assert_same_readings(keras_reader.predict(mixed), reader.predict(mixed), 1e-5)


def test_savedmodel_serves_without_this_package(exports, keras_reader, pngs):
    """What TF Serving or another program sees: the signatures and their named outputs."""
    import tensorflow as tf

    loaded = tf.saved_model.load(str(exports["savedmodel"][0]))
    expected = [p.text for p in keras_reader.predict(pngs[:4])]
    out = loaded.signatures["serve_bytes"](images=tf.constant([p.read_bytes() for p in pngs[:4]]))
    assert [t.decode() for t in out["text"].numpy()] == expected
    assert out["indices"].dtype == tf.int32 and out["indices"].shape == (4, 4)
    assert out["confidence"].dtype == tf.float32
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in pngs[:4]])
    out = loaded.signatures["serve_array"](images=tf.constant(arrays))
    assert [t.decode() for t in out["text"].numpy()] == expected


def test_savedmodel_reads_arrays_like_keras(exports, keras_reader, pngs):
    from captcha_ocr.export.readers import load_exported

    reader = load_exported(exports["savedmodel"][0])
    arrays = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in pngs])
    assert_same_readings(keras_reader.predict(list(arrays)), reader.predict(arrays), 1e-5)
    # Already at the model's input size: no resize at all, so the logits are the Keras model's own.
    small = np.stack([to_array(p, 80, 30, 3) for p in pngs])
    assert_same_readings(keras_reader.predict(list(small)), reader.predict(small), 1e-6)


def test_tflite_reads_like_keras(exports, keras_reader, pngs):
    from captcha_ocr.export.readers import load_exported

    reader = load_exported(exports["tflite"][0] / "model.tflite")  # the file works as well as its folder
    assert_same_readings(keras_reader.predict(pngs), reader.predict(pngs), 1e-4)
    mixed = [np.asarray(Image.open(pngs[0]).convert("RGB")), to_array(pngs[1], 80, 30, 3), pngs[2].read_bytes()]
    assert_same_readings(keras_reader.predict(mixed), reader.predict(mixed), 1e-4)


def test_int8_tflite_mostly_agrees(exports, pngs):
    from captcha_ocr.export.readers import load_exported

    float_preds = load_exported(exports["tflite"][0]).predict(pngs)
    int8_preds = load_exported(exports["tflite-int8"][0]).predict(pngs)
    same = np.mean([a.text == b.text for a, b in zip(float_preds, int8_preds)])
    assert same >= INT8_MIN_SAME_TEXT, same
    chars = np.mean([x == y for a, b in zip(float_preds, int8_preds) for x, y in zip(a.text, b.text)])
    assert chars >= INT8_MIN_SAME_CHAR, chars
    float_conf = np.array([p.confidence for p in float_preds])
    int8_conf = np.array([p.confidence for p in int8_preds])
    assert np.median(np.abs(int8_conf - float_conf) / float_conf) < INT8_MAX_CONFIDENCE_CHANGE


def test_onnx_reads_like_keras(exports, keras_reader, pngs):
    if "onnx" not in exports:
        pytest.skip("tf2onnx and onnxruntime are not installed (pip install -e '.[onnx]')")
    from captcha_ocr.export.readers import load_exported

    assert_same_readings(keras_reader.predict(pngs), load_exported(exports["onnx"][0]).predict(pngs), 1e-4)
    import json

    import onnxruntime

    folder = exports["onnx"][0]
    spec = json.loads((folder / "spec.json").read_text())
    session = onnxruntime.InferenceSession(str(folder / spec["file"]), providers=["CPUExecutionProvider"])
    assert spec["signatures"]["serve_array"]["outputs"] == [o.name for o in session.get_outputs()]


def test_transparent_gif_reads_like_keras(exports, keras_reader, pngs):
    """GIFs go through PIL in the reader: TensorFlow's decoder would ignore the transparent entry."""
    from captcha_ocr.export.readers import load_exported

    gifs = []
    for i, path in enumerate(pngs[:6]):
        buf = io.BytesIO()
        Image.open(path).convert("P", palette=Image.ADAPTIVE, colors=32).save(buf, "GIF", transparency=i)
        gifs.append(buf.getvalue())
    assert_same_readings(keras_reader.predict(gifs), load_exported(exports["savedmodel"][0]).predict(gifs), 1e-5)


@pytest.mark.parametrize("name", ["savedmodel", "tflite"])
def test_corrupt_image_is_a_user_error(exports, pngs, tmp_path, name):
    from captcha_ocr.export.readers import load_exported

    reader = load_exported(exports[name][0])
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(pngs[0].read_bytes()[:100])
    with pytest.raises(UserError, match="truncated.png"):
        reader.predict([pngs[1], truncated])
    with pytest.raises(UserError):
        reader.predict([b"this is not an image"])
    with pytest.raises(UserError, match="no such file"):
        reader.predict([tmp_path / "missing.png"])


def test_bad_command_lines(smoke_run, workdir, tmp_path):
    assert_user_error(run_module("export", "--model", tmp_path / "nope", "--format", "tflite", cwd=workdir),
                      "not found")
    proc = run_module("export", "--model", smoke_run, "--format", "coreml", cwd=workdir)
    assert proc.returncode == 2 and "invalid choice: 'coreml'" in proc.stderr and "Traceback" not in proc.stderr
    assert_user_error(run_module("export", "--model", smoke_run, "--format", "savedmodel", "--quantize", "int8",
                                 cwd=workdir), "only for --format tflite")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("keep me")
    assert_user_error(run_module("export", "--model", smoke_run, "--format", "tflite", "--out", tmp_path / "notes",
                                 cwd=workdir), "not an earlier export")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "keep me"


def test_default_out(tmp_path):
    from captcha_ocr.export.layout import default_out

    run = tmp_path / "runs" / "a"
    run.mkdir(parents=True)
    assert default_out(run, "tflite", "int8") == run / "export" / "tflite-int8"
    assert default_out(run / "model.keras", "savedmodel", None) == run / "model-export" / "savedmodel"


def test_load_exported_needs_an_export(tmp_path):
    from captcha_ocr.export.readers import load_exported

    with pytest.raises(UserError, match="not found"):
        load_exported(tmp_path / "missing")
    with pytest.raises(UserError, match="spec.json"):
        load_exported(tmp_path)


# --- the in-graph preprocessing against PIL, eagerly and without a model


def _pil_resize(arr, width, height):
    return np.asarray(Image.fromarray(arr).resize((width, height), Image.BILINEAR))


@pytest.mark.parametrize("size,target", [((60, 160), (30, 80)), ((61, 163), (30, 80)), ((30, 200), (30, 80)),
                                         ((120, 80), (30, 80)), ((20, 50), (30, 80)), ((7, 300), (30, 80))])
def test_resize_matches_pil(size, target):
    import tensorflow as tf

    from captcha_ocr.export.pil_ops import resize_like_pil

    rng = np.random.default_rng(sum(size))
    arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    got = resize_like_pil(tf.constant(arr[None], tf.float64), *target, tf.float64).numpy()[0].astype(np.uint8)
    want = _pil_resize(arr, target[1], target[0])
    diff = np.abs(got.astype(int) - want)
    if size[0] == target[0] or size[1] == target[1] or size == (60, 160):
        assert diff.max() == 0  # one pass, or the generator's size: bit-identical
    else:
        # Two passes: Pillow sometimes runs the vertical one first, which moves a pixel by one grey level.
        assert diff.max() <= 1
    # float32 (TFLite, ONNX): integer weights and a split product give float64's pixels exactly.
    got32 = resize_like_pil(tf.constant(arr[None], tf.float32), *target, tf.float32).numpy()[0].astype(np.uint8)
    np.testing.assert_array_equal(got32, got)
    plain = tf.image.resize(arr[None].astype(np.float32), target, "bilinear").numpy()[0]
    if size[0] > 2 * target[0]:  # TF's plain bilinear resize does not antialias: this test would notice it
        assert np.abs(np.round(plain) - want).max() > 1


def test_every_resize_mode_has_an_in_graph_copy_and_a_description():
    from captcha_ocr.core.choices import RESIZE_MODES
    from captcha_ocr.export.pil_ops import RESIZE_IN_GRAPH
    from captcha_ocr.export.writers import RESIZE_METHODS

    assert set(RESIZE_IN_GRAPH) == set(RESIZE_METHODS) == set(RESIZE_MODES)


def test_float32_weights_are_pils():
    """The integer-computed weights of float32 runtimes equal the float64 (PIL-exact) ones, shrinking and enlarging."""
    import tensorflow as tf

    from captcha_ocr.export.pil_ops import pil_bilinear_matrix

    for in_size in [1, 2, 7, 59, 60, 61, 163, 400, 1001, 3000, 12000]:
        for out_size in (30, 48, 131, 192):
            want = pil_bilinear_matrix(in_size, out_size, tf.float64).numpy()
            got = pil_bilinear_matrix(in_size, out_size, tf.float32).numpy().astype(np.float64)
            np.testing.assert_array_equal(got, want, err_msg=f"{in_size} -> {out_size}")


@pytest.mark.parametrize("size", [(30, 60), (30, 80), (30, 200), (60, 160), (32, 5), (32, 7), (61, 163), (90, 40)])
def test_fit_height_matches_to_array(size):
    """Scaled to the height, padded with the border's median colour or squeezed: `to_array`'s pixels."""
    import tensorflow as tf

    from captcha_ocr.export.pil_ops import fit_height_like_pil

    rng = np.random.default_rng(sum(size))
    arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    arr[:, :3] = rng.integers(0, 256, 3, dtype=np.uint8)  # a border of one colour on the left: a clear median
    want = to_array(arr, 80, 30, 3, resize="fit_height")
    got = fit_height_like_pil(tf.constant(arr[None], tf.float64), 30, 80, tf.float64).numpy()[0].astype(np.uint8)
    assert got.shape == want.shape == (30, 80, 3)
    diff = np.abs(got.astype(int) - want)
    if size[0] == 30 or size == (60, 160):
        assert diff.max() == 0  # one pass (or the generator's size): bit-identical, padding included
    else:
        # Two passes: a pixel may move by one grey level (test_resize_matches_pil), and so may the median.
        assert diff.max() <= 1
    # Python's round() of 5 * 30 / 32 = 4.6875 and 7 * 30 / 32 = 6.5625 (and halves to even elsewhere):
    # the padding starts where to_array's does, which the bound above would catch by whole columns.


def test_gray_and_transparency_match_pil():
    import tensorflow as tf

    from captcha_ocr.export.pil_ops import composite_over_white, gray_like_pil

    rng = np.random.default_rng(0)
    rgba = rng.integers(0, 256, (64, 64, 4), dtype=np.uint8)
    img = Image.fromarray(rgba, "RGBA")
    want_rgb = np.asarray(Image.alpha_composite(Image.new("RGBA", img.size, (255,) * 4), img).convert("RGB"))
    x = tf.constant(rgba, tf.float32)
    got_rgb = composite_over_white(x[..., :3], x[..., 3:]).numpy()
    np.testing.assert_array_equal(got_rgb, want_rgb)
    want_l = np.asarray(Image.fromarray(want_rgb).convert("L"))
    np.testing.assert_array_equal(gray_like_pil(tf.constant(want_rgb, tf.float32)).numpy()[..., 0], want_l)


@pytest.mark.parametrize("mode,fmt", [("RGB", "PNG"), ("RGBA", "PNG"), ("L", "PNG"), ("LA", "PNG"), ("P", "PNG"),
                                      ("P+transparency", "PNG"), ("I;16", "PNG"), ("RGB", "JPEG"), ("L", "JPEG"),
                                      ("RGB", "BMP"), ("P", "GIF")])
def test_decoded_image_matches_to_array(mode, fmt):
    import tensorflow as tf

    from captcha_ocr.export.pil_ops import decode_image

    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (30, 50, 4), dtype=np.uint8), "RGBA")
    options = {}
    if mode.startswith("P"):
        img = img.convert("RGB").convert("P", palette=Image.ADAPTIVE, colors=16)
        if mode == "P+transparency":
            options["transparency"] = 3  # one palette entry is see-through, as in GIF-style PNGs
    elif mode == "I;16":
        img = Image.fromarray(np.asarray(img.convert("L"), np.uint16) * 257)
    else:
        img = img.convert(mode)
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    data = buf.getvalue()
    # JPEG too: decoded with the accurate DCT, as PIL does; TF's default fast DCT is off by up to 7 levels.
    np.testing.assert_array_equal(decode_image(tf.constant(data)).numpy(), to_array(data, 50, 30, 3))


def test_a_ctc_model_exports_and_reads_like_keras(workdir, pngs):
    """The greedy CTC decoding in the serving graph (dense ops) survives SavedModel, TFLite and ONNX."""
    from captcha_ocr.export.readers import load_exported
    from captcha_ocr.inference.recognizer import Recognizer

    run_dir = workdir / "runs" / "ctc-export"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "loss.name=ctc",
               "--set", "train.epochs=3", cwd=workdir, check=True)
    expected = Recognizer.load(run_dir).predict(pngs)
    assert any(p.text for p in expected)  # something read, so the texts compare decoding, not only blanks
    formats = ["savedmodel", "tflite"] + (["onnx"] if _onnx_available() else [])
    for fmt in formats:
        out = workdir / "exports" / f"ctc-{fmt}"
        run_module("export", "--model", run_dir, "--format", fmt, "--out", out, cwd=workdir, check=True)
        # After three barely trained epochs many confidences are near 1e-6; TFLite's differed from
        # Keras's by up to 1.6e-7 there (measured), while the texts were the same.
        assert_same_readings(expected, load_exported(out).predict(pngs), 1e-4, conf_atol=1e-6)


def test_a_fit_height_model_exports_and_reads_like_keras(workdir, pngs):
    """The base models' kind (`image.resize: fit_height`, CTC over a GRU) in every export: the image is
    scaled, padded or squeezed in the graph, and the GRU is unrolled for TFLite."""
    from captcha_ocr.export.readers import load_exported
    from captcha_ocr.inference.recognizer import Recognizer

    run_dir = workdir / "runs" / "fit-height-export"
    run_module("train", "--config", SMOKE, "--run-dir", run_dir, "--set", "loss.name=ctc",
               "--set", "image.resize=fit_height", "--set", "model.rnn_units=8", "--set", "model.width_pools=1",
               "--set", "train.epochs=3", cwd=workdir, check=True)
    # Heights of 30 (the input's) keep the resize to one pass, so the pixels are PIL's to the bit:
    # narrow ones are padded, a wide one is squeezed; the generator's 160x60 halve exactly.
    images = [np.asarray(Image.open(p).convert("RGB").resize((w, 30), Image.BILINEAR))
              for p, w in zip(pngs, (45, 80, 200, 64))] + [np.asarray(Image.open(p).convert("RGB")) for p in pngs[4:8]]
    expected = Recognizer.load(run_dir).predict(images)
    assert any(p.text for p in expected)
    formats = ["savedmodel", "tflite"] + (["onnx"] if _onnx_available() else [])
    for fmt in formats:
        out = workdir / "exports" / f"fit-height-{fmt}"
        run_module("export", "--model", run_dir, "--format", fmt, "--out", out, cwd=workdir, check=True)
        spec = json.loads((out / "spec.json").read_text())
        assert spec["resize"] == "fit_height" and "padded" in spec["resize_method"]
        assert_same_readings(expected, load_exported(out).predict(images), 1e-4, conf_atol=1e-6)


def test_predict_on_a_tflite_export_prints_no_runtime_notice(exports, pngs, workdir):
    """The interpreter's 'Created TensorFlow Lite XNNPACK delegate' line is held back, like TensorFlow's start-up lines."""
    proc = run_module("predict", "--model", exports["tflite"][0], pngs[0], cwd=workdir, check=True)
    assert proc.stderr == "", proc.stderr
    assert proc.stdout.count("\t") == 2


def test_the_greedy_ctc_decoding_converts_to_onnx_with_its_confidences():
    """Blank frames must not count toward any character's confidence in ONNX either (its OneHot reads a
    negative index from the end, which once gave the last character the blanks' near-1 probability)."""
    if not _onnx_available():
        pytest.skip("tf2onnx and onnxruntime are not installed (pip install -e '.[onnx]')")
    import onnxruntime
    import tensorflow as tf
    import tf2onnx

    from captcha_ocr.model.decode import ctc_greedy as numpy_greedy
    from captcha_ocr.model.losses import ctc_greedy

    # 4 characters read, the last one unsure (0.6) and followed by confident blanks (0.99): its
    # confidence is 0.6, not 0.99; a second captcha reads 2 characters and a repeat split by a blank.
    classes, blank = 5, 4

    def frames(best, p):
        logits = np.full((classes,), np.log((1 - p) / (classes - 1)), np.float32)
        logits[best] = np.log(p)
        return logits
    logits = np.stack([
        np.stack([frames(c, p) for c, p in [(0, .9), (4, .99), (1, .8), (2, .7), (4, .99), (3, .6), (4, .99), (4, .99)]]),
        np.stack([frames(c, p) for c, p in [(1, .9), (1, .95), (4, .99), (1, .7), (4, .99), (4, .99), (4, .99), (4, .99)]]),
    ]).astype(np.float32)
    fn = tf.function(lambda x: ctc_greedy(x, 4), input_signature=[tf.TensorSpec((None, 8, classes), tf.float32)])
    chars, probs = (np.asarray(t) for t in fn(tf.constant(logits)))
    np.testing.assert_allclose(probs, [[.9, .8, .7, .6], [.95, .7, 1, 1]], rtol=1e-5)
    model, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=17)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    onnx_chars, onnx_probs = session.run(None, {session.get_inputs()[0].name: logits})
    np.testing.assert_array_equal(onnx_chars, chars)
    np.testing.assert_allclose(onnx_probs, probs, rtol=1e-5)
    np_chars, np_probs = numpy_greedy(logits, 4)
    np.testing.assert_array_equal(chars, np_chars)
    np.testing.assert_array_equal(chars, [[0, 1, 2, 3], [1, 1, blank, blank]])
    np.testing.assert_allclose(probs, np_probs, rtol=1e-5)
