"""Write a labeled folder that captcha_ocr did not make: a check of evaluate/predict on outside data.

The images come straight from `captcha.image.ImageCaptcha` (its own drawing at its
own defaults, not our generator's settings; its random draws are pointed at a
`random.Random` seeded from `--seed` and the image's index, so a folder is the same
bytes on every run), are saved as JPEG with a `labels.csv`
(file,label) instead of labels in file names, and a few are saved in other
modes the way real scraped captchas come: RGBA PNGs with a transparent
background, and palette GIFs whose background entry is transparent.

    python scripts/make_foreign_folder.py --out data/foreign --count 500
    python -m captcha_ocr.evaluate --model runs/quickstart --data data/foreign
"""

from __future__ import annotations

import argparse
import random
import string
from pathlib import Path

import numpy as np
from captcha.image import ImageCaptcha
from PIL import Image

from captcha_ocr.data.folder import LABELS_CSV, write_labels_csv
from captcha_ocr.synth.imagecaptcha import seeded_captcha

CHARS = string.digits + string.ascii_uppercase + string.ascii_lowercase


def transparent_background(img: Image.Image) -> Image.Image:
    """RGBA whose background is transparent and whose text is opaque (alpha from how much darker than
    the background median a pixel is), so that readers must composite it: over white it reads as before."""
    gray = np.asarray(img.convert("L"), np.float32)
    alpha = np.clip((np.median(gray) - gray) * 4.0, 0, 255).astype(np.uint8)
    rgba = img.convert("RGBA")
    rgba.putalpha(Image.fromarray(alpha))
    return rgba


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same folder (default 0)")
    args = p.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    gen = ImageCaptcha()
    rows = []
    for i in range(args.count):
        rng = random.Random(f"{args.seed}/{i}")
        text = "".join(rng.choice(CHARS) for _ in range(4))
        with seeded_captcha(rng):
            img = gen.generate_image(text)
        if i % 10 == 1:
            name = f"img{i:05d}.png"
            transparent_background(img).save(out / name)
        elif i % 10 == 2:
            name = f"img{i:05d}.gif"
            gif = img.convert("P", palette=Image.ADAPTIVE, colors=64)
            # The palette entry of the most pixels (the background) is transparent, as on scraped GIFs.
            background = max(gif.getcolors(), key=lambda c: c[0])[1]
            gif.save(out / name, transparency=background)
        else:
            name = f"img{i:05d}.jpg"
            img.save(out / name, quality=85)
        rows.append((name, text))
    write_labels_csv(out / LABELS_CSV, rows)  # last, and whole: a folder with a labels.csv is complete
    print(f"wrote {args.count} captchas and labels.csv to {out}")


if __name__ == "__main__":
    main()
