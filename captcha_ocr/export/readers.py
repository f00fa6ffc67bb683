"""Read an export back for prediction (`load_exported`), in any format, without Keras.

`load_exported(folder)` reads the folder's `spec.json` and returns a reader
with `.predict(images) -> list[Prediction]`: SavedModel exports decode files in
the graph, TFLite and ONNX exports get PIL-decoded RGB arrays and decode their
class indices with the charset in spec.json. TensorFlow is imported only by
the readers that need it (an ONNX export is read with onnxruntime alone).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import ImageLike, as_batch, open_image, to_array
from captcha_ocr.core.spec import SPEC_FILE, ModelSpec
from captcha_ocr.model.decode import Prediction


def _name(src) -> str:
    return str(src) if isinstance(src, (str, Path)) else "<bytes>" if isinstance(src, bytes) else "<image>"


def rgb_array(src: ImageLike) -> np.ndarray:
    """Any image (path, bytes, PIL image, array) at its own size -> uint8 RGB (h, w, 3), transparency over white.

    Raises:
        UserError: unreadable or corrupt input.
    """
    img = open_image(src)
    return to_array(img, img.width, img.height, 3)


def _in_batches(arrays: list[np.ndarray], batch_size: int):
    """(positions, stacked batch) for runs of same-sized arrays, at most batch_size each."""
    by_shape: dict[tuple, list[int]] = {}
    for i, a in enumerate(arrays):
        by_shape.setdefault(a.shape, []).append(i)
    for positions in by_shape.values():
        for start in range(0, len(positions), batch_size):
            chunk = positions[start:start + batch_size]
            yield chunk, np.stack([arrays[i] for i in chunk])


class ExportedModel:
    """An exported model read back for prediction; `load_exported` picks the subclass."""

    def __init__(self, path: Path, info: dict):
        self.path = path
        self.info = info  # spec.json as written: the ModelSpec's fields, the format, the versions
        self.spec = ModelSpec.from_dict(info)  # the same name and type as `Recognizer.spec`
        self.charset = self.spec.charset
        self.batch_size = 64

    def predict(self, images: Iterable[ImageLike] | ImageLike) -> list[Prediction]:
        """Read captchas from paths, encoded bytes, PIL images or arrays (any size and mode).

        Args:
            images: one image, a list of them, or a 4-D array batch.

        Returns:
            One Prediction(text, confidence) per image, in order.

        Raises:
            UserError: an image cannot be read.
        """
        items = as_batch(images)
        arrays = [rgb_array(item) for item in items]
        return self.predict_arrays(arrays)

    def predict_arrays(self, arrays: Sequence[np.ndarray]) -> list[Prediction]:
        """Read uint8 RGB arrays (any sizes; same-sized ones are batched together)."""
        results: list[Prediction | None] = [None] * len(arrays)
        for positions, batch in _in_batches(arrays, self.batch_size):
            indices, confidence = self._run_array(batch)
            for i, row, conf in zip(positions, indices, confidence):
                results[i] = Prediction(self.charset.decode(row), float(conf))
        return results

    def _run_array(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


class SavedModelReader(ExportedModel):
    """A SavedModel export: paths and bytes are decoded in the graph, arrays and PIL images go to serve_array."""

    def __init__(self, path: Path, info: dict):
        import tensorflow as tf

        super().__init__(path, info)
        loaded = tf.saved_model.load(str(path))
        self._loaded = loaded  # keeps the functions' variables alive
        self._bytes = loaded.signatures["serve_bytes"]
        self._array = loaded.signatures["serve_array"]

    def predict(self, images: Iterable[ImageLike] | ImageLike) -> list[Prediction]:
        items = as_batch(images)
        results: list[Prediction | None] = [None] * len(items)
        encoded, arrays = [], []
        for i, item in enumerate(items):
            data = _read_file(item) if isinstance(item, (str, Path)) else item if isinstance(item, bytes) else None
            # TensorFlow's GIF decoder ignores a transparent palette entry that PIL composites over
            # white, so GIFs are decoded by PIL here (serve_bytes still takes them, without that).
            if data is not None and not data.startswith(b"GIF8"):
                encoded.append((i, item, data))
            else:
                arrays.append((i, rgb_array(item)))
        for start in range(0, len(encoded), self.batch_size):
            chunk = encoded[start:start + self.batch_size]
            out = self._run_bytes(chunk)
            for (i, _, _), text, conf in zip(chunk, out["text"].numpy(), out["confidence"].numpy()):
                results[i] = Prediction(text.decode("utf-8"), float(conf))
        if arrays:
            for (i, _), pred in zip(arrays, self.predict_arrays([a for _, a in arrays])):
                results[i] = pred
        return results

    def _run_bytes(self, chunk: list) -> dict:
        import tensorflow as tf

        try:
            return self._bytes(images=tf.constant([data for _, _, data in chunk]))
        except tf.errors.InvalidArgumentError:
            # The batch failed as a whole; find the image that TensorFlow cannot decode, to name it.
            for _, src, data in chunk:
                try:
                    tf.io.decode_image(data, expand_animations=False)
                except tf.errors.InvalidArgumentError:
                    raise UserError(f"{_name(src)}: not a readable image (PNG, JPEG, GIF or BMP expected)") from None
            raise

    def _run_array(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._array(images=batch)
        return out["indices"].numpy(), out["confidence"].numpy()


def _read_file(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder, not an image") from None
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None


def tflite_interpreter(path: Path | None = None, model_content: bytes | None = None):
    """The LiteRT interpreter if installed, else TensorFlow's own (deprecated there, not yet removed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    from captcha_ocr.core.quiet import known_lines_held_back

    with warnings.catch_warnings(), known_lines_held_back():  # its XNNPACK notice
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice, on every load
        interpreter = Interpreter(model_path=None if path is None else str(path), model_content=model_content)
        interpreter.allocate_tensors()  # where the delegate is applied, and its notice printed
    return interpreter


