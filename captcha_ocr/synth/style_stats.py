"""Image statistics of a set of captchas, and a distance between two sets: how alike two styles look.

The distance (`distance`). Each image, grayscale at a common
size (32 px high, the folder's aspect ratio), gives twelve cheap statistics
(`STATISTICS`): mean brightness; contrast (std); the share of "ink" pixels
(more than a fifth of the range away from the image's median, its background
level, so light text on dark counts too); the ink's signed contrast to the
background; edge density (mean absolute gradient); edge balance (the share of
it across columns: upright strokes against horizontal arcs); straightness (how
axis-aligned the strong edges are: rotation and warp lower it); speckle (mean
distance to the 3x3 median: dots and paper noise, which strokes do not have);
colourfulness (mean RGB channel spread); and where the ink sits (horizontal
centre and spread, vertical spread: font size and placement). For each, the
synthetic set's mean and spread over images are compared with the real
folder's, each difference divided by the real folder's spread over images. The
spread term has half weight: a range in the config is a distribution, and the
spread is what tells a narrow background range from a wide one, but a spread
over 32 images is noisier than a mean. A thirteenth term is the Wasserstein-1
distance between the mean 16-bin intensity histograms, divided by how far a
typical real image's histogram lies from the real mean.

Why this distance: dividing by the folder's own spread puts brightness,
fractions and positions on one scale without hand-tuned weights, and makes
about 1 mean "as far from the folder as one of its own images typically is from
the rest". The floors in `STATISTICS` (1-4% of each statistic's range, about
what the eye notices) stop a statistic the folder holds nearly constant (colour
in a grayscale folder) from dominating. Each term then counts as
`SATURATION * tanh(term / SATURATION)`: a statistic the generator cannot reach
(ImageCaptcha starts its text at the left, so it cannot centre short texts)
costs at most SATURATION, and the search does not trade every other statistic
away (squeezing the text) to creep towards it. The distance is the mean of the
13 terms; 0 is a perfect match of these statistics. Each statistic is a few
NumPy operations, so a style costs ~0.1 s, mostly drawing its captchas.

Not taken: a distance between a trained model's features of the two sets (a
Fréchet distance, say). It would judge letter shapes, which these statistics
see only through edges and ink, but it needs TensorFlow and a trained base
model (which may not exist yet), and every one of the few hundred styles would
cost a forward pass instead of milliseconds of NumPy. The font choice is
therefore the weakest part of the fit: look at the sheet.

TensorFlow-free: NumPy on small grayscale images.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from captcha_ocr.core.images import ImageLike, to_array

ANALYSIS_HEIGHT = 32  # px: enough for strokes and dots, small enough for ~1 ms of NumPy per image
INK_THRESHOLD = 0.2  # a pixel is ink when this far (of the full range) from its image's median
HISTOGRAM_BINS = 16
HISTOGRAM_FLOOR = 0.01  # W1 in units of the full range
SPREAD_WEIGHT = 0.5  # see the module docstring
SATURATION = 4.0  # a term t counts as SATURATION * tanh(t / SATURATION): see the module docstring
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, as Pillow's "L"

# (name, floor of the real spread it is divided by): one row per statistic, in the column order of `features`.
STATISTICS: tuple[tuple[str, float], ...] = (
    ("brightness", 0.02),
    ("contrast", 0.02),
    ("ink", 0.02),
    ("ink_contrast", 0.04),
    ("edges", 0.005),
    ("edge_balance", 0.02),
    ("straightness", 0.02),
    ("speckle", 0.003),
    ("colour", 0.01),
    ("ink_x_center", 0.02),
    ("ink_x_spread", 0.02),
    ("ink_y_spread", 0.02),
)


def analysis_size(width: int, height: int) -> tuple[int, int]:
    """The (width, height) images of a `width` x `height` style are compared at: 32 px high, same aspect."""
    return int(np.clip(round(ANALYSIS_HEIGHT * width / height), ANALYSIS_HEIGHT, 6 * ANALYSIS_HEIGHT)), ANALYSIS_HEIGHT


@dataclass(frozen=True)
class StyleStats:
    """Per-image statistics of a set of captchas.

    Attributes:
        features: (n, len(STATISTICS)) floats, columns in the order of `STATISTICS`.
        histograms: (n, HISTOGRAM_BINS) intensity histograms, each summing to 1.
    """

    features: np.ndarray
    histograms: np.ndarray

    @classmethod
    def of(cls, images: Sequence[ImageLike], size: tuple[int, int]) -> "StyleStats":
        """Measure images (paths, PIL images or arrays) at `size` = (width, height)."""
        rgb = np.stack([to_array(img, size[0], size[1], 3) for img in images]).astype(np.float32) / 255.0
        return cls(*_measure(rgb))


def _measure(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, H, W, 3) floats in [0, 1] -> (features (n, k), histograms (n, bins))."""
    n, h, w, _ = rgb.shape
    gray = rgb @ LUMA
    flat = gray.reshape(n, -1)
    background = np.median(flat, axis=1)[:, None, None]
    diff = gray - background
    ink = np.abs(diff) > INK_THRESHOLD
    ink_count = ink.sum(axis=(1, 2))
    ink_contrast = np.where(ink_count > 0, (diff * ink).sum(axis=(1, 2)) / np.maximum(ink_count, 1), 0.0)
    across = np.abs(np.diff(gray, axis=2)).mean(axis=(1, 2))  # horizontal changes: upright strokes make them
    along = np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2))
    edges = (across + along) / 2
    edge_balance = across / np.maximum(across + along, 1e-6)
    straightness = _straightness(gray)
    padded = np.pad(gray, ((0, 0), (1, 1), (1, 1)), mode="edge")
    neighbours = np.stack([padded[:, dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)], axis=-1)
    speckle = np.abs(gray - np.median(neighbours, axis=-1)).mean(axis=(1, 2))
    colour = (rgb.max(axis=-1) - rgb.min(axis=-1)).mean(axis=(1, 2))
    x_center, x_spread = _profile(ink.sum(axis=1), w)
    _, y_spread = _profile(ink.sum(axis=2), h)
    features = np.stack([flat.mean(1), flat.std(1), ink.mean(axis=(1, 2)), ink_contrast, edges, edge_balance,
                         straightness, speckle, colour, x_center, x_spread, y_spread], axis=1)
    bins = np.minimum((flat * HISTOGRAM_BINS).astype(np.int64), HISTOGRAM_BINS - 1)
    offsets = np.arange(n)[:, None] * HISTOGRAM_BINS
    histograms = np.bincount((bins + offsets).ravel(), minlength=n * HISTOGRAM_BINS).reshape(n, HISTOGRAM_BINS)
    return features, histograms / flat.shape[1]


