"""Export a trained model for serving: `python -m captcha_ocr.export --model RUN --format savedmodel|tflite|onnx`.

Writes RUN/export/<format>[-int8] (or --out), then reads the export back and
prints the share of 64 synthetic captchas it reads as the Keras model does.
See `captcha_ocr.export` for the formats and their signatures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from captcha_ocr.core.cli import int_at_least, parser, run_cli
from captcha_ocr.export.layout import FORMATS, check_options, check_out, default_out
from captcha_ocr.export.readers import agreement


def build_parser():
    p = parser("python -m captcha_ocr.export", __doc__)
    p.add_argument("--model", required=True, help="a run directory or a .keras model file")
    p.add_argument("--format", required=True, choices=FORMATS)
    p.add_argument("--quantize", choices=("int8",), help="tflite only: full-integer post-training quantization")
    p.add_argument("--out", help="export folder (default: RUN/export/<format>[-int8])")
    p.add_argument("--calibration-count", type=int_at_least(1), default=200, metavar="N",
                   help="synthetic captchas that calibrate --quantize int8 (default 200)")
    p.add_argument("--check", type=int_at_least(0), default=64, metavar="N",
                   help="compare the export with the Keras model on N synthetic captchas (0 = skip; default 64)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out) if args.out else default_out(args.model, args.format, args.quantize)
    # Before loading TensorFlow, so a bad option or --out fails fast.
    check_options(args.format, args.quantize, args.calibration_count)
    check_out(out)
    from captcha_ocr.export.writers import calibration_images, export_model, export_size
    from captcha_ocr.inference.recognizer import Recognizer
    from captcha_ocr.training.rundir import load_run

    out = export_model(args.model, args.format, out, args.quantize, args.calibration_count, log=print)
    print(f"wrote {out} ({export_size(out) / 1024:.1f} KiB)")
    if args.check:
        model, _, config = load_run(args.model)
        recognizer = Recognizer(model)
        # Another seed than the calibration set's, so an int8 model is not checked on what calibrated it.
        images = calibration_images(config, recognizer.spec, args.check,
                                    seed=(config.train.seed if config else 0) + 1)
        r = agreement(out, recognizer, images)
        print(f"same text as the Keras model on {r['count']} synthetic captchas: {r['same_text']:.1%}; "
              f"largest confidence difference {r['max_confidence_diff']:.2g}")
    return 0


if __name__ == "__main__":
    run_cli(main)
