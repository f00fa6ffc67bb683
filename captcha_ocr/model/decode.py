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
the exports (whose in-graph twin, `captcha_ocr.model.losses.ctc_decode`,
computes the same) agree.

A greedy ctc read with characters but not the charset's min_length..max_length
of them (a hidden character read as none, two read as three) cannot be a label
(`train` refuses labels shorter than min_length), so `ctc_decode` reads instead
the most probable frame path of an allowed length; its characters'
probabilities are those of its frames' classes, lower than greedy's. Only reads
that were wrong change. The training log's accuracies
(`captcha_ocr.model.losses.get_metrics`) stay greedy: they run on every batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.choices import is_frame_loss, probability_kind
from captcha_ocr.core.errors import UserError


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
    return _read_paths(logits.argmax(axis=-1), probabilities(logits, "ctc"), max_length)


def ctc_decode(logits: np.ndarray, min_length: int, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """CTC decoding held to the charset's lengths (the NumPy twin of `captcha_ocr.model.losses.ctc_decode`).

    The greedy read, except where it has characters but not min_length..max_length of them (counted
    before a longer read is cut): there the most probable frame path that reads an allowed length
    (`held_paths`). Such a greedy read cannot be a label's, so holding it changes only reads that were
    wrong. An empty read stays empty (the model saw no text; its confidence says how sure).

    Returns:
        As `ctc_greedy`; a held read's characters have the largest probability of their frames' classes.
    """
    logits = np.asarray(logits)
    probs = probabilities(logits, "ctc")
    greedy = logits.argmax(axis=-1)
    outside = to_hold(greedy, logits.shape[-1] - 1, min_length, max_length)
    paths = greedy.copy()
    rows = np.flatnonzero(outside)
    for start in range(0, len(rows), HELD_CHUNK):  # the search keeps a state per frame, count and class: in chunks
        part = rows[start:start + HELD_CHUNK]
        paths[part] = held_paths(np.log(np.maximum(probs[part], 1e-30)), min_length, max_length)
    return _read_paths(paths, probs, max_length)


def read_lengths(paths: np.ndarray, blank: int) -> np.ndarray:
    """How many characters each frame path (batch, frames) reads: its runs of one class that are not the blank."""
    previous = np.pad(paths[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
    return ((paths != blank) & (paths != previous)).sum(axis=1)


def to_hold(paths: np.ndarray, blank: int, min_length: int, max_length: int) -> np.ndarray:
    """Which greedy frame paths (batch, frames) `ctc_decode` holds: those that read characters, but not
    min_length..max_length of them."""
    lengths = read_lengths(paths, blank)
    return (lengths > 0) & ((lengths < min_length) | (lengths > max_length))


NEVER = -1e9  # the log-probability of a state no path reaches (finite, as the in-graph twin needs)
HELD_CHUNK = 128  # reads searched at once: about 70 MB of back-pointers at 48 frames, 11 counts and 63 classes


def held_paths(log_p: np.ndarray, low: int, high: int) -> np.ndarray:
    """The most probable frame paths whose reads have low..high characters (a Viterbi search).

    The state after a frame is (characters read so far, that frame's class); a blank keeps the count,
    the same class again continues its character, and any other class starts a new one. The search
    is batched and written as `captcha_ocr.model.losses.held_paths` is, its in-graph twin.

    Args:
        log_p: (batch, frames, classes) log-probabilities; the last class is the blank.
        low, high: the lengths allowed, 1 <= low <= high.

    Returns:
        int64 (batch, frames): a class per frame.
    """
    batch, frames, classes = log_p.shape
    blank = classes - 1
    chars = np.arange(blank)
    score = np.full((batch, high + 1, classes), NEVER)  # score[b, k, c]: k characters read, this frame's class c
    score[:, 0, blank] = log_p[:, 0, blank]
    score[:, 1, :blank] = log_p[:, 0, :blank]
    counts = np.arange(high + 1)[None, :, None]
    back_count, back_class = [], []
    for t in range(1, frames):
        top, arg = score.max(axis=2), score.argmax(axis=2)  # (batch, high + 1): the best state of each count
        others = np.where(np.arange(classes) == arg[..., None], NEVER, score)
        second, arg2 = others.max(axis=2), others.argmax(axis=2)  # the best of another class
        # A new character c after k - 1 read: from the best state of k - 1 whose class is not c.
        same = chars == arg[:, :-1, None]
        fresh = np.where(same, second[:, :-1, None], top[:, :-1, None])
        fresh_class = np.where(same, arg2[:, :-1, None], arg[:, :-1, None])
        repeat = score[:, 1:, :blank]  # the same character on one more frame
        take_repeat = repeat >= fresh
        chars_score = np.where(take_repeat, repeat, fresh) + log_p[:, t, None, :blank]
        score = np.concatenate([
            np.concatenate([np.full((batch, 1, blank), NEVER), chars_score], axis=1),
            (top + log_p[:, t, blank, None])[..., None]], axis=2)
        back_count.append(np.concatenate([
            np.concatenate([np.zeros((batch, 1, blank), np.int64), np.where(take_repeat, counts[:, 1:], counts[:, :-1])],
                           axis=1),
            np.broadcast_to(counts[..., :1], (batch, high + 1, 1))], axis=2))
        back_class.append(np.concatenate([
            np.concatenate([np.zeros((batch, 1, blank), np.int64), np.where(take_repeat, chars, fresh_class)], axis=1),
            arg[..., None]], axis=2))
    best = score[:, low:].reshape(batch, -1).argmax(axis=1)
    count, cls = low + best // classes, best % classes
    path = [cls]
    rows = np.arange(batch)
    for t in range(frames - 2, -1, -1):
        count, cls = back_count[t][rows, count, cls], back_class[t][rows, count, cls]
        path.append(cls)
    return np.stack(path[::-1], axis=1)


def _read_paths(paths: np.ndarray, probs: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame paths (batch, frames) -> (class indices, each character's probability) as `ctc_greedy` returns them."""
    blank = probs.shape[-1] - 1
    on_path = np.take_along_axis(probs, paths[..., None], axis=-1)[..., 0]
    indices = np.full((len(paths), max_length), blank, dtype=np.int64)
    chosen = np.ones((len(paths), max_length))
    for b, (row, frame_probs) in enumerate(zip(paths, on_path)):
        slot, previous = -1, blank
        for cls, p in zip(row, frame_probs):
            if cls != blank and cls != previous:
                slot += 1
                if slot < max_length:
                    indices[b, slot], chosen[b, slot] = cls, p
            elif cls != blank and slot < max_length:
                chosen[b, slot] = max(chosen[b, slot], p)
            previous = cls
        if slot < 0:  # nothing read: every frame's class is the blank, with probability `frame_probs`
            chosen[b, 0] = np.prod(frame_probs)
    return indices, chosen


def chosen_classes(logits: np.ndarray, loss: str, max_length: int | None = None, min_length: int = 1,
                   held: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """The class read at each position and its probability, both of shape (batch, max_length).

    `max_length` and `min_length` are needed for ctc only (the per-position losses have one row per
    position), whose reads are held to them (`ctc_decode`), or with `held=False` greedy (`ctc_greedy`).
    """
    logits = np.asarray(logits)
    if is_frame_loss(loss):
        if max_length is None:
            raise ValueError("ctc decoding needs max_length")
        return ctc_decode(logits, min_length, max_length) if held else ctc_greedy(logits, max_length)
    indices = logits.argmax(axis=-1)
    chosen = np.take_along_axis(probabilities(logits, loss), indices[..., None], axis=-1)[..., 0]
    return indices, chosen


def only_chars(logits: np.ndarray, charset: Charset, chars: str) -> np.ndarray:
    """`logits` (float32) with every class but `chars` and the pad out of reach (logit NEVER), so that decoding
    reads only those characters: `predict` and `evaluate --chars`, for captchas drawn from fewer characters
    than the model knows (say digits only).

    Raises:
        UserError: see `check_chars`.
    """
    check_chars(chars, charset)
    allowed = np.zeros(charset.num_classes, bool)
    allowed[[charset.chars.index(c) for c in set(chars)] + [charset.pad_index]] = True
    return np.where(allowed, np.asarray(logits, np.float32), np.float32(NEVER))


def check_chars(chars: str, charset: Charset, flag: str = "--chars") -> None:
    """Raise a UserError for `--chars` (or `flag`) without characters or with characters the model does not read."""
    outside = sorted(set(chars) - set(charset.chars))
    if not chars or outside:
        raise UserError(f"{flag} {chars!r}: " + (f"the model does not read {''.join(outside)!r}; give characters of "
                        f"its charset {charset.chars!r}" if outside else "give the characters your captchas use"))


def decode(logits: np.ndarray, charset: Charset, loss: str,
           held: bool = True) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Decode a batch of logits of shape (batch, max_length, num_classes), or (batch, frames, num_classes) for ctc
    (held to the charset's lengths, or with `held=False` greedy).

    Returns:
        (texts, confidences float (batch,), class indices int (batch, max_length)).
    """
    indices, chosen = chosen_classes(logits, loss, charset.max_length, charset.min_length, held)
    return charset.decode_batch(indices), chosen.prod(axis=-1), indices


@dataclass(frozen=True)
class Prediction:
    """A reading: the text, its confidence (the product of the positions'; for an empty text the
    probability of reading nothing, see the module docstring), and per position (character or ""
    for the pad, probability) where the reader knows them (exports give ())."""

    text: str
    confidence: float
    positions: tuple[tuple[str, float], ...] = ()
