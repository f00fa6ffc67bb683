"""Fit the ImageCaptcha generator's style to a folder of captchas: `python -m captcha_ocr.fit_style --data D --out C`.

The library behind it: `captcha_ocr.data.style_fit`.
"""

from __future__ import annotations

import shlex
import sys
from typing import Sequence

from captcha_ocr.core.cli import (add_config_args, config_from_args, int_at_least, logger, parser, run_cli,
                                  writable_file, write_output)
from captcha_ocr.data.folder import list_folder
from captcha_ocr.data.style_fit import config_text, differences, fit_style, style_sheet


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
