"""Reproducible synthetic captchas from the `captcha` package's `ImageCaptcha`.

`captcha` 0.7.1 draws every random number from the `secrets` module (0.7.0 used
`random`), which cannot be seeded. We make it reproducible without copying its
drawing code: while one of our images is drawn, the `secrets` (and `random`)
names inside `captcha.image` are pointed at an object with the same methods
backed by a `random.Random` seeded from (seed, split, index). Every draw, the
text included, comes from that per-image RNG, so image i of a seed is the same
bytes in any process, with any number of workers, in any order.

`generator.kind: broad` draws from `captcha_ocr.synth.broad` instead (many fonts,
colours, sizes and distortions), seeded the same way, through the same
`render`/`render_chunk` and worker pools.

This module does not import TensorFlow: worker processes stay light.
"""

from __future__ import annotations

import random
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from captcha import image as captcha_image
from PIL import Image
from PIL.ImageFilter import SMOOTH

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import to_array
from captcha_ocr.core.spec import InputShape
from captcha_ocr.core.workers import process_pool, worker_count

_PATCH_LOCK = threading.Lock()


class _SeededSecrets:
    """The subset of the `secrets` and `random` APIs that `captcha.image` calls, seeded."""

    def __init__(self, rng: random.Random):
        self._rng = rng

    def randbelow(self, n: int) -> int:
        return self._rng.randrange(n)

    def randbits(self, k: int) -> int:
        return self._rng.getrandbits(k)

    def __getattr__(self, name):
        # choice, randint, uniform, random, ...: the Random instance has them all.
        return getattr(self._rng, name)


FONT_EXTENSIONS = (".ttf", ".otf", ".ttc")


MATPLOTLIB_FONT = "matplotlib:"  # "matplotlib:DejaVuSans.ttf": a font file shipped in matplotlib's package


def expand_fonts(entries) -> tuple[str, ...]:
    """Font files, folders of fonts and `matplotlib:NAME` entries -> font file paths.

    `matplotlib:NAME` names a TrueType file of matplotlib's package (fonts/ttf), which every
    install of captcha_ocr has, so a config that uses it works on any machine.

    Raises:
        UserError: an entry does not exist or a folder holds no fonts.
    """
    out: list[str] = []
    for entry in entries:
        if str(entry).startswith(MATPLOTLIB_FONT):
            import matplotlib

            entry = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / str(entry)[len(MATPLOTLIB_FONT):]
        path = Path(entry).expanduser()
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*") if p.suffix.lower() in FONT_EXTENSIONS)
            if not found:
                raise UserError(f"generator.fonts: folder {entry!r} holds no .ttf/.otf fonts")
            out += found
        elif path.is_file():
            out.append(str(path))
        else:
            raise UserError(f"generator.fonts: font file {entry!r} not found; give .ttf/.otf files or folders that exist")
    return tuple(out)


@dataclass(frozen=True)
class GeneratorSpec:
    """Everything that determines the generated images (picklable for workers, hashable)."""

    chars: str
    min_length: int
    max_length: int
    pad: str
    width: int
    height: int
    fonts: tuple[str, ...]
    font_sizes: tuple[int, ...]
    style: tuple = ()  # (name, value) pairs of the style keys of the generator config
    kind: str = "imagecaptcha"  # see captcha_ocr.core.choices.GENERATOR_KINDS

    @classmethod
    def from_config(cls, config) -> "GeneratorSpec":
        g = config.generator
        c = config.charset
        style = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in g.model_dump().items()
                      if k not in ("width", "height", "fonts", "font_sizes", "kind"))
        return cls(c.chars, c.min_length, c.max_length, c.pad, g.width, g.height, expand_fonts(g.fonts),
                   tuple(g.font_sizes), style, g.kind)

    def cache_key(self) -> dict:
        """The fields that determine the images, as a JSON-ready dict (for cache file names).

        Whole floats are written as integers: a config's defaults hold `rotation: [-30, 30]`
        while the same config read back from a run's config.yaml holds [-30.0, 30.0], and both
        must name the same cache file. The default kind is left out so that sets cached before
        `kind` existed keep their names.
        """
        return {k: _plain_numbers(v) for k, v in self.__dict__.items() if not (k == "kind" and v == "imagecaptcha")}

    @property
    def charset(self) -> Charset:
        return Charset(self.chars, self.max_length, self.min_length, self.pad)


