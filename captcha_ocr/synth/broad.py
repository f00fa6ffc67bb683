"""Broad synthetic captchas: many fonts, sizes, colours and distortions, for pretraining a base model.

The project's generator draws one look (ImageCaptcha's), and a model trained on
it reads that look and little else. This module draws captchas from a
deliberately wide distribution, so a base model pretrained on them has seen most
of what real schemes do and transfers to styles it never saw.

Each image draws its own style from these ranges (probabilities in brackets):

- text: length uniform in [min_length, max_length], characters uniform from `chars`.
- font: uniform over `font_files()` (matplotlib's DejaVu, STIX and Computer Modern
  text fonts, captcha's DroidSansMono) plus Pillow's default font, plus the font
  files of `generator.fonts` where a config names some; [10%] one per character.
- canvas: height 32-100 px (taller only if a rotated glyph needs it); font size
  40-72% of the height, each character x(1 +- up to 0.12). The width follows the
  text: its ink span plus left and right margins of 0.1-0.9 font sizes each.
- background [70% light, 30% dark]: plain, slightly tinted [35%], saturated colour
  [20%], two-colour linear gradient [20%], smooth noise texture [25%].
- text colour: one for the word [60%] or one per character [40%], always at least
  `MIN_CONTRAST` (100 of 255) luminance levels away from every background pixel.
- per character: rotation within +-(0-35) degrees, vertical offset within +-(0-10)%
  of the height, gap to the next glyph -0.2 to +0.35 font sizes (never overlapping
  more than 25% of the narrower glyph), weight regular [60%], bold [25%] or outlined
  [15%, from 26 px; stroke 1 px to a 22nd of the font size].
- whole image: sine warp [35%] (vertical 2-8%, horizontal 0-4% of the height);
  shear +-0.35 [20%] or perspective with corners pulled out up to 10% [20%];
  noise dots on 0.2-1.5% of pixels [50%]; 1-4 lines, arcs or waves [70%], half in
  a text colour (1 px to a 20th of the font size wide), half in any colour (to a
  12th); Gaussian blur of 0.3 px to a 50th of the font size [30%]; JPEG round trip
  at quality 15-60 [30%].

Determinism: every random draw of image i comes from
`random.Random(f"broad:{seed}:{split}:{index}")` (NumPy noise from a generator
seeded by it) and fonts come from a sorted list, so image i of (seed, split) is
the same bytes in any process and order, given the same installed fonts and Pillow.

TensorFlow-free: it runs in spawned worker processes.
"""

from __future__ import annotations

import io
import math
import random
import string
from functools import lru_cache
from pathlib import Path

import captcha
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from captcha_ocr.core.errors import UserError

ALPHANUMERIC = string.digits + string.ascii_uppercase + string.ascii_lowercase
HEIGHT_RANGE = (32, 100)
MAX_ROTATION = 35.0
MIN_CONTRAST = 100  # luminance levels (of 255) between text and background: legible after blur and JPEG
LUMA = (0.299, 0.587, 0.114)  # ITU-R 601 luminance weights, the ones Pillow's "L" conversion uses


def names_alphanumerics(path: Path) -> bool:
    """True when the font maps each of 0-9A-Za-z to the glyph named for that character.

    A cmap entry alone is not enough: symbol fonts put other glyphs at those codes
    (cmsy10 draws '0' as a prime, cmex10 as a parenthesis piece), LastResort draws
    one box for all of them, and cmmi10's old-style zero looks like an 'o'.
    """
    from fontTools.agl import toUnicode  # fontTools comes with matplotlib
    from fontTools.ttLib import TTFont, TTLibError

    try:
        table = TTFont(str(path), lazy=True)["cmap"]
        # The BMP subtables only: reading the full-Unicode one (getBestCmap) is 4x slower here.
        sub = table.getcmap(3, 1) or table.getcmap(3, 0) or table.getcmap(1, 0)
    except (OSError, KeyError, TTLibError):
        return False
    return sub is not None and all(toUnicode(sub.cmap.get(ord(c), "")) == c for c in ALPHANUMERIC)


