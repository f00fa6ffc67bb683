"""Self-training's rounds: at the end of a stage the model reads the unlabeled captchas, and its confident
reads replace the pseudo-labeled set (`captcha_ocr.data.self_training.PseudoPool`) that training draws
from. With `data.pseudo_teacher`, another model (typically an ensemble of earlier fine-tunes) reads them
before the first stage. The data side, and the whole scheme, are described in `captcha_ocr.data.self_training`.
"""

from __future__ import annotations

import logging

import numpy as np

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.data.self_training import PseudoPool
from captcha_ocr.model.decode import decode
from captcha_ocr.training.averaging import averaged_weights

log = logging.getLogger(__name__)


def confident_reads(logits: np.ndarray, charset: Charset, loss: str, min_confidence: float,
                    held: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """The reads to keep as labels: (indices of the images, their class labels).

    Kept: confidence >= `min_confidence`, and a decoded text that encodes back to the same
    classes (no pad between characters, a length the charset allows). A ctc read is greedy by default, as
    the recipes were measured: a read shorter than min_length is never kept, and one longer than max_length
    is cut to max_length and kept if sure enough. With `held` (`data.pseudo_held`) it is held to the
    charset's lengths as `predict` reads (`captcha_ocr.model.decode.ctc_decode`): such a read is the most
    probable path of an allowed length, kept if that path is sure enough.
    """
    texts, confidence, classes = decode(logits, charset, loss, held=held)
    keep = np.nonzero((confidence >= min_confidence) & well_formed(texts, classes, charset))[0].astype(np.int64)
    return keep, classes[keep].astype(np.int32) if len(keep) else np.empty((0, charset.max_length), np.int32)


def well_formed(texts: list[str], classes: np.ndarray, charset: Charset) -> np.ndarray:
    """Which decoded reads could be labels: a length the charset allows, and texts that encode back to their
    classes (no pad between characters). Bool array, one per read."""
    return np.array([charset.min_length <= len(text) and np.array_equal(charset.encode(text), row)
                     for text, row in zip(texts, classes)], bool)


def rounds_due(epochs: int, rounds: int, done: int) -> int:
    """How many of the `rounds` relabelings are due after `done` epochs of a run of `epochs` in rounds + 1 stages."""
    return sum(max(1, round(epochs * r / (rounds + 1))) <= done for r in range(1, rounds + 1))


def load_teacher(config):
    """The model named by `data.pseudo_teacher`, checked against the run's config; None without one.

    Raises:
        UserError: a teacher without an unlabeled folder, no teacher with `pseudo_rounds` 0, nothing loadable
            at the path, or a model that reads another charset or input than the run's; `pseudo_soft` without
            a ctc teacher of the run's frames kept all along.
    """
    from captcha_ocr.core.spec import ModelSpec
    from captcha_ocr.model.layers import model_spec
    from captcha_ocr.training.rundir import load_run

    d = config.data
    if d.pseudo_teacher and not d.unlabeled_folder:
        raise UserError("data.pseudo_teacher reads the captchas of data.unlabeled_folder; set that folder too "
                        "(or remove the teacher)")
    if d.unlabeled_folder and not d.pseudo_rounds and not d.pseudo_teacher:
        raise UserError("data.pseudo_rounds is 0, so only a data.pseudo_teacher's reads would be used, and none is "
                        "set; give a teacher model or at least one round")
    if d.pseudo_soft and not (d.pseudo_teacher and d.unlabeled_folder and not d.pseudo_rounds):
        raise UserError("data.pseudo_soft learns a teacher's probabilities all along: set data.pseudo_teacher, "
                        "data.unlabeled_folder and data.pseudo_rounds=0 (train --teachers N sets them for its "
                        "student), or remove data.pseudo_soft")
    if d.pseudo_soft and not is_frame_loss(config.loss.name):
        raise UserError(f"data.pseudo_soft learns a ctc teacher's frames, and loss.name is {config.loss.name}; "
                        "set loss.name=ctc or remove data.pseudo_soft")
    if not (d.pseudo_teacher and d.unlabeled_folder):
        return None
    teacher = load_run(d.pseudo_teacher)[0]
    have, want = model_spec(teacher), ModelSpec.from_config(config)
    # A teacher may be trained with another loss (its reads are decoded with its own) and other minimum length.
    field = have.first_difference(want, ignore=("loss", "min_length"))
    if field:
        raise UserError(f"data.pseudo_teacher {d.pseudo_teacher} has {field} {getattr(have, field)!r} and this run "
                        f"{getattr(want, field)!r}; a teacher must read the run's charset from the same input")
    if d.pseudo_soft:
        from captcha_ocr.model.build import frames

        shape = (frames(config), config.charset.build().num_classes)
        if not is_frame_loss(have.loss) or tuple(teacher.output_shape[1:]) != shape:
            raise UserError(f"data.pseudo_teacher {d.pseudo_teacher} emits {tuple(teacher.output_shape[1:])} "
                            f"({have.loss}) and this run {shape} (frames, classes); data.pseudo_soft learns the "
                            "teacher frame by frame, so it must be a ctc model of the same model.width_pools")
    return teacher


def soft_targets(teacher, max_length: int):
    """The tf.data map that gives the kept reads of an augmented training batch their teacher's probabilities.

    Labels of `captcha_ocr.data.self_training.SOFT` mark those images. The map returns (images, targets):
    float32 (batch, max_length + frames * classes), a row's label classes (for a kept read, the teacher's
    reading of this augmented image, which the accuracy metrics compare against) followed by the teacher's
    probabilities, frame by frame, or zeros for a captcha labeled by a person
    (`captcha_ocr.model.losses.with_soft_targets` reads them).
    """
    import tensorflow as tf

    from captcha_ocr.data.self_training import SOFT
    from captcha_ocr.model.losses import ctc_greedy

    size = int(np.prod(teacher.output_shape[1:]))

    def teach(images, labels):
        logits = tf.cast(teacher(images, training=False), tf.float32)
        soft = labels[:, 0] == SOFT
        read = tf.where(soft[:, None], ctc_greedy(logits, max_length)[0], labels)
        probabilities = tf.where(soft[:, None, None], tf.nn.softmax(logits), 0.0)
        return images, tf.concat([tf.cast(read, tf.float32), tf.reshape(probabilities, [-1, size])], axis=1)

    return teach


def labeler(pool: PseudoPool, charset: Charset, loss: str, min_confidence: float, rounds: int, epochs: int,
            initial_epoch: int = 0, teacher=None, held: bool = False):
    """The Keras callback that relabels `pool` at the end of each stage (see the module docstring).

    The stages divide the epochs the run plans to train: `epochs` at first, then the plan that
    `train.time_budget_fit` records in each epoch's logs (`planned_epochs`), so a run that a slower
    machine shortens still relabels `rounds` times. A run resumed after a stage's end relabels when
    it starts, with the weights it resumed with; one that starts in the first stage has `teacher`
    (a model from `load_teacher`, or None) read the pool first. `held`: see `confident_reads`.
    """
    import keras

    from captcha_ocr.model.layers import model_spec
    from captcha_ocr.training.budget import PLANNED

    class PseudoLabeler(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rounds: list[dict] = []
            self.due = 0

        def _relabel(self, epoch: int, by_teacher: bool = False) -> None:
            reader = teacher if by_teacher else self.model
            with averaged_weights(self.model):  # train.ema: the model reads as it is kept (a teacher: unaffected)
                logits = reader.predict(scale_pixels(pool.images), batch_size=256, verbose=0)
            # Decoded as the teacher was trained: a softmax or sigmoid teacher may teach a ctc run, say
            selected, labels = confident_reads(logits, charset, model_spec(teacher).loss if by_teacher else loss,
                                               min_confidence, held)
            pool.update(selected, labels)
            by = "teacher" if by_teacher else "model"
            self.rounds.append({"epoch": epoch, "kept": int(len(selected)), "of": int(len(pool.images)), "by": by})
            log.info(f"pseudo-labels after epoch {epoch}: {len(selected)} of {len(pool.images)} unlabeled "
                     f"images read by the {by} with confidence >= {min_confidence:g}" + (", held" if held else ""))

        def on_train_begin(self, logs=None):
            self.due = rounds_due(epochs, rounds, initial_epoch)
            if self.due:
                self._relabel(initial_epoch)
            elif teacher is not None:
                self._relabel(initial_epoch, by_teacher=True)

        def on_epoch_end(self, epoch, logs=None):
            due = rounds_due(int((logs or {}).get(PLANNED) or epochs), rounds, epoch + 1)
            if due > self.due:
                self.due = due
                self._relabel(epoch + 1)
            if logs is not None:
                logs["pseudo_labels"] = len(pool)

    return PseudoLabeler()