def _plain_numbers(value):
    """`value` with every whole float (30.0) made an int (30), in nested tuples and lists too."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (tuple, list)):
        return type(value)(_plain_numbers(v) for v in value)
    return value


class StyledCaptcha(captcha_image.ImageCaptcha):
    """`ImageCaptcha` with its colours, noise, rotation, warp and spacing taken from config.

    With the default style it draws exactly what `ImageCaptcha.generate_image`
    draws (same random draws in the same order; a test checks it).
    """

    def __init__(self, width: int, height: int, fonts, font_sizes, style: dict):
        super().__init__(width=width, height=height, fonts=list(fonts) or None, font_sizes=tuple(font_sizes) or None)
        self.style = style
        self.character_rotate = tuple(style["rotation"])
        self.character_warp_dx = tuple(style["warp_dx"])
        self.character_warp_dy = tuple(style["warp_dy"])
        self.character_offset_dx = tuple(int(v) for v in style["offset_dx"])
        self.character_offset_dy = tuple(int(v) for v in style["offset_dy"])
        self.word_space_probability = style["space_probability"]
        self.word_offset_dx = style["overlap"]

    def generate_image(self, chars: str, bg_color=None, fg_color=None) -> Image.Image:
        s = self.style
        # Same order of draws as ImageCaptcha.generate_image: background, alpha, text colour.
        background = captcha_image.random_color(*s["background"])
        lo, hi = s["text_alpha"]
        alpha = captcha_image.secrets.randbelow(hi - lo + 1) + lo
        color = captcha_image.random_color(*s["text_color"], alpha)
        im = self.create_captcha_image(chars, color, background)
        if s["noise_dots"]:
            self.create_noise_dots(im, color, width=s["noise_dot_width"], number=s["noise_dots"])
        for _ in range(s["noise_curves"]):
            self.create_noise_curve(im, color)
        return im.filter(SMOOTH)


class CaptchaGenerator:
    """Draws captcha i of (seed, split) deterministically."""

    def __init__(self, spec: GeneratorSpec):
        self.spec = spec
        self._captcha = StyledCaptcha(spec.width, spec.height, spec.fonts, spec.font_sizes, dict(spec.style))

    def sample(self, seed: int, split: str, index: int) -> tuple[str, Image.Image]:
        """Return (text, RGB PIL image) for one index of a seeded split."""
        rng = random.Random(f"captcha_ocr:{seed}:{split}:{index}")
        length = rng.randint(self.spec.min_length, self.spec.max_length)
        text = "".join(rng.choice(self.spec.chars) for _ in range(length))
        with seeded_captcha(rng):
            img = self._captcha.generate_image(text)
        return text, img


@contextmanager
def seeded_captcha(rng: random.Random):
    """Within this block, every random draw of `captcha.image` comes from `rng`."""
    shim = _SeededSecrets(rng)
    with _PATCH_LOCK:
        saved = {name: getattr(captcha_image, name) for name in ("secrets", "random") if hasattr(captcha_image, name)}
        try:
            for name in saved:
                setattr(captcha_image, name, shim)
            yield
        finally:
            for name, module in saved.items():
                setattr(captcha_image, name, module)


# One generator per worker process, so fonts are loaded once per process.
_GENERATORS: dict = {}


def _generator(spec: GeneratorSpec):
    """The generator a spec's kind names: anything with `sample(seed, split, index) -> (text, image)`."""
    gen = _GENERATORS.get(spec)
    if gen is None:
        if spec.kind == "broad":
            from captcha_ocr.synth.broad import BroadGenerator

            gen = BroadGenerator(spec.chars, spec.min_length, spec.max_length, spec.fonts)
        else:
            gen = CaptchaGenerator(spec)
        _GENERATORS[spec] = gen
    return gen