@lru_cache(maxsize=8)
def _font_files(extra: tuple[str, ...] = ()) -> tuple[str, ...]:
    candidates = [Path(captcha.__file__).parent / "data" / "DroidSansMono.ttf"]
    try:
        import matplotlib
    except ImportError:  # matplotlib is optional: draw with the fonts that remain
        pass
    else:
        candidates += Path(matplotlib.get_data_path(), "fonts", "ttf").glob("*.ttf")
    bundled = sorted(str(p) for p in candidates if names_alphanumerics(p))
    # Extra fonts come after the bundled ones, so that without them every index draws what it drew before.
    return tuple(bundled + sorted({str(p) for p in extra if names_alphanumerics(Path(p))} - set(bundled)))


def font_files(extra: tuple[str, ...] = ()) -> list[str]:
    """The TrueType files broad captchas are drawn with, sorted (Pillow's default font is used too).

    Every install has them: matplotlib's bundled fonts and the `captcha` package's
    DroidSansMono; `extra` (a config's `generator.fonts`, expanded) adds more after them.
    Fonts that do not draw 0-9A-Za-z as themselves are left out. The list is found once
    per process, on first use.

    Returns:
        Absolute paths.
    """
    return list(_font_files(tuple(extra)))


@lru_cache(maxsize=2048)
def _font(path: str | None, size: int) -> ImageFont.FreeTypeFont:
    """The font file at `size` px (None: Pillow's default), cached per process."""
    return ImageFont.load_default(size) if path is None else ImageFont.truetype(path, size)


def _glyph(font: ImageFont.FreeTypeFont, char: str, angle: float, stroke: int, hollow: bool) -> tuple[Image.Image, float]:
    """One rotated character as an "L" coverage mask cropped to its ink, and that ink's top relative to the baseline."""
    left, top, right, bottom = font.getbbox(char, stroke_width=stroke)
    ascent, descent = font.getmetrics()
    pad = stroke + 2
    x0, y0 = pad - min(0, left), pad - min(0, top)
    cell = Image.new("L", (x0 + right + pad, y0 + max(bottom, ascent + descent) + pad))
    # Hollow: the fill erases the inside of the stroke, leaving an outline.
    ImageDraw.Draw(cell).text((x0, y0), char, font=font, fill=0 if hollow else 255, stroke_width=stroke, stroke_fill=255)
    rotated = cell.rotate(angle, resample=Image.BILINEAR, expand=True)
    box = rotated.getbbox() or (0, 0, 1, 1)
    # Rotation keeps the cell centre; the baseline sat at y0 + ascent in the cell.
    dy = (cell.height - rotated.height) / 2 + box[1] - (y0 + ascent)
    return rotated.crop(box), dy


def _luminance(colour) -> float:
    return sum(w * v for w, v in zip(LUMA, colour))


def _colour(rng: random.Random, lum: float, sat: float) -> tuple[int, int, int]:
    """A colour of about luminance `lum` (0-255), each channel tinted by up to `sat` levels."""
    d = [rng.uniform(-sat, sat) for _ in range(3)]
    shift = lum - _luminance(d)  # a tint that leaves the luminance alone
    return tuple(min(255, max(0, round(shift + v))) for v in d)


def _text_colour(rng: random.Random, light: bool, lo: float, hi: float) -> tuple[int, int, int]:
    """A colour at least MIN_CONTRAST darker than luminance `lo` (light background) or lighter than `hi`."""
    limit = max(0.0, lo - MIN_CONTRAST) if light else min(255.0, hi + MIN_CONTRAST)
    colour = _colour(rng, rng.uniform(0, limit) if light else rng.uniform(limit, 255), rng.uniform(0, 150))
    lum = _luminance(colour)
    if (lum <= limit) if light else (lum >= limit):
        return colour
    grey = int(limit) if light else math.ceil(limit)  # clipping pushed the tint past the limit; a grey cannot
    return (grey, grey, grey)


