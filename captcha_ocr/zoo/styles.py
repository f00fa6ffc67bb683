"""The zoo's registry: which captcha generators of other people we draw with, and the styles we ask of them.

A `Generator` is one package from PyPI or npm, drawn through its own code; a
`Style` is that generator with a set of options: its defaults, or options its
README shows users setting. Each style records the charset and lengths of the
text it draws, and whether the text is ours (drawn from a seeded RNG and handed
to the generator) or the generator's own (which it returns with the image).

Versions and licences are not written here: they are read from the installed
packages when the zoo is drawn (`captcha_ocr.zoo.build`). docs/zoo.md says why
each generator and option was chosen and which candidates were dropped.
"""

from __future__ import annotations

import difflib
import string
from dataclasses import dataclass, field

from captcha_ocr.core.errors import UserError

PYTHON = "python"
NODE = "node"

PIP_HINT = "pip install -e '.[zoo]' && pip install --no-deps trdg==1.8.0"


@dataclass(frozen=True)
class Generator:
    """One package that draws captchas.

    Attributes:
        name: the package's name on its registry (PyPI or npm).
        runtime: PYTHON or NODE.
        fonts: what it draws text with, for people (the manifest lists the files actually used).
        seeding: how its randomness is made reproducible (or why it cannot be).
        seeded: whether the same seed gives the same bytes.
        needs: more installed pieces than the package itself, for the not-installed message.
    """

    name: str
    runtime: str
    fonts: str
    seeding: str
    seeded: bool = True
    needs: str = ""


@dataclass(frozen=True)
class Style:
    """A generator with options, and the text it is asked to draw.

    Attributes:
        name: the style's name (its folder under --out).
        generator: a key of GENERATORS.
        chars: the characters of its labels, in the generator's own order.
        min_length, max_length: label lengths (inclusive).
        width, height: image size in pixels; width 0 when it follows the text.
        ext: the image format the generator serves ("png", "jpg", "gif"), kept as served.
        options: what we pass the generator (JSON-ready), beyond the text.
        text: "ours" (we choose it, the generator draws it) or "generator" (it chooses, we read it back).
        charset_from: where `chars` comes from (the generator's default, its README, or our choice).
        note: a word on the options.
    """

    name: str
    generator: str
    chars: str
    min_length: int
    max_length: int
    width: int
    height: int
    ext: str
    options: dict = field(default_factory=dict, hash=False)
    text: str = "ours"
    charset_from: str = "the generator's default"
    note: str = ""


GENERATORS: dict[str, Generator] = {g.name: g for g in (
    Generator("claptcha", PYTHON, "a TrueType file the user gives: its README's FreeMono.ttf (GNU FreeFont, "
              "Debian fonts-freefont-ttf)",
              "module `random` of claptcha.claptcha", needs="/usr/share/fonts/truetype/freefont/FreeMono.ttf "
              "(apt-get install fonts-freefont-ttf)"),
    Generator("easy-captcha", PYTHON, "bundled: TruenoBdOlIt.otf (DefaultGenerator), AuxinMedium.otf "
              "(SimpleGenerator)", "module `random` of captcha.generator"),
    Generator("flask-simple-captcha", PYTHON, "bundled: RobotoMono Bold, BoldItalic, SemiBold, SemiBoldItalic",
              "module `random` of flask_simple_captcha.img; we pick the font"),
    Generator("gvcode", PYTHON, "bundled: arial.ttf (default), calibri.ttf, simsun.ttc",
              "`random`, `randint`, `choice` of gvcode.gvcode"),
    Generator("kaptcha", PYTHON, "bundled: font1-4.ttf = Roboto Bold Italic, Fredoka One, Alfa Slab One, Mogra",
              "module `random` of kaptcha.captcha"),
    Generator("trdg", PYTHON, "bundled: 100 Latin fonts (Aller, Amatic, Bebas, Capture it, Caviar Dreams, Droid "
              "Sans, Lato, Open Sans, Pacifico, Raleway, Roboto, Sansation, Walkway, ...)",
              "`rnd` (random) of its modules, and cv2.setRNGSeed for the noise background"),
    Generator("svg-captcha", NODE, "bundled: Comismsh.ttf (as glyph outlines in the SVG)",
              "Math.random (seeded PRNG in draw.js); rasterised by @resvg/resvg-js"),
    Generator("trek-captcha", NODE, "built-in bitmap glyphs (lib/font.js, 25 letters)",
              "crypto.randomBytes and Math.random (seeded PRNG in draw.js)"),
    Generator("captchapng", NODE, "built-in bitmap digits (two 0-9 sets in lib/captchapng.js)",
              "Math.random (seeded PRNG in draw.js)"),
    Generator("captcha-canvas", NODE, "system font 'Sans' through fontconfig (DejaVu Sans on Debian)",
              "Math.random and crypto.randomBytes (seeded PRNG in draw.js)",
              needs="the native `canvas` module, built against cairo"),
)}

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase
_FLASK_SIMILAR = set("oOlI1")  # flask_simple_captcha.config.EXCHARS
_KAPTCHA_LETTERS = "".join(c for c in string.ascii_letters if c not in "ilIQjq")  # kaptcha.captcha
_KAPTCHA_DIGITS = string.digits[1:]

