"""Export a trained model for serving: `python -m captcha_ocr.export --model RUN --format savedmodel|tflite|onnx`.

An exported model needs neither this package nor Keras: it prepares its own
pixels and decodes its own output. Every export is a folder holding the model
file(s) and a `spec.json` (charset, lengths, input size, loss, format, source
model, input contract):

- `savedmodel`: a TensorFlow SavedModel with two signatures.
  `serve_bytes` takes `images`: tf.string [N], encoded PNG/JPEG/GIF/BMP files
  of any size and mode (transparency is composited over white, as in training).
  `serve_array` takes `images`: uint8 [N, H, W, 3], RGB, any H and W (one size
  per batch). Both return `text` (tf.string [N], pad removed), `confidence`
  (float32 [N]) and `indices` (int32 [N, max_length]).
- `tflite`: a TensorFlow Lite flatbuffer of builtin ops only, `model.tflite`,
  with one signature `serve_array` as above (uint8 RGB [N, H, W, 3], any H and
  W: the input is dynamic and the resize happens in the graph) returning
  `indices` and `confidence`; the text is decoded from spec.json (as
  `load_exported` does). `--quantize int8` quantizes the network to full
  integer, calibrated on synthetic captchas drawn with the run's generator
  config; the preprocessing and decoding stay in float.
- `onnx`: `model.onnx` (needs the `onnx` extra: tf2onnx and onnxruntime), the
  same array contract and outputs as `tflite`.

The in-graph preprocessing reproduces `captcha_ocr.images.to_array`: PIL's
grayscale formula and alpha compositing in integer arithmetic, JPEG decoded
with libjpeg's accurate DCT as PIL does, and PIL's antialiased bilinear resize
as two matrix products with 8-bit rounding in between (`resize_like_pil`).
The pixels the model sees are then bit-identical to the Keras path's when no
resize is needed, when only one axis changes, and for the generator's 160x60
captchas resized to 80x30; for other sizes Pillow sometimes runs its two
passes in the other order, which moves some pixels by one grey level.
`tf.image.resize` would not do: it does not antialias (or, with antialias=True,
rounds differently), and TFLite's RESIZE_BILINEAR cannot antialias at all.

From Python, for any format:

    from captcha_ocr.export import load_exported
    reader = load_exported("runs/quickstart/export/savedmodel")
    reader.predict(["a.png", png_bytes, uint8_array])   # -> [Prediction(text, confidence)]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from captcha_ocr import __version__
from captcha_ocr.charset import Charset
from captcha_ocr.errors import UserError, run_cli
from captcha_ocr.images import ImageLike, open_image, to_array
from captcha_ocr.predict import Prediction, load_run

FORMATS = ("savedmodel", "tflite", "onnx")
SPEC_FILE = "spec.json"
MODEL_FILES = {"tflite": "model.tflite", "onnx": "model.onnx"}
SPEC_KEYS = ("chars", "pad", "max_length", "min_length", "width", "height", "channels", "loss")
ONNX_OPSET = 17
PREPROCESS_SCOPE, DECODE_SCOPE = "preprocess", "decode"

# PIL keeps resampling weights as integers with 22 fractional bits and rounds
# every pass to 8 bits (Resample.c: PRECISION_BITS = 32 - 8 - 2).
_PIL_WEIGHT_SCALE = float(1 << 22)


# ----------------------------------------------------------------------------- the graph


def pil_bilinear_matrix(in_size, out_size: int, dtype):
    """The (out_size, in_size) matrix of PIL's bilinear resize along one axis.

    PIL widens the triangle filter by the scale factor when shrinking (which is
    why it antialiases and `tf.image.resize(..., antialias=False)` does not),
    samples it at pixel centres, normalizes each row to sum to one, and rounds
    the weights to 22 fractional bits. Building that matrix from the (dynamic)
    input size keeps the resize to builtin ops (RANGE, MUL, BATCH_MATMUL), so it
    also runs in TensorFlow Lite, whose RESIZE_BILINEAR cannot antialias.

    Args:
        in_size: the input length, a Python int or a scalar int32 tensor.
        out_size: the output length.
        dtype: tf.float64 reproduces PIL's double-precision weights exactly;
            tf.float32 for runtimes without float64 matrix products.

    Returns:
        A tensor of shape (out_size, in_size) whose rows sum to ~1.
    """
    import tensorflow as tf

    in_f = tf.cast(in_size, dtype)
    scale = in_f / tf.cast(out_size, dtype)
    filterscale = tf.maximum(scale, tf.cast(1.0, dtype))
    centers = (tf.range(out_size, dtype=dtype) + 0.5) * scale
    sources = tf.cast(tf.range(in_size), dtype)
    # Same operation order as PIL's `(x + xmin - center + 0.5) * ss`, so float64 weights are bit-identical.
    distance = ((sources[None, :] - centers[:, None]) + 0.5) * (1.0 / filterscale)
    weights = tf.maximum(1.0 - tf.abs(distance), 0.0)
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)
    return tf.floor(weights * _PIL_WEIGHT_SCALE + 0.5) / _PIL_WEIGHT_SCALE


def _round_to_8bit(x):
    import tensorflow as tf

    return tf.clip_by_value(tf.floor(x + 0.5), 0.0, 255.0)


def resize_like_pil(images, height: int, width: int, dtype):
    """Resize like `PIL.Image.resize(..., Image.BILINEAR)` on 8-bit images.

    Args:
        images: (N, h, w, C) pixel values 0..255 in `dtype`.
        height, width: the output size.
        dtype: tf.float64 (exact weights and sums) or tf.float32.

    Returns:
        (N, height, width, C) integer pixel values 0..255 in `dtype`.
    """
    import tensorflow as tf

    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    rows = pil_bilinear_matrix(h, height, dtype)  # (height, h)
    cols = pil_bilinear_matrix(w, width, dtype)  # (width, w)
    # Plain 2-D products on reshaped pixels: TF 2.21's oneDNN kernel for a batched float32
    # matmul that broadcasts a 2-D operand crashes the process (segfault) from a batch of 8.
    x = tf.reshape(tf.transpose(images, [0, 3, 1, 2]), [-1, w])  # rows of (N, C, h) pixels
    x = _round_to_8bit(tf.matmul(x, cols, transpose_b=True))  # horizontal pass first, as in PIL's Resample.c
    x = tf.transpose(tf.reshape(x, [n, c, h, width]), [0, 1, 3, 2])
    x = _round_to_8bit(tf.matmul(tf.reshape(x, [-1, h]), rows, transpose_b=True))
    return tf.transpose(tf.reshape(x, [n, c, width, height]), [0, 3, 2, 1])


def gray_like_pil(rgb):
    """RGB -> L with PIL's integer formula (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.

    Every product and partial sum is an integer below 2**24, so float32 computes
    it exactly in any order; one (pixels x 3) @ (3 x 1) product is the fastest
    form in TensorFlow, TFLite and onnxruntime alike.
    """
    import tensorflow as tf

    weights = tf.constant([[19595.0], [38470.0], [7471.0]], rgb.dtype)
    shape = tf.shape(rgb)
    weighted = tf.reshape(tf.matmul(tf.reshape(rgb, [-1, 3]), weights), tf.concat([shape[:-1], [1]], axis=0))
    return tf.floor((weighted + 32768.0) / 65536.0)


def composite_over_white(rgb, alpha):
    """PIL's `alpha_composite` of an RGBA image over opaque white, in integer arithmetic.

    With a white opaque background PIL's weights are `alpha * 128` and
    `(255 - alpha) * 128` (7 fractional bits) and it divides by 255 with two
    shifts; this reproduces that exactly (all values stay below 2**24). An
    opaque pixel comes out unchanged.

    Args:
        rgb: (..., 3) float32 values 0..255.
        alpha: (..., 1) float32 values 0..255.
    """
    import tensorflow as tf

    t = 128.0 * (rgb * alpha + 255.0 * (255.0 - alpha)) + 128.0 * 128.0
    t = tf.floor((tf.floor(t / 256.0) + t) / 256.0)
    return tf.floor(t / 128.0)


def decode_image(data):
    """One encoded image -> (h, w, 3) float32 RGB with transparency composited over white.

    The in-graph counterpart of `images.to_array`'s mode handling: gray is
    repeated to RGB (PIL's L -> RGB), and an alpha channel (LA, RGBA, or a
    palette PNG with a transparent entry) is composited like `composite_over_white`.
    """
    import tensorflow as tf

    # decode_image's JPEG path uses the fast integer DCT; PIL (libjpeg's default) the accurate one,
    # which makes the pixels bit-identical (measured: 60% of pixels off by up to 7 levels otherwise).
    img = tf.cond(tf.io.is_jpeg(data),
                  lambda: tf.io.decode_jpeg(data, channels=0, dct_method="INTEGER_ACCURATE"),
                  lambda: tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False))
    img = tf.cast(img, tf.float32)
    channels = tf.shape(img)[-1]
    # 1 = L, 2 = LA, 3 = RGB, 4 = RGBA; palette PNGs arrive as RGB(A).
    rgb = tf.cond(channels < 3, lambda: tf.repeat(img[..., :1], 3, axis=-1), lambda: img[..., :3])
    alpha = tf.cond(channels % 2 == 0, lambda: img[..., -1:], lambda: tf.fill(tf.shape(img[..., :1]), 255.0))
    return composite_over_white(rgb, alpha)


class ServingModule:
    """The exported computation: a tf.Module holding the model's variables, and the
    tf.functions (preprocessing, model, decoding) that become its signatures."""

    def __init__(self, model):
        import tensorflow as tf

        from captcha_ocr.model import model_spec

        spec = dict(model_spec(model).spec)
        self.spec = spec
        self.charset = Charset(spec["chars"], spec["max_length"], spec["min_length"], spec["pad"])
        self.model = model
        self.module = tf.Module()
        # The module tracks the model's variables, not the Keras model itself: with the model
        # attached, the TFLite converter keeps them as mutable resources instead of constants.
        self.module.model_variables = [v.value for v in model.variables]
        # The pad's class maps to "" so that joining the characters drops it.
        self.module.alphabet = tf.constant(list(spec["chars"]) + [""])

    # --- pieces

    def prepare(self, rgb, dtype):
        """uint8-valued (N, h, w, 3) RGB of any size -> float32 model input in [0, 1]."""
        import tensorflow as tf

        s = self.spec
        x = tf.cast(rgb, tf.float32)
        if s["channels"] == 1:
            x = gray_like_pil(x)  # before the resize, as `to_array` converts before resizing
        x = resize_like_pil(tf.cast(x, dtype), s["height"], s["width"], dtype)
        # Divide in float32, as Recognizer.predict_arrays does, for bit-identical inputs.
        return tf.cast(x, tf.float32) / 255.0

    def decode(self, logits):
        """Logits -> (indices int32, confidence float32) as in captcha_ocr.decode."""
        import tensorflow as tf

        indices = tf.argmax(logits, axis=-1, output_type=tf.int32)
        probs = tf.sigmoid(logits) if self.spec["loss"] == "sigmoid" else tf.nn.softmax(logits, axis=-1)
        # The chosen class has the largest logit, and softmax and sigmoid are monotonic,
        # so its probability is the largest one: no gather needed.
        confidence = tf.reduce_prod(tf.reduce_max(probs, axis=-1), axis=-1)
        return indices, confidence

    def predict_rgb(self, rgb, dtype):
        """uint8-valued RGB (N, h, w, 3) -> (indices, confidence)."""
        import tensorflow as tf

        # The scopes name the ops around the model, so int8 quantization can leave them in float.
        with tf.name_scope(PREPROCESS_SCOPE):
            x = self.prepare(rgb, dtype)
        logits = self.model(x, training=False)
        with tf.name_scope(DECODE_SCOPE):
            return self.decode(tf.cast(logits, tf.float32))

    def with_text(self, indices, confidence):
        """The SavedModel outputs: the texts joined from the alphabet, pads dropped."""
        import tensorflow as tf

        text = tf.strings.reduce_join(tf.gather(self.module.alphabet, indices), axis=-1)
        return {"text": text, "confidence": confidence, "indices": indices}

    # --- exported functions

    def serve_array_fn(self, dtype):
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        def serve_array(images):
            return self.with_text(*self.predict_rgb(images, dtype))

        return serve_array

    def serve_bytes_fn(self, dtype):
        import tensorflow as tf

        s = self.spec

        def one(data):
            x = self.prepare(decode_image(data)[None], dtype)
            return x[0]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def serve_bytes(images):
            # Images of different sizes cannot share a tensor until resized, hence one at a time.
            x = tf.map_fn(one, images, fn_output_signature=tf.TensorSpec([s["height"], s["width"], s["channels"]],
                                                                          tf.float32))
            logits = self.model(x, training=False)
            return self.with_text(*self.decode(tf.cast(logits, tf.float32)))

        return serve_bytes

    def serve_numeric_fn(self, dtype):
        """Array in, `indices` and `confidence` out: no string ops, for TFLite and ONNX."""
        import tensorflow as tf

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        def serve_array(images):
            indices, confidence = self.predict_rgb(images, dtype)
            return {"indices": indices, "confidence": confidence}

        return serve_array


# ----------------------------------------------------------------------------- writing


def export_spec(model, fmt: str, source: str | Path, quantize: str | None, extra: dict | None = None) -> dict:
    """The content of an export's spec.json."""
    import tensorflow as tf

    from captcha_ocr.model import model_spec

    s = model_spec(model).spec
    array_input = {"name": "images", "dtype": "uint8", "shape": [None, None, None, 3],
                   "layout": "RGB, any height and width (one size per batch); resized in the graph"}
    spec = {
        "format": fmt,
        "quantize": quantize,
        **{k: s[k] for k in SPEC_KEYS},
        "file": MODEL_FILES.get(fmt, "."),
        "signatures": {"serve_array": {
            "inputs": [array_input],
            "outputs": ["indices", "confidence"] + (["text"] if fmt == "savedmodel" else []),
        }},
        "resize": "PIL bilinear (antialiased), in the graph",
        "source_model": str(Path(source).resolve()),
        "versions": {"captcha_ocr": __version__, "tensorflow": tf.__version__},
    }
    if fmt == "savedmodel":
        spec["signatures"]["serve_bytes"] = {
            "inputs": [{"name": "images", "dtype": "string", "shape": [None],
                        "layout": "encoded PNG, JPEG, GIF (first frame; a transparent palette entry is not "
                                  "composited) or BMP files, any size and mode"}],
            "outputs": ["text", "confidence", "indices"],
        }
    spec.update(extra or {})
    return spec


