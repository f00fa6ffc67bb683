"""Write an export: a folder holding the model file(s) in a serving format and its `spec.json`.

Formats: `savedmodel` (two signatures, text decoded in the graph), `tflite`
(builtin ops only; `--quantize int8` quantizes the network to full integer,
calibrated on synthetic captchas of the run's generator config, with the
preprocessing and decoding left in float) and `onnx` (needs the `onnx`
extra). `export_model` builds the export in a staging folder and swaps it in
at the end, so a failed export leaves an earlier one intact.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import tensorflow as tf

from captcha_ocr.core import __version__
from captcha_ocr.core.config import config_from_dict
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.spec import SPEC_FILE, InputShape, ModelSpec
from captcha_ocr.export.layout import MODEL_FILES, check_options, check_out, default_out
from captcha_ocr.export.readers import tflite_interpreter
from captcha_ocr.export.serving import DECODE_SCOPE, PREPROCESS_SCOPE, ServingModule
from captcha_ocr.model.layers import model_spec
from captcha_ocr.synth.imagecaptcha import GeneratorSpec, render
from captcha_ocr.training.rundir import load_run

ONNX_OPSET = 17

# spec.json's words for how each `image.resize` mode is done (pil_ops.RESIZE_IN_GRAPH does it).
RESIZE_METHODS = {
    "stretch": "PIL bilinear (antialiased), in the graph",
    "fit_height": "PIL bilinear (antialiased) to the input height keeping the aspect ratio, then padded on the "
                  "right with the border's median colour (or squeezed) to the input width, in the graph",
}


def export_spec(model, fmt: str, source: str | Path, quantize: str | None, extra: dict | None = None) -> dict:
    """The content of an export's spec.json."""
    s = model_spec(model)
    array_input = {"name": "images", "dtype": "uint8", "shape": [None, None, None, 3],
                   "layout": "RGB, any height and width (one size per batch); resized in the graph"}
    spec = {
        "format": fmt,
        "quantize": quantize,
        **s.to_dict(),
        "file": MODEL_FILES.get(fmt, "."),
        "signatures": {"serve_array": {
            "inputs": [array_input],
            "outputs": ["indices", "confidence"] + (["text"] if fmt == "savedmodel" else []),
        }},
        "resize_method": RESIZE_METHODS[s.resize],  # "resize" (from the model's spec) stays the mode
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
    # In float64 the resize weights and sums are exact, as PIL's integers are; float32 (all TFLite and
    # ONNX offer) gets the same pixels from integer weights and products split in three (pil_ops).
    serving.module.serve_bytes = serving.serve_bytes_fn(tf.float64)
    serving.module.serve_array = serving.serve_array_fn(tf.float64)
    signatures = {name: getattr(serving.module, name).get_concrete_function()
                  for name in ("serve_bytes", "serve_array")}
    tf.saved_model.save(serving.module, str(out), signatures=signatures)


def _tflite_converter(serving: ServingModule, workdir: Path):
    # TFLite has no float64 matrix product (see _write_savedmodel on float32).
    fn = serving.serve_numeric_fn(tf.float32)
    serving.module.serve_array = fn
    saved = workdir / "for_tflite"
    tf.saved_model.save(serving.module, str(saved), signatures={"serve_array": fn.get_concrete_function()})
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved), signature_keys=["serve_array"])
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    return converter


def calibration_images(config, spec: ModelSpec, count: int, seed: int | None = None) -> np.ndarray:
    """Synthetic captchas as the run's generator draws them, uint8 RGB at the generator's size.

    Args:
        config: the run's config, or None to use the default generator with the model's charset.
        spec: the model's spec (charset and input size).
        count: how many.
        seed: the seed of the "calibration" split (default: the run's train seed).

    Returns:
        uint8 (count, generator height, generator width, 3).
    """
    if config is None:
        s = spec
        config = config_from_dict({"charset": {"chars": s.chars, "min_length": s.min_length,
                                               "max_length": s.max_length, "pad": s.pad},
                                   "image": {"width": s.width, "height": s.height, "channels": s.channels}},
                                  "model spec")
    generator = GeneratorSpec.from_config(config)
    seed = config.train.seed if seed is None else seed
    # Its own split name, so the calibration set is none of the run's train, val or test captchas.
    images, _ = render(generator, seed, "calibration", count, InputShape(generator.height, generator.width, 3),
                       workers=1)
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
    interpreter = tflite_interpreter(model_content=float_flatbuffer)
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


def onnx_outputs(path: Path) -> list[str]:
    """The output names of an ONNX model, in the order a session's `run` returns them."""
    import onnx

    return [o.name for o in onnx.load(str(path), load_external_data=False).graph.output]


def _write_onnx(serving: ServingModule, out: Path) -> None:
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
    check_options(fmt, quantize, calibration_count)
    out = Path(out) if out is not None else default_out(model_path, fmt, quantize)
    check_out(out)
    model, _, config = load_run(model_path)
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
        spec = export_spec(model, fmt, model_path, quantize, extra)
        if fmt == "onnx":  # the order onnxruntime returns them in, read from the file itself
            spec["signatures"]["serve_array"]["outputs"] = onnx_outputs(target / MODEL_FILES["onnx"])
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
