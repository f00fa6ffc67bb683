"""Read captchas with a trained model: `python -m captcha_ocr.predict --model RUN PATH...`.

Prints one line per image: `<path>\\t<text>\\t<confidence>` (or JSON with
`--json`). An unreadable file gets an error line on stderr, the others go on,
and the exit status is 2 if any failed. From Python:

    from captcha_ocr import Recognizer
    rec = Recognizer.load("runs/quickstart")
    rec.predict(["a.png", pil_image, uint8_array])   # -> [Prediction(text, confidence)]
"""

from __future__ import annotations

import glob
import json
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from captcha_ocr.cli import fraction, int_at_least, parser, run_cli
from captcha_ocr.errors import UserError
from captcha_ocr.images import ImageLike, image_files, scale_pixels, to_array
from captcha_ocr.rundir import load_run


@dataclass(frozen=True)
class Prediction:
    """A reading: the text, its confidence (the product of the positions'), and per position
    (character or "" for the pad, probability) where the reader knows them (exports give ())."""

    text: str
    confidence: float
    positions: tuple[tuple[str, float], ...] = ()


class Recognizer:
    """A loaded model that reads captchas from paths, PIL images or arrays."""

    def __init__(self, model):
        from captcha_ocr.model import model_spec

        self.model = model
        self.spec = model_spec(model)
        self.charset = self.spec.charset
        self._forward = None
        self._forward_lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path) -> "Recognizer":
        """Load from a run directory or a `.keras` file (which carries its charset and input size)."""
        return cls(load_run(path)[0])

    def prepare(self, image: ImageLike) -> np.ndarray:
        """One image -> uint8 (H, W, C) at the model's input size."""
        shape = self.spec.input_shape
        return to_array(image, shape.width, shape.height, shape.channels, self.spec.resize)

    def _traced_forward(self):
        """The model as one TensorFlow function for any batch size, traced once under a lock.

        The service calls `predict_arrays` from several threads at once: each new batch size used to
        retrace the function (reduce_retracing), and threads tracing the same Keras model at once
        hung the service in CI. A batch dimension of None traces once, before any call runs.
        """
        import tensorflow as tf

        with self._forward_lock:
            if self._forward is None:
                s = self.spec.input_shape
                signature = [tf.TensorSpec([None, s.height, s.width, s.channels], tf.float32)]
                forward = tf.function(lambda x: self.model(x, training=False), input_signature=signature)
                forward.get_concrete_function()
                self._forward = forward
        return self._forward

    def predict_arrays(self, batch: np.ndarray, batch_size: int = 256) -> list[Prediction]:
        """Predict uint8 arrays already at the model's input size, shape (n, H, W, C)."""
        from captcha_ocr.decode import chosen_classes

        forward = self._forward or self._traced_forward()
        outputs = []
        for start in range(0, len(batch), batch_size):
            x = scale_pixels(np.asarray(batch[start:start + batch_size], np.uint8))
            outputs.append(np.asarray(forward(x)))
        if not outputs:
            return []
        indices, chosen = chosen_classes(np.concatenate(outputs), self.spec.loss, self.spec.max_length)
        symbols = [c if c != self.charset.pad else "" for c in self.charset.alphabet]  # the pad reads as ""
        return [Prediction(self.charset.decode(row), float(probs.prod()),
                           tuple((symbols[i], float(p)) for i, p in zip(row, probs)))
                for row, probs in zip(indices, chosen)]

    def predict(self, images: Iterable[ImageLike] | ImageLike) -> list[Prediction]:
        """Read captchas from paths, PIL images or arrays (any size and mode).

        Raises:
            UserError: an image cannot be read (use `predict_arrays` on what you could read
            if you want to go on past bad files).
        """
        if isinstance(images, (str, Path, bytes, np.ndarray)) or hasattr(images, "mode"):
            if not (isinstance(images, np.ndarray) and images.ndim == 4):
                images = [images]
        return self.predict_arrays(np.stack([self.prepare(img) for img in images]))


def expand_paths(patterns: Sequence[str]) -> tuple[list[str], list[str]]:
    """Files, folders (their images) and globs -> (image paths, patterns that matched nothing)."""
    found, missing = [], []
    for pattern in patterns:
        p = Path(pattern)
        if p.is_dir():
            found += [str(f) for f in image_files(p)]
        elif p.exists():
            found.append(pattern)
        else:
            matches = sorted(glob.glob(pattern, recursive=True))
            if matches:
                found += [m for m in matches if Path(m).is_file()]
            else:
                missing.append(pattern)
    return found, missing


def build_parser():
    p = parser("python -m captcha_ocr.predict", __doc__)
    p.add_argument("--model", required=True,
                   help="a run directory, a .keras model file, a shipped model (base) or an export folder")
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files, folders or globs")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    p.add_argument("--min-confidence", type=fraction, default=0.0,
                   help="print '?' as the text of captchas read with less confidence than this (0 to 1)")
    p.add_argument("--batch-size", type=int_at_least(1), default=256)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    paths, missing = expand_paths(args.paths)
    failed = 0
    for pattern in missing:
        print(f"error: {pattern}: no such file, folder or matching glob", file=sys.stderr)
        failed += 1
    if not paths:
        raise UserError("no images to read; give image files, folders or globs")
    from captcha_ocr.reader import load_reader

    rec = load_reader(args.model)  # a run, a .keras file, a shipped model or an export
    for start in range(0, len(paths), args.batch_size):
        good_paths, arrays = [], []
        for path in paths[start:start + args.batch_size]:
            try:
                arrays.append(rec.prepare(path))
                good_paths.append(path)
            except UserError as err:
                print(f"error: {err}", file=sys.stderr)
                failed += 1
        if not arrays:
            continue
        for path, pred in zip(good_paths, rec.read(np.stack(arrays))):
            text = pred.text if pred.confidence >= args.min_confidence else "?"
            if args.json:
                print(json.dumps({"path": path, "text": text, "confidence": round(pred.confidence, 4),
                                  "raw_text": pred.text}))
            else:
                print(f"{path}\t{text}\t{pred.confidence:.3f}")
        sys.stdout.flush()
    if failed:
        print(f"{failed} of {len(paths) + len(missing)} inputs could not be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    run_cli(main)
