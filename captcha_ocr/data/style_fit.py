"""Fit the ImageCaptcha generator's style to a folder of captchas: `python -m captcha_ocr.fit_style --data D --out C`.

Writes a config holding only its differences from the defaults, so that
`python -m captcha_ocr.generate --config C.yaml` draws captchas that look like
the folder's, and a contact sheet (real captchas on top, synthetic below) to
judge the fit by eye.

Read from the folder directly: the drawing size (`generator.width/height`, the
median image size) and, when the folder is labeled, the text lengths
(`charset.min_length/max_length`); the charset is extended (sorted union) only
when labels use characters outside it. File names that look like a numbering
(`00017.png`, `img_0042.png`) are not labels: such a folder keeps the charset
and lengths of `--config`.

Found by search: the background, text colour and text alpha ranges, noise dots
(how many per 1000 pixels, and their width), noise arcs, rotation, font sizes (a
fraction of the height), `space_probability`, `overlap`, `warp_dx/warp_dy`, and
the font, out of ImageCaptcha's own DroidSansMono and a few of
`captcha_ocr.synth.broad.font_files()` (`style_search.FONT_CANDIDATES`). The offsets are not
searched. The search starts from the style of `--config` with its background
and text colour ranges read off the images (`colour_ranges`), draws `--trials`
styles at random from the box `style_search.KNOBS` (with a random font), then runs
`REFINE_ROUNDS` rounds of local refinement around the best, with shrinking
steps that move a few knobs at a time (or try another font). Every style is measured on the same synthetic
indices (common random numbers), so two styles differ in distance because of
their parameters and not because one drew easier texts. Same seed, same result.

The distance is `captcha_ocr.synth.style_stats.distance` (its docstring says what it
measures and why).

No TensorFlow here: one core, 15-25 s at the default 100 trials (about 200 styles).
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import yaml
from PIL import Image, ImageDraw

from captcha_ocr.core.charset import covering
from captcha_ocr.core.cli import logger
from captcha_ocr.core.config import Config, config_from_dict
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import open_image, to_array
from captcha_ocr.data.folder import LABELS_CSV, list_folder
from captcha_ocr.synth.folders import caption_font, labeled_grid
from captcha_ocr.synth.imagecaptcha import CaptchaGenerator, GeneratorSpec
from captcha_ocr.synth.style_search import font_choices, generator_updates, knobs_of, search
from captcha_ocr.synth.style_stats import INK_THRESHOLD, LUMA, StyleStats, analysis_size, distance

# --- the distance of a style -----------------------------------------------------------------


def render_style(config: Config, count: int, seed: int, split: str = "fit_style") -> list[tuple[str, Image.Image]]:
    """`count` (text, image) samples of a config's ImageCaptcha style, drawn in this process."""
    generator = CaptchaGenerator(GeneratorSpec.from_config(config))  # not the per-spec cache: trials are many
    return [generator.sample(seed, split, i) for i in range(count)]


def style_distance(config: Config, real: StyleStats, samples: int = 32, seed: int = 0) -> float:
    """The distance from a config's synthetic captchas (`samples` of them, drawn with `seed`) to a real set.

    Args:
        config: its generator and charset sections are drawn.
        real: statistics of the real captchas, measured at `analysis_size` of the config's drawing size.
        samples, seed: which synthetic captchas; the same ones for every config.
    """
    g = config.generator
    images = [img for _, img in render_style(config, samples, seed)]
    return distance(real, StyleStats.of(images, analysis_size(g.width, g.height)))


# --- the folder --------------------------------------------------------------------------------

MAX_REAL = 200  # real images measured (a random subset of larger folders): the statistics are means


@dataclass(frozen=True)
class RealSet:
    """What the fit reads from the folder.

    Attributes:
        folder: as given.
        size: median (width, height).
        images: a random subset of the readable images, RGB at `size`.
        captions: their labels (or file names, for an unlabeled folder).
        labels: every label of the folder, or None when its file names are not labels.
        skipped: (path, why) of the unreadable images in the subset.
    """

    folder: str
    size: tuple[int, int]
    images: list[Image.Image]
    captions: list[str]
    labels: list[str] | None
    skipped: list[tuple[str, str]]


def names_are_labels(names: Sequence[str]) -> bool:
    """Whether labels taken from file names are captcha texts rather than a numbering.

    Not labels: names that are not all letters and digits (`IMG-0001`), mostly
    the same name (`img_0001`, `img_0002` both give `img`), a shared prefix
    followed by digits (`img0001`, `img0002`), or digits alone that run nearly
    consecutively (`00000` to `00199`; real digit captchas spread far wider).
    """
    if not names or not all(n and n.isalnum() for n in names) or 4 * len(set(names)) < len(names):
        return False
    head = os.path.commonprefix(list(names)).rstrip("0123456789")
    rests = [n[len(head):] for n in names]
    if not all(r.isdigit() for r in rests):
        return True
    if head:
        return False
    numbers = [int(r) for r in rests]
    return not (len(numbers) > 1 and max(numbers) - min(numbers) + 1 <= 2 * len(numbers))