def _write_savedmodel(serving: ServingModule, out: Path) -> None:
    import tensorflow as tf

    # In float64 the resize weights and sums are exact, as PIL's integers are; float32 (all TFLite and
    # ONNX offer) agreed on every measured captcha too, but can round a pixel differently in a rare tie.
    serving.module.serve_bytes = serving.serve_bytes_fn(tf.float64)
    serving.module.serve_array = serving.serve_array_fn(tf.float64)
    signatures = {name: getattr(serving.module, name).get_concrete_function()
                  for name in ("serve_bytes", "serve_array")}
    tf.saved_model.save(serving.module, str(out), signatures=signatures)


def _tflite_converter(serving: ServingModule, workdir: Path):
    import tensorflow as tf

    # TFLite has no float64 matrix product (see _write_savedmodel on float32).
    fn = serving.serve_numeric_fn(tf.float32)
    serving.module.serve_array = fn
    saved = workdir / "for_tflite"
    tf.saved_model.save(serving.module, str(saved), signatures={"serve_array": fn.get_concrete_function()})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serve_array"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def calibration_images(config, model_spec_dict: dict, count: int, seed: int | None = None) -> np.ndarray:
    """Synthetic captchas as the run's generator draws them, uint8 RGB at the generator's size.

    Args:
        config: the run's config, or None to use the default generator with the model's charset.
        model_spec_dict: the model's CaptchaSpec values (charset and input size).
        count: how many.
        seed: the seed of the "calibration" split (default: the run's train seed).

    Returns:
        uint8 (count, generator height, generator width, 3).
    """
    from captcha_ocr.config import config_from_dict
    from captcha_ocr.generator import GeneratorSpec, render

    if config is None:
        s = model_spec_dict
        config = config_from_dict({"charset": {k: s[k] for k in ("chars", "min_length", "max_length", "pad")},
                                   "image": {k: s[k] for k in ("width", "height", "channels")}}, "model spec")
    spec = GeneratorSpec.from_config(config)
    seed = config.train.seed if seed is None else seed
    # Its own split name, so the calibration set is none of the run's train, val or test captchas.
    images, _ = render(spec, seed, "calibration", count, (spec.width, spec.height, 3), workers=1)
    return images


