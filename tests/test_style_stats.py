"""captcha_ocr.synth.style_stats: the statistics against hand-computed values, and the distance's behaviour."""

import numpy as np
import pytest
from PIL import Image

from captcha_ocr.synth import style_stats


def test_statistics_of_a_square_match_hand_computed_values():
    w, h = 64, 32
    arr = np.full((h, w, 3), 255, np.uint8)
    arr[10:18, 20:28] = 0  # an 8x8 black square on white
    stats = style_stats.StyleStats.of([Image.fromarray(arr)], (w, h))
    got = dict(zip([name for name, _ in style_stats.STATISTICS], stats.features[0]))
    p = 64 / (w * h)
    across, along = 16 / (h * (w - 1)), 16 / ((h - 1) * w)  # 8 rows (columns) of 2 unit steps each
    spread = np.sqrt((8 ** 2 - 1) / 12)  # std of 8 consecutive pixel positions
    expected = {
        "brightness": 1 - p, "contrast": np.sqrt(p * (1 - p)), "ink": p, "ink_contrast": -1.0,
        "edges": (across + along) / 2, "edge_balance": across / (across + along),
        "speckle": 4 / (w * h),  # the 3x3 median turns the square's 4 corners white
        "colour": 0.0, "ink_x_center": 24 / w, "ink_x_spread": spread / w, "ink_y_spread": spread / h,
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=1e-6), name
    assert got["straightness"] > 0.8  # axis-aligned edges; only the corners are diagonal
    assert stats.histograms[0][0] == pytest.approx(p) and stats.histograms[0][-1] == pytest.approx(1 - p)
    rotated = style_stats.StyleStats.of([Image.fromarray(arr).rotate(45, fillcolor="white")], (w, h))
    assert rotated.features[0][6] < got["straightness"] - 0.3


def test_distance_is_zero_to_itself_and_grows_with_the_difference():
    rng = np.random.default_rng(0)
    base = rng.integers(150, 256, (20, 32, 96, 3)).astype(np.uint8)
    real = style_stats.StyleStats.of(list(base), (96, 32))
    assert style_stats.distance(real, real) == 0
    near = style_stats.StyleStats.of(list((base * 0.95).astype(np.uint8)), (96, 32))
    far = style_stats.StyleStats.of(list((base * 0.6).astype(np.uint8)), (96, 32))
    assert 0 < style_stats.distance(real, near) < style_stats.distance(real, far)
    assert set(style_stats.distance_terms(real, far)) == {name for name, _ in style_stats.STATISTICS} | {"histogram"}
