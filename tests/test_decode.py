"""CTC reads held to the charset's lengths (`captcha_ocr.model.decode.ctc_decode` and its in-graph twin
`captcha_ocr.model.losses.ctc_decode`): the search against all paths, hand-built reads, and the twins
against each other. Greedy decoding itself is tested in test_losses.py, empty reads in
test_serve_empty_readings.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from captcha_ocr.core.charset import Charset
from captcha_ocr.model.decode import HELD_CHUNK, ctc_decode, ctc_greedy, decode, held_paths, read_lengths, to_hold


def path_score(log_p: np.ndarray, path) -> float:
    return float(sum(log_p[t, c] for t, c in enumerate(path)))


@pytest.mark.parametrize("seed", range(16))
def test_held_paths_are_the_most_probable_of_an_allowed_length_as_a_search_of_all_paths_finds(seed):
    import tensorflow as tf

    from captcha_ocr.model.losses import held_paths as graph_held_paths

    rng = np.random.default_rng(seed)
    frames, classes = 6, 4  # 3 characters and the blank (the last class): 4**6 paths
    blank = classes - 1
    log_p = np.log(rng.dirichlet(np.full(classes, 0.3), size=(2, frames)))
    low, high = [(1, 2), (3, 3), (2, 4), (4, 5)][seed % 4]
    paths = np.array(list(itertools.product(range(classes), repeat=frames)))
    lengths = read_lengths(paths, blank)
    allowed = paths[(lengths >= low) & (lengths <= high)]
    got = held_paths(log_p, low, high)
    in_graph = graph_held_paths(tf.constant(log_p, tf.float32), low, high).numpy()
    for b in range(2):
        best = max(path_score(log_p[b], p) for p in allowed)
        for path in (got[b], in_graph[b]):
            assert low <= read_lengths(path[None], blank)[0] <= high
            np.testing.assert_allclose(path_score(log_p[b], path), best, rtol=1e-5)


def test_reads_too_short_and_too_long_are_held_and_the_others_left_alone():
    charset = Charset(chars="abc", min_length=2, max_length=2)  # classes a, b, c and the blank (3)
    sure = np.log(np.full((6, 4), 0.01))
    long, short, right, empty = sure.copy(), sure.copy(), sure.copy(), sure.copy()
    for frame, cls in enumerate([0, 3, 1, 3, 2, 3]):  # a _ b _ c: three characters, which greedy cuts to "ab"
        long[frame, cls] = np.log(0.97)
    long[2, 1] = np.log(0.5)  # b the least sure of the three: the best read of two drops it
    for frame, cls in enumerate([0, 0, 3, 3, 3, 3]):  # a alone, c the runner-up on frame 3
        short[frame, cls] = np.log(0.9)
    short[3, 2] = np.log(0.08)
    for frame, cls in enumerate([1, 3, 2, 2, 3, 3]):  # "bc": an allowed length, left as it is
        right[frame, cls] = np.log(0.97)
    empty[:, 3] = np.log(0.97)  # nothing read: stays empty, however short
    logits = np.stack([long, short, right, empty])
    indices, _ = ctc_greedy(logits, 2)
    assert charset.decode_batch(indices) == ["ab", "a", "bc", ""]
    texts, confidence, _ = decode(logits, charset, "ctc")
    assert texts == ["ac", "ac", "bc", ""]
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    # A held read's characters are as sure as the surest frame of their class on its path: short's c is 0.08.
    np.testing.assert_allclose(confidence[1], probs[1, 0, 0] * probs[1, 3, 2])
    np.testing.assert_allclose(confidence[2:], ctc_greedy(logits, 2)[1][2:].prod(axis=1))


def test_holding_to_every_length_the_frames_allow_is_greedy_decoding():
    logits = np.random.default_rng(3).normal(0, 3, (100, 10, 6))
    for got, want in zip(ctc_decode(logits, 1, 10), ctc_greedy(logits, 10)):
        np.testing.assert_array_equal(got, want)


def test_the_graph_decodes_as_numpy_does():
    import tensorflow as tf

    from captcha_ocr.model.losses import ctc_decode as graph_decode

    rng = np.random.default_rng(1)
    held = []
    for frames, classes, low, high in [(12, 3, 2, 4), (8, 6, 4, 4), (24, 11, 1, 8), (10, 5, 3, 3)]:
        logits = rng.normal(0, 3, (300, frames, classes)).astype(np.float32)
        want_indices, want_probs = ctc_decode(logits, low, high)
        indices, probs = graph_decode(tf.constant(logits), low, high)
        np.testing.assert_array_equal(indices.numpy(), want_indices)
        np.testing.assert_allclose(probs.numpy(), want_probs, rtol=1e-5)
        held.append(int(to_hold(logits.argmax(-1), classes - 1, low, high).sum()))
    assert min(held) > 20 and max(held) > 2 * HELD_CHUNK, ("the cases hold reads, in more than two chunks", held)


def test_the_held_decoder_converts_to_onnx_and_tflite_and_reads_as_numpy_does():
    """The exports read through the in-graph twin: converted, it must hold the same reads."""
    onnxruntime = pytest.importorskip("onnxruntime", reason="pip install -e '.[onnx]'")
    tf2onnx = pytest.importorskip("tf2onnx", reason="pip install -e '.[onnx]'")
    import tensorflow as tf

    from captcha_ocr.model.losses import ctc_decode as graph_decode

    held = np.random.default_rng(5).normal(0, 3, (32, 12, 5)).astype(np.float32)
    assert to_hold(held.argmax(-1), 4, 2, 3).sum() > 10, "the case holds reads"
    allowed = np.full((4, 12, 5), -3.0, np.float32)  # "ab" on every row: nothing to hold, the search skipped
    allowed[:, :, 4], allowed[:, 2, 0], allowed[:, 6, 1] = 3.0, 4.0, 4.0
    fn = tf.function(lambda x: graph_decode(x, 2, 3), input_signature=[tf.TensorSpec((None, 12, 5), tf.float32)])
    model, _ = tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=17)
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    converter = tf.lite.TFLiteConverter.from_concrete_functions([fn.get_concrete_function()])
    interpreter = tf.lite.Interpreter(model_content=converter.convert())
    source = interpreter.get_input_details()[0]["index"]
    for logits in (held, allowed):
        want_indices, want_probs = ctc_decode(logits, 2, 3)
        indices, probs = session.run(None, {session.get_inputs()[0].name: logits})
        np.testing.assert_array_equal(indices, want_indices)
        np.testing.assert_allclose(probs, want_probs, rtol=1e-5)
        interpreter.resize_tensor_input(source, logits.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(source, logits)
        interpreter.invoke()
        out = [interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details()]
        got = sorted(out, key=lambda a: a.dtype.kind)  # float probabilities, then int indices
        np.testing.assert_array_equal(got[1], want_indices)
        np.testing.assert_allclose(got[0], want_probs, rtol=1e-5)
    assert Charset(chars="abcd").decode_batch(want_indices) == ["ab"] * 4


def test_only_chars_puts_other_characters_out_of_reach_and_keeps_the_pad():
    from captcha_ocr.core.errors import UserError
    from captcha_ocr.model.decode import only_chars

    charset = Charset(chars="abc", min_length=1, max_length=2)
    logits = np.array([[[5.0, 1.0, 0.0, 2.0], [0.0, 3.0, 4.0, 1.0]]], np.float32)  # per position: a, c
    masked = only_chars(logits, charset, "bb")
    assert masked.argmax(-1).tolist() == [[3, 1]], "a out of reach: the pad wins; c out of reach: b"
    assert np.array_equal(masked[..., 1], logits[..., 1]) and np.array_equal(masked[..., 3], logits[..., 3])
    assert decode(masked, charset, "softmax")[0] == ["b"]
    for chars in ("abz", ""):
        with pytest.raises(UserError, match="--chars"):
            only_chars(logits, charset, chars)