def read_folder(folder: str | Path, seed: int = 0, limit: int = MAX_REAL) -> RealSet:
    """List a folder, pick up to `limit` images at random (by `seed`) and read them at the median size.

    Raises:
        UserError: the folder is missing, holds no images, or none of the picked images can be read.
    """
    items = list_folder(folder)
    labeled = (Path(folder) / LABELS_CSV).is_file() or names_are_labels([label for _, label in items])
    picked = sorted(random.Random(seed).sample(range(len(items)), min(limit, len(items))))
    opened, skipped = [], []
    for i in picked:
        path, label = items[i]
        try:
            opened.append((open_image(path), label if labeled else Path(path).stem))
        except UserError as err:
            skipped.append((path, str(err)))
    if not opened:
        raise UserError(f"{folder}: none of the {len(picked)} images read could be opened "
                        f"(first: {skipped[0][1]}); give a folder of PNG, JPEG, GIF or BMP captchas")
    width = int(np.median([img.width for img, _ in opened]))
    height = int(np.median([img.height for img, _ in opened]))
    images = [Image.fromarray(to_array(img, width, height, 3)) for img, _ in opened]
    labels = [label for _, label in items if label] if labeled else None
    return RealSet(str(folder), (width, height), images, [c for _, c in opened], labels or None, skipped)


def colour_ranges(images: Sequence[Image.Image]) -> dict[str, list[int]]:
    """Background and text colour ranges read off the images: where the search starts.

    Per image, the background colour is the median RGB of its non-ink pixels and
    the text colour the median RGB of its ink pixels (see `INK_THRESHOLD`); each
    range spans the 5th to 95th percentile of those values over images and
    channels, as ImageCaptcha draws each channel from the same range.

    Returns:
        {"background": [low, high], "text_color": [low, high]} (text: the background's if no image has ink).
    """
    backgrounds, texts = [], []
    for img in images:
        rgb = np.asarray(img.convert("RGB"), np.float32)
        gray = rgb @ LUMA
        ink = np.abs(gray - np.median(gray)) > INK_THRESHOLD * 255
        backgrounds.append(np.median(rgb[~ink], axis=0) if (~ink).any() else np.median(rgb, axis=(0, 1)))
        if ink.any():
            texts.append(np.median(rgb[ink], axis=0))

    def span(values) -> list[int]:
        lo, hi = np.percentile(np.ravel(values), [5, 95])
        return [int(round(lo)), int(round(hi))]

    background = span(backgrounds)
    return {"background": background, "text_color": span(texts) if texts else background}


def charset_updates(labels: Sequence[str] | None, base: Config) -> tuple[dict, list[str]]:
    """The charset keys the labels call for, and log lines that say why.

    Args:
        labels: the folder's labels, or None for an unlabeled folder (the base charset is kept).
        base: the config the fit starts from.

    Returns:
        ({key: value} for the charset section, notes).

    Raises:
        UserError: a label holds the pad character.
    """
    c = base.charset
    if not labels:
        return {}, [f"no labels (the file names are not captcha texts): keeping the charset and lengths "
                    f"{c.min_length}..{c.max_length} of the config"]
    used = set("".join(labels))
    chars, low, high = covering(labels, c.chars, pad=c.pad)
    updates = {"min_length": low, "max_length": high}
    notes = [f"labels: lengths {low}..{high}, {len(used)} distinct characters"]
    outside = used - set(c.chars)
    if outside:
        updates["chars"] = chars
        notes.append(f"labels use {len(outside)} characters outside the charset ({''.join(sorted(outside))!r}): "
                     f"charset.chars now ends with them ({len(chars)} characters)")
    elif len(used) < len(c.chars):
        notes.append(f"the labels use {len(used)} of the charset's {len(c.chars)} characters; to draw only those: "
                     f"--set charset.chars={''.join(sorted(used))}")
    return updates, notes


# --- the fit -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FitResult:
    """A fitted config and how it was reached.

    Attributes:
        config: the base config with the fitted charset and generator keys.
        distance: its `style_distance` to the folder.
        base_distance: the same for the base config's style at the folder's size and lengths.
        real: what was read from the folder.
        trials: styles measured.
        seconds: wall-clock time of the fit.
    """

    config: Config
    distance: float
    base_distance: float
    real: RealSet
    trials: int
    seconds: float


