"""What an export folder holds and where it goes: formats, file names, and the checks made before any work.

TensorFlow-free, so the command can refuse a bad option or `--out` in a
fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

from captcha_ocr.core.errors import UserError
from captcha_ocr.core.spec import SPEC_FILE

FORMATS = ("savedmodel", "tflite", "onnx")
MODEL_FILES = {"tflite": "model.tflite", "onnx": "model.onnx"}


def default_out(model_path: str | Path, fmt: str, quantize: str | None) -> Path:
    """Where an export goes without --out: RUN/export/<format>[-int8] (or beside a .keras file)."""
    path = Path(model_path)
    name = fmt + (f"-{quantize}" if quantize else "")
    if path.is_dir():
        return path / "export" / name
    return path.parent / f"{path.stem}-export" / name


def check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file; give a folder for the export")
    if out.is_dir() and any(out.iterdir()) and not (out / SPEC_FILE).is_file():
        raise UserError(f"--out {str(out)!r} is a folder that is not an earlier export; give a new or empty folder")


def check_options(fmt: str, quantize: str | None, calibration_count: int) -> None:
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if quantize not in (None, "int8"):
        raise UserError(f"unknown quantization {quantize!r}; known: int8")
    if quantize and fmt != "tflite":
        raise UserError(f"--quantize {quantize} is only for --format tflite")
    if calibration_count < 1:
        raise UserError(f"--calibration-count must be at least 1, got {calibration_count}")
