"""Loss variants and accuracy metrics, chosen by name; all take index labels.

Labels are int32 class indices of shape (batch, max_length). The sigmoid and
softmax losses build their (max_length, num_classes) one-hot/multi-hot target
from them inside the loss; the sparse variant never builds one.

Every loss returns one value per captcha: the sum over positions (and, for
sigmoid, over classes) of the cross-entropy. Keras averages it over the batch.
"""

from __future__ import annotations

import tensorflow as tf

from captcha_ocr.errors import UserError
from captcha_ocr.names import LOSSES


def sigmoid_xent(labels, logits, *, label_smoothing: float = 0.0):
    """`tf.nn.sigmoid_cross_entropy_with_logits` on the multi-hot label: 252 binary problems for 4x63.

    Label smoothing moves each target towards 0.5 by `label_smoothing / 2`.
    """
    target = tf.one_hot(tf.cast(labels, tf.int32), tf.shape(logits)[-1], dtype=logits.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + 0.5 * label_smoothing
    per_output = tf.nn.sigmoid_cross_entropy_with_logits(labels=target, logits=logits)
    return tf.reduce_sum(per_output, axis=[1, 2])


def softmax_xent(labels, logits, *, label_smoothing: float = 0.0):
    """`tf.nn.softmax_cross_entropy_with_logits` per position on one-hot labels."""
    classes = tf.shape(logits)[-1]
    target = tf.one_hot(tf.cast(labels, tf.int32), classes, dtype=logits.dtype)
    if label_smoothing:
        target = target * (1.0 - label_smoothing) + label_smoothing / tf.cast(classes, logits.dtype)
    per_position = tf.nn.softmax_cross_entropy_with_logits(labels=target, logits=logits)
    return tf.reduce_sum(per_position, axis=1)


def sparse_softmax_xent(labels, logits, *, label_smoothing: float = 0.0):
    """`tf.nn.sparse_softmax_cross_entropy_with_logits` per position on index labels (no one-hot).

    Label smoothing is applied as (1 - e) * CE + e * mean over classes of -log p,
    which equals smoothed one-hot cross-entropy without building the one-hot.
    """
    per_position = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)
    if label_smoothing:
        uniform = -tf.reduce_mean(tf.nn.log_softmax(logits), axis=-1)
        per_position = (1.0 - label_smoothing) * per_position + label_smoothing * uniform
    return tf.reduce_sum(per_position, axis=1)


# One function per name of `captcha_ocr.names.LOSSES` (a test checks that they agree).
LOSS_FUNCTIONS = {"sigmoid": sigmoid_xent, "softmax": softmax_xent, "sparse_softmax": sparse_softmax_xent}


def get_loss(name: str, label_smoothing: float = 0.0):
    """The Keras loss function `f(labels, logits) -> per-captcha loss` for a config name."""
    if name not in LOSSES or name not in LOSS_FUNCTIONS:
        raise UserError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    fn = LOSS_FUNCTIONS[name]

    def loss(labels, logits):
        return fn(labels, logits, label_smoothing=label_smoothing)

    loss.__name__ = f"{name}_xent"
    return loss


def char_acc(labels, logits):
    """Per captcha: fraction of the max_length positions (pads included) predicted right."""
    hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
    return tf.reduce_mean(tf.cast(hits, tf.float32), axis=-1)


def captcha_acc(labels, logits):
    """Per captcha: 1 if every position is right (the whole text is read), else 0."""
    hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
    return tf.cast(tf.reduce_all(hits, axis=-1), tf.float32)
