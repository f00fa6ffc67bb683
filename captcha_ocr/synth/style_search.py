"""The search space of `fit_style`: the ImageCaptcha style as a box of knobs, and the search over it.

`KNOBS` maps a generator section's style to numbers in a box; `search` draws
random styles in it and refines around the best (see `captcha_ocr.fit_style`).
TensorFlow-free.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from captcha_ocr.core.cli import logger
from captcha_ocr.core.config import Config, GeneratorConfig


@dataclass(frozen=True)
class Knob:
    """One searched number; random draws are `low + (high - low) * u ** power` for u uniform in [0, 1]."""

    name: str
    low: float
    high: float
    integer: bool = False
    power: float = 1.0  # > 1 draws small values more often (noise: most captchas have little)


KNOBS: tuple[Knob, ...] = (
    Knob("background_mid", 0, 255), Knob("background_width", 0, 100),
    Knob("text_mid", 0, 255), Knob("text_width", 0, 200),
    Knob("alpha_low", 40, 255),  # text_alpha is [alpha_low, 255]
    Knob("dots_per_kpx", 0, 100, power=2),  # noise dots per 1000 pixels of the drawing
    Knob("dot_width", 1, 4, integer=True), Knob("curves", 0, 4, integer=True),
    Knob("rotation", 0, 40),  # rotation is [-r, r] degrees
    Knob("font_scale", 0.35, 1.1),  # the middle font size, as a fraction of the height
    Knob("font_spread", 0, 0.25),  # the other two sizes: middle x (1 -+ spread)
    Knob("space_probability", 0, 1), Knob("overlap", 0, 0.6),
    Knob("warp_dx_low", 0, 0.3), Knob("warp_dx_width", 0, 0.3),
    Knob("warp_dy_low", 0, 0.3), Knob("warp_dy_width", 0, 0.3),
)
FONT_CANDIDATES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf",
                   "STIXGeneral.ttf", "cmr10.ttf")  # by file name, among broad.font_files(); plus [] (DroidSansMono)
# The background fills most of every image, so `colour_ranges` reads its level almost directly: random
# styles draw it within this much of that (refinement may still move it anywhere). Text colour is not
# read so directly (ImageCaptcha blends dark text more thinly than light), so it is drawn over its range.
NEAR_START = {"background_mid": 25}
REFINE_STEPS = (0.12, 0.06, 0.03)  # std of a refinement step, as a fraction of each knob's range, one per round
REFINE_ROUNDS = len(REFINE_STEPS)
REFINE_SHARE = 0.34  # refinement steps per round, as a share of --trials (at least 4)
STEP_SHARE = 0.25  # chance that a refinement step moves a knob
SWITCH_FONT = 0.15  # chance that a refinement step tries another font instead


def font_choices(base: Config) -> list[list[str]]:
    """The font lists the search picks from: the config's own (if any), captcha's default [], then candidates."""
    from captcha_ocr.synth.broad import font_files  # fontTools and matplotlib, only when fitting

    # Named as matplotlib:NAME, so the written config works on any install, not only this one's paths.
    available = {Path(f).name for f in font_files()}
    choices = [[]] + [[f"matplotlib:{n}"] for n in FONT_CANDIDATES if n in available]
    if base.generator.fonts and list(base.generator.fonts) not in choices:
        choices.insert(0, list(base.generator.fonts))
    return choices


def knobs_of(g: GeneratorConfig) -> np.ndarray:
    """A generator section's style as knob values (clipped to the box)."""
    mid = float(np.median(g.font_sizes))
    values = {
        "background_mid": sum(g.background) / 2, "background_width": g.background[1] - g.background[0],
        "text_mid": sum(g.text_color) / 2, "text_width": g.text_color[1] - g.text_color[0],
        "alpha_low": g.text_alpha[0], "dots_per_kpx": g.noise_dots * 1000 / (g.width * g.height),
        "dot_width": g.noise_dot_width, "curves": g.noise_curves, "rotation": max(map(abs, g.rotation)),
        "font_scale": mid / g.height, "font_spread": (max(g.font_sizes) - min(g.font_sizes)) / (2 * mid),
        "space_probability": g.space_probability, "overlap": g.overlap,
        "warp_dx_low": g.warp_dx[0], "warp_dx_width": g.warp_dx[1] - g.warp_dx[0],
        "warp_dy_low": g.warp_dy[0], "warp_dy_width": g.warp_dy[1] - g.warp_dy[0],
    }
    return np.array([min(max(values[k.name], k.low), k.high) for k in KNOBS], float)


