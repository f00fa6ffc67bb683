"""Write a labeled folder of synthetic captchas: `python -m captcha_ocr.generate --config C --out DIR --count N`.

The library behind it: `captcha_ocr.synth.folders`.
"""

from __future__ import annotations

from typing import Sequence

from captcha_ocr.core.cli import add_config_args, config_from_args, int_at_least, parser, run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.synth.folders import contact_sheet, generate_folder


def build_parser():
    p = parser("python -m captcha_ocr.generate", __doc__)
    add_config_args(p, "YAML config (its charset and generator sections are used)")
    p.add_argument("--out", help="output folder")
    p.add_argument("--count", type=int_at_least(1), help="number of captchas (with --preview: 40 by default)")
    p.add_argument("--preview", metavar="PNG", help="write a contact sheet of samples with labels instead of a folder")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: train.seed of the config)")
    p.add_argument("--split", default="files", help="name of the random stream (different names, different captchas)")
    p.add_argument("--workers", type=int_at_least(0), default=0, help="processes (default: one per core)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.preview and (not args.out or args.count is None):
        raise UserError("give --out DIR and --count N (or --preview sheet.png)")
    count = args.count if args.count is not None else 40
    config = config_from_args(args)
    seed = config.train.seed if args.seed is None else args.seed
    if args.preview:
        sheet = contact_sheet(config, seed, count, split=args.split)
        try:
            sheet.save(args.preview)
        except (OSError, ValueError) as err:
            raise UserError(f"cannot write --preview {args.preview!r}: {err}; give a .png path in an existing folder") from None
        print(f"wrote a contact sheet of {count} samples to {args.preview}")
        return 0
    n = generate_folder(config, args.out, count, seed, args.split, args.workers)
    print(f"wrote {n} captchas to {args.out}")
    return 0


if __name__ == "__main__":
    run_cli(main)
