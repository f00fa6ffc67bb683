"""Empty readings are not certain: every decoder gives a reading of no characters the probability of reading
nothing (CTC: the all-blank path; per-position heads: the pad at every position), and `min_confidence`
abstains on it. The service's side is in test_serve_attacks.py (an all-blank image read over HTTP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from captcha_ocr.core.charset import Charset
from captcha_ocr.model.decode import ctc_greedy as numpy_greedy
from captcha_ocr.model.decode import decode

BLANK_LOGIT = 8.0  # the blank's logit at every frame of `blank_ctc_model`; every other class has 0


def blank_ctc_model(path: Path) -> tuple[Path, float]:
    """A CTC model at the smoke size that reads every image as nothing, saved as a .keras file.

    Its logits layer has no weights and a bias that favours the blank, so every frame reads the blank
    with probability e^8 / (e^8 + 62). Returns (path, the confidence of its empty reading: that
    probability to the power of the frames).
    """
    from captcha_ocr.core.config import load_config
    from captcha_ocr.model.build import build_model

    config = load_config("ctc", ["image.width=80", "image.height=30", "model.filters=[8,16]",
                                 "train.precision=float32"])
    model = build_model(config)
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    bias[:] = 0.0
    bias[-1] = BLANK_LOGIT
    logits.set_weights([np.zeros_like(kernel), bias])
    model.save(path)
    frames, classes = model.output_shape[1:]
    per_frame = np.exp(BLANK_LOGIT) / (np.exp(BLANK_LOGIT) + classes - 1)
    return path, float(per_frame ** frames)


def frame_logits(best: list[list[int]], classes: int = 63, sure: float = 3.0) -> np.ndarray:
    out = np.zeros((len(best), len(best[0]), classes), np.float32)
    for b, row in enumerate(best):
        for t, c in enumerate(row):
            out[b, t, c] = sure
    return out


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def test_ctc_empty_reading_has_the_probability_of_the_all_blank_path():
    import tensorflow as tf

    from captcha_ocr.model.losses import ctc_decode

    blank = 62
    logits = frame_logits([[blank] * 6, [blank, 10, blank, blank, blank, blank]])
    logits[0, 2, blank] = 0.5  # a less sure blank frame lowers the empty reading's confidence
    texts, confidence, _ = decode(logits, Charset(min_length=1), "ctc")  # "A" is not held to 4 characters
    all_blank = np.prod(softmax(logits[0].astype(np.float64))[:, blank])  # by hand: the one path, frame by frame
    assert texts == ["", "A"]
    np.testing.assert_allclose(confidence[0], all_blank, rtol=1e-6)
    assert confidence[0] < 0.5  # not 1.0, as the product over no characters was
    indices, chosen = numpy_greedy(logits, 4)
    graph_indices, graph_chosen = ctc_decode(tf.constant(logits), 1, 4)  # the exports' twin
    np.testing.assert_array_equal(graph_indices.numpy(), indices)
    np.testing.assert_allclose(graph_chosen.numpy(), chosen, rtol=1e-6)
    np.testing.assert_allclose(chosen[0], [all_blank, 1, 1, 1], rtol=1e-6)  # carried by the first position


@pytest.mark.parametrize("loss", ["softmax", "sigmoid"])
def test_per_position_empty_reading_has_the_probability_of_the_pad_everywhere(loss):
    import tensorflow as tf

    from captcha_ocr.core.choices import probability_kind

    pad = 62
    logits = np.zeros((1, 4, 63), np.float32)
    logits[0, :, pad] = [3.0, 2.0, 4.0, 1.0]
    texts, confidence, _ = decode(logits, Charset(), loss)
    x = logits[0].astype(np.float64)
    probs = 1 / (1 + np.exp(-x)) if probability_kind(loss) == "sigmoid" else softmax(x)
    assert texts == [""]
    np.testing.assert_allclose(confidence[0], np.prod(probs[:, pad]), rtol=1e-6)
    graph = np.prod((tf.sigmoid(logits) if loss == "sigmoid" else tf.nn.softmax(logits)).numpy().max(-1), -1)
    np.testing.assert_allclose(graph, confidence, rtol=1e-5)


def test_every_reader_abstains_on_an_empty_reading(tmp_path):
    """The Recognizer (predict and the service), the NumPy decoder (evaluate) and the export's
    in-graph decoder give a blank captcha the same confidence, below a 0.9 threshold."""
    import tensorflow as tf
    from PIL import Image

    from captcha_ocr.core.images import scale_pixels
    from captcha_ocr.export.serving import ServingModule
    from captcha_ocr.inference.recognizer import Recognizer

    path, expected = blank_ctc_model(tmp_path / "blank.keras")
    recognizer = Recognizer.load(path)
    blank_page = Image.new("L", (80, 30), 255)
    [reading] = recognizer.predict([blank_page])
    assert reading.text == "" and reading.confidence == pytest.approx(expected, rel=1e-5)
    assert reading.confidence < 0.9  # abstained at min_confidence 0.9
    x = scale_pixels(recognizer.prepare(blank_page)[None])
    logits = recognizer.model(x, training=False).numpy()
    texts, confidence, _ = decode(logits, recognizer.charset, "ctc")
    assert texts == [""] and confidence[0] == pytest.approx(expected, rel=1e-5)
    _, exported = ServingModule(recognizer.model).decode(tf.constant(logits))
    assert float(exported.numpy()[0]) == pytest.approx(expected, rel=1e-5)


def test_the_onnx_export_of_the_decoder_gives_empty_readings_the_same_confidence():
    """tf2onnx converts the in-graph twin (exports read through it) with the all-blank path's probability."""
    onnxruntime = pytest.importorskip("onnxruntime", reason="pip install -e '.[onnx]'")
    tf2onnx = pytest.importorskip("tf2onnx", reason="pip install -e '.[onnx]'")
    import tensorflow as tf

    from captcha_ocr.model.losses import ctc_greedy

    blank = 4
    logits = frame_logits([[blank] * 8, [0, blank, 1, 1, blank, blank, blank, blank]], classes=5, sure=2.0)
    fn = tf.function(lambda x: ctc_greedy(x, 4), input_signature=[tf.TensorSpec((None, 8, 5), tf.float32)])
    model, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=17)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    chars, probs = session.run(None, {session.get_inputs()[0].name: logits})
    want_chars, want_probs = numpy_greedy(logits, 4)
    np.testing.assert_array_equal(chars, want_chars)
    np.testing.assert_allclose(probs, want_probs, rtol=1e-5)
    assert probs[0, 0] == pytest.approx(np.prod(softmax(logits[0].astype(np.float64))[:, blank]), rel=1e-5)