STYLES: tuple[Style, ...] = (
    # claptcha: no charset of its own (text is whatever the caller gives); a TTF path is required.
    Style("claptcha", "claptcha", ALNUM, 4, 6, 200, 80, "png",
          {"font": "FreeMono.ttf", "size": [200, 80], "margin": [20, 20], "resample": "BILINEAR", "noise": 0.0},
          charset_from="ours (claptcha takes any text; 0-9A-Za-z)"),
    Style("claptcha-noise", "claptcha", ALNUM, 4, 6, 100, 30, "png",
          {"font": "FreeMono.ttf", "size": [100, 30], "margin": [10, 5], "resample": "BICUBIC", "noise": 0.3},
          charset_from="ours (claptcha takes any text; 0-9A-Za-z)",
          note="its README's second example (100x30, bicubic, noise 0.3), with a margin that fits 30 px: "
               "the default (20, 20) raises ClaptchaError there"),
    Style("claptcha-wide", "claptcha", ALNUM, 4, 8, 640, 80, "png",
          {"font": "FreeMono.ttf", "size": [640, 80], "margin": [20, 20], "resample": "BILINEAR", "noise": 0.0},
          charset_from="ours (claptcha takes any text; 0-9A-Za-z)",
          note="its size parameter at 640x80 (8:1), 4-8 characters: the kept-aside twin of kaptcha-wide"),
    Style("claptcha-16x9", "claptcha", ALNUM, 4, 6, 320, 180, "png",
          {"font": "FreeMono.ttf", "size": [320, 180], "margin": [20, 20], "resample": "BILINEAR", "noise": 0.0},
          charset_from="ours (claptcha takes any text; 0-9A-Za-z)",
          note="its size parameter at 320x180 (16:9, large characters): the kept-aside twin of kaptcha-16x9"),
    # easy-captcha: its tests draw 'ABCD' and 'ABCDEFG'.
    Style("easy-captcha", "easy-captcha", UPPER, 4, 4, 100, 50, "png", {"generator": "DefaultGenerator"},
          charset_from="its tests ('ABCD')"),
    Style("easy-captcha-simple", "easy-captcha", UPPER, 4, 7, 100, 50, "png", {"generator": "SimpleGenerator"},
          charset_from="its tests ('ABCDEFG')"),
    Style("flask-simple-captcha", "flask-simple-captcha", "".join(c for c in UPPER if c not in _FLASK_SIMILAR),
          6, 6, 180, 60, "jpg",
          {"CAPTCHA_LENGTH": 6, "CAPTCHA_DIGITS": False, "EXCLUDE_VISUALLY_SIMILAR": True,
           "BACKGROUND_COLOR": [0, 0, 0], "TEXT_COLOR": [255, 255, 255], "CAPTCHA_IMG_FORMAT": "JPEG"}),
    Style("flask-simple-captcha-digits", "flask-simple-captcha",
          "".join(c for c in UPPER + string.digits if c not in _FLASK_SIMILAR), 6, 6, 180, 60, "png",
          {"CAPTCHA_LENGTH": 6, "CAPTCHA_DIGITS": True, "EXCLUDE_VISUALLY_SIMILAR": True,
           "BACKGROUND_COLOR": [255, 255, 255], "TEXT_COLOR": [30, 30, 120], "CAPTCHA_IMG_FORMAT": "PNG"},
          note="README config keys: digits on, light background, PNG"),
    Style("gvcode", "gvcode", string.digits + string.ascii_letters, 5, 5, 200, 80, "png",
          {"width": 200, "height": 80, "fontsize": 50, "draw_dots": False, "draw_lines": True, "lines_width": 3,
           "mask": False, "font": "arial.ttf"},
          charset_from="its generate_mix() (5 of 0-9a-zA-Z)"),
    Style("gvcode-dots", "gvcode", string.digits, 4, 4, 200, 80, "png",
          {"width": 200, "height": 80, "fontsize": 50, "draw_dots": True, "dots_width": 2, "draw_lines": True,
           "lines_width": 2, "mask": True, "font": "calibri.ttf"},
          charset_from="its generate_digit(4)", note="README options: dots, frosted mask, calibri"),
    Style("kaptcha", "kaptcha", _KAPTCHA_LETTERS + _KAPTCHA_DIGITS, 4, 4, 200, 80, "jpg",
          {"method": "letter_digit", "width": 200, "height": 80, "chips": 5, "mode": "RGB", "bg": "white"},
          text="generator", charset_from="its letter_digit() (no 0 i j l q I Q)"),
    Style("kaptcha-emboss", "kaptcha", _KAPTCHA_LETTERS + _KAPTCHA_DIGITS, 4, 4, 200, 80, "jpg",
          {"method": "letter_digit", "width": 200, "height": 80, "chips": 5, "mode": "RGB", "bg": "#000000",
           "emboss": True},
          text="generator", charset_from="its letter_digit() (no 0 i j l q I Q)",
          note="its README example: black background, emboss filter"),
    # Wider than any other style: its width and length parameters as set for a long text (8:1, 4-8 characters).
    Style("kaptcha-wide", "kaptcha", _KAPTCHA_LETTERS + _KAPTCHA_DIGITS, 4, 8, 640, 80, "jpg",
          {"method": "letter_digit", "width": 640, "height": 80, "chips": 5, "mode": "RGB", "bg": "white"},
          text="generator", charset_from="its letter_digit() (no 0 i j l q I Q)",
          note="its width, height and length parameters: 640x80 (8:1), 4-8 characters"),
    # Narrower than any other style: a 16:9 canvas whose characters fill its height.
    Style("kaptcha-16x9", "kaptcha", _KAPTCHA_LETTERS + _KAPTCHA_DIGITS, 4, 4, 320, 180, "jpg",
          {"method": "letter_digit", "width": 320, "height": 180, "chips": 5, "mode": "RGB", "bg": "white"},
          text="generator", charset_from="its letter_digit() (no 0 i j l q I Q)",
          note="its width and height parameters: 320x180 (16:9, large characters), its 4 characters"),
    # trdg draws text lines; `trdg -rs` words are 2-10 characters of letters, digits and symbols.
    Style("trdg", "trdg", string.ascii_letters + string.digits + "!\"#$%&'()*+,-./:;?@[\\]^_`{|}~", 2, 10, 0, 32,
          "jpg", {"size": 32, "skewing_angle": 0, "random_skew": False, "blur": 0, "random_blur": False,
                  "background_type": 0, "distorsion_type": 0, "distorsion_orientation": 0,
                  "text_color": "#282828", "margins": [5, 5, 5, 5]},
          charset_from="its --random_sequences pool (letters, digits, symbols)"),
    Style("trdg-distorted", "trdg", string.ascii_letters + string.digits, 4, 8, 0, 48, "jpg",
          {"size": 48, "skewing_angle": 5, "random_skew": True, "blur": 1, "random_blur": True,
           "background_type": 0, "distorsion_type": 3, "distorsion_orientation": 0,
           "text_color": "#000000,#888888", "margins": [5, 5, 5, 5]},
          charset_from="its -rs -let -num pool", note="README options: -k 5 -rk -bl 1 -rbl -d 3 -tc -f 48"),
    Style("svg-captcha", "svg-captcha", ALNUM, 4, 4, 150, 50, "png",
          {"create": {"width": 150, "height": 50, "noise": 1, "color": False, "fontSize": 56}, "page": "white"}),
    Style("svg-captcha-color", "svg-captcha", "".join(c for c in ALNUM if c not in "0o1i"), 4, 4, 150, 50, "png",
          {"create": {"width": 150, "height": 50, "noise": 2, "color": True, "background": "#cc9966",
                      "fontSize": 56}, "page": "white"},
          charset_from="its default less its README's ignoreChars '0o1i'",
          note="its README example: noise 2, color, background #cc9966"),
    # trek-captcha picks letters from 'abcdafahijklmnopqrstuvwxyz'[0:25] and returns them.
    Style("trek-captcha", "trek-captcha", "abcdfhijklmnopqrstuvwxy", 5, 5, 200, 70, "gif",
          {"size": 5, "style": -1}, text="generator", charset_from="its own letters (no e, g, z)"),
    Style("trek-captcha-4", "trek-captcha", "abcdfhijklmnopqrstuvwxy", 4, 4, 200, 70, "gif",
          {"size": 4, "style": 0}, text="generator", charset_from="its own letters (no e, g, z)",
          note="its API's options: 4 letters, black"),
    Style("captchapng", "captchapng", string.digits, 4, 4, 80, 30, "png",
          {"width": 80, "height": 30, "background": [0, 0, 0, 0], "paint": [80, 80, 80, 255]},
          charset_from="its README (4 digits)", note="its README example (transparent background)"),
    Style("captchapng-6", "captchapng", string.digits, 6, 6, 120, 36, "png",
          {"width": 120, "height": 36, "background": [255, 255, 255, 255], "paint": [0, 0, 0, 255]},
          charset_from="its README (digits)", note="6 digits, opaque white background"),
    # captcha-canvas's own text: 6 letters of a hex string upper-cased, so A-F.
    Style("captcha-canvas", "captcha-canvas", "ABCDEF", 6, 6, 300, 100, "png",
          {"width": 300, "height": 100, "captcha": {}},
          charset_from="its default (letters of a hex string: A-F)"),
    Style("captcha-canvas-large", "captcha-canvas", "ABCDEF", 6, 6, 600, 200, "png",
          {"width": 600, "height": 200, "captcha": {"size": 60, "colors": ["#32cf7e", "#e1324b", "#3c5ee1"]},
           "trace": {"size": 5, "color": "deeppink"}},
          charset_from="its default (letters of a hex string: A-F)",
          note="its README size 600x200 and its docs' setCaptcha/setTrace examples"),
)

STYLES_BY_NAME: dict[str, Style] = {s.name: s for s in STYLES}


def select_styles(names: str | None) -> list[Style]:
    """The styles a `--styles a,b,...` value names (all of them for None or "all"), in registry order.

    Raises:
        UserError: a name is not a style; the message lists the known ones.
    """
    if names is None or names.strip() in ("", "all"):
        return list(STYLES)
    wanted = [n.strip() for n in names.split(",") if n.strip()]
    for name in wanted:
        if name not in STYLES_BY_NAME:
            close = difflib.get_close_matches(name, STYLES_BY_NAME, n=1, cutoff=0.6)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise UserError(f"--styles: unknown style {name!r}{hint}; known styles: {', '.join(STYLES_BY_NAME)}")
    return [s for s in STYLES if s.name in wanted]


def describe_charset(chars: str) -> str:
    """A short form of a charset: runs of consecutive characters as ranges, e.g. 'A-HJ-NP-Z2-9'."""
    out, i = [], 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and ord(chars[j + 1]) == ord(chars[j]) + 1:
            j += 1
        out.append(chars[i] + (("-" if j - i > 1 else "") + chars[j] if j > i else ""))
        i = j + 1
    return "".join(out)
