"""captcha_ocr.synth.broad: determinism, texts, fonts and variety of the broad synthetic captchas."""

import hashlib
import random
import string
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from PIL import Image, ImageFont

from captcha_ocr.core.errors import UserError
from captcha_ocr.synth.broad import ALPHANUMERIC, LUMA, MIN_CONTRAST, BroadGenerator, _text_colour, font_files

CHARS = string.digits + string.ascii_lowercase
GEN = BroadGenerator(CHARS, 4, 4)


def digest(pairs) -> str:
    h = hashlib.sha256()
    for text, img in pairs:
        h.update(text.encode() + repr((img.mode, img.size)).encode() + img.tobytes())
    return h.hexdigest()


def test_same_index_same_bytes_in_new_instances_and_any_order():
    a = [BroadGenerator(CHARS, 4, 4).sample(3, "train", i) for i in range(30)]
    b = BroadGenerator(CHARS, 4, 4)
    b = [b.sample(3, "train", i) for i in reversed(range(30))][::-1]
    assert digest(a) == digest(b)
    assert all(img.mode == "RGB" for _, img in a)


def test_same_bytes_in_a_spawned_process():
    code = (
        "import hashlib, string;"
        "from captcha_ocr.synth.broad import BroadGenerator;"
        "g = BroadGenerator(string.digits + string.ascii_lowercase, 4, 4);"
        "h = hashlib.sha256();"
        "[h.update(t.encode() + repr((im.mode, im.size)).encode() + im.tobytes()) "
        "for t, im in (g.sample(3, 'train', i) for i in range(30))];"
        "print(h.hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == digest(GEN.sample(3, "train", i) for i in range(30))


def test_seeds_and_splits_differ():
    sets = [[GEN.sample(seed, split, i) for i in range(5)] for seed, split in ((1, "train"), (2, "train"), (1, "val"))]
    assert len({digest(s) for s in sets}) == 3
    # Not just the texts: the same text drawn for another seed looks different.
    assert len({img.tobytes() for s in sets for _, img in s}) == 15


def test_lengths_cover_the_range_and_characters_stay_in_the_charset():
    gen = BroadGenerator("AB7", 2, 6)
    texts = [gen.sample(0, "train", i)[0] for i in range(200)]
    assert {len(t) for t in texts} == {2, 3, 4, 5, 6}
    assert set("".join(texts)) == set("AB7")


def test_bad_arguments_are_user_errors():
    with pytest.raises(UserError, match="chars is empty"):
        BroadGenerator("", 1, 2)
    with pytest.raises(UserError, match="got 5..3"):
        BroadGenerator(CHARS, 5, 3)


def _masks(font) -> list[tuple]:
    out = []
    for c in ALPHANUMERIC:
        mask = font.getmask(c, mode="L")
        out.append((mask.size, bytes(mask)))
    return out


@pytest.mark.parametrize("path", font_files() + [None], ids=lambda p: Path(p).name if p else "pillow-default")
def test_every_font_draws_every_alphanumeric(path):
    font = ImageFont.truetype(path, 32) if path else ImageFont.load_default(32)
    notdef = (font.getmask("\ue000", mode="L").size, bytes(font.getmask("\ue000", mode="L")))
    masks = _masks(font)
    for c, (size, data) in zip(ALPHANUMERIC, masks):
        assert size[0] * size[1] > 0 and any(data), f"{path}: {c!r} draws nothing"
        assert (size, data) != notdef, f"{path}: {c!r} draws the .notdef box"
    # A fallback font draws one box for every letter: all 62 must differ.
    assert len(set(masks)) == len(ALPHANUMERIC)


def test_font_list_is_sorted_and_leaves_out_symbol_fonts():
    files = font_files()
    assert files == sorted(files) and len(files) == len(set(files))
    names = {Path(f).name for f in files}
    assert "DroidSansMono.ttf" in names
    matplotlib = pytest.importorskip("matplotlib")
    folder = Path(matplotlib.get_data_path(), "fonts", "ttf")
    assert {"DejaVuSans.ttf", "DejaVuSerif-Bold.ttf", "STIXGeneral.ttf", "cmr10.ttf"} <= names
    # Each has cmap entries or glyphs for 0-9A-Za-z, but not the characters themselves.
    symbol = {"cmsy10.ttf", "cmex10.ttf", "cmmi10.ttf", "LastResortHE-Regular.ttf", "STIXSizOneSymReg.ttf",
              "STIXNonUni.ttf", "DejaVuSansDisplay.ttf"}
    present = {p.name for p in folder.glob("*.ttf")} & symbol
    assert present, "matplotlib ships these symbol fonts: the exclusion is tested against real files"
    assert not present & names


def test_text_colour_keeps_the_minimum_contrast():
    rng = random.Random(0)
    for _ in range(2000):
        light = rng.random() < 0.5
        lo = rng.uniform(120, 255) if light else rng.uniform(0, 40)
        hi = rng.uniform(lo, 255) if light else rng.uniform(lo, 135)
        lum = float(np.dot(_text_colour(rng, light, lo, hi), LUMA))
        assert (lum <= lo - MIN_CONTRAST + 0.5) if light else (lum >= hi + MIN_CONTRAST - 0.5), (light, lo, hi, lum)


@pytest.fixture(scope="module")
def samples() -> list[Image.Image]:
    return [GEN.sample(11, "train", i)[1] for i in range(200)]


def test_sizes_and_aspect_ratios_vary(samples):
    widths, heights = [im.width for im in samples], [im.height for im in samples]
    assert len(set(widths)) >= 50 and len(set(heights)) >= 30
    assert min(heights) < 40 and max(heights) > 90
    ratios = [w / h for w, h in zip(widths, heights)]
    assert min(ratios) < 1.5 and max(ratios) > 3.5  # four characters, short and squat to long and thin


def test_background_brightness_spans_dark_and_light(samples):
    def border_luminance(im):
        a = np.asarray(im, np.float64)
        edges = np.concatenate([a[0], a[-1], a[:, 0], a[:, -1]])
        return float(np.median(edges @ LUMA))

    lums = np.array([border_luminance(im) for im in samples])
    dark, light = (lums < 100).mean(), (lums > 150).mean()
    assert 0.15 < dark < 0.5 and 0.5 < light < 0.85, (dark, light)


def test_extra_fonts_are_drawn_too_and_leave_the_default_unchanged(tmp_path):
    import shutil

    from captcha_ocr.synth.broad import BroadGenerator, font_files

    bundled = font_files()
    extra = tmp_path / "Extra-Regular.ttf"
    shutil.copy(bundled[0], extra)  # another file: a font the bundled list does not hold
    plain = BroadGenerator("0123456789", 4, 4)
    more = BroadGenerator("0123456789", 4, 4, fonts=(str(extra), str(tmp_path / "missing.ttf")))
    assert more.files == (*bundled, str(extra))  # a file that is no font is left out
    assert plain.files == tuple(bundled)
    # The texts never change; some of 40 captchas are drawn in the extra font (1 in len(bundled) + 2).
    pairs = [(plain.sample(0, "t", i), more.sample(0, "t", i)) for i in range(40)]
    assert all(a[0] == b[0] for a, b in pairs)
    same = sum(a[1].tobytes() == b[1].tobytes() for a, b in pairs)
    assert 0 < 40 - same < 40
