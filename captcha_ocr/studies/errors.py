"""The captchas a model misread, to look at: `python -m captcha_ocr.evaluate ... --errors FOLDER`.

Writes FOLDER as a labeled folder of the misread captchas (each as the model saw
it, at its input size) with their true labels, so every command that reads
folders reads it, plus what the model read and a sheet to look at:

    FOLDER/
        error-0001.png ...   the misread captchas, in test-set order
        labels.csv           file,label: the true labels
        readings.csv         file,label,read,confidence
        sheet.png            the first SHEET of them, enlarged, each captioned "label -> read" in a
                             font that tells 0 from O and l from I (`synth.folders.labeled_grid`)

Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from captcha_ocr.core.atomic import write_atomic, write_text_atomic
from captcha_ocr.core.images import open_image
from captcha_ocr.data.folder import formula_safe, write_labels_csv
from captcha_ocr.synth.folders import labeled_grid

SHEET = 50  # captchas on the sheet: the number the issue asked a person to judge
SCALE = 2  # the sheet enlarges each captcha this many times (pixels kept sharp)
READINGS_CSV, SHEET_PNG = "readings.csv", "sheet.png"


def write_errors(folder: Path, images: np.ndarray, truth: Sequence[str], texts: Sequence[str],
                 confidence: np.ndarray, sheet: int = SHEET) -> int:
    """Write the misread captchas (truth != text) to `folder` (see the module docstring); returns how many."""
    wrong = [i for i, (t, r) in enumerate(zip(truth, texts)) if t != r]
    rows, opened = [], []
    for n, i in enumerate(wrong, 1):
        name = f"error-{n:04d}.png"
        image = open_image(images[i])
        write_atomic(folder / name, lambda path, im=image: im.save(path, format="PNG"))
        rows.append((name, truth[i], texts[i], float(confidence[i])))
        if n <= sheet:
            opened.append(image)
    write_labels_csv(folder / "labels.csv", [(name, label) for name, label, _, _ in rows])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "label", "read", "confidence"])
    writer.writerows((name, formula_safe(label), formula_safe(read), f"{conf:.4f}") for name, label, read, conf in rows)
    write_text_atomic(folder / READINGS_CSV, out.getvalue())
    if rows:
        page = labeled_grid((f"{n}. {label} -> {read or '(nothing)'}", enlarged(image))
                            for n, ((_, label, read, _), image) in enumerate(zip(rows, opened), 1))
        write_atomic(folder / SHEET_PNG, lambda path: page.save(path, format="PNG"))
    return len(rows)


def enlarged(image: Image.Image, scale: int = SCALE) -> Image.Image:
    """`image` `scale` times larger, each pixel a block, so that what the model saw is what one sees."""
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