def fit_style(folder: str | Path, base: Config, trials: int = 100, seed: int = 0, samples: int = 32,
              log: Callable[[str], None] = logger.info) -> FitResult:
    """Search the ImageCaptcha style whose captchas look most like a folder's (see the module docstring).

    Args:
        folder: a folder of captchas (labeled or not).
        base: the config to start from; its other sections are kept.
        trials: random styles to try before refining (the refinement adds about as many again).
        seed: decides the real subset, the styles tried and the synthetic captchas; same seed, same fit.
        samples: synthetic captchas drawn per style.
        log: where progress lines go.

    Raises:
        UserError: the folder is missing or unreadable, or `trials` < 1.
    """
    if trials < 1:
        raise UserError(f"trials must be at least 1, got {trials}")
    start = time.perf_counter()
    real = read_folder(folder, seed)
    width, height = real.size
    log(f"{folder}: {len(real.images)} images read, median size {width}x{height}"
        + (f", {len(real.skipped)} unreadable skipped (first: {real.skipped[0][1]})" if real.skipped else ""))
    chars, notes = charset_updates(real.labels, base)
    for note in notes:
        log(note)
    stats = StyleStats.of(real.images, analysis_size(width, height))
    data = base.to_dict()
    data["charset"].update(chars)
    data["generator"].update(kind="imagecaptcha", width=width, height=height)

    def config_for(values: np.ndarray | None, fonts: list[str] | None) -> Config:
        d = {**data, "generator": dict(data["generator"])}
        if values is not None:
            d["generator"].update(generator_updates(values, fonts, width, height))
        return config_from_dict(d, "fitted style")

    def measure(values, fonts) -> float:
        return style_distance(config_for(values, fonts), stats, samples, seed)

    base_distance = measure(None, None)
    log(f"style of the config at {width}x{height}: distance {base_distance:.3f}")
    colours = colour_ranges(real.images)
    log(f"colours read off the images: background {colours['background']}, text {colours['text_color']}")
    fonts = font_choices(base)
    start_font = fonts.index(list(base.generator.fonts)) if list(base.generator.fonts) in fonts else 0
    first = knobs_of(base.generator.model_copy(update=colours)), start_font
    (dist, values, font), done = search(lambda v, f: measure(v, fonts[f]), len(fonts), first, trials,
                                        np.random.default_rng(seed), log)
    config = config_for(values, fonts[font])
    if base_distance <= dist:  # the config's own style (exactly, not as rounded knobs) is the best seen
        config, dist = config_for(None, None), base_distance
    return FitResult(config, dist, base_distance, real, done + 1, time.perf_counter() - start)


# --- the outputs ---------------------------------------------------------------------------------

def differences(config: Config) -> dict:
    """The config's keys that differ from the defaults, as nested sections (what a variant YAML holds)."""
    default, data = Config().to_dict(), config.to_dict()
    out = {}
    for section, values in data.items():
        changed = {k: v for k, v in values.items() if v != default[section][k]}
        if changed:
            out[section] = changed
    return out


def config_text(result: FitResult, out: str | Path, command: str) -> str:
    """The YAML file: a header saying how it was made, how to use it and the distance reached, then the differences."""
    w, h = result.real.size
    header = [
        f"Fitted by fit_style to look like the captchas in {result.real.folder} ({len(result.real.images)} "
        f"images read, median {w}x{h}), {result.trials} styles tried in {result.seconds:.0f} s:",
        f"  {command}",
        f"Style distance to the folder: {result.distance:.3f} "
        f"(the starting config's style: {result.base_distance:.3f});",
        "0 = the same image statistics, ~1 = as far as one of the folder's own images is from the rest",
        "(captcha_ocr/fit_style.py says what is measured). Compare by eye, then make data or train:",
        f"  python -m captcha_ocr.generate --config {out} --preview preview.png",
        f"  python -m captcha_ocr.generate --config {out} --out data/fitted --count 2000",
        f"  python -m captcha_ocr.train --config {out}",
    ]
    body = yaml.safe_dump(differences(result.config), sort_keys=False, default_flow_style=None, allow_unicode=True,
                          width=120)
    return "".join(f"# {line}\n" for line in header) + body


def style_sheet(result: FitResult, count: int = 10, columns: int = 5) -> Image.Image:
    """Real captchas (top rows) over synthetic ones of the fitted style (bottom rows), each captioned."""
    real = list(zip(result.real.captions, result.real.images))[:count]
    synthetic = render_style(result.config, count, 0, split="sheet")
    grids = [
        (f"real: {result.real.folder}", labeled_grid(real, columns)),
        (f"synthetic: fitted style (distance {result.distance:.3f}; starting style {result.base_distance:.3f})",
         labeled_grid(synthetic, columns)),
    ]
    title_h = 18
    sheet = Image.new("RGB", (max(g.width for _, g in grids), sum(title_h + g.height for _, g in grids)), "white")
    draw, font, y = ImageDraw.Draw(sheet), caption_font(12), 0
    for title, grid in grids:
        draw.text((8, y + 4), title, fill="black", font=font)
        sheet.paste(grid, (0, y + title_h))
        y += title_h + grid.height
    return sheet
