import numpy as np
import pytest
import tensorflow as tf

from captcha_ocr.core.charset import Charset
from captcha_ocr.model.decode import decode, probabilities
from captcha_ocr.model.losses import LOSSES, captcha_acc, char_acc, get_loss

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
    from captcha_ocr.core.errors import UserError

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
    cs = Charset(min_length=1)  # reads of 2 to 4 characters, none of them held (test_decode.py)
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


def np_ctc_nll(label, logits, blank):
    """-log p(label): the probability summed over every frame path that collapses to it (brute force)."""
    import itertools

    p = np.exp(logits - logits.max(-1, keepdims=True))
    p = p / p.sum(-1, keepdims=True)
    total = 0.0
    for path in itertools.product(range(logits.shape[1]), repeat=len(logits)):
        text = [c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c)]
        if text == list(label):
            total += np.prod([p[t, c] for t, c in enumerate(path)])
    return -np.log(total)


def test_ctc_loss_matches_the_sum_over_alignments():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (5, 5, 4)).astype(np.float32)  # 5 frames, classes 0-2 and the blank 3
    texts = [[0], [0, 1], [1, 1], [2, 0, 2], [0, 0, 1]]
    labels = np.array([t + [3] * (3 - len(t)) for t in texts], np.int32)
    got = get_loss("ctc")(tf.constant(labels), tf.constant(logits)).numpy()
    want = [np_ctc_nll(t, logits[i], 3) for i, t in enumerate(texts)]
    np.testing.assert_allclose(got, want, rtol=1e-5)


def frame_logits(rows, classes=63):
    out = np.full((len(rows), len(rows[0]), classes), -5.0, np.float32)
    for b, row in enumerate(rows):
        for t, c in enumerate(row):
            out[b, t, c] = 5.0
    return out


def test_ctc_greedy_decoding_merges_repeats_and_drops_blanks():
    from captcha_ocr.model.decode import ctc_greedy as np_greedy
    from captcha_ocr.model.losses import ctc_greedy

    b = 62  # the pad is the blank
    rows = [[10, 10, b, 10, 11, 11, b, b],  # A A _ A B B -> AAB: a blank separates two As
            [b, 0, 0, 0, b, b, b, b],       # one 0 over three frames
            [36, 37, 38, 39, 40, b, b, b],  # abcde: cut to the 4 positions
            [b] * 8]                        # nothing read
    logits = frame_logits(rows)
    logits[1, 2, 0] = 1.0  # a less sure middle frame of the 0: the read keeps its surest frame
    logits[1, 2, 5] = 0.5
    cs = Charset()
    idx, chosen = np_greedy(logits, 4)  # greedy: not held to the charset's lengths (test_decode.py)
    texts, conf = cs.decode_batch(idx), chosen.prod(axis=-1)
    assert texts == ["AAB", "0", "abcd", ""]
    np.testing.assert_array_equal(idx[1], [0, b, b, b])
    peak = 1 / (1 + 62 * np.exp(-10.0))
    np.testing.assert_allclose(conf, [peak ** 3, peak, peak ** 4, peak ** 8], rtol=1e-6)
    tf_idx, tf_probs = ctc_greedy(tf.constant(logits), 4)
    np.testing.assert_array_equal(tf_idx.numpy(), idx)
    np.testing.assert_allclose(np.prod(tf_probs.numpy(), axis=-1), conf, rtol=1e-6)
    # on random logits too (many repeats and blanks at 3 classes)
    rand = np.random.default_rng(1).normal(0, 2, (200, 12, 3)).astype(np.float32)
    a, pa = ctc_greedy(tf.constant(rand), 5)
    b_, pb = np_greedy(rand, 5)
    np.testing.assert_array_equal(a.numpy(), b_)
    np.testing.assert_allclose(pa.numpy(), pb, rtol=1e-6)


def test_ctc_metrics_compare_the_decoded_text():
    from captcha_ocr.model.losses import get_metrics

    char, whole = get_metrics("ctc")
    assert (char.__name__, whole.__name__) == ("char_acc", "captcha_acc")
    b = 62
    logits = frame_logits([[10, b, 11, 11, b, b], [10, 10, 11, b, b, b], [10, 11, 11, 12, b, 12]])
    labels = np.array([[10, 11, b, b], [10, 10, 11, b], [10, 11, 12, 12]], np.int32)
    # the second reads AB (the repeated A needs a blank between): A B _ _ against A A B _,
    # right at positions 1 and 4; the third ABCC
    np.testing.assert_allclose(whole(labels, logits).numpy(), [1.0, 0.0, 1.0])
    np.testing.assert_allclose(char(labels, logits).numpy(), [1.0, 0.5, 1.0])


def test_ctc_has_no_label_smoothing():
    from captcha_ocr.core.config import load_config
    from captcha_ocr.core.errors import UserError

    with pytest.raises(UserError, match="label_smoothing does not apply"):
        load_config(None, ["loss.name=ctc", "loss.label_smoothing=0.1"])


def test_soft_targets_cost_the_kl_divergence_from_the_teacher_and_labels_their_ctc_loss():
    from captcha_ocr.model.losses import get_metrics, on_labels, with_soft_targets

    rng = np.random.default_rng(4)
    logits = rng.normal(0, 2, (3, 4, 4)).astype(np.float32)  # 4 frames, classes 0-2 and the blank 3
    teacher = rng.dirichlet(np.ones(4), (3, 4)).astype(np.float32)
    teacher[1] = 0.0  # row 1 has a person's label; rows 0 and 2 the teacher's frames
    # Row 2's reading is empty: as a label, the ctc kernel would refuse the whole batch
    labels = np.array([[0, 1, 3], [2, 0, 2], [3, 3, 3]], np.float32)
    targets = tf.constant(np.concatenate([labels, teacher.reshape(3, -1)], axis=1))
    loss = with_soft_targets(get_loss("ctc"), 3)
    assert loss.__name__ == "ctc_loss"
    x = tf.constant(logits)
    with tf.GradientTape() as tape:
        tape.watch(x)
        got = loss(targets, x)
    grads = tape.gradient(got, x).numpy()  # of their sum
    log_q = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    kl = (teacher * (np.log(np.maximum(teacher, 1e-30)) - log_q)).sum(axis=(1, 2))
    np.testing.assert_allclose(got.numpy(), [kl[0], np_ctc_nll([2, 0, 2], logits[1], 3), kl[2]], rtol=1e-5)
    assert np.isfinite(grads).all()
    # the KL's gradient is the model's probabilities minus the teacher's, frame by frame
    q = np.exp(log_q)
    np.testing.assert_allclose(grads[0], q[0] - teacher[0], atol=1e-5)
    # validation batches carry labels alone
    np.testing.assert_allclose(loss(tf.constant(labels[1:2]), tf.constant(logits[1:2])).numpy(),
                               [np_ctc_nll([2, 0, 2], logits[1], 3)], rtol=1e-5)
    # the accuracies compare the labels in front, whatever follows them
    _, whole = get_metrics("ctc")
    wrapped = on_labels(whole, 3)
    assert wrapped.__name__ == "captcha_acc"
    np.testing.assert_array_equal(wrapped(targets, tf.constant(logits)).numpy(),
                                  whole(tf.constant(labels), tf.constant(logits)).numpy())