def _write_tflite(serving: ServingModule, out: Path, workdir: Path, quantize: str | None,
                  calibration: np.ndarray | None) -> None:
    converter = _tflite_converter(serving, workdir)
    with _quiet_stderr():  # the MLIR converter and calibrator log every pass to stderr
        flatbuffer = converter.convert()
        if quantize == "int8":
            flatbuffer = _quantize_int8(converter, flatbuffer, calibration)
    (out / MODEL_FILES["tflite"]).write_bytes(flatbuffer)


def _quantize_int8(converter, float_flatbuffer: bytes, calibration: np.ndarray) -> bytes:
    """Full-integer quantization of the network, leaving the preprocessing and decoding in float.

    Quantized, the resize weights (multiples of 2**-22) and the 0..255 pixel
    sums would lose the exactness they exist for, and the product of
    probabilities its precision; so every op under the preprocess and decode
    name scopes, and the outputs, are denylisted by tensor name (read from the
    float model), through TFLite's QuantizationDebugger, the public way to
    quantize selectively.
    """
    import tensorflow as tf

    interpreter = _tflite_interpreter(model_content=float_flatbuffer)
    outputs = {d["name"] for d in interpreter.get_output_details()}
    keep_float = [t["name"] for t in interpreter.get_tensor_details()
                  if t["name"].startswith((PREPROCESS_SCOPE + "/", DECODE_SCOPE + "/")) or t["name"] in outputs]

    def representative():
        for image in calibration:
            yield [image[None]]

    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=representative,
        debug_options=tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=keep_float))
    return debugger.get_nondebug_quantized_model()