class TFLiteReader(ExportedModel):
    """A TFLite export: images are decoded by PIL in Python, resized and read in the interpreter."""

    def __init__(self, path: Path, info: dict):
        super().__init__(path, info)
        self._interpreter = tflite_interpreter(path / info["file"])
        self._runner = self._interpreter.get_signature_runner("serve_array")

    def _run_array(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._runner(images=np.ascontiguousarray(batch, np.uint8))  # resizes the input tensor as needed
        return out["indices"], out["confidence"]


class OnnxReader(ExportedModel):
    """An ONNX export, run by onnxruntime."""

    def __init__(self, path: Path, info: dict):
        super().__init__(path, info)
        try:
            import onnxruntime
        except ImportError:
            raise UserError("reading an ONNX export needs onnxruntime: pip install 'captcha_ocr[onnx]'") from None
        self._session = onnxruntime.InferenceSession(str(path / info["file"]), providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]

    def _run_array(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = dict(zip(self._outputs, self._session.run(None, {self._input: np.ascontiguousarray(batch, np.uint8)})))
        return values["indices"], values["confidence"]


_READERS = {"savedmodel": SavedModelReader, "tflite": TFLiteReader, "onnx": OnnxReader}


def load_exported(path: str | Path) -> ExportedModel:
    """Load an export folder (or its model.tflite / model.onnx file) for prediction.

    Args:
        path: a folder written by `export_model`, or the model file inside it.

    Returns:
        An object with `.predict(images) -> list[Prediction]`, `.spec` (its `ModelSpec`) and `.info` (spec.json).

    Raises:
        UserError: no export at `path`.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if not path.exists():
        raise UserError(f"export {str(path)!r} not found; give the folder written by captcha_ocr.export")
    spec_path = folder / SPEC_FILE
    if not spec_path.is_file():
        raise UserError(f"{folder} has no {SPEC_FILE}; is it a folder written by captcha_ocr.export?")
    try:
        info = json.loads(spec_path.read_text())
        reader = _READERS[info["format"]]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{spec_path}: not a captcha_ocr export spec") from None
    return reader(folder, info)


def agreement(out: Path, recognizer, images: Sequence[np.ndarray]) -> dict:
    """Compare an export with the Keras model on the same images.

    Args:
        out: the export folder.
        recognizer: a `Recognizer` of the model the export came from.
        images: uint8 RGB arrays, any size.

    Returns:
        {"count", "same_text" (share of images read alike), "max_confidence_diff"}.
    """
    keras_preds = recognizer.predict(list(images))
    exported = load_exported(out).predict(list(images))
    same = sum(a.text == b.text for a, b in zip(keras_preds, exported))
    diff = max((abs(a.confidence - b.confidence) for a, b in zip(keras_preds, exported)), default=0.0)
    return {"count": len(images), "same_text": same / max(len(images), 1), "max_confidence_diff": diff}
