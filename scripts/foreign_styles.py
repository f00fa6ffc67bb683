"""Draw labeled captchas in styles of our own, unlike ImageCaptcha and our training data: test data for transfer.

Models here train on ImageCaptcha's captchas. To estimate how one would read
"a user's own site's captchas", this script draws styles that ImageCaptcha
does not draw and our configs were not tuned on, each with its own charset,
lengths, size, fonts, colours and clutter (see `--list`). It uses Pillow,
NumPy and only fonts every install has (matplotlib's DejaVu and STIX, Pillow's
default), and is deterministic: image `index` of a style and seed is the same
bytes in any process (given the same Pillow and FreeType).

    python scripts/foreign_styles.py --list
    python scripts/foreign_styles.py --style stamp --out data/stamp --count 500 --seed 1
    python scripts/foreign_styles.py --style all --out data/styles --count 500   # one subfolder per style
    python scripts/foreign_styles.py --preview /tmp/styles.png                  # 8 samples per style
    python scripts/foreign_styles.py --style stamp --out data/to-label --count 300 --seed 2 --unlabeled
    python -m captcha_ocr.evaluate --model runs/quickstart --data data/stamp

A folder holds `00000.png ...` and a `labels.csv` (file,label). Evaluating
skips labels a model cannot hold: stamp, grid and hatch fit the default
4-character 0-9A-Za-z models; ledger, wave and dots need longer ones.

Transfer measurements keep three styles aside: methods and settings may be
chosen on ledger, stamp and wave; grid, dots and hatch are measured once, at
the end, and reported separately. These styles were drawn without looking at
the broad generator's samples (captcha_ocr/synth/broad.py), but share its font
files: the fonts every install has are few.
"""

from __future__ import annotations

import colorsys
import functools
import math
import random
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from captcha_ocr.core.atomic import write_atomic
from captcha_ocr.core.cli import int_at_least, output_dir, parser, run_cli
from captcha_ocr.core.errors import UserError, did_you_mean
from captcha_ocr.data.folder import LABELS_CSV, write_labels_csv