def _write_onnx(serving: ServingModule, out: Path) -> None:
    import tensorflow as tf

    try:
        import tf2onnx
    except ImportError:
        raise UserError("--format onnx needs tf2onnx and onnxruntime: pip install 'captcha_ocr[onnx]'") from None
    fn = serving.serve_numeric_fn(tf.float32)
    tf2onnx.convert.from_function(fn, input_signature=fn.input_signature, opset=ONNX_OPSET,
                                  output_path=str(out / MODEL_FILES["onnx"]))


class _quiet_stderr:
    """Silence the converters' C++ logging on file descriptor 2 (Python errors still propagate)."""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(self._null, 2)

    def __exit__(self, *exc):
        os.dup2(self._saved, 2)
        os.close(self._saved)
        os.close(self._null)
        return False


def default_out(model_path: str | Path, fmt: str, quantize: str | None) -> Path:
    """Where an export goes without --out: RUN/export/<format>[-int8] (or beside a .keras file)."""
    path = Path(model_path)
    name = fmt + (f"-{quantize}" if quantize else "")
    if path.is_dir():
        return path / "export" / name
    return path.parent / f"{path.stem}-export" / name


def _prepare_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file; give a folder for the export")
    if out.is_dir() and any(out.iterdir()) and not (out / SPEC_FILE).is_file():
        raise UserError(f"--out {str(out)!r} is a folder that is not an earlier export; give a new or empty folder")


