"""Draw one captcha with a PyPI generator, its randomness seeded, its bytes as it serves them.

Each drawer takes (style, text, length, rng) and returns (text, image bytes). It
calls the generator's own public drawing code; the only things we change while
it draws are the names its module draws random numbers from (pointed at `rng`,
a `random.Random` seeded per image, as `captcha_ocr.synth.imagecaptcha` does for
ImageCaptcha) and, for generators written for Pillow 9, the few Pillow calls
that Pillow 9.5 and 10 removed or now refuse (`_old_pillow`). Nothing of theirs
is copied or altered.

The generators are imported inside the drawers, so that the zoo's other
commands (`--list`) work without them.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import sys
import types
from contextlib import ExitStack, contextmanager, redirect_stdout
from functools import lru_cache
from pathlib import Path
from typing import Callable

from captcha_ocr.zoo.styles import Style

FREEMONO = Path("/usr/share/fonts/truetype/freefont/FreeMono.ttf")

# The module each generator is imported as (easy-captcha's package is named `captcha`, like ImageCaptcha's).
MODULES = {"claptcha": "claptcha", "easy-captcha": "captcha.generator", "flask-simple-captcha": "flask_simple_captcha",
           "gvcode": "gvcode", "kaptcha": "kaptcha", "trdg": "trdg.data_generator"}


class DrawError(Exception):
    """The generator drew nothing for this image (it is skipped and reported)."""


@contextmanager
def _patched(module, **names):
    """Within this block, `module.<name>` is the given value (put back afterwards)."""
    saved = {name: getattr(module, name) for name in names}
    try:
        for name, value in names.items():
            setattr(module, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


def _box(xy) -> tuple:
    """(x0, y0, x1, y1) of a box given as 4 numbers or 2 points."""
    return tuple(xy[0]) + tuple(xy[1]) if len(xy) == 2 else tuple(xy)


@contextmanager
def _old_pillow():
    """While a generator written for Pillow 9 draws, Pillow 13 behaves as Pillow 9.4 did where it now refuses.

    Pillow 10 removed `FreeTypeFont.getsize` and `Image.ANTIALIAS` (claptcha 0.3.3, easy-captcha 1.3.3
    and trdg 1.8.0 call them); Pillow 9.5 made boxes whose corners are out of order an error
    (kaptcha 1.0.1 draws such boxes for about 3 images in 4). Here:
    - getsize is Pillow 9.5's: the text's (width + 2 stroke + x offset, height + 2 stroke + y offset),
      which is getbbox's right and bottom plus the stroke width;
    - ANTIALIAS is LANCZOS, as it was;
    - a box with y1 < y0 is drawn by `rectangle` with its y corners swapped, and a box with x1 < x0 (or
      any reversed box of `ellipse`) draws nothing, as Pillow 9.4's C code did (ImagingDrawRectangle
      swapped y, its row filler skipped x0 > x1, the ellipse code returned on a negative axis).
    """
    from PIL import Image, ImageDraw, ImageFont

    saved = []

    def put(owner, name, value):
        saved.append((owner, name, owner.__dict__.get(name)))
        setattr(owner, name, value)

    if not hasattr(ImageFont.FreeTypeFont, "getsize"):
        def getsize(self, text, direction=None, features=None, language=None, stroke_width=0):
            _, _, right, bottom = self.getbbox(text, "L", direction, features, language, stroke_width)
            return right + stroke_width, bottom + stroke_width

        put(ImageFont.FreeTypeFont, "getsize", getsize)
    if not hasattr(Image, "ANTIALIAS"):
        put(Image, "ANTIALIAS", Image.Resampling.LANCZOS)
    rectangle, ellipse = ImageDraw.ImageDraw.rectangle, ImageDraw.ImageDraw.ellipse

    def old_rectangle(self, xy, *args, **kwargs):
        x0, y0, x1, y1 = _box(xy)
        if x1 >= x0:
            rectangle(self, (x0, min(y0, y1), x1, max(y0, y1)), *args, **kwargs)

    def old_ellipse(self, xy, *args, **kwargs):
        x0, y0, x1, y1 = _box(xy)
        if x1 >= x0 and y1 >= y0:
            ellipse(self, xy, *args, **kwargs)

    put(ImageDraw.ImageDraw, "rectangle", old_rectangle)
    put(ImageDraw.ImageDraw, "ellipse", old_ellipse)
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


def _png(img) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def _data_uri(uri: str) -> bytes:
    """The bytes of a 'data:image/...;base64,...' string (or of bare base64)."""
    return base64.b64decode(uri.split(",", 1)[-1])


def draw_claptcha(style: Style, text: str, length: int, rng) -> tuple[str, bytes]:
    from claptcha import claptcha as mod
    from PIL import Image

    o = style.options
    with _patched(mod, random=rng), _old_pillow():
        c = mod.Claptcha(text, str(FREEMONO), size=tuple(o["size"]), margin=tuple(o["margin"]),
                         resample=getattr(Image.Resampling, o["resample"]), noise=o["noise"])
        drawn, buffer = c.bytes
    return drawn, buffer.getvalue()


def draw_easy_captcha(style: Style, text: str, length: int, rng) -> tuple[str, bytes]:
    from captcha import generator as mod  # easy-captcha's module (see MODULES)

    with _patched(mod, random=rng), _old_pillow():
        img = getattr(mod, style.options["generator"])().make_captcha(string=text)
    return text, _png(img)


def draw_flask_simple_captcha(style: Style, text: str, length: int, rng) -> tuple[str, bytes]:
    # CAPTCHA.create() picks its text from a set (its order changes with PYTHONHASHSEED) and a font,
    # then calls these two functions; we pick both from rng and call them the same way.
    from flask_simple_captcha import img as mod
    from flask_simple_captcha.text import FONT_PATHS

    o = style.options
    with _patched(mod, ran=rng):
        font = rng.choice(sorted(FONT_PATHS))
        img = mod.create_text_img(text, font, back_color=tuple(o["BACKGROUND_COLOR"]),
                                  text_color=tuple(o["TEXT_COLOR"]))
    return text, _data_uri(mod.convert_b64img(img, o["CAPTCHA_IMG_FORMAT"]))


def draw_gvcode(style: Style, text: str, length: int, rng) -> tuple[str, bytes]:
    from gvcode import gvcode as mod

    with _patched(mod, random=rng, randint=rng.randint, choice=rng.choice):
        vc = mod.VFCode(**style.options)
        vc.generate(text)
        return text, vc.get_img_bytes("png")


def draw_kaptcha(style: Style, text: str, length: int, rng) -> tuple[str, bytes]:
    # kaptcha chooses the text itself (letter(), digit(), letter_digit()) and returns it with the image.
    from kaptcha import captcha as mod

    o = dict(style.options)
    method = o.pop("method")
    with _patched(mod, random=rng), _old_pillow():
        drawn, uri = getattr(mod.Captcha(**o), method)(length=length)
    return drawn, _data_uri(uri)


def _trdg():
    """trdg's drawing modules, imported without its handwriting module (TensorFlow 1 and seaborn, unused here)."""
    if "trdg.handwritten_text_generator" not in sys.modules and importlib.util.find_spec("trdg") is not None:
        sys.modules["trdg.handwritten_text_generator"] = types.ModuleType("trdg.handwritten_text_generator")
    from trdg import background_generator, computer_text_generator, data_generator, distorsion_generator
    from trdg.utils import load_fonts

    return (background_generator, computer_text_generator, data_generator, distorsion_generator), load_fonts