@functools.lru_cache(maxsize=None)
def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A font bundled with matplotlib, or Pillow's own.

    Args:
        name: a file in matplotlib's `fonts/ttf` ("DejaVuSans-Bold.ttf"), or "default" for Pillow's.
        size: size in pixels.
    Returns:
        The font, cached: every image asks for the same few.
    """
    if name == "default":
        return ImageFont.load_default(size)
    try:
        import matplotlib  # only for its font files: no system font is the same on every machine
    except ImportError:
        raise UserError("the styles use matplotlib's bundled fonts; pip install matplotlib") from None
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """An RGB colour from HSV in [0, 1]: styles pick a hue at random and fix how light and vivid it is."""
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue % 1.0, saturation, value))


def glyph(char: str, fnt: ImageFont.FreeTypeFont, fill, angle: float = 0.0,
          stroke: int = 0, stroke_fill: tuple[int, ...] | None = None) -> Image.Image:
    """One character on a transparent RGBA tile cropped to its ink, rotated by `angle` degrees.

    A fill of (0, 0, 0, 0) with a stroke leaves only the outline: ImageDraw
    writes the fill over the stroke's inside instead of blending it.
    """
    left, top, right, bottom = fnt.getbbox(char, stroke_width=stroke)
    tile = Image.new("RGBA", (right - left + 4, bottom - top + 4), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((2 - left, 2 - top), char, font=fnt, fill=fill,
                              stroke_width=stroke, stroke_fill=stroke_fill)
    return tile.rotate(angle, resample=Image.BICUBIC, expand=True) if angle else tile


def place_tiles(canvas: Image.Image, tiles: list[Image.Image], spacing: int, jitter: int,
                rng: random.Random) -> None:
    """Paste glyph tiles left to right, centred, each moved up or down by up to `jitter` pixels.

    The spacing shrinks (letters overlap) when the tiles would not fit, so no character is cut off.
    """
    widths = sum(t.width for t in tiles)
    gaps = max(len(tiles) - 1, 1)
    spacing = min(spacing, (canvas.width - 4 - widths) // gaps)
    x = (canvas.width - widths - spacing * (len(tiles) - 1)) // 2
    for tile in tiles:
        y = (canvas.height - tile.height) // 2 + rng.randint(-jitter, jitter)
        canvas.paste(tile, (x, y), tile)
        x += tile.width + spacing


def baseline_row(draw: ImageDraw.ImageDraw, width: int, text: str, fnt: ImageFont.FreeTypeFont, fill,
                 baseline: float, spacing: float, jitter: float, rng: random.Random) -> None:
    """Draw `text` centred, one character at a time on a shared baseline.

    Unlike `place_tiles`, it keeps each letter's height on the line, so that
    lowercase pairs such as p/b and q/d stay tellable apart.
    """
    advances = [fnt.getlength(c) for c in text]
    x = (width - sum(advances) - spacing * (len(text) - 1)) / 2
    for char, advance in zip(text, advances):
        draw.text((x, baseline + rng.uniform(-jitter, jitter)), char, font=fnt, fill=fill, anchor="ls")
        x += advance + spacing


def draw_ledger(text: str, rng: random.Random) -> Image.Image:
    """Bold glyphs, each its own dark colour, on a colour gradient with shaded blocks, struck through twice."""
    w, h = STYLES["ledger"].size
    left, right = np.array(hsv(rng.random(), 0.35, 0.95)), np.array(hsv(rng.random(), 0.45, 0.85))
    t = np.linspace(0.0, 1.0, w)[None, :, None]
    gradient = np.broadcast_to(left * (1 - t) + right * t, (h, w, 3))
    img = Image.fromarray(np.rint(gradient).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 5)):  # shaded cells, like a spreadsheet's, break the smooth gradient
        x0, y0 = rng.randrange(w), rng.randrange(h)
        draw.rectangle((x0, y0, x0 + rng.randint(20, 60), y0 + rng.randint(10, 35)), fill=hsv(rng.random(), 0.4, 0.9))
    fnt = font(rng.choice(("DejaVuSerif-Bold.ttf", "DejaVuSans-Bold.ttf")), rng.randint(28, 31))
    tiles = [glyph(c, fnt, hsv(rng.random(), 0.85, rng.uniform(0.3, 0.5)), rng.uniform(-12, 12)) for c in text]
    place_tiles(img, tiles, rng.randint(0, 3), 6, rng)
    for _ in range(2):  # through the text band, so a crop cannot remove them
        draw.line((0, rng.randint(26, 44), w, rng.randint(26, 44)), fill=hsv(rng.random(), 0.8, 0.35), width=2)
    return img


def draw_stamp(text: str, rng: random.Random) -> Image.Image:
    """Small gray monospaced text on speckled gray paper, slightly blurred; a grayscale image."""
    w, h = STYLES["stamp"].size
    g = np.random.default_rng(rng.getrandbits(64))  # seeded from `rng`: the noise is as reproducible as the rest
    paper = g.normal(rng.uniform(200, 225), 18, (h, w))
    specks = g.random((h, w)) < 0.04
    paper[specks] = g.uniform(60, 140, int(specks.sum()))
    img = Image.fromarray(np.clip(paper, 0, 255).astype(np.uint8), "L")
    fnt = font(rng.choice(("DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf", "default")), rng.randint(22, 25))
    baseline_row(ImageDraw.Draw(img), w, text, fnt, rng.randint(50, 100), h * 0.72, rng.uniform(0, 2), 1.5, rng)
    return img.filter(ImageFilter.GaussianBlur(0.6))  # a stamp's soft edges


def draw_wave(text: str, rng: random.Random) -> Image.Image:
    """Thin serif or sans text on cream, crossed by thin curves, the whole line bent by a sine wave."""
    w, h = STYLES["wave"].size
    scale = 2  # drawn and warped at twice the size, then reduced: the warp's nearest pixels smooth out
    sw, sh = w * scale, h * scale
    ink = hsv(rng.uniform(0.55, 0.7), 0.7, 0.4)
    big = Image.new("RGB", (sw, sh), hsv(rng.uniform(0.1, 0.2), 0.08, 0.98))
    draw = ImageDraw.Draw(big)
    fnt = font(rng.choice(("STIXGeneral.ttf", "DejaVuSerif.ttf", "DejaVuSans.ttf")), 30 * scale)
    baseline_row(draw, sw, text, fnt, ink, sh * 0.66, 3 * scale, 0, rng)
    for _ in range(2):
        y0, amp = rng.uniform(0.3, 0.75) * sh, rng.uniform(3, 8) * scale
        period, phase = rng.uniform(50, 120) * scale, rng.uniform(0, 2 * math.pi)
        draw.line([(x, y0 + amp * math.sin(2 * math.pi * x / period + phase)) for x in range(0, sw + 4, 4)],
                  fill=ink, width=scale)
    # Remap: each output pixel reads the input shifted by a sine of its column (and, less, of its row).
    yy, xx = np.mgrid[0:sh, 0:sw]
    amp, period, phase = rng.uniform(4, 7) * scale, rng.uniform(60, 110) * scale, rng.uniform(0, 2 * math.pi)
    src_y = np.clip(np.rint(yy + amp * np.sin(2 * np.pi * xx / period + phase)), 0, sh - 1).astype(np.intp)
    src_x = np.clip(np.rint(xx + 0.4 * amp * np.sin(4 * np.pi * yy / period)), 0, sw - 1).astype(np.intp)
    return Image.fromarray(np.asarray(big)[src_y, src_x]).resize((w, h), Image.LANCZOS)


def draw_grid(text: str, rng: random.Random) -> Image.Image:
    """Light, mostly hollow monospaced glyphs, each rotated, on a dark checkered grid."""
    w, h = STYLES["grid"].size
    hue, step = rng.random(), rng.randint(8, 12)
    checker = (np.arange(h)[:, None] // step + np.arange(w)[None, :] // step) % 2 == 1
    arr = np.where(checker[..., None], hsv(hue + 0.08, 0.6, 0.35), hsv(hue, 0.7, 0.25)).astype(np.uint8)
    line = hsv(hue + 0.5, 0.5, 0.6)  # the complementary hue, so the grid shows against both cell shades
    arr[rng.randrange(step)::step, :], arr[:, rng.randrange(step)::step] = line, line
    img = Image.fromarray(arr, "RGB")
    fnt = font(rng.choice(("DejaVuSansMono-Bold.ttf", "DejaVuSansMono-BoldOblique.ttf")), 34)
    tiles = []
    for char in text:
        light, angle = hsv(rng.random(), 0.25, 1.0), rng.uniform(-25, 25)
        hollow = rng.random() < 0.6
        tiles.append(glyph(char, fnt, (0, 0, 0, 0) if hollow else light, angle, 2 if hollow else 0, light))
    place_tiles(img, tiles, rng.randint(0, 4), 4, rng)
    return img


def draw_dots(text: str, rng: random.Random) -> Image.Image:
    """Digits built from small jittered dots, among stray dots and salt-and-pepper noise."""
    w, h = STYLES["dots"].size
    mask = Image.new("L", (w, h), 0)
    fnt = font(rng.choice(("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf")), rng.randint(46, 50))
    baseline_row(ImageDraw.Draw(mask), w, text, fnt, 255, h * 0.82, rng.randint(1, 4), 3, rng)
    ink, dot = np.asarray(mask) > 127, hsv(rng.random(), 0.8, 0.35)
    img = Image.new("RGB", (w, h), hsv(rng.random(), 0.1, 0.95))
    draw = ImageDraw.Draw(img)
    # A dot on every jittered lattice point that falls on a glyph's ink, then stray dots like them
    # elsewhere, so that dot size alone does not tell glyph from background.
    points = [(min(x + rng.randint(-1, 1), w - 1), min(y + rng.randint(-1, 1), h - 1))
              for y in range(1, h, 3) for x in range(1, w, 3)]
    points = [p for p in points if ink[p[1], p[0]]] + [(rng.randrange(w), rng.randrange(h)) for _ in range(60)]
    for x, y in points:
        draw.ellipse((x - 1.3, y - 1.3, x + 1.3, y + 1.3), fill=dot)
    arr = np.array(img)
    noise = np.random.default_rng(rng.getrandbits(64)).random((h, w))
    arr[noise < 0.04], arr[noise > 0.96] = 0, 255
    return Image.fromarray(arr)


def draw_hatch(text: str, rng: random.Random) -> Image.Image:
    """Black italic serif letters that touch, on cream paper with diagonal hatching and one pen squiggle."""
    w, h = STYLES["hatch"].size
    img = Image.new("RGB", (w, h), hsv(rng.uniform(0.08, 0.15), 0.12, 0.97))
    draw = ImageDraw.Draw(img)
    gap, slope = rng.randint(5, 8), rng.choice((-1, 1))
    for x in range(-h, w + h, gap):  # the shading of a printed form's field
        draw.line((x, 0, x + slope * h, h), fill=(185, 185, 185))
    fnt = font(rng.choice(("STIXGeneralItalic.ttf", "STIXGeneralBolIta.ttf", "DejaVuSerif-Italic.ttf")),
               rng.randint(34, 38))
    baseline_row(draw, w, text, fnt, (20, 20, 20), h * 0.72, -rng.randint(1, 3), 2, rng)
    y, points = rng.uniform(0.35, 0.65) * h, []
    for x in range(0, w + 8, 8):
        y = min(max(y + rng.uniform(-6, 6), 10), h - 10)
        points.append((x, y))
    draw.line(points, fill=(20, 20, 20), width=1)
    return img


@dataclass(frozen=True)
class Style:
    """A captcha style: its labels (charset, lengths), its size, and the function that draws it.

    `draw(text, rng)` returns an image of `size` showing `text`, every random choice taken from `rng`.
    """

    name: str
    chars: str
    lengths: tuple[int, int]  # shortest and longest text, inclusive
    size: tuple[int, int]  # (width, height), PIL's order
    description: str
    draw: Callable[[str, random.Random], Image.Image]


STYLES: dict[str, Style] = {s.name: s for s in (
    # No 0/O and 1/I, as sites that print codes for people to retype leave them out.
    Style("ledger", "23456789ABCDEFGHJKLMNPQRSTUVWXYZ", (5, 6), (200, 70),
          "bold multicoloured glyphs on a colour gradient with shaded blocks, two strike-through lines", draw_ledger),
    Style("stamp", string.digits + string.ascii_lowercase, (4, 4), (120, 40),
          "small gray monospaced text on speckled gray paper, slightly blurred, grayscale", draw_stamp),
    Style("wave", string.ascii_lowercase, (4, 5), (180, 50),
          "thin text on cream with thin curves, the whole line bent by a sine wave", draw_wave),
    Style("grid", string.digits + string.ascii_uppercase, (4, 4), (150, 60),
          "light, mostly outline-only rotated glyphs on a dark coloured checkered grid", draw_grid),
    Style("dots", string.digits, (6, 6), (240, 80),
          "digits made of small dots under heavy salt-and-pepper noise", draw_dots),
    Style("hatch", string.digits + string.ascii_uppercase + string.ascii_lowercase, (4, 4), (160, 60),
          "touching black italic serif letters on diagonally hatched paper, one pen squiggle", draw_hatch),
)}


def render(style: Style, seed: int, index: int) -> tuple[str, Image.Image]:
    """Draw one captcha, its text and image decided by (style, seed, index) alone.

    Args:
        style, seed, index: the style, the folder's seed and the image's number in the folder.
    Returns:
        (text, image).
    """
    rng = random.Random(f"foreign:{style.name}:{seed}:{index}")  # str seeds hash the same in every process
    text = "".join(rng.choice(style.chars) for _ in range(rng.randint(*style.lengths)))
    img = style.draw(text, rng)
    assert img.size == style.size, (style.name, img.size)  # a drawing bug, not a user error
    return text, img


def write_folder(style: Style, out: str | Path, count: int, seed: int, labels_name: str = LABELS_CSV) -> Path:
    """Write `count` captchas of a style as `00000.png ...` and a labels.csv (file,label).

    Args:
        style: the style.
        out: the folder, created if missing.
        count: number of images.
        seed: with the style and an image's index, decides everything drawn.
        labels_name: the labels file's name; another than labels.csv leaves the folder unlabeled
            for training and labeling, with the answers kept aside.
    Returns:
        The folder.
    Raises:
        UserError: the folder cannot be created or written.
    """
    folder, rows = output_dir(out), []
    try:
        for index in range(count):
            text, img = render(style, seed, index)
            write_atomic(folder / f"{index:05d}.png", lambda path: img.save(path, format="PNG"), durable=False)
            rows.append((f"{index:05d}.png", text))
        # Last, so that a folder with a labels.csv is complete.
        write_labels_csv(folder / labels_name, rows)
    except OSError as err:
        raise UserError(f"cannot write to {str(folder)!r}: {err.strerror}; give a writable --out folder") from None
    return folder


def contact_sheet(styles: Sequence[Style], seed: int, per_style: int = 8) -> Image.Image:
    """One row per style of `per_style` samples, each labeled with its text beneath, to look at.

    Args:
        styles: the styles, one row each.
        seed: the samples are images 0.. of `write_folder` with this seed.
        per_style: samples per row.
    Returns:
        The sheet, RGB on white.
    """
    label_font, name_width = font("default", 13), 64
    cell = max(s.size[0] for s in styles) + 10
    sheet = Image.new("RGB", (name_width + cell * per_style, sum(s.size[1] + 24 for s in styles) + 6), "white")
    draw, y = ImageDraw.Draw(sheet), 6
    for style in styles:
        draw.text((4, y + style.size[1] // 2), style.name, font=label_font, fill="black", anchor="lm")
        for i in range(per_style):
            text, img = render(style, seed, i)
            sheet.paste(img.convert("RGB"), (name_width + i * cell, y))
            draw.text((name_width + i * cell, y + style.size[1] + 3), text, font=label_font, fill=(0, 0, 160))
        y += style.size[1] + 24
    return sheet


def select(name: str) -> list[Style]:
    """The styles `--style` names: one, or every one for "all".

    Raises:
        UserError: an unknown name (the message lists the known ones).
    """
    if name == "all":
        return list(STYLES.values())
    if name not in STYLES:
        raise UserError(f"unknown style {name!r}{did_you_mean(name, STYLES)}; "
                        f"known styles: {', '.join(STYLES)}, or all")
    return [STYLES[name]]


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the arguments and list, preview or write styles (see the module docstring)."""
    p = parser("scripts/foreign_styles.py", __doc__)
    p.add_argument("--style", help=f"one of {', '.join(STYLES)}, or all")
    p.add_argument("--out", help="folder to write; with --style all, one subfolder per style")
    p.add_argument("--count", type=int_at_least(1), help="captchas per style")
    p.add_argument("--seed", type=int, default=0, help="same seed, same files (default 0)")
    p.add_argument("--list", action="store_true", help="print the styles")
    p.add_argument("--preview", metavar="FILE.png", help="write a sheet of 8 samples per style")
    p.add_argument("--unlabeled", action="store_true",
                   help="write the labels to answers.csv instead of labels.csv: a folder to label (captcha_ocr.serve "
                        "--label-folder) or to self-train on, with the answers kept for checking")
    args = p.parse_args(argv)
    if not (args.list or args.preview or args.out):
        raise UserError("nothing to do: give --style NAME --out DIR --count N, or --list, or --preview FILE.png")
    styles = select(args.style) if args.style else list(STYLES.values())
    if args.out and (args.style is None or args.count is None):
        raise UserError("--out needs --style NAME (or all) and --count N")
    if args.list:
        for s in styles:
            lengths = "-".join(map(str, sorted(set(s.lengths))))
            print(f"{s.name:<7} {s.size[0]}x{s.size[1]:<4} length {lengths:<4} chars {s.chars}\n        {s.description}")
    if args.preview:
        sheet, path = contact_sheet(styles, args.seed), Path(args.preview)
        try:
            write_atomic(path, lambda tmp: sheet.save(tmp, format="PNG"))
        except OSError as err:
            raise UserError(f"cannot write --preview {str(path)!r}: {err.strerror}") from None
        print(f"wrote a preview of {len(styles)} styles to {path}")
    if args.out:
        for style in styles:
            out = Path(args.out) / style.name if args.style == "all" else Path(args.out)
            labels_name = "answers.csv" if args.unlabeled else LABELS_CSV
            folder = write_folder(style, out, args.count, args.seed, labels_name)
            print(f"{style.name}: wrote {args.count} captchas and {labels_name} to {folder}")


if __name__ == "__main__":
    run_cli(main)