def export_model(model_path: str | Path, fmt: str, out: str | Path | None = None, quantize: str | None = None,
                 calibration_count: int = 200, log=print) -> Path:
    """Export a run's model (or a .keras file) to a serving format.

    Args:
        model_path: a run directory or a `.keras` file.
        fmt: "savedmodel", "tflite" or "onnx".
        out: the export folder (default: see `default_out`); an earlier export there is replaced.
        quantize: None, or "int8" (tflite only): full-integer post-training quantization.
        calibration_count: synthetic captchas for int8 calibration.
        log: where progress messages go.

    Returns:
        The export folder, holding the model and spec.json.

    Raises:
        UserError: no model at `model_path`, a bad format/quantize combination, or an unusable --out.
    """
    _check_options(fmt, quantize, calibration_count)
    out = Path(out) if out is not None else default_out(model_path, fmt, quantize)
    _prepare_out(out)
    model, _, config = load_run(model_path)
    return _export_loaded(model, config, Path(model_path), fmt, out, quantize, calibration_count, log)


def _check_options(fmt: str, quantize: str | None, calibration_count: int) -> None:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if quantize not in (None, "int8"):
        raise UserError(f"unknown quantization {quantize!r}; known: int8")
    if quantize and fmt != "tflite":
        raise UserError(f"--quantize {quantize} is only for --format tflite")
    if calibration_count < 1:
        raise UserError(f"--calibration-count must be at least 1, got {calibration_count}")


