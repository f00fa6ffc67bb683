"""`Recognizer`: a trained Keras model with its preprocessing and decoding, reading captchas from paths,
PIL images or arrays.

    from captcha_ocr.inference.recognizer import Recognizer
    rec = Recognizer.load("runs/quickstart")
    rec.predict(["a.png", pil_image, uint8_array])   # -> [Prediction(text, confidence, positions)]
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterable

import numpy as np

from captcha_ocr.core.images import ImageLike, as_batch, scale_pixels, to_array
from captcha_ocr.model.decode import Prediction
from captcha_ocr.training.rundir import load_run


class Recognizer:
    """A loaded model that reads captchas from paths, PIL images or arrays."""

    def __init__(self, model, chars: str | None = None):
        from captcha_ocr.model.layers import model_spec

        self.model = model
        self.spec = model_spec(model)
        self.charset = self.spec.charset
        self.chars = chars  # read only these characters (`captcha_ocr.model.decode.only_chars`); None: all
        self.check_told(None, chars)  # before any read
        self._forward = None
        self._forward_lock = threading.Lock()

    @classmethod
    def load(cls, path: str | Path, views: int = 1, lengths: tuple[int, int] | None = None,
             chars: str | None = None) -> "Recognizer":
        """Load from a run directory or a `.keras` file (which carries its charset and input size).

        Args:
            views: read every captcha in this many views (`captcha_ocr.model.ensemble.in_views`).
            lengths: (low, high) characters to hold a ctc model's reads to (`captcha_ocr.model.layers.hold_lengths`)
                instead of the lengths it was trained on.
            chars: read only these characters of the model's charset (`Recognizer(model, chars)`).
        """
        from captcha_ocr.model.ensemble import in_views
        from captcha_ocr.model.layers import hold_lengths

        model = load_run(path)[0]
        if lengths:
            hold_lengths(model, lengths)
        return cls(in_views(model, views), chars)

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
        return self.decode_logits(self.logits_arrays(batch, batch_size))

    def logits_arrays(self, batch: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """The model's logits for uint8 arrays already at its input size, shape (n, H, W, C)."""
        forward = self._forward or self._traced_forward()
        outputs = []
        for start in range(0, len(batch), batch_size):
            x = scale_pixels(np.asarray(batch[start:start + batch_size], np.uint8))
            outputs.append(np.asarray(forward(x)))
        return np.concatenate(outputs) if outputs else np.zeros((0,), np.float32)

    def decode_logits(self, logits: np.ndarray, lengths: tuple[int, int] | None = None,
                      chars: str | None = None) -> list[Prediction]:
        """Readings of `logits_arrays`' logits: a ctc model's held to `lengths` (low, high) and any model's to `chars`
        when given (checked first with `check_told`), else to the recognizer's own."""
        from captcha_ocr.model.decode import chosen_classes, only_chars

        if not len(logits):
            return []
        chars = self.chars if chars is None else chars
        low, high = lengths or (self.spec.min_length, self.spec.max_length)
        if chars is not None:
            logits = only_chars(logits, self.charset, chars)
        indices, chosen = chosen_classes(logits, self.spec.loss, high, low)
        symbols = [c if c != self.charset.pad else "" for c in self.charset.alphabet]  # the pad reads as ""
        return [Prediction(self.charset.decode(row), float(probs.prod()),
                           tuple((symbols[i], float(p)) for i, p in zip(row, probs)))
                for row, probs in zip(indices, chosen)]

    def check_told(self, lengths: tuple[int, int] | None, chars: str | None, names=("--length", "--chars")) -> None:
        """Raise a UserError, naming the option as `names` says, for lengths or characters this model cannot be told
        (`captcha_ocr.model.layers.check_lengths`, `captcha_ocr.model.decode.check_chars`)."""
        from captcha_ocr.model.decode import check_chars
        from captcha_ocr.model.layers import check_lengths

        if lengths is not None:
            check_lengths(self.spec, lengths, names[0])
        if chars is not None:
            check_chars(chars, self.charset, names[1])

    def predict(self, images: Iterable[ImageLike] | ImageLike) -> list[Prediction]:
        """Read captchas from paths, PIL images or arrays (any size and mode).

        Raises:
            UserError: an image cannot be read (use `predict_arrays` on what you could read
            if you want to go on past bad files).
        """
        return self.predict_arrays(np.stack([self.prepare(img) for img in as_batch(images)]))
