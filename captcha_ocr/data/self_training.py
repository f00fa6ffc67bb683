"""Self-training on unlabeled captchas: the model labels them, and its confident reads join training.

With `data.unlabeled_folder` set (a folder of images of the same style; any
labels it has are ignored), training runs in `data.pseudo_rounds + 1` stages
of equal length. At the end of every stage but the last, the current model
reads every unlabeled image; those it reads with at least
`data.pseudo_min_confidence` (the confidence `predict` prints) become the
pseudo-labeled set, replacing the previous round's. From then on a
`data.pseudo_share` of each batch is drawn from that set and the rest from the
labeled training images, so a few hundred labels are not drowned by
thousands of guesses. With `pseudo_share: auto` every labeled image and every
kept read is equally likely instead: the reads' share grows with how many
were kept (a round that keeps 90 reads beside 500 labels gives them 15% of
each batch, not half). Validation and test data stay labeled by people only.

With `data.pseudo_teacher` (a run directory or `.keras` file, such as an
ensemble of earlier fine-tunes from `captcha_ocr.ensemble`, that reads the
run's charset from the same input), the teacher reads the unlabeled images
before the first stage, so its confident reads train from the first epoch;
the rounds after that are the model's own. `pseudo_rounds: 0` keeps the
teacher's reads all along (a student learning from its teacher).

With `data.pseudo_soft` (ctc, a teacher's reads all along) a kept read does not
train as the text the teacher read on the unaugmented captcha: in every batch
the teacher reads the augmented captcha again, and the model learns its
probabilities frame by frame (the KL divergence from them, summed over the
frames), the uncertainty between look-alikes included. The pool marks such
images with a label of -1 (`SOFT`); `captcha_ocr.training.self_training.soft_targets`
gives them the teacher's probabilities after augmentation.

A read whose decoded text does not encode back to the same classes (a pad in
the middle) is not used. Each round logs how many images it kept, and
history.csv gets a `pseudo_labels` column with the size of the set in use.
"""

from __future__ import annotations

import threading

import numpy as np
import tensorflow as tf


SOFT = -1  # the label of a kept read that learns the teacher's probabilities (data.pseudo_soft)


class PseudoPool:
    """The unlabeled images and the pseudo-labels currently in use, read by the training pipeline.

    With `soft`, the images kept are labeled `SOFT` whatever was read: their targets come later, per batch.
    """

    def __init__(self, images: np.ndarray, max_length: int, seed: int, soft: bool = False):
        self.images = images
        self.max_length = max_length
        self.seed = seed
        self.soft = soft
        self._lock = threading.Lock()
        self._selected = np.empty(0, np.int64)
        self._labels = np.empty((0, max_length), np.int32)

    def __len__(self) -> int:
        return len(self._selected)

    def update(self, selected: np.ndarray, labels: np.ndarray) -> None:
        """Use these images (indices into `images`) with these labels from now on."""
        labels = np.asarray(labels, np.int32)
        with self._lock:
            self._selected, self._labels = np.asarray(selected, np.int64), np.full_like(labels, SOFT) if self.soft else labels

    def _elements(self, fallback_images: np.ndarray, fallback_labels: np.ndarray, union: bool):
        # Before the first round, and in a round that kept nothing, it stands in with labeled images.
        # With `union`, the labeled images are drawn beside the kept reads, each image equally likely.
        rng = np.random.default_rng(self.seed)
        labeled = len(fallback_images)
        while True:
            with self._lock:
                selected, labels = self._selected, self._labels
            if union:
                i = rng.integers(labeled + len(selected))
            else:
                i = labeled + rng.integers(len(selected)) if len(selected) else rng.integers(labeled)
            if i >= labeled:
                yield self.images[selected[i - labeled]], labels[i - labeled]
            else:
                yield fallback_images[i], fallback_labels[i]

    def dataset(self, fallback_images: np.ndarray, fallback_labels: np.ndarray, union: bool = False) -> tf.data.Dataset:
        """Endless unbatched (uint8 image, int32 label) elements of the current pseudo-labeled set.

        With `union`, of the labeled images (`fallback_*`) and the pseudo-labeled set together.
        """
        shape = self.images.shape[1:]
        return tf.data.Dataset.from_generator(
            lambda: self._elements(fallback_images, fallback_labels, union),
            output_signature=(tf.TensorSpec(shape, tf.uint8), tf.TensorSpec((self.max_length,), tf.int32)))