def _export_loaded(model, config, source: Path, fmt: str, out: Path, quantize: str | None, calibration_count: int,
                   log) -> Path:
    serving = ServingModule(model)
    calibration = None
    if quantize == "int8":
        if config is None:
            log("no config.yaml beside the model: calibrating on the default generator with the model's charset")
        calibration = calibration_images(config, serving.spec, calibration_count)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Build in a sibling folder and swap it in at the end, so a failed export leaves the old one intact.
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        target = staging / "export"
        target.mkdir()
        if fmt == "savedmodel":
            _write_savedmodel(serving, target)
        elif fmt == "tflite":
            _write_tflite(serving, target, staging, quantize, calibration)
        else:
            _write_onnx(serving, target)
        extra = {"calibration_images": len(calibration)} if calibration is not None else {}
        spec = export_spec(model, fmt, source, quantize, extra)
        (target / SPEC_FILE).write_text(json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
        if out.exists():
            shutil.rmtree(out)
        target.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def export_size(out: Path) -> int:
    """Bytes of the model file(s) in an export folder (spec.json excluded)."""
    return sum(f.stat().st_size for f in Path(out).rglob("*") if f.is_file() and f.name != SPEC_FILE)


# ----------------------------------------------------------------------------- reading


def _as_list(images) -> list:
    if isinstance(images, (str, Path, bytes, np.ndarray)) or hasattr(images, "mode"):
        if isinstance(images, np.ndarray) and images.ndim == 4:
            return list(images)
        return [images]
    return list(images)


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

    def __init__(self, path: Path, spec: dict):
        self.path = path
        self.spec = spec
        self.charset = Charset(spec["chars"], spec["max_length"], spec["min_length"], spec["pad"])
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
        items = _as_list(images)
        arrays = [rgb_array(item) for item in items]
        return self._predict_arrays(arrays)

    def _predict_arrays(self, arrays: list[np.ndarray]) -> list[Prediction]:
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

    def __init__(self, path: Path, spec: dict):
        import tensorflow as tf

        super().__init__(path, spec)
        loaded = tf.saved_model.load(str(path))
        self._loaded = loaded  # keeps the functions' variables alive
        self._bytes = loaded.signatures["serve_bytes"]
        self._array = loaded.signatures["serve_array"]

    def predict(self, images: Iterable[ImageLike] | ImageLike) -> list[Prediction]:
        items = _as_list(images)
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
            for (i, _), pred in zip(arrays, self._predict_arrays([a for _, a in arrays])):
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


def _tflite_interpreter(path: Path | None = None, model_content: bytes | None = None):
    """The LiteRT interpreter if installed, else TensorFlow's own (deprecated there, not yet removed)."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice, on every load
        return Interpreter(model_path=None if path is None else str(path), model_content=model_content)


class TFLiteReader(ExportedModel):
    """A TFLite export: images are decoded by PIL in Python, resized and read in the interpreter."""

    def __init__(self, path: Path, spec: dict):
        super().__init__(path, spec)
        self._interpreter = _tflite_interpreter(path / spec["file"])
        self._runner = self._interpreter.get_signature_runner("serve_array")

    def _run_array(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self._runner(images=np.ascontiguousarray(batch, np.uint8))  # resizes the input tensor as needed
        return out["indices"], out["confidence"]


class OnnxReader(ExportedModel):
    """An ONNX export, run by onnxruntime."""

    def __init__(self, path: Path, spec: dict):
        super().__init__(path, spec)
        try:
            import onnxruntime
        except ImportError:
            raise UserError("reading an ONNX export needs onnxruntime: pip install 'captcha_ocr[onnx]'") from None
        self._session = onnxruntime.InferenceSession(str(path / spec["file"]), providers=["CPUExecutionProvider"])
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
        An object with `.predict(images) -> list[Prediction]` and `.spec`.

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
        spec = json.loads(spec_path.read_text())
        reader = _READERS[spec["format"]]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{spec_path}: not a captcha_ocr export spec") from None
    return reader(folder, spec)


# ----------------------------------------------------------------------------- command line


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


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m captcha_ocr.export", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a run directory or a .keras model file")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", choices=("int8",), help="tflite only: full-integer post-training quantization")
    p.add_argument("--out", help="export folder (default: RUN/export/<format>[-int8])")
    p.add_argument("--calibration-count", type=int, default=200, metavar="N",
                   help="synthetic captchas that calibrate --quantize int8 (default 200)")
    p.add_argument("--check", type=int, default=64, metavar="N",
                   help="compare the export with the Keras model on N synthetic captchas (0 = skip; default 64)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.check < 0:
        raise UserError(f"--check must be 0 or more, got {args.check}")
    _check_options(args.format, args.quantize, args.calibration_count)
    out = Path(args.out) if args.out else default_out(args.model, args.format, args.quantize)
    _prepare_out(out)  # before loading TensorFlow, so a bad --out fails fast
    model, _, config = load_run(args.model)
    out = _export_loaded(model, config, Path(args.model), args.format, out, args.quantize, args.calibration_count,
                         log=print)
    print(f"wrote {out} ({export_size(out) / 1024:.1f} KiB)")
    if args.check:
        from captcha_ocr.predict import Recognizer

        recognizer = Recognizer(model)
        # Another seed than the calibration set's, so an int8 model is not checked on what calibrated it.
        images = calibration_images(config, recognizer.layer.spec, args.check,
                                    seed=(config.train.seed if config else 0) + 1)
        r = agreement(out, recognizer, images)
        print(f"same text as the Keras model on {r['count']} synthetic captchas: {r['same_text']:.1%}; "
              f"largest confidence difference {r['max_confidence_diff']:.2g}")
    return 0


if __name__ == "__main__":
    run_cli(main)
