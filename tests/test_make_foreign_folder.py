"""scripts/make_foreign_folder.py: a labeled folder whose PNGs and GIFs really carry transparency."""

import csv
import subprocess
import sys

import numpy as np
from PIL import Image

from conftest import ROOT
from captcha_ocr.images import to_array


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
    for name in ("img00001.png", "img00002.gif"):  # transparent parts come out white, the text does not
        pixels = to_array(tmp_path / "f" / name, 160, 60, 1)
        assert np.median(pixels) == 255 and pixels.min() < 160
