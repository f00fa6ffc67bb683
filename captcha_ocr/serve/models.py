"""The models a service holds: runs, `.keras` files, shipped models and exports, behind one interface.

`load_served(name, path)` returns a `ServedModel` whose `prepare` turns a
decoded image into the array the model reads and whose `read` reads a batch of
them, whatever the model's kind. Keras models (runs, `.keras` files, `base`)
give per-position probabilities; exports (SavedModel, TFLite, ONNX) give the
text and its confidence only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from captcha_ocr.errors import UserError
from captcha_ocr.export.layout import SPEC_FILE
from captcha_ocr.images import to_array
from captcha_ocr.predict import Prediction
from captcha_ocr.rundir import resolve_model
from captcha_ocr.spec import ModelSpec


@dataclass
class ServedModel:
    """One loaded model with its name, where it came from and its spec."""

    name: str
    source: str
    kind: str  # "keras" or an export format ("savedmodel", "tflite", "onnx")
    spec: ModelSpec
    reader: object  # a captcha_ocr.Recognizer or an export reader

    def prepare(self, image: Image.Image) -> np.ndarray:
        """A decoded image -> uint8 array at the model's input size (exports take RGB and convert in the graph)."""
        s = self.spec
        channels = s.channels if self.kind == "keras" else 3
        return to_array(image, s.width, s.height, channels, s.resize)

    def read(self, batch: np.ndarray) -> list[Prediction]:
        """Read a batch of `prepare`d arrays, shape (n, H, W, C)."""
        return self.reader.predict_arrays(batch)

    def describe(self) -> dict:
        """What `GET /v1/models` says of this model."""
        s = self.spec
        return {"name": self.name, "source": self.source, "kind": self.kind, "charset": s.chars,
                "length": {"min": s.min_length, "max": s.max_length},
                "input": {"height": s.height, "width": s.width, "channels": s.channels, "resize": s.resize},
                "loss": s.loss, "positions": self.kind == "keras"}


def load_served(name: str, path: str | Path) -> ServedModel:
    """Load a run directory, `.keras` file, shipped model name or export folder.

    Raises:
        UserError: nothing loadable at `path`.
    """
    resolved = resolve_model(path)
    folder = resolved if resolved.is_dir() else resolved.parent
    if (folder / SPEC_FILE).is_file():
        from captcha_ocr.export import load_exported

        reader = load_exported(resolved)
        return ServedModel(name, str(path), reader.spec["format"], reader.model_spec, reader)
    from captcha_ocr.predict import Recognizer

    reader = Recognizer.load(resolved)
    return ServedModel(name, str(path), "keras", reader.spec, reader)


def parse_model_args(values: Sequence[str]) -> list[tuple[str, str]]:
    """`--model` values -> (name, path): `NAME=PATH`, or a bare path named after its last part.

    Raises:
        UserError: two models with one name.
    """
    named: list[tuple[str, str]] = []
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or Path(value).exists():
            path = value
            name = Path(value.rstrip("/")).stem or value
        if any(name == other for other, _ in named):
            raise UserError(f"two models are named {name!r}; name them with --model NAME=PATH")
        named.append((name, path))
    return named
