"""Turn logits into texts and confidences (NumPy only).

For the per-position losses decoding is argmax per position, then the pad is
dropped. The confidence of a captcha is the product over positions of the
probability of the chosen class: from a softmax over the position's classes
for the softmax losses, and from the sigmoid of the chosen class's own logit
for the sigmoid loss (which models each class as an independent yes/no).
The pad's positions count like the others, so an empty reading (the pad at
every position) has the probability of the pad at every position.

For ctc the logits are one row per frame (a column of the image), and
decoding is greedy: the best class of each frame, runs of the same class
merged into one character, blanks (the pad class) dropped. A read character's
probability is the largest softmax probability among its frames, and the
confidence is their product. It does not see a character that a frame almost
read (blank won narrowly), nor the split of probability between a character
and the blank on the frames at its edges, which changes no text. An empty
reading (every frame blank) is not certain for having no characters: its
confidence is the probability of that one path, the product over the frames
of the blank's probability, carried by its first position (the others are 1).

So every reading, empty or not, has a confidence that `min_confidence`
thresholds alike: `predict`, `evaluate`'s coverage table, the service and
the exports (whose in-graph twin, `captcha_ocr.model.losses.ctc_greedy`,
computes the same) agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.choices import is_frame_loss, probability_kind


def probabilities(logits: np.ndarray, loss: str) -> np.ndarray:
    """Per-position class probabilities as the given loss models them (`names.LOSS_PROBABILITIES`)."""
    logits = np.asarray(logits, dtype=np.float64)
    if probability_kind(loss) == "sigmoid":
        return 1.0 / (1.0 + np.exp(-logits))
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def ctc_greedy(logits: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Greedy CTC decoding (the NumPy twin of `captcha_ocr.model.losses.ctc_greedy`).

    Args:
        logits: (batch, frames, num_classes); the last class is the blank (= the pad).
        max_length: positions of the output; a longer read keeps its first max_length characters.

    Returns:
        (class indices (batch, max_length) padded with the blank, each read character's
        probability (the largest of its frames; 1 at the pads, but for an empty reading the
        first position holds the probability of the all-blank path)).
    """
    logits = np.asarray(logits)
    blank = logits.shape[-1] - 1
    best = logits.argmax(axis=-1)
    peak = probabilities(logits, "ctc").max(axis=-1)
    indices = np.full((len(logits), max_length), blank, dtype=np.int64)
    chosen = np.ones((len(logits), max_length))
    for b, (row, probs) in enumerate(zip(best, peak)):
        slot, previous = -1, blank
        for cls, p in zip(row, probs):
            if cls != blank and cls != previous:
                slot += 1
                if slot < max_length:
                    indices[b, slot], chosen[b, slot] = cls, p
            elif cls != blank and slot < max_length:
                chosen[b, slot] = max(chosen[b, slot], p)
            previous = cls
        if slot < 0:  # nothing read: every frame's best class is the blank, with probability `probs`
            chosen[b, 0] = np.prod(probs)
    return indices, chosen


def chosen_classes(logits: np.ndarray, loss: str, max_length: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The class read at each position and its probability, both of shape (batch, max_length).

    `max_length` is needed for ctc only (the per-position losses have one row per position).
    """
    logits = np.asarray(logits)
    if is_frame_loss(loss):
        if max_length is None:
            raise ValueError("ctc decoding needs max_length")
        return ctc_greedy(logits, max_length)
    indices = logits.argmax(axis=-1)
    chosen = np.take_along_axis(probabilities(logits, loss), indices[..., None], axis=-1)[..., 0]
    return indices, chosen


def decode(logits: np.ndarray, charset: Charset, loss: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Decode a batch of logits of shape (batch, max_length, num_classes), or (batch, frames, num_classes) for ctc.

    Returns:
        (texts, confidences float (batch,), class indices int (batch, max_length)).
    """
    indices, chosen = chosen_classes(logits, loss, charset.max_length)
    return charset.decode_batch(indices), chosen.prod(axis=-1), indices


@dataclass(frozen=True)
class Prediction:
    """A reading: the text, its confidence (the product of the positions'; for an empty text the
    probability of reading nothing, see the module docstring), and per position (character or ""
    for the pad, probability) where the reader knows them (exports give ())."""

    text: str
    confidence: float
    positions: tuple[tuple[str, float], ...] = ()
