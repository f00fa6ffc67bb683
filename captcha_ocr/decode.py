"""Turn logits into texts and confidences (NumPy only).

Decoding is the same for every loss: argmax per position, then drop the pad.
The confidence of a captcha is the product over positions of the probability
of the chosen class: from a softmax over the position's classes for the
softmax losses, and from the sigmoid of the chosen class's own logit for the
sigmoid loss (which models each class as an independent yes/no).
"""

from __future__ import annotations

import numpy as np

from captcha_ocr.charset import Charset
from captcha_ocr.names import probability_kind


def probabilities(logits: np.ndarray, loss: str) -> np.ndarray:
    """Per-position class probabilities as the given loss models them (`names.LOSS_PROBABILITIES`)."""
    logits = np.asarray(logits, dtype=np.float64)
    if probability_kind(loss) == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def chosen_classes(logits: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """The argmax class per position and its probability, both of shape (batch, max_length)."""
    logits = np.asarray(logits)
    indices = logits.argmax(axis=-1)
    chosen = np.take_along_axis(probabilities(logits, loss), indices[..., None], axis=-1)[..., 0]
    return indices, chosen


def decode(logits: np.ndarray, charset: Charset, loss: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Decode a batch of logits of shape (batch, max_length, num_classes).

    Returns:
        (texts, confidences float (batch,), class indices int (batch, max_length)).
    """
    indices, chosen = chosen_classes(logits, loss)
    return charset.decode_batch(indices), chosen.prod(axis=-1), indices
