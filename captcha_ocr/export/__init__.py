"""Export a trained model for serving, and read exports back: `python -m captcha_ocr.export --model RUN --format F`.

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

The in-graph preprocessing reproduces `captcha_ocr.core.images.to_array` to the
bit, `image.resize: fit_height` included (see `captcha_ocr.export.pil_ops`).
`spec.json`'s `resize` is the model's mode and `resize_method` says how the
graph does it.

From Python, for any format:

    from captcha_ocr.export.readers import load_exported
    reader = load_exported("runs/quickstart/export/savedmodel")
    reader.predict(["a.png", png_bytes, uint8_array])   # -> [Prediction(text, confidence)]

The package, by job (bottom to top):

- `layout`: formats, file names, default folder and option checks (no TensorFlow);
- `pil_ops`: TensorFlow copies of PIL's decode, grayscale, compositing and resize;
- `serving`: `ServingModule`, the model wrapped with preparation and decoding;
- `readers`: `load_exported` and a reader per format;
- `writers`: `export_model` and a writer per format;
- `__main__`: the command line.
"""

from __future__ import annotations

# Public names, imported on first use: the writers and pil_ops load TensorFlow,
# which `--help` and a bad option should not wait for.
_PUBLIC = {
    "FORMATS": "layout", "SPEC_FILE": "layout", "MODEL_FILES": "layout", "default_out": "layout",
    "export_model": "writers", "export_size": "writers", "export_spec": "writers", "calibration_images": "writers",
    "load_exported": "readers", "ExportedModel": "readers", "agreement": "readers", "rgb_array": "readers",
    "ServingModule": "serving",
    "resize_like_pil": "pil_ops", "fit_height_like_pil": "pil_ops", "pil_bilinear_matrix": "pil_ops",
    "gray_like_pil": "pil_ops", "composite_over_white": "pil_ops", "decode_image": "pil_ops",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name in _PUBLIC:
        from importlib import import_module

        return getattr(import_module(f"captcha_ocr.export.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'captcha_ocr.export' has no attribute {name!r}")