def generator_updates(values: np.ndarray, fonts: list[str], width: int, height: int) -> dict:
    """Knob values -> the generator section's keys, rounded as they will be written."""
    v = {k.name: (round(x) if k.integer else float(x)) for k, x in zip(KNOBS, values)}

    def centred(mid: float, span: float, lo: int = 0, hi: int = 255) -> list[int]:
        a = int(np.clip(round(mid - span / 2), lo, hi))
        return [a, int(np.clip(round(mid + span / 2), a, hi))]

    mid = v["font_scale"] * height
    sizes = sorted({max(4, round(mid * (1 + f))) for f in (-v["font_spread"], 0.0, v["font_spread"])})
    rotation = round(v["rotation"], 1) or 0.0  # never -0.0 in the file
    return {
        "kind": "imagecaptcha", "width": width, "height": height, "fonts": list(fonts), "font_sizes": sizes,
        "background": centred(v["background_mid"], v["background_width"]),
        "text_color": centred(v["text_mid"], v["text_width"]),
        "text_alpha": [int(round(v["alpha_low"])), 255],
        "noise_dots": int(round(v["dots_per_kpx"] * width * height / 1000)),
        "noise_dot_width": v["dot_width"], "noise_curves": v["curves"],
        "rotation": [-rotation or 0.0, rotation],
        "warp_dx": [round(v["warp_dx_low"], 2), round(v["warp_dx_low"] + v["warp_dx_width"], 2)],
        "warp_dy": [round(v["warp_dy_low"], 2), round(v["warp_dy_low"] + v["warp_dy_width"], 2)],
        "space_probability": round(v["space_probability"], 2), "overlap": round(v["overlap"], 2),
    }


def _random_knobs(rng: np.random.Generator, start: np.ndarray) -> np.ndarray:
    """A random style: each knob drawn over its range, except those in `NEAR_START`, drawn near the start."""
    out = []
    for k, first in zip(KNOBS, start):
        low, high = k.low, k.high
        if k.name in NEAR_START:
            low, high = max(low, first - NEAR_START[k.name]), min(high, first + NEAR_START[k.name])
        out.append(rng.integers(low, high + 1) if k.integer else low + (high - low) * rng.random() ** k.power)
    return np.array(out, float)


def _step_knobs(values: np.ndarray, step: float, rng: np.random.Generator) -> np.ndarray:
    """Move a few knobs (each with chance STEP_SHARE, at least one) by `step` of their range.

    Moving all 17 at once rarely improves a good style: some move the wrong way.
    """
    low = np.array([k.low for k in KNOBS])
    high = np.array([k.high for k in KNOBS])
    moved = rng.random(len(KNOBS)) < STEP_SHARE
    moved[rng.integers(len(KNOBS))] = True
    out = np.clip(values + moved * rng.normal(0.0, step, len(KNOBS)) * (high - low), low, high)
    return np.array([round(x) if k.integer else x for k, x in zip(KNOBS, out)], float)


def search(measure: Callable[[np.ndarray, int], float], n_fonts: int, start: tuple[np.ndarray, int], trials: int,
           rng: np.random.Generator, log: Callable[[str], None] = logger.info
           ) -> tuple[tuple[float, np.ndarray, int], int]:
    """Random search over `KNOBS` and the fonts, then refinement around the best style.

    Args:
        measure: (knob values, font index) -> distance.
        n_fonts: fonts to choose from.
        start: (knob values, font index) tried first (the base config's style with the folder's colours);
            random styles draw the `NEAR_START` knobs near it.
        trials: random styles; the refinement adds `REFINE_ROUNDS` rounds of `REFINE_SHARE` as many each.
        rng: the only source of randomness.
        log: progress lines.

    Returns:
        ((distance, knob values, font index) of the best style, styles measured).
    """
    clock = time.perf_counter()
    best = (measure(*start), *start)

    def consider(values: np.ndarray, font: int) -> tuple[float, np.ndarray, int]:
        d = measure(values, font)
        return (d, values, font) if d < best[0] else best

    for t in range(trials):
        best = consider(_random_knobs(rng, start[0]), int(rng.integers(n_fonts)))
        if (t + 1) % max(1, trials // 5) == 0 or t + 1 == trials:
            log(f"random search {t + 1}/{trials}: best distance {best[0]:.3f} ({time.perf_counter() - clock:.1f} s)")
    per_round = max(4, round(trials * REFINE_SHARE))
    for r, step in enumerate(REFINE_STEPS):
        for _ in range(per_round):
            _, values, font = best
            if rng.random() < SWITCH_FONT:
                best = consider(values, int(rng.integers(n_fonts)))
            else:
                best = consider(_step_knobs(values, step, rng), font)
        log(f"refinement {r + 1}/{REFINE_ROUNDS}: best distance {best[0]:.3f} ({time.perf_counter() - clock:.1f} s)")
    return best, 1 + trials + per_round * REFINE_ROUNDS
