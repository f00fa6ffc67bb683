"""Link the installed fonts of some Debian packages that draw 0-9A-Za-z as themselves into one folder, for a
config's `generator.fonts`.

    python scripts/extra_fonts.py --out data/fonts-extra /usr/share/fonts/truetype/aenigma ...

A font is linked when `captcha_ocr.synth.broad` would accept it (each of 0-9A-Za-z mapped to the glyph named
for it), every one of those characters leaves ink, and its lower case is not its upper case: fonts that draw
`a` as a small or full-size `A` (all-caps and small-caps display fonts, common among free display fonts)
would teach a model that an `A` may be read `a`. Upper and lower case are compared on the letters whose two
cases differ in shape in ordinary fonts, each glyph cropped to its ink and scaled to 24x24.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from captcha_ocr.core.charset import DEFAULT_CHARS
from captcha_ocr.synth.broad import names_alphanumerics
from captcha_ocr.synth.imagecaptcha import FONT_EXTENSIONS

DISTINCT = "abdefghnqrt"  # lower case unlike upper case in shape, not only in size


def glyph(font: ImageFont.FreeTypeFont, char: str) -> np.ndarray | None:
    """The character's ink cropped and scaled to 24x24 (bool), or None when it leaves none."""
    img = Image.new("L", (160, 160), 0)
    ImageDraw.Draw(img).text((40, 20), char, font=font, fill=255)
    box = img.getbbox()
    if box is None:
        return None
    return np.asarray(img.crop(box).resize((24, 24)), np.uint8) > 127


def usable(path: Path) -> bool:
    """Each of 0-9A-Za-z is its own named glyph with ink, and the lower case is not the upper case."""
    if not names_alphanumerics(path):
        return False
    try:
        font = ImageFont.truetype(str(path), 64)
    except OSError:
        return False
    shapes = {c: glyph(font, c) for c in DEFAULT_CHARS}
    if any(s is None for s in shapes.values()):
        return False
    # The share of pixels where lower and upper case differ; an all-caps or small-caps font's are near 0.
    differ = [np.mean(shapes[c] != shapes[c.upper()]) for c in DISTINCT]
    return float(np.median(differ)) > 0.15


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="the folder of links to write (replaced)")
    parser.add_argument("folders", nargs="+", help="font folders to search")
    args = parser.parse_args(argv)
    for folder in args.folders:
        if not Path(folder).is_dir():
            print(f"error: {folder}: no such font folder; install its Debian package first", file=sys.stderr)
            return 2
    files = sorted(p for folder in args.folders for p in Path(folder).rglob("*") if p.suffix.lower() in FONT_EXTENSIONS)
    kept = [p for p in files if usable(p)]
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    for old in tmp.iterdir():
        old.unlink()
    shared = {name for name, n in Counter(p.name for p in kept).items() if n > 1}
    for p in kept:  # one flat folder: a name that two packages share gets its package folder's name before it
        name = f"{p.parent.name}-{p.name}" if p.name in shared else p.name
        os.symlink(p, tmp / name)
    if out.exists():
        for old in out.iterdir():
            old.unlink()
        out.rmdir()
    tmp.rename(out)
    print(f"{out}: {len(kept)} of {len(files)} fonts linked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
