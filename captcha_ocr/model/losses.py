"""Loss variants and accuracy metrics, chosen by name; all take index labels.

Labels are int32 class indices of shape (batch, max_length), padded with the
pad class. The sigmoid and softmax losses build their (max_length,
num_classes) one-hot/multi-hot target from them inside the loss; the sparse
variant never builds one. `ctc` takes logits of shape (batch, frames,
num_classes), with the pad class as CTC's blank, and the label's characters
without their padding.

Every loss returns one value per captcha: the sum over positions (and, for
sigmoid, over classes) of the cross-entropy, or for ctc the negative log
probability of the text summed over all its alignments. Keras averages it over
the batch.
"""

from __future__ import annotations

import tensorflow as tf

from captcha_ocr.core.choices import LOSSES, is_frame_loss
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.decode import NEVER


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


def ctc_nll(labels, logits, *, label_smoothing: float = 0.0):
    """`tf.nn.ctc_loss` with the pad class (the last) as the blank; labels are passed without their pads.

    The labels go to the op as a SparseTensor, which runs TensorFlow's C++ CTC
    kernel (dense labels take a slower pure-graph path on the CPU). Every label
    must fit the frames (`captcha_ocr.model.build.frames` checks the worst case).
    """
    if label_smoothing:
        raise ValueError("ctc has no label smoothing")  # the config refuses it first
    labels = tf.cast(labels, tf.int32)
    blank = tf.shape(logits)[-1] - 1
    # from_dense keeps the non-zero entries: shift the characters up by one and the pads to zero.
    shifted = tf.sparse.from_dense(tf.where(labels == blank, 0, labels + 1))
    sparse = tf.SparseTensor(shifted.indices, shifted.values - 1, shifted.dense_shape)
    logit_length = tf.fill(tf.shape(logits)[:1], tf.shape(logits)[1])
    return tf.nn.ctc_loss(sparse, tf.cast(logits, tf.float32), None, logit_length, logits_time_major=False,
                          blank_index=-1)


