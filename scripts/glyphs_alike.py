"""Pairs of characters that a font draws alike: `python scripts/glyphs_alike.py FONT SIZE [CHARS]`.

Renders each character alone at SIZE pixels on one baseline, its ink moved to the same left edge (captchas
place characters at random x, so only shape, height and position against the baseline tell a small letter
from a capital), and prints the pairs whose ink overlaps by at least --min-iou (intersection over union).
With --tile N, each character is drawn as gvcode draws it instead: at (0, 0) in an N x N tile, rotated
about the tile's centre by each whole angle of --angles (the tile does not grow, so corners are cut off),
its ink moved to the top left; a pair is printed with the angles at which the two overlap that much.
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
    return to_edges(np.asarray(im) > 127, axes=(1,))


def tile_ink(font: ImageFont.FreeTypeFont, tile: int, char: str, angle: int) -> np.ndarray:
    """The character drawn at (0, 0) in a tile x tile square, rotated without growing: ink at the top left."""
    im = Image.new("L", (tile, tile), 0)
    ImageDraw.Draw(im).text((0, 0), char, fill=255, font=font)
    return to_edges(np.asarray(im.rotate(angle, expand=False)) > 127, axes=(0, 1))


def to_edges(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """The ink rolled to the canvas's first row (axis 0) and/or first column (axis 1); no ink, as it is."""
    if not a.any():
        return a
    shifts = [-int(np.nonzero(a.any(axis=1 - axis))[0][0]) for axis in axes]
    return np.roll(a, shifts, axis=axes)


def iou(ga: np.ndarray, gb: np.ndarray) -> float:
    return (ga & gb).sum() / max(1, (ga | gb).sum())


def box(a: np.ndarray) -> str:
    ys, xs = np.nonzero(a)
    return f"{xs.max() - xs.min() + 1}x{ys.max() - ys.min() + 1}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("font")
    p.add_argument("size", type=int)
    p.add_argument("chars", nargs="?", default=string.digits + string.ascii_letters)
    p.add_argument("--min-iou", type=float, default=0.85)
    p.add_argument("--tile", type=int, help="draw as gvcode does, in a TILE x TILE square (gvcode: SIZE + 5)")
    p.add_argument("--angles", type=int, nargs=2, default=(-30, 90), metavar=("FROM", "TO"),
                   help="with --tile, the rotations in whole degrees, both ends in (gvcode: -30 90)")
    args = p.parse_args()
    if args.tile is not None and (args.tile < 1 or args.angles[0] > args.angles[1]):
        p.error("--tile must be a positive number of pixels and --angles FROM TO with FROM <= TO, e.g. -30 90")
    try:
        font = ImageFont.truetype(args.font, args.size)
    except OSError as err:
        p.error(f"cannot read font {args.font!r} ({err}); give a .ttf, .otf or .ttc file")
    glyphs = {c: ink(font, args.size, c) for c in dict.fromkeys(args.chars)}
    blank = "".join(c for c, g in glyphs.items() if not g.any())
    if blank:
        p.error(f"{blank!r} draws no ink in {args.font}; give characters the font has")
    if args.tile is not None:
        return print_tiled(font, list(glyphs), args)
    for a, b in itertools.combinations(glyphs, 2):
        ga, gb = glyphs[a], glyphs[b]
        overlap = iou(ga, gb)
        if overlap >= args.min_iou:
            print(f"{a}{b}  IoU {overlap:.2f}  ink {box(ga)} and {box(gb)} px")


def print_tiled(font: ImageFont.FreeTypeFont, chars: list[str], args: argparse.Namespace) -> None:
    angles = range(args.angles[0], args.angles[1] + 1)
    tiles = {(c, t): tile_ink(font, args.tile, c, t) for c in chars for t in angles}
    for a, b in itertools.combinations(chars, 2):
        alike = [t for t in angles if iou(tiles[a, t], tiles[b, t]) >= args.min_iou]
        if alike:
            print(f"{a}{b}  alike at {len(alike)} of {len(angles)} angles, the first {alike[0]}, the last {alike[-1]} degrees")


if __name__ == "__main__":
    main()