@dataclass(frozen=True)
class Chunk:
    """A range of sample indices of one seeded split, rendered at one input size."""

    spec: GeneratorSpec
    seed: int
    split: str
    start: int
    count: int
    width: int
    height: int
    channels: int
    resize: str = "stretch"  # how a drawn captcha becomes the input (captcha_ocr.core.choices.RESIZE_MODES)


def render_chunk(chunk: Chunk) -> tuple[np.ndarray, np.ndarray]:
    """Render a chunk to (uint8 images (n, H, W, C), int32 labels (n, max_length))."""
    gen = _generator(chunk.spec)
    charset = chunk.spec.charset
    images = np.empty((chunk.count, chunk.height, chunk.width, chunk.channels), np.uint8)
    labels = np.empty((chunk.count, charset.max_length), np.int32)
    for i in range(chunk.count):
        text, img = gen.sample(chunk.seed, chunk.split, chunk.start + i)
        images[i] = to_array(img, chunk.width, chunk.height, chunk.channels, chunk.resize)
        labels[i] = charset.encode(text)
    return images, labels


def _check_shape(shape) -> None:
    # A bare tuple could be in (width, height, channels) order, as sizes were before InputShape.
    if not isinstance(shape, InputShape):
        raise TypeError(f"shape must be an InputShape(height, width, channels), got {shape!r}")


def chunks_for(
    spec: GeneratorSpec, seed: int, split: str, count: int, shape: InputShape, chunk_size: int = 256, start: int = 0,
    resize: str = "stretch",
) -> list[Chunk]:
    """The chunks that render captchas start .. start+count-1 of a seeded split at `shape`."""
    _check_shape(shape)
    return [
        Chunk(spec, seed, split, s, min(chunk_size, start + count - s), shape.width, shape.height, shape.channels,
              resize)
        for s in range(start, start + count, chunk_size)
    ]


def render(
    spec: GeneratorSpec,
    seed: int,
    split: str,
    count: int,
    shape: InputShape,
    workers: int = 0,
    progress: Callable[[int, int], None] | None = None,
    resize: str = "stretch",
) -> tuple[np.ndarray, np.ndarray]:
    """Render `count` captchas of a seeded split in parallel.

    Args:
        spec: what to draw.
        seed, split: identify the set; the same pair always gives the same data.
        count: how many.
        shape: (height, width, channels) of the output arrays.
        workers: processes (0 = one per core); 1 renders in this process.
        progress: called with (done, total) after each chunk.
        resize: how each drawn captcha becomes the array (see `images.to_array`).

    Returns:
        (images uint8 (count, H, W, C), labels int32 (count, max_length)).
    """
    chunks = chunks_for(spec, seed, split, count, shape, resize=resize)
    # Filled chunk by chunk: concatenating a list of chunks would hold the set twice at the end.
    images = np.empty((count, *shape), np.uint8)
    labels = np.empty((count, spec.max_length), np.int32)
    workers = min(worker_count(workers), max(1, len(chunks)))
    done = 0
    if workers == 1:
        mapped: Iterator = map(render_chunk, chunks)
        pool = None
    else:
        pool = process_pool(workers)
        mapped = pool.map(render_chunk, chunks)
    try:
        for chunk_images, chunk_labels in mapped:  # in chunk order
            images[done:done + len(chunk_images)] = chunk_images
            labels[done:done + len(chunk_labels)] = chunk_labels
            done += len(chunk_images)
            if progress:
                progress(done, count)
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    return images, labels


def sample_images(spec: GeneratorSpec, seed: int, split: str, indices: Sequence[int]) -> list[tuple[str, Image.Image]]:
    """The raw (text, PIL image) pairs for given indices, drawn in this process."""
    gen = _generator(spec)
    return [gen.sample(seed, split, i) for i in indices]
