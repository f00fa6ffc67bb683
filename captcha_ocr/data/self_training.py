"""Self-training on unlabeled captchas: the model labels them, and its confident reads join training.

With `data.unlabeled_folder` set (a folder of images of the same style; any
labels it has are ignored), training runs in `data.pseudo_rounds + 1` stages
of equal length. At the end of every stage but the last, the current model
reads every unlabeled image; those it reads with at least
`data.pseudo_min_confidence` (the confidence `predict` prints) become the
pseudo-labeled set, replacing the previous round's. From then on a
`data.pseudo_share` of each batch is drawn from that set and the rest from the
labeled training images, so a few hundred labels are not drowned by
thousands of guesses. Validation and test data stay labeled by people only.

A read whose decoded text does not encode back to the same classes (a pad in
the middle) is not used. Each round logs how many images it kept, and
history.csv gets a `pseudo_labels` column with the size of the set in use.
"""

from __future__ import annotations

import logging
import threading

import numpy as np
import tensorflow as tf

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.model.decode import decode

log = logging.getLogger(__name__)


class PseudoPool:
    """The unlabeled images and the pseudo-labels currently in use, read by the training pipeline."""

    def __init__(self, images: np.ndarray, max_length: int, seed: int):
        self.images = images
        self.max_length = max_length
        self.seed = seed
        self._lock = threading.Lock()
        self._selected = np.empty(0, np.int64)
        self._labels = np.empty((0, max_length), np.int32)

    def __len__(self) -> int:
        return len(self._selected)

    def update(self, selected: np.ndarray, labels: np.ndarray) -> None:
        """Use these images (indices into `images`) with these labels from now on."""
        with self._lock:
            self._selected, self._labels = np.asarray(selected, np.int64), np.asarray(labels, np.int32)

    def _elements(self, fallback_images: np.ndarray, fallback_labels: np.ndarray):
        # Before the first round, and in a round that kept nothing, it stands in with labeled images.
        rng = np.random.default_rng(self.seed)
        while True:
            with self._lock:
                selected, labels = self._selected, self._labels
            if len(selected):
                i = rng.integers(len(selected))
                yield self.images[selected[i]], labels[i]
            else:
                j = rng.integers(len(fallback_images))
                yield fallback_images[j], fallback_labels[j]

    def dataset(self, fallback_images: np.ndarray, fallback_labels: np.ndarray) -> tf.data.Dataset:
        """Endless unbatched (uint8 image, int32 label) elements of the current pseudo-labeled set."""
        shape = self.images.shape[1:]
        return tf.data.Dataset.from_generator(
            lambda: self._elements(fallback_images, fallback_labels),
            output_signature=(tf.TensorSpec(shape, tf.uint8), tf.TensorSpec((self.max_length,), tf.int32)))


def confident_reads(logits: np.ndarray, charset: Charset, loss: str, min_confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """The reads to keep as labels: (indices of the images, their class labels).

    Kept: confidence >= `min_confidence`, and a decoded text that encodes back to the same
    classes (no pad between characters, a length the charset allows).
    """
    texts, confidence, classes = decode(logits, charset, loss)
    keep = []
    for i, (text, conf) in enumerate(zip(texts, confidence)):
        if conf < min_confidence or not 1 <= len(text) or len(text) < charset.min_length:
            continue
        if np.array_equal(charset.encode(text), classes[i]):
            keep.append(i)
    keep = np.asarray(keep, np.int64)
    return keep, classes[keep].astype(np.int32) if len(keep) else np.empty((0, charset.max_length), np.int32)


def labeler(pool: PseudoPool, charset: Charset, loss: str, min_confidence: float, rounds: int, epochs: int,
            initial_epoch: int = 0):
    """The Keras callback that relabels `pool` at the end of each stage (see the module docstring).

    A run resumed after a stage's end relabels when it starts, with the weights it resumed with.
    """
    import keras

    stage_ends = {max(1, round(epochs * r / (rounds + 1))) for r in range(1, rounds + 1)}

    class PseudoLabeler(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.rounds: list[dict] = []

        def _relabel(self, epoch: int) -> None:
            logits = self.model.predict(scale_pixels(pool.images), batch_size=256, verbose=0)
            selected, labels = confident_reads(logits, charset, loss, min_confidence)
            pool.update(selected, labels)
            self.rounds.append({"epoch": epoch, "kept": int(len(selected)), "of": int(len(pool.images))})
            log.info(f"pseudo-labels after epoch {epoch}: {len(selected)} of {len(pool.images)} unlabeled "
                     f"images read with confidence >= {min_confidence:g}")

        def on_train_begin(self, logs=None):
            if any(end <= initial_epoch for end in stage_ends):
                self._relabel(initial_epoch)

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 in stage_ends:
                self._relabel(epoch + 1)
            if logs is not None:
                logs["pseudo_labels"] = len(pool)

    return PseudoLabeler()