def _background(rng: random.Random, nrng: np.random.Generator, light: bool, w: int, h: int) -> np.ndarray:
    """A float32 (h, w, 3) background: plain, colour, gradient or texture, light or dark."""
    band = (160.0, 245.0) if light else (5.0, 85.0)
    lum = rng.uniform(*band)
    kind = rng.choices(("plain", "colour", "gradient", "texture"), (35, 20, 20, 25))[0]
    if kind in ("plain", "colour"):
        sat = rng.uniform(0, 25) if kind == "plain" else rng.uniform(60, 140)
        return np.full((h, w, 3), _colour(rng, lum, sat), np.float32)
    if kind == "gradient":
        c1 = np.float32(_colour(rng, lum, rng.uniform(0, 120)))
        c2 = np.float32(_colour(rng, float(np.clip(lum + rng.uniform(-40, 40), *band)), rng.uniform(0, 120)))
        angle = rng.uniform(0, 2 * math.pi)
        ramp = np.cos(angle) * np.arange(w, dtype=np.float32) + np.sin(angle) * np.arange(h, dtype=np.float32)[:, None]
        ramp = (ramp - ramp.min()) / max(float(ramp.max() - ramp.min()), 1.0)
        return c1 + (c2 - c1) * ramp[..., None]
    # Texture: coarse uniform noise smoothed by upsampling, plus fine grain. Uniform, not
    # normal, so the luminance stays within a known distance of `lum` and text keeps its contrast.
    base = np.float32(_colour(rng, lum, rng.uniform(0, 60)))
    cell, amp, grain = rng.randint(3, 12), rng.uniform(8, 25), rng.uniform(0, 8)
    coarse = np.clip(base + nrng.uniform(-amp, amp, (h // cell + 2, w // cell + 2, 3)), 0, 255).astype(np.uint8)
    smooth = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BICUBIC), np.float32)
    return np.clip(smooth + nrng.uniform(-grain, grain, (h, w, 1)).astype(np.float32), 0, 255)


def _homography(src: list, dst: list) -> np.ndarray:
    """The 3x3 projective map taking the four points `src` to `dst`."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows, float), np.array(rhs, float)), 1.0).reshape(3, 3)


def _remap(layer: np.ndarray, sx: np.ndarray, sy: np.ndarray) -> np.ndarray:
    """Sample an RGBA uint8 layer bilinearly at source coordinates (sx, sy) -> float32; outside is transparent."""
    h, w = layer.shape[:2]
    # Each pixel as one uint32, in a zero frame two wide: a gather moves 4 bytes at once, and
    # a far-away sample reads only frame.
    padded = np.zeros((h + 4, w + 4), np.uint32)
    padded[2:-2, 2:-2] = np.ascontiguousarray(layer).view(np.uint32)[..., 0]
    flat = padded.ravel()
    x0, y0 = np.floor(sx), np.floor(sy)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]
    i = np.clip(y0 + 2, 0, h + 2).astype(np.intp) * (w + 4) + np.clip(x0 + 2, 0, w + 2).astype(np.intp)

    def at(offset: int) -> np.ndarray:
        return flat[i + offset].view(np.uint8).reshape(h, w, 4).astype(np.float32)

    top, bottom = at(0), at(w + 4)
    top += (at(1) - top) * fx
    bottom += (at(w + 5) - bottom) * fx
    return top + (bottom - top) * fy


def _draw(text: str, rng: random.Random, files: tuple[str, ...]) -> Image.Image:
    """Draw `text` in a style drawn from `rng` (the module docstring lists the ranges), in one of `files`."""
    nrng = np.random.default_rng(rng.getrandbits(64))
    height = rng.randint(*HEIGHT_RANGE)
    size = height * rng.uniform(0.4, 0.72)
    # Pillow's default font keeps the index one past the bundled fonts it always had.
    paths = [*files[:len(_font_files())], None, *files[len(_font_files()):]]
    fonts = len(paths)
    font_index, mixed = rng.randrange(fonts), rng.random() < 0.1
    jitter, max_angle = rng.uniform(0, 0.12), rng.uniform(0, MAX_ROTATION)
    bounce, gap = rng.uniform(0, 0.1) * height, rng.uniform(-0.2, 0.35) * size
    weight = rng.choices(("regular", "bold", "outline"), (60, 25, 15))[0]
    glyphs = []
    for char in text:
        s = max(8, round(size * rng.uniform(1 - jitter, 1 + jitter)))
        stroke = 0 if weight == "regular" else rng.randint(1, max(1, round(s / 22)))
        font = _font(paths[rng.randrange(fonts) if mixed else font_index], s)
        mask, dy = _glyph(font, char, rng.uniform(-max_angle, max_angle), stroke, weight == "outline" and s >= 26)
        glyphs.append((mask, dy + rng.uniform(-bounce, bounce)))

    warp = rng.random() < 0.35
    ay, ax = (height * rng.uniform(0.02, 0.08), height * rng.uniform(0, 0.04)) if warp else (0.0, 0.0)
    periods = (height * rng.uniform(0.8, 3), height * rng.uniform(0.5, 2))
    phases = (rng.uniform(0, 2 * math.pi), rng.uniform(0, 2 * math.pi))
    shape = rng.choices(("flat", "shear", "perspective"), (60, 20, 20))[0]
    shear = rng.uniform(-0.35, 0.35) if shape == "shear" else 0.0
    pull = [rng.uniform(0, 0.1) for _ in range(8)] if shape == "perspective" else []

    # Layout: x of each glyph's ink, then a canvas that holds the ink after the warps.
    xs = [0.0]
    for (prev, _), (mask, _) in zip(glyphs, glyphs[1:]):
        step = gap + rng.uniform(-0.05, 0.05) * size
        xs.append(xs[-1] + prev.width + max(step, -0.25 * min(prev.width, mask.width)))
    tops = [dy for _, dy in glyphs]
    ink_h = max(dy + m.height for m, dy in glyphs) - min(tops)
    vpad = math.ceil(ay) + 1
    height = max(height, math.ceil(ink_h) + 2 * vpad)  # a tall rotated glyph never leaves the canvas
    baseline = vpad - min(tops) + (height - 2 * vpad - ink_h) * rng.uniform(0.2, 0.8)
    room = abs(shear) * height / 2 + ax + 1
    left = round(size * rng.uniform(0.1, 0.9) + room)
    width = math.ceil(left + xs[-1] + glyphs[-1][0].width + size * rng.uniform(0.1, 0.9) + room)

    light = rng.random() < 0.7
    background = _background(rng, nrng, light, width, height)
    lum = background @ np.float32(LUMA)
    lo, hi = float(lum.min()), float(lum.max())
    word_colour = _text_colour(rng, light, lo, hi)
    per_char = rng.random() < 0.4
    colours = [_text_colour(rng, light, lo, hi) if per_char else word_colour for _ in text]
    placed = [(mask, (round(left + x), min(max(round(baseline + dy), 0), height - mask.height)), colour)
              for (mask, dy), x, colour in zip(glyphs, xs, colours)]
    if not warp and shape == "flat":  # straight onto the background, no float arrays: most images
        img = Image.fromarray(np.clip(background + 0.5, 0, 255).astype(np.uint8), "RGB")
        for mask, at, colour in placed:
            img.paste(colour, at, mask)
        pixels = np.array(img)
    else:
        # The text as premultiplied RGBA (colour * coverage), which bilinear resampling and "over"
        # compositing need. Pasting through masks onto black RGB and empty L images blends
        # linearly, which builds exactly that (an RGBA paste would un-premultiply).
        ink, cover = Image.new("RGB", (width, height)), Image.new("L", (width, height))
        for mask, at, colour in placed:
            ink.paste(colour, at, mask)
            cover.paste(255, at, mask)
        layer = np.concatenate([np.asarray(ink), np.asarray(cover)[..., None]], axis=2)
        gx, gy = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
        sx, sy = gx, gy
        if pull:  # pulling the source corners outwards shrinks the text into a trapezoid, never crops it
            (w1, h1), p = (width - 1, height - 1), pull
            corners = [(0, 0), (w1, 0), (w1, h1), (0, h1)]
            source = [(-p[0] * w1, -p[1] * h1), (w1 + p[2] * w1, -p[3] * h1),
                      (w1 + p[4] * w1, h1 + p[5] * h1), (-p[6] * w1, h1 + p[7] * h1)]
            m = _homography(corners, source).tolist()  # Python floats keep the maps float32
            d = m[2][0] * gx + m[2][1] * gy + 1
            sx, sy = (m[0][0] * gx + m[0][1] * gy + m[0][2]) / d, (m[1][0] * gx + m[1][1] * gy + m[1][2]) / d
        sx = sx + shear * (sy - height / 2)
        if warp:
            sx, sy = (sx + ax * np.sin(2 * math.pi * sy / periods[1] + phases[1]),
                      sy + ay * np.sin(2 * math.pi * sx / periods[0] + phases[0]))
        premul = _remap(layer, sx.astype(np.float32), sy.astype(np.float32))
        image = background * (1 - premul[..., 3:] / 255) + premul[..., :3]
        pixels = np.clip(image + 0.5, 0, 255).astype(np.uint8)

    if rng.random() < 0.5:  # noise dots, one or two pixels across
        n = int(width * height * rng.uniform(0.002, 0.015))
        ys, xs_ = nrng.integers(0, height, n), nrng.integers(0, width, n)
        dot = rng.choice(colours) if rng.random() < 0.5 else _colour(rng, rng.uniform(0, 255), 100)
        for dx, dy_ in ((0, 0), (1, 0), (0, 1), (1, 1))[: 4 if rng.random() < 0.5 else 1]:
            pixels[np.minimum(ys + dy_, height - 1), np.minimum(xs_ + dx, width - 1)] = dot
    img = Image.fromarray(pixels, "RGB")
    if rng.random() < 0.7:
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randint(1, 4)):
            same = rng.random() < 0.5
            colour = rng.choice(colours) if same else _colour(rng, rng.uniform(0, 255), 100)
            # A line in the text colour stays thinner than most strokes, or it would hide them.
            thickness = rng.randint(1, max(1, round(size / (20 if same else 12))))
            kind = rng.choice(("line", "arc", "wave"))
            if kind == "line":
                points = [(rng.uniform(0, width / 3), rng.uniform(0, height)),
                          (rng.uniform(2 * width / 3, width), rng.uniform(0, height))]
                draw.line(points, fill=colour, width=thickness)
            elif kind == "arc":
                x0, y0 = rng.uniform(-width / 2, width / 2), rng.uniform(-height, height / 2)
                box = (x0, y0, x0 + rng.uniform(width / 3, width * 1.5), y0 + rng.uniform(height / 2, height * 2))
                draw.arc(box, rng.uniform(0, 360), rng.uniform(0, 360), fill=colour, width=thickness)
            else:
                amp, period = height * rng.uniform(0.05, 0.3), width * rng.uniform(0.2, 1)
                phase, mid = rng.uniform(0, 2 * math.pi), rng.uniform(0.2, 0.8) * height
                points = [(x, mid + amp * math.sin(2 * math.pi * x / period + phase)) for x in range(0, width + 4, 4)]
                draw.line(points, fill=colour, width=thickness, joint="curve")
    if rng.random() < 0.3:  # blur and JPEG come last, as when a real captcha is scaled and saved
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, max(0.5, size / 50))))
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        img.save(buffer, "JPEG", quality=rng.randint(15, 60))
        img = Image.open(buffer).convert("RGB")
    return img


class BroadGenerator:
    """Draws broad captcha i of (seed, split) deterministically."""

    def __init__(self, chars: str, min_length: int, max_length: int, fonts: tuple[str, ...] = ()):
        """Args:
            chars: the characters texts are drawn from (uniformly).
            min_length, max_length: text lengths are uniform in this inclusive range.
            fonts: font files to draw with besides the bundled ones (`font_files`).

        Raises:
            UserError: empty charset or a bad length range.
        """
        if not chars:
            raise UserError("broad generator: chars is empty; give the characters to draw, e.g. 0-9a-z")
        if not 1 <= min_length <= max_length:
            raise UserError(f"broad generator: lengths need 1 <= min_length <= max_length, got {min_length}..{max_length}")
        self.chars, self.min_length, self.max_length = chars, min_length, max_length
        self.files = _font_files(tuple(fonts))

    def sample(self, seed: int, split: str, index: int) -> tuple[str, Image.Image]:
        """Captcha `index` of (seed, split).

        Returns:
            (text, RGB PIL image of its own size), the same bytes in every process.
        """
        rng = random.Random(f"broad:{seed}:{split}:{index}")
        length = rng.randint(self.min_length, self.max_length)
        text = "".join(rng.choice(self.chars) for _ in range(length))
        return text, _draw(text, rng, self.files)