def ctc_greedy(logits, max_length: int, paths=None):
    """Greedy CTC decoding in the graph: best class per frame, repeats merged, blanks dropped.

    Built from dense ops only (argmax, cumsum, one_hot), so TFLite and ONNX
    convert it. `captcha_ocr.model.decode.ctc_greedy` is the NumPy twin (a test keeps them equal).

    Args:
        logits: (batch, frames, num_classes), the last class the blank (= the pad).
        max_length: positions of the output; a longer read is cut to its first max_length characters.
        paths: int32 (batch, frames), a class per frame to read instead of each frame's best
            (`ctc_decode`); a character's probability is then the largest of its frames' classes.

    Returns:
        (indices int32 (batch, max_length), padded with the blank; the probability of each read
        character: the largest of its frames, 1 at the pads, but for an empty reading the first
        position holds the probability of the all-blank path; float32 (batch, max_length)).
    """
    logits = tf.cast(logits, tf.float32)
    blank = tf.shape(logits)[-1] - 1
    probs = tf.nn.softmax(logits, axis=-1)
    if paths is None:
        best = tf.argmax(logits, axis=-1, output_type=tf.int32)  # (batch, frames)
        peak = tf.reduce_max(probs, axis=-1)
    else:
        best = paths
        peak = tf.reduce_sum(probs * tf.one_hot(paths, tf.shape(logits)[-1]), axis=-1)
    previous = tf.pad(best[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    read = best != blank
    starts = read & (best != previous)  # the first frame of each character read
    # Each read frame's output position; other frames get max_length, which one_hot maps to no position
    # in TensorFlow and in ONNX alike (ONNX's OneHot counts a negative index from the end: -1 put every
    # blank frame in the last position and raised its confidence, measured on the quickstart model).
    slot = tf.where(read, tf.cumsum(tf.cast(starts, tf.int32), axis=1) - 1, max_length)
    in_slot = tf.one_hot(slot, max_length, dtype=tf.float32)  # (batch, frames, max_length); >= max: none
    first = tf.cast(in_slot, tf.int32) * tf.cast(starts, tf.int32)[..., None]  # a character's first frame only
    chars = tf.reduce_sum(first * (best - blank)[..., None], axis=1) + blank
    probs = tf.where(chars == blank, 1.0, tf.reduce_max(in_slot * peak[..., None], axis=1))
    # An empty reading is as sure as its one path, all blanks: the product of the frames' blank probability,
    # put in the first position (as the NumPy twin does). Dense ops only (max, prod, where), for TFLite and ONNX.
    empty = tf.reduce_max(tf.cast(read, tf.float32), axis=1) == 0.0  # (batch,)
    first_position = tf.range(max_length) == 0  # (max_length,)
    all_blank = tf.reduce_prod(peak, axis=1, keepdims=True)  # (batch, 1)
    return chars, tf.where(empty[:, None] & first_position[None, :], all_blank, probs)


def ctc_decode(logits, min_length: int, max_length: int):
    """CTC decoding held to the charset's lengths, in the graph (`captcha_ocr.model.decode.ctc_decode` is the
    NumPy twin; a test keeps them equal): the greedy read, or where it has characters but not
    min_length..max_length of them, the most probable frame path that reads an allowed length.

    Returns:
        As `ctc_greedy`.
    """
    logits = tf.cast(logits, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    outside = to_hold(greedy, logits.shape[-1] - 1, min_length, max_length)
    # Only the reads to hold are gathered and searched (searching every read of a batch of 64 took 12 to 20
    # times as long as greedy decoding: reports/decode-latency); then each row takes its held path or its
    # greedy one from [held; greedy] by index.
    rows = tf.reshape(tf.where(outside), [-1])
    held = held_paths(tf.gather(tf.nn.log_softmax(logits, axis=-1), rows), min_length, max_length)
    own = tf.shape(held)[0] + tf.range(tf.shape(greedy)[0])  # each row's greedy path, after the held ones
    index = tf.where(outside, tf.cumsum(tf.cast(outside, tf.int32)) - 1, own)
    return ctc_greedy(logits, max_length, paths=tf.gather(tf.concat([held, greedy], axis=0), index))


def to_hold(paths, blank: int, min_length: int, max_length: int):
    """Which greedy frame paths (batch, frames) `ctc_decode` holds, in the graph (the twin of
    `captcha_ocr.model.decode.to_hold`): those that read characters, but not min_length..max_length of them."""
    previous = tf.pad(paths[:, :-1], [[0, 0], [1, 0]], constant_values=-1)
    lengths = tf.reduce_sum(tf.cast((paths != blank) & (paths != previous), tf.int32), axis=1)
    return (lengths > 0) & ((lengths < min_length) | (lengths > max_length))


def held_paths(log_p, low: int, high: int):
    """The most probable frame paths whose reads have low..high characters, in the graph: the twin of
    `captcha_ocr.model.decode.held_paths` (which says how), unrolled over the frames and built from dense ops
    only (max, argmax, one_hot, where), for TFLite and ONNX.

    Args:
        log_p: float32 (batch, frames, classes), a static number of frames and classes.

    Returns:
        int32 (batch, frames).
    """
    frames, classes = log_p.shape[1], log_p.shape[2]
    blank = classes - 1
    count_ids, class_ids = tf.range(high + 1), tf.range(classes)
    chars = tf.range(blank)
    first = log_p[:, 0]
    never = tf.fill(tf.shape(first[:, None, :]), NEVER)
    score = tf.concat([tf.where(class_ids == blank, first, NEVER)[:, None],  # 0 read: only the blank
                       tf.where(class_ids < blank, first, NEVER)[:, None],  # 1 read: any character
                       tf.tile(never, [1, high - 1, 1])], axis=1)
    back = []
    for t in range(1, frames):
        top = tf.reduce_max(score, axis=2)
        arg = tf.argmax(score, axis=2, output_type=tf.int32)
        others = tf.where(class_ids == arg[..., None], NEVER, score)
        second = tf.reduce_max(others, axis=2)
        arg2 = tf.argmax(others, axis=2, output_type=tf.int32)
        same = chars == arg[:, :-1, None]
        fresh = tf.where(same, second[:, :-1, None], top[:, :-1, None])
        fresh_class = tf.where(same, arg2[:, :-1, None], arg[:, :-1, None])
        repeat = score[:, 1:, :blank]
        take_repeat = repeat >= fresh
        chars_score = tf.where(take_repeat, repeat, fresh) + log_p[:, t, None, :blank]
        none_read = tf.fill(tf.shape(chars_score[:, :1]), NEVER)
        score = tf.concat([tf.concat([none_read, chars_score], axis=1),
                           (top + log_p[:, t, None, blank])[..., None]], axis=2)
        counts = count_ids[None, :, None]
        zeros = tf.zeros_like(none_read, tf.int32)
        back_count = tf.concat([tf.concat([zeros, tf.where(take_repeat, counts[:, 1:], counts[:, :-1])], axis=1),
                                tf.zeros_like(arg[..., None]) + counts], axis=2)
        back_class = tf.concat([tf.concat([zeros, tf.where(take_repeat, chars, fresh_class)], axis=1),
                                arg[..., None]], axis=2)
        back.append((back_count, back_class))
    best = tf.argmax(tf.reshape(score[:, low:], [-1, (high + 1 - low) * classes]), axis=1, output_type=tf.int32)
    count, cls = low + best // classes, best % classes
    path = [cls]
    for back_count, back_class in reversed(back):
        # The state each path came from, picked by a one-hot mask (no gather: TFLite and ONNX alike).
        pick = tf.one_hot(count, high + 1, dtype=tf.int32)[:, :, None] * tf.one_hot(cls, classes, dtype=tf.int32)[:, None]
        count, cls = tf.reduce_sum(pick * back_count, axis=[1, 2]), tf.reduce_sum(pick * back_class, axis=[1, 2])
        path.append(cls)
    return tf.stack(path[::-1], axis=1)


def with_soft_targets(loss_fn, max_length: int):
    """`loss_fn` for training batches whose kept reads learn a teacher's probabilities (`data.pseudo_soft`).

    Their targets are float32 (batch, max_length + frames * classes): each row's label classes, then the
    teacher's probabilities frame by frame, all zero for a captcha labeled by a person
    (`captcha_ocr.training.self_training.soft_targets` makes them). A row with probabilities costs the KL
    divergence of the model's frames from the teacher's, summed over the frames; a row without them
    `loss_fn` of its label. Targets of max_length columns (validation) are labels alone.
    """

    def loss(targets, logits):
        if targets.shape[-1] == max_length:
            return loss_fn(targets, logits)
        teacher = tf.reshape(targets[:, max_length:], tf.shape(logits))
        soft = tf.reduce_sum(teacher, axis=[1, 2]) > 0.0
        # A soft row's ctc loss is left out, so its label need only be one that ctc takes: one character, not
        # the teacher's reading, which may be empty (the ctc kernel refuses the batch) or not fit the frames.
        blank = tf.cast(tf.shape(logits)[-1] - 1, targets.dtype)
        one = tf.concat([tf.zeros_like(targets[:, :1]), tf.fill(tf.shape(targets[:, 1:max_length]), blank)], 1)
        hard = loss_fn(tf.where(soft[:, None], one, targets[:, :max_length]), logits)
        log_model = tf.nn.log_softmax(tf.cast(logits, tf.float32))
        kl = tf.reduce_sum(tf.math.xlogy(teacher, teacher) - teacher * log_model, axis=[1, 2])
        return tf.where(soft, kl, hard)

    loss.__name__ = loss_fn.__name__
    return loss


def on_labels(metric, max_length: int):
    """`metric` of the label classes alone, for targets that carry a teacher's probabilities after them."""

    def wrapped(targets, logits):
        return metric(targets[:, :max_length], logits)

    wrapped.__name__ = metric.__name__
    return wrapped


# One function per name of `captcha_ocr.core.choices.LOSSES` (a test checks that they agree).
LOSS_FUNCTIONS = {"sigmoid": sigmoid_xent, "softmax": softmax_xent, "sparse_softmax": sparse_softmax_xent,
                  "ctc": ctc_nll}


def get_loss(name: str, label_smoothing: float = 0.0):
    """The Keras loss function `f(labels, logits) -> per-captcha loss` for a config name."""
    if name not in LOSSES or name not in LOSS_FUNCTIONS:
        raise UserError(f"unknown loss {name!r}; known: {', '.join(LOSSES)}")
    fn = LOSS_FUNCTIONS[name]

    def loss(labels, logits):
        return fn(labels, logits, label_smoothing=label_smoothing)

    loss.__name__ = "ctc_loss" if name == "ctc" else f"{name}_xent"
    return loss


def get_metrics(name: str) -> list:
    """The two accuracies, `char_acc` and `captcha_acc`, for a model trained with loss `name`.

    For ctc they compare the greedy read (`ctc_greedy`), not the read held to the charset's lengths that
    evaluate, predict and the exports give (`ctc_decode`): a Viterbi search unrolled over the frames
    would run on every training batch, and the held reads are never fewer right.
    """
    if not is_frame_loss(name):
        return [char_acc, captcha_acc]

    def predicted(labels, logits):
        return ctc_greedy(logits, labels.shape[1])[0]

    def ctc_char_acc(labels, logits):
        return _char_hits(labels, predicted(labels, logits))

    def ctc_captcha_acc(labels, logits):
        return _captcha_hits(labels, predicted(labels, logits))

    # Keras logs a metric under its function's name: the same keys for every loss.
    ctc_char_acc.__name__, ctc_captcha_acc.__name__ = "char_acc", "captcha_acc"
    return [ctc_char_acc, ctc_captcha_acc]


def _char_hits(labels, indices):
    return tf.reduce_mean(tf.cast(tf.equal(indices, tf.cast(labels, tf.int32)), tf.float32), axis=-1)


def _captcha_hits(labels, indices):
    return tf.cast(tf.reduce_all(tf.equal(indices, tf.cast(labels, tf.int32)), axis=-1), tf.float32)


def char_acc(labels, logits):
    """Per captcha: fraction of the max_length positions (pads included) predicted right."""
    return _char_hits(labels, tf.argmax(logits, axis=-1, output_type=tf.int32))


def captcha_acc(labels, logits):
    """Per captcha: 1 if every position is right (the whole text is read), else 0."""
    return _captcha_hits(labels, tf.argmax(logits, axis=-1, output_type=tf.int32))
