"""Pairs of characters that a font draws alike: `python scripts/glyphs_alike.py FONT SIZE [CHARS]`.

Renders each character alone at SIZE pixels on one baseline, its ink moved to the same left edge (captchas
place characters at random x, so only shape, height and position against the baseline tell a small letter
from a capital), and prints the pairs whose ink overlaps by at least --min-iou (intersection over union).
A screening aid: a pair it prints is a pair to look at (DejaVu Sans's O and Q overlap 0.93 and a person
tells them apart by the tail). Whether a reader can tell a pair apart in the captchas themselves is what
`python -m captcha_ocr.evaluate --alike PAIR` measures ("told apart ...% of the time").
"""

from __future__ import annotations

import argparse
import itertools
import string

import numpy as np
from PIL import Image, ImageDraw, ImageFont


def ink(font: ImageFont.FreeTypeFont, size: int, char: str) -> np.ndarray:
    """The character's pixels on a canvas three sizes wide and high: baseline fixed, ink starting at x = 0."""
    im = Image.new("L", (3 * size, 3 * size), 0)
    ImageDraw.Draw(im).text((size, size // 2), char, fill=255, font=font)
    a = np.asarray(im) > 127
    columns = np.nonzero(a.any(axis=0))[0]
    return np.roll(a, -int(columns[0]), axis=1) if len(columns) else a


def box(a: np.ndarray) -> str:
    ys, xs = np.nonzero(a)
    return f"{xs.max() - xs.min() + 1}x{ys.max() - ys.min() + 1}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("font")
    p.add_argument("size", type=int)
    p.add_argument("chars", nargs="?", default=string.digits + string.ascii_letters)
    p.add_argument("--min-iou", type=float, default=0.85)
    args = p.parse_args()
    try:
        font = ImageFont.truetype(args.font, args.size)
    except OSError as err:
        p.error(f"cannot read font {args.font!r} ({err}); give a .ttf, .otf or .ttc file")
    glyphs = {c: ink(font, args.size, c) for c in dict.fromkeys(args.chars)}
    blank = "".join(c for c, g in glyphs.items() if not g.any())
    if blank:
        p.error(f"{blank!r} draws no ink in {args.font}; give characters the font has")
    for a, b in itertools.combinations(glyphs, 2):
        ga, gb = glyphs[a], glyphs[b]
        iou = (ga & gb).sum() / max(1, (ga | gb).sum())
        if iou >= args.min_iou:
            print(f"{a}{b}  IoU {iou:.2f}  ink {box(ga)} and {box(gb)} px")


if __name__ == "__main__":
    main()
