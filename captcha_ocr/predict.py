"""Read captchas with a trained model: `python -m captcha_ocr.predict --model RUN PATH...`.

Prints one line per image: `<path>\\t<text>\\t<confidence>` (or JSON with
`--json`). An unreadable file gets an error line on stderr, the others go on,
and the exit status is 2 if any failed. From Python:

    from captcha_ocr.inference.recognizer import Recognizer
    rec = Recognizer.load("runs/quickstart")
    rec.predict(["a.png", pil_image, uint8_array])   # -> [Prediction(text, confidence)]
"""

from __future__ import annotations

import glob
import json
import sys
from pathlib import Path
from typing import Sequence


from captcha_ocr.core.cli import add_chars_arg, add_length_arg, add_views_arg, fraction, int_at_least, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import image_files


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
    add_views_arg(p, "; Keras models only")
    add_length_arg(p)
    add_chars_arg(p)
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
    from captcha_ocr.inference.readers import load_reader

    # a run, a .keras file, a shipped model or an export
    rec = load_reader(args.model, views=args.views, lengths=args.length, chars=args.chars)
    for done, (path, pred) in enumerate(rec.read_files(paths, args.batch_size), start=1):
        if isinstance(pred, UserError):
            print(f"error: {pred}", file=sys.stderr)
            failed += 1
            continue
        text = pred.text if pred.confidence >= args.min_confidence else "?"
        if args.json:
            print(json.dumps({"path": path, "text": text, "confidence": round(pred.confidence, 4),
                              "raw_text": pred.text}))
        else:
            print(f"{path}\t{text}\t{pred.confidence:.3f}")
        if done % args.batch_size == 0:
            sys.stdout.flush()  # a batch at a time reaches a pipe or a log
    if failed:
        print(f"{failed} of {len(paths) + len(missing)} inputs could not be read", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    run_cli(main)
