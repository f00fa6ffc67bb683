"""Characters and labels: encode text to padded class indices and decode back.

A captcha of up to `max_length` characters is a sequence of `max_length` class
indices over `len(chars) + 1` classes: the charset's characters, then the pad
(`_` by default), which fills the positions after a shorter text.
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from captcha_ocr.core.errors import UserError

DEFAULT_CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase
DEFAULT_PAD = "_"


def covering(labels, chars: str = "", lengths: tuple[int, int] | None = None,
             pad: str = DEFAULT_PAD) -> tuple[str, int, int]:
    """The characters and length range that cover every label: the one way a charset is widened to labels.

    Args:
        labels: the texts to cover (at least one).
        chars: the characters to keep, in their order (a model's, so its output rows still fit);
            characters the labels add follow them, those of `DEFAULT_CHARS` in its order, the rest sorted.
        lengths: (min, max) to widen, or None for the labels' own range.
        pad: the pad character, which no label may use.

    Returns:
        (chars, min_length, max_length).

    Raises:
        UserError: a label uses the pad character.
    """
    labels = list(labels)
    used = set("".join(labels))
    if pad in used:
        raise UserError(f"labels use the pad character {pad!r}; pick another with --set charset.pad=~")
    new = used - set(chars)
    chars += "".join(c for c in DEFAULT_CHARS if c in new) + "".join(sorted(new - set(DEFAULT_CHARS)))
    sizes = [len(label) for label in labels] + list(lengths or ())
    return chars, min(sizes), max(sizes)


@dataclass(frozen=True)
class Charset:
    """The classes a model predicts at each position.

    Attributes:
        chars: the characters, in class-index order (index 0 is `chars[0]`).
        max_length: number of positions the model predicts.
        min_length: shortest text the generator draws (labels may be shorter
            only down to 1 character).
        pad: the padding character; its class index is `len(chars)`.
    """

    chars: str = DEFAULT_CHARS
    max_length: int = 4
    min_length: int = 4
    pad: str = DEFAULT_PAD

    def __post_init__(self):
        if len(set(self.chars)) != len(self.chars):
            dupes = sorted({c for c in self.chars if self.chars.count(c) > 1})
            raise UserError(f"charset has repeated characters {''.join(dupes)!r}; list each character once")
        if not self.chars:
            raise UserError("charset is empty; give at least one character")
        if len(self.pad) != 1 or self.pad in self.chars:
            raise UserError(f"pad must be one character not in the charset, got {self.pad!r}")
        if not 1 <= self.min_length <= self.max_length:
            raise UserError(
                f"lengths must satisfy 1 <= min_length <= max_length, got {self.min_length}..{self.max_length}"
            )

    @property
    def num_classes(self) -> int:
        """Classes per position: the characters plus the pad."""
        return len(self.chars) + 1

    @property
    def pad_index(self) -> int:
        return len(self.chars)

    @property
    def alphabet(self) -> str:
        """Characters and pad, in class-index order."""
        return self.chars + self.pad

    def check(self, text: str) -> None:
        """Raise `UserError` if `text` cannot be a label of this charset."""
        if not 1 <= len(text) <= self.max_length:
            raise UserError(
                f"label {text!r} has {len(text)} characters; allowed is 1 to {self.max_length} (max_length)"
            )
        bad = [c for c in text if c not in self.chars]
        if bad:
            raise UserError(
                f"label {text!r} has character {bad[0]!r} outside the charset "
                f"({_describe(self.chars)}); fix the label or add it to charset.chars"
            )

    def encode(self, text: str) -> np.ndarray:
        """Text -> int32 class indices of shape (max_length,), padded with the pad index.

        Raises:
            UserError: a character outside the charset or a text too long or empty.
        """
        self.check(text)
        index = {c: i for i, c in enumerate(self.chars)}
        out = np.full(self.max_length, self.pad_index, dtype=np.int32)
        out[: len(text)] = [index[c] for c in text]
        return out

    def decode(self, indices) -> str:
        """Class indices of one captcha -> text, with every pad removed."""
        alphabet = self.alphabet
        return "".join(alphabet[int(i)] for i in indices if int(i) != self.pad_index)

    def decode_batch(self, indices) -> list[str]:
        """Class indices of shape (batch, max_length) -> list of texts."""
        return [self.decode(row) for row in np.asarray(indices)]


def _describe(chars: str) -> str:
    """Short description of a charset for error messages."""
    if chars == DEFAULT_CHARS:
        return "0-9A-Za-z"
    return repr(chars) if len(chars) <= 40 else repr(chars[:37] + "...")
