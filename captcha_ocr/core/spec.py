"""What a trained model is: its charset, its input shape and its loss (`ModelSpec`).

Every saved model carries a `ModelSpec` (in its `spec` layer, see
`captcha_ocr.model.build`), which is all that prediction, evaluation and export need
to prepare pixels and decode outputs. Image sizes travel as `InputShape`, a
named (height, width, channels) in Keras's order, so no caller has to remember
which order a bare tuple was in.

TensorFlow-free: generator worker processes import it.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, fields
from typing import NamedTuple

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.choices import probability_kind

# The file that holds an export's `ModelSpec` (and the export's format): what tells an export
# folder from a run directory, so training, inference and export all look for it.
SPEC_FILE = "spec.json"


class InputShape(NamedTuple):
    """A model input's size, in Keras's (height, width, channels) order."""

    height: int
    width: int
    channels: int


@dataclass(frozen=True)
class ModelSpec:
    """The charset, input shape and loss of a model: what decoding and pixel preparation need."""

    chars: str
    max_length: int
    min_length: int
    pad: str
    width: int
    height: int
    channels: int
    loss: str
    resize: str = "stretch"  # models saved before this field existed were all "stretch"

    @classmethod
    def from_config(cls, config) -> "ModelSpec":
        """The spec of the model a `Config` builds."""
        c, i = config.charset, config.image
        return cls(c.chars, c.max_length, c.min_length, c.pad, i.width, i.height, i.channels, config.loss.name,
                   i.resize)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSpec":
        """The spec from a mapping holding its fields (other keys, as in an export's spec.json, are ignored)."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data or f.default is MISSING})

    @property
    def charset(self) -> Charset:
        return Charset(self.chars, self.max_length, self.min_length, self.pad)

    @property
    def input_shape(self) -> InputShape:
        return InputShape(self.height, self.width, self.channels)

    @property
    def probabilities(self) -> str:
        """'sigmoid' or 'softmax' (see `captcha_ocr.core.choices.LOSS_PROBABILITIES`)."""
        return probability_kind(self.loss)

    def first_difference(self, other: ModelSpec, ignore: tuple[str, ...] = ()) -> str | None:
        """The first field, in declaration order and not in `ignore`, whose value differs in `other`; else None."""
        return next((f.name for f in fields(self)
                     if f.name not in ignore and getattr(self, f.name) != getattr(other, f.name)), None)

    def to_dict(self) -> dict:
        """The plain fields, as saved in a model's layer config and an export's spec.json."""
        return asdict(self)