def _straightness(gray: np.ndarray) -> np.ndarray:
    """How axis-aligned the strong edges are: the mean of cos^2(2 * gradient angle) over them (1: upright, 0: 45 deg).

    Upright letters are mostly vertical and horizontal strokes; rotation, warp
    and italics turn them. Weak gradients (paper noise) are left out.
    """
    gx = gray[:, 1:-1, 2:] - gray[:, 1:-1, :-2]
    gy = gray[:, 2:, 1:-1] - gray[:, :-2, 1:-1]
    power = gx ** 2 + gy ** 2
    strong = power > (INK_THRESHOLD / 2) ** 2
    cos2 = ((gx ** 2 - gy ** 2) / np.maximum(power, 1e-12)) ** 2
    count = strong.sum(axis=(1, 2))
    return np.where(count > 0, (cos2 * strong).sum(axis=(1, 2)) / np.maximum(count, 1), 0.5)


def _profile(counts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Centre and spread (std) of ink counts along one axis, as fractions of its length (0.5, 0 without ink)."""
    pos = (np.arange(length) + 0.5) / length
    total = counts.sum(axis=1)
    safe = np.maximum(total, 1)
    center = (counts * pos).sum(axis=1) / safe
    spread = np.sqrt((counts * (pos[None, :] - center[:, None]) ** 2).sum(axis=1) / safe)
    return np.where(total > 0, center, 0.5), np.where(total > 0, spread, 0.0)


def _wasserstein(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """W1 between histograms over [0, 1] (along the last axis)."""
    return np.abs(np.cumsum(a, axis=-1) - np.cumsum(b, axis=-1)).sum(axis=-1) / HISTOGRAM_BINS


def distance_terms(real: StyleStats, synthetic: StyleStats) -> dict[str, float]:
    """The terms `distance` averages, by name (the histogram term last), to see what a style gets wrong."""
    floors = np.array([floor for _, floor in STATISTICS])
    scale = np.maximum(real.features.std(axis=0), floors)
    means = np.abs(synthetic.features.mean(axis=0) - real.features.mean(axis=0)) / scale
    spreads = np.abs(synthetic.features.std(axis=0) - real.features.std(axis=0)) / scale
    raw = dict(zip([name for name, _ in STATISTICS], means + SPREAD_WEIGHT * spreads))
    real_hist = real.histograms.mean(axis=0)
    typical = max(float(_wasserstein(real.histograms, real_hist).mean()), HISTOGRAM_FLOOR)
    raw["histogram"] = float(_wasserstein(synthetic.histograms.mean(axis=0), real_hist)) / typical
    return {name: float(SATURATION * np.tanh(t / SATURATION)) for name, t in raw.items()}


def distance(real: StyleStats, synthetic: StyleStats) -> float:
    """How unlike the real set the synthetic set looks: the mean of `distance_terms` (0 = same statistics)."""
    terms = distance_terms(real, synthetic)
    return sum(terms.values()) / len(terms)
