"""Any model a command can read with: runs, `.keras` files, shipped models and exports, behind one interface.

`load_reader(path)` returns a `Reader` whose `prepare` turns a decoded image
into the array the model reads and whose `read` reads a batch of them,
whatever the model's kind. Keras models (runs, `.keras` files, `base`) give
per-position probabilities; exports (SavedModel, TFLite, ONNX) give the text
and its confidence only. `predict` and `serve` read through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import ImageLike, to_array
from captcha_ocr.core.spec import SPEC_FILE, ModelSpec
from captcha_ocr.model.decode import Prediction
from captcha_ocr.training.rundir import resolve_model


class ReadsArrays(Protocol):
    """What every model reader offers (`Recognizer` and the export readers): its spec, and reading
    a batch of arrays already at its input size. A `Recognizer` also reads in two steps (`logits_arrays`,
    then `decode_logits`), which `Reader.forward` and `Reader.finisher` use."""

    spec: ModelSpec

    def predict_arrays(self, batch: np.ndarray) -> list[Prediction]: ...


@dataclass
class Reader:
    """One loaded model with its name, where it came from and its spec."""

    name: str
    source: str
    kind: str  # "keras" or an export format ("savedmodel", "tflite", "onnx")
    spec: ModelSpec
    reader: ReadsArrays  # a captcha_ocr.Recognizer or an export reader
    views: int = 1  # views each captcha is read in (Keras models)

    def prepare(self, image: ImageLike) -> np.ndarray:
        """An image (path, bytes, PIL image, array) -> uint8 array at the model's input size (exports take RGB
        and convert in the graph).

        Raises:
            UserError: unreadable or corrupt input.
        """
        s = self.spec
        channels = s.channels if self.kind == "keras" else 3
        return to_array(image, s.width, s.height, channels, s.resize)

    def read(self, batch: np.ndarray) -> list[Prediction]:
        """Read a batch of `prepare`d arrays, shape (n, H, W, C)."""
        return self.reader.predict_arrays(batch)

    def forward(self, batch: np.ndarray):
        """`read` in two steps, for callers that decode parts of a batch differently (the service's requests):
        the model's outputs for a batch of `prepare`d arrays, which `finisher(...)` turns into readings, a part
        at a time (a Keras model's logits; an export's readings, decoded in its graph)."""
        return self.reader.logits_arrays(batch) if self.kind == "keras" else self.reader.predict_arrays(batch)

    def finisher(self, lengths: tuple[int, int] | None = None, chars: str | None = None,
                 names=("length", "chars")) -> Callable[[object], list[Prediction]]:
        """What turns `forward`'s outputs into readings, held to `lengths` and reading only `chars` where given
        (a service request's own; None: the reader's), checked before any reading.

        Raises:
            UserError: lengths or characters asked of an export or that the model cannot be told (named as `names`).
        """
        if self.kind != "keras":
            if lengths is not None or chars is not None:
                name = names[0] if lengths is not None else names[1]
                raise UserError(f"{name} changes a Keras model's reads, and {self.name} is an export ({self.kind}), "
                                f"which decodes in its graph; leave {name} out or read with a Keras model")
            return lambda outputs: outputs
        if lengths is not None or chars is not None:
            self.reader.check_told(lengths, chars, names)
        return lambda logits: self.reader.decode_logits(logits, lengths, chars)

    def read_files(self, paths: Sequence, batch_size: int = 256,
                   load: Callable = lambda path: path) -> Iterator[tuple[object, Prediction | UserError]]:
        """Read image files batch by batch, going on past the ones that cannot be read.

        Args:
            paths: the files.
            batch_size: files prepared and read at a time.
            load: what `prepare` is given for a path (the path itself; the service opens with a pixel limit).

        Yields:
            (path, its `Prediction`), or (path, the `UserError` that says why it cannot be read): a batch's
            errors as its files are prepared, then its readings, in order.
        """
        for start in range(0, len(paths), batch_size):
            good, arrays = [], []
            for path in paths[start:start + batch_size]:
                try:
                    arrays.append(self.prepare(load(path)))
                    good.append(path)
                except UserError as err:
                    yield path, err
            if arrays:
                yield from zip(good, self.read(np.stack(arrays)))

    @property
    def parallel_calls(self) -> bool:
        """Whether `read` may run in several threads at once: TensorFlow models may; a TFLite
        interpreter may not, and onnxruntime spreads each call over the cores itself."""
        return self.kind in ("keras", "savedmodel")

    def describe(self) -> dict:
        """The model as `GET /v1/models` describes it."""
        s = self.spec
        return {"name": self.name, "source": self.source, "kind": self.kind, "charset": s.chars,
                "length": {"min": s.min_length, "max": s.max_length},
                "input": {"height": s.height, "width": s.width, "channels": s.channels, "resize": s.resize},
                "loss": s.loss, "positions": self.kind == "keras", "views": self.views}


def load_reader(path: str | Path, name: str | None = None, views: int = 1,
                lengths: tuple[int, int] | None = None, chars: str | None = None) -> Reader:
    """Load a run directory, `.keras` file, shipped model name or export folder (`name` defaults to the path).

    Args:
        views: read every captcha in this many views (`captcha_ocr.model.ensemble`); Keras models only.
        lengths: (low, high) characters to hold a ctc model's reads to (`Recognizer.load`); Keras models only.
        chars: read only these characters (`Recognizer.load`); Keras models only.

    Raises:
        UserError: nothing loadable at `path`, or views, lengths or characters asked of an export.
    """
    name = name or str(path)
    resolved = resolve_model(path)
    folder = resolved if resolved.is_dir() else resolved.parent
    if (folder / SPEC_FILE).is_file():
        if views > 1:
            raise UserError(f"--views reads with a Keras model, and {path} is an export; export a model that reads "
                            f"in views instead (python -m captcha_ocr.ensemble --models RUN --views {views} --out "
                            "FILE.keras, then export FILE.keras)")
        if lengths or chars:
            flag = "--length" if lengths else "--chars"
            raise UserError(f"{flag} changes a Keras model's reads, and {path} is an export, which decodes in its "
                            "graph as it was exported; give the run or .keras file it came from")
        from captcha_ocr.export.readers import load_exported

        reader = load_exported(resolved)
        return Reader(name, str(path), reader.info["format"], reader.spec, reader)
    from captcha_ocr.inference.recognizer import Recognizer

    reader = Recognizer.load(resolved, views, lengths, chars)
    return Reader(name, str(path), "keras", reader.spec, reader, views)
