"""scripts/make_foreign_folder.py: a labeled folder whose PNGs and GIFs really carry transparency."""

import csv
import subprocess
import sys

import numpy as np
from conftest import ROOT
from PIL import Image

from captcha_ocr.core.images import to_array


def test_transparent_pngs_and_gifs_read_over_white(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_foreign_folder.py"), "--out", tmp_path / "f",
                    "--count", "12"], check=True, capture_output=True)
    rows = list(csv.DictReader(open(tmp_path / "f" / "labels.csv")))
    assert len(rows) == 12 and {r["file"].rsplit(".", 1)[1] for r in rows} == {"png", "gif", "jpg"}
    png = Image.open(tmp_path / "f" / "img00001.png")
    alpha = np.asarray(png)[..., 3]
    assert png.mode == "RGBA" and (alpha == 0).mean() > 0.2 and alpha.max() == 255
    gif = Image.open(tmp_path / "f" / "img00002.gif")
    assert gif.mode == "P" and "transparency" in gif.info
    # Transparent pixels come out white and opaque ones keep their own gray. The text colour is random
    # (each channel 10-200), so no fixed darkness threshold holds.
    for name, opaque, transparent in (
            ("img00001.png", alpha == 255, alpha == 0),
            ("img00002.gif", np.asarray(gif) != gif.info["transparency"],
             np.asarray(gif) == gif.info["transparency"])):
        pixels = to_array(tmp_path / "f" / name, 160, 60, 1)[..., 0].astype(int)
        own_gray = np.asarray(Image.open(tmp_path / "f" / name).convert("RGB").convert("L")).astype(int)
        assert transparent.mean() > 0.2 and (pixels[transparent] == 255).all()
        assert opaque.sum() > 100 and np.abs(pixels[opaque] - own_gray[opaque]).max() <= 1
        assert own_gray[opaque].min() < 250  # the text is really there, not white on white


def test_the_same_seed_writes_the_same_folder(tmp_path):
    def write(name, seed):
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_foreign_folder.py"), "--out", tmp_path / name,
                        "--count", "3", "--seed", str(seed)], check=True, capture_output=True)
        return [(tmp_path / name / f).read_bytes() for f in ("labels.csv", "img00000.jpg", "img00001.png")]

    first = write("a", 0)
    assert write("b", 0) == first
    assert all(x != y for x, y in zip(write("c", 1), first))
