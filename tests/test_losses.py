import numpy as np
import pytest
import tensorflow as tf

from captcha_ocr.decode import decode, probabilities
from captcha_ocr.charset import Charset
from captcha_ocr.losses import LOSSES, captcha_acc, char_acc, get_loss

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(0, 3, (3, 4, 63)).astype(np.float32)
LABELS = np.array([[1, 2, 3, 4], [62, 0, 5, 62], [10, 10, 10, 10]], np.int32)


def np_sigmoid_xent(labels, logits, eps=0.0):
    target = np.eye(63)[labels] * (1 - eps) + eps / 2
    p = 1 / (1 + np.exp(-logits.astype(np.float64)))
    return -(target * np.log(p) + (1 - target) * np.log(1 - p)).sum(axis=(1, 2))


def np_softmax_xent(labels, logits, eps=0.0):
    target = np.eye(63)[labels] * (1 - eps) + eps / 63
    z = logits.astype(np.float64)
    logp = z - z.max(-1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(-1, keepdims=True))
    return -(target * logp).sum(axis=(1, 2))


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_sigmoid_matches_numpy(eps):
    got = get_loss("sigmoid", eps)(tf.constant(LABELS), tf.constant(LOGITS)).numpy()
    np.testing.assert_allclose(got, np_sigmoid_xent(LABELS, LOGITS, eps), rtol=1e-5)


@pytest.mark.parametrize("name", ["softmax", "sparse_softmax"])
@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_softmax_variants_match_numpy(name, eps):
    got = get_loss(name, eps)(tf.constant(LABELS), tf.constant(LOGITS)).numpy()
    np.testing.assert_allclose(got, np_softmax_xent(LABELS, LOGITS, eps), rtol=1e-5)


def test_sigmoid_and_softmax_are_different_models_of_the_label():
    a = get_loss("sigmoid")(LABELS, LOGITS).numpy()
    b = get_loss("softmax")(LABELS, LOGITS).numpy()
    assert not np.allclose(a, b)


def test_unknown_loss_lists_known():
    from captcha_ocr.errors import UserError

    with pytest.raises(UserError, match="sigmoid, softmax, sparse_softmax"):
        get_loss("hinge")


def hand_logits(indices):
    out = np.full((len(indices), 4, 63), -5.0, np.float32)
    for b, row in enumerate(indices):
        for p, c in enumerate(row):
            out[b, p, c] = 5.0
    return out


def test_metrics_on_hand_made_logits():
    labels = np.array([[1, 2, 3, 4], [1, 2, 3, 4], [62, 62, 62, 62]], np.int32)
    logits = hand_logits([[1, 2, 3, 4], [1, 2, 0, 4], [62, 62, 62, 0]])
    np.testing.assert_allclose(char_acc(labels, logits).numpy(), [1.0, 0.75, 0.75])
    np.testing.assert_allclose(captcha_acc(labels, logits).numpy(), [1.0, 0.0, 0.0])


def test_decoder_on_hand_made_logits():
    cs = Charset()
    logits = hand_logits([[10, 11, 62, 62], [0, 62, 1, 62], [36, 37, 38, 39]])
    for loss in LOSSES:
        texts, conf, idx = decode(logits, cs, loss)
        assert texts == ["AB", "01", "abcd"]
        assert idx.shape == (3, 4)
        assert (conf > 0.5).all() and (conf <= 1).all()
    # an unsure position lowers the confidence
    unsure = logits.copy()
    unsure[0, 0, 12] = 5.0
    _, conf, _ = decode(unsure, cs, "softmax")
    assert conf[0] < 0.6


def test_confidence_definitions():
    logits = np.zeros((1, 1, 3))
    logits[0, 0] = [2.0, 0.0, 0.0]
    np.testing.assert_allclose(probabilities(logits, "sigmoid")[0, 0, 0], 1 / (1 + np.exp(-2)))
    np.testing.assert_allclose(probabilities(logits, "softmax")[0, 0, 0], np.exp(2) / (np.exp(2) + 2))
