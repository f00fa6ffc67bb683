"""Draw labeled captcha folders with other people's generators: `python -m captcha_ocr.zoo --out DIR`.

    python -m captcha_ocr.zoo --list
    python -m captcha_ocr.zoo --out data/zoo --count 1000 --seed 0
    python -m captcha_ocr.zoo --out data/zoo --count 200 --styles svg-captcha,kaptcha

Writes DIR/<style>/ with the images, labels.csv (file,label) and zoo.json for
each style (all of them unless --styles names some). The Python generators
come with `pip install -e '.[zoo]'` (and `pip install --no-deps trdg==1.8.0`),
the npm ones with `npm ci --prefix captcha_ocr/zoo/js`; docs/zoo.md has the rest.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from captcha_ocr.core.cli import int_at_least, parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = parser("python -m captcha_ocr.zoo", __doc__)
    p.add_argument("--out", help="the zoo's folder; one subfolder per style")
    p.add_argument("--count", type=int_at_least(1), default=1000, metavar="N", help="images per style (default 1000)")
    p.add_argument("--seed", type=int_at_least(0), default=0, help="the same seed draws the same images (default 0)")
    p.add_argument("--styles", metavar="A,B,...", help="comma-separated styles (default: all; see --list)")
    p.add_argument("--js-dir", metavar="DIR",
                   help="the npm generators' node_modules or its parent folder "
                        "(default: $CAPTCHA_OCR_ZOO_JS, else captcha_ocr/zoo/js)")
    p.add_argument("--list", action="store_true", help="print the styles and whether they are installed, then exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    from captcha_ocr.zoo.build import failed_styles, list_styles, make_zoo

    if args.list:
        print(list_styles(args.js_dir))
        return 0
    if not args.out:
        p.error("--out is required (or --list)")
    failed = failed_styles(make_zoo(args.out, args.count, args.seed, args.styles, args.js_dir))
    if failed:
        print(f"error: not one image drawn for {', '.join(failed)}; see their zoo.json", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    run_cli(main)
