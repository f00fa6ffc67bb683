"""Fit the ImageCaptcha generator's style to a folder of captchas: `python -m captcha_ocr.fit_style --data D --out C`.

The library behind it: `captcha_ocr.data.style_fit`.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Callable, Sequence

from captcha_ocr.core.atomic import write_atomic
from captcha_ocr.core.cli import add_config_args, config_from_args, int_at_least, logger, output_dir, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.data.folder import list_folder
from captcha_ocr.data.style_fit import config_text, differences, fit_style, style_sheet


def writable_file(path: str | Path, flag: str) -> Path:
    """A file path whose folder exists (created if missing) and can be written, or a `UserError` saying why not."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; give a file path")
    if path.parent.is_file():
        raise UserError(f"cannot write {flag} {str(path)!r}: {str(path.parent)!r} is a file, not a folder")
    folder = output_dir(path.parent, flag)
    if not os.access(folder, os.W_OK):
        raise UserError(f"cannot write {flag} {str(path)!r}: its folder is not writable; give a writable path")
    return path


def write_output(path: Path, write: Callable[[Path], None], flag: str) -> None:
    """Write one output file atomically (`captcha_ocr.core.atomic`), or say in one line why it cannot be."""
    try:
        write_atomic(path, write)
    except OSError as err:
        raise UserError(f"cannot write {flag} {str(path)!r}: {err.strerror or err}; give a writable path") from None


def build_parser():
    p = parser("python -m captcha_ocr.fit_style", __doc__)
    p.add_argument("--data", required=True, metavar="FOLDER", help="folder of captchas to imitate (labeled or not)")
    p.add_argument("--out", required=True, metavar="YAML",
                   help="config to write (only its differences from the defaults)")
    add_config_args(p, "config to start from (its charset is kept for an unlabeled folder; default: the defaults)")
    p.add_argument("--trials", type=int_at_least(1), default=100,
                   help="random styles to try before refining (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same fit)")
    p.add_argument("--sheet", metavar="PNG", help="contact sheet to write (default: --out with .png)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    base = config_from_args(args)
    list_folder(args.data)  # a missing or empty folder is reported before any output folder is made
    out = writable_file(args.out, "--out")
    sheet_path = writable_file(args.sheet or out.with_suffix(".png"), "--sheet")
    result = fit_style(args.data, base, args.trials, args.seed)
    command = "python -m captcha_ocr.fit_style " + shlex.join(argv)
    text = config_text(result, out, command)
    write_output(out, lambda p: p.write_text(text, encoding="utf-8"), "--out")
    sheet = style_sheet(result)
    write_output(sheet_path, lambda p: sheet.save(p, format="PNG"), "--sheet")
    changed = ", ".join(f"{s}.{k}" for s, keys in differences(result.config).items() for k in keys)
    logger.info(f"fitted in {result.seconds:.1f} s ({result.trials} styles): distance {result.distance:.3f} "
                f"(starting style {result.base_distance:.3f})")
    logger.info(f"wrote {out} ({changed or 'no differences from the defaults'}) and the sheet {sheet_path}")
    return 0


if __name__ == "__main__":
    run_cli(main)