@lru_cache(maxsize=1)
def trdg_fonts() -> tuple[str, ...]:
    """trdg's Latin fonts, sorted (trdg lists the folder, whose order differs between file systems); listed
    once per process, not once per image."""
    _, load_fonts = _trdg()
    return tuple(sorted(load_fonts("en")))


def draw_trdg(style: Style, text: str, length: int, rng) -> tuple[str, bytes]:
    import cv2

    modules, _ = _trdg()
    o = style.options
    font = rng.choice(trdg_fonts())  # as trdg's command line does: one font per image
    said = io.StringIO()  # trdg prints why it skips an image; that goes in our report, not on our stdout
    with ExitStack() as stack, _old_pillow(), redirect_stdout(said):
        for module in modules:
            stack.enter_context(_patched(module, rnd=rng))
        cv2.setRNGSeed(rng.getrandbits(31))  # the Gaussian-noise background draws from OpenCV's RNG
        image_dir = str(Path(modules[0].__file__).parent / "images")
        img = modules[2].FakeTextDataGenerator.generate(
            0, text, font, None, o["size"], None, o["skewing_angle"], o["random_skew"], o["blur"],
            o["random_blur"], o["background_type"], o["distorsion_type"], o["distorsion_orientation"], False, 0, -1,
            1, o["text_color"], 0, 1.0, 0, tuple(o["margins"]), False, False, False, image_dir, 0, "#282828", "RGB", 0)
    if img is None:
        why = said.getvalue().splitlines()
        raise DrawError(f"trdg drew nothing: {why[0] if why else 'no reason given'}")
    buffer = io.BytesIO()
    img.save(buffer, format="JPEG")  # trdg's default extension, saved by Pillow's defaults as trdg does
    return text, buffer.getvalue()


DRAWERS: dict[str, Callable[[Style, str, int, object], tuple[str, bytes]]] = {
    "claptcha": draw_claptcha,
    "easy-captcha": draw_easy_captcha,
    "flask-simple-captcha": draw_flask_simple_captcha,
    "gvcode": draw_gvcode,
    "kaptcha": draw_kaptcha,
    "trdg": draw_trdg,
}


def font_files(style: Style) -> list[str]:
    """The font files a Python style draws with (names; system fonts with their path)."""
    g, o = style.generator, style.options
    if g == "claptcha":
        return [str(FREEMONO)]
    if g == "easy-captcha":
        from captcha import generator as mod

        return [getattr(mod, o["generator"]).FONT]
    if g == "flask-simple-captcha":
        from flask_simple_captcha.text import FONT_NAMES

        return sorted(FONT_NAMES)
    if g == "gvcode":
        return [o["font"]]
    if g == "kaptcha":
        from kaptcha import captcha as mod

        return [Path(f).name for f in mod.FONT]  # Captcha(font=...) is ignored: it always uses all four
    if g == "trdg":
        return [Path(f).name for f in trdg_fonts()]
    raise KeyError(g)


def missing(generator: str) -> str | None:
    """What is missing to draw with a Python generator, or None when it can draw."""
    top = MODULES[generator].split(".")[0]
    if importlib.util.find_spec(top) is None:
        return f"the Python package {generator}"
    if generator == "easy-captcha" and importlib.util.find_spec("captcha.generator") is None:
        return "the Python package easy-captcha"
    if generator == "trdg" and importlib.util.find_spec("cv2") is None:
        return "OpenCV (opencv-python-headless), which trdg draws its noise with"
    if generator == "claptcha" and not FREEMONO.is_file():
        return f"the font {FREEMONO} (apt-get install fonts-freefont-ttf)"
    return None
