"""The captchas a model misread, to look at: `python -m captcha_ocr.evaluate ... --errors FOLDER`.

Writes FOLDER as a labeled folder of the misread captchas (each as the model saw
it, at its input size) with their true labels, so every command that reads
folders reads it, plus what the model read and a sheet to look at:

    FOLDER/
        error-0001.png ...   the misread captchas, in test-set order
        labels.csv           file,label: the true labels
        readings.csv         file,label,read,confidence (and source: the original file's path, given sources)
        sheet.png            the first SHEET of them, enlarged, each captioned "label -> read" in a
                             font that tells 0 from O and l from I (`synth.folders.labeled_grid`)
        originals/           given sources (a folder evaluated): each misread file as it was, byte for
                             byte, named as its error-NNNN (its own extension kept), for a person to
                             judge from what the captcha's code drew rather than the model's smaller input
        sheet-originals.png  given sources: the first SHEET originals as drawn (transparency over white,
                             shrunk only to fit ORIGINAL_MAX), captioned alike

Every file is written atomically. Files of an earlier, longer run in the same FOLDER that this run did not
write again (error-NNNN files past its count, a sheet with nothing to show, originals/ once empty) are removed,
so that the folder holds this run's errors only; other files are left alone.
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from captcha_ocr.core.atomic import write_atomic, write_text_atomic
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import normalize_mode, open_image
from captcha_ocr.data.folder import formula_safe, write_labels_csv
from captcha_ocr.synth.folders import labeled_grid

SHEET = 50  # captchas on the sheet: the number the issue asked a person to judge
SCALE = 2  # the sheet enlarges each captcha this many times (pixels kept sharp)
READINGS_CSV, SHEET_PNG, ORIGINALS, ORIGINALS_SHEET_PNG = (
    "readings.csv", "sheet.png", "originals", "sheet-originals.png")
ORIGINAL_MAX = (800, 200)  # an original larger than this (width, height) is shrunk to fit on sheet-originals.png
OWN_NAME = re.compile(r"error-\d{4,}\.[A-Za-z0-9]+")  # the names write_errors gives its captchas and originals


def write_errors(folder: Path, images: np.ndarray, truth: Sequence[str], texts: Sequence[str],
                 confidence: np.ndarray, sheet: int = SHEET, sources: Sequence[str] | None = None) -> int:
    """Write the misread captchas (truth != text) to `folder` (see the module docstring); returns how many.

    Args:
        sources: the path of each image's original file, in the order of `images` (a folder's `paths`).

    Raises:
        UserError: an original cannot be read or copied (say it changed since it was evaluated).
    """
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
    originals = [str(Path(sources[i]).resolve()) for i in wrong] if sources is not None else None
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file", "label", "read", "confidence"] + (["source"] if originals is not None else []))
    for k, (name, label, read, conf) in enumerate(rows):
        writer.writerow([name, formula_safe(label), formula_safe(read), f"{conf:.4f}"]
                        + ([formula_safe(originals[k])] if originals is not None else []))
    write_text_atomic(folder / READINGS_CSV, out.getvalue())
    written = {name for name, *_ in rows}
    if rows:
        write_sheet(folder / SHEET_PNG, rows, [enlarged(image) for image in opened])
        written.add(SHEET_PNG)
    if originals:
        write_sheet(folder / ORIGINALS_SHEET_PNG, rows, copy_originals(folder / ORIGINALS, rows, originals, sheet))
        written.add(ORIGINALS_SHEET_PNG)
    remove_stale(folder, written)
    remove_stale(folder / ORIGINALS, {original_name(name, source) for (name, *_), source in zip(rows, originals or [])})
    return len(rows)


def remove_stale(folder: Path, written: set[str]) -> None:
    """Remove from `folder` the files an earlier run of write_errors left there (its own names only) that this run
    did not write (`written`), and `folder` itself if nothing is left in it (only ever originals/: the errors
    folder always holds this run's labels.csv and readings.csv)."""
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        ours = OWN_NAME.fullmatch(path.name) or path.name in (SHEET_PNG, ORIGINALS_SHEET_PNG)
        if ours and path.name not in written and path.is_file():
            path.unlink()
    if not any(folder.iterdir()):
        folder.rmdir()


def write_sheet(path: Path, rows: Sequence[tuple], images: Sequence[Image.Image]) -> None:
    """The first len(`images`) `rows` (name, label, read, confidence) as a captioned sheet at `path`."""
    page = labeled_grid((f"{n}. {label} -> {read or '(nothing)'}", image)
                        for n, ((_, label, read, _), image) in enumerate(zip(rows, images), 1))
    write_atomic(path, lambda tmp: page.save(tmp, format="PNG"))


def original_name(name: str, source: str) -> str:
    """The name of the copy of `source`, the original of the error file `name`: its stem, the original's extension."""
    return Path(name).stem + Path(source).suffix.lower()


def copy_originals(folder: Path, rows: Sequence[tuple], originals: Sequence[str], sheet: int) -> list[Image.Image]:
    """Copy each original into `folder`, named as its row's error file with its own extension; returns the first
    `sheet` of them opened as drawn, shrunk to fit ORIGINAL_MAX."""
    folder.mkdir(exist_ok=True)
    opened = []
    for n, ((name, *_), source) in enumerate(zip(rows, originals), 1):
        target = folder / original_name(name, source)
        try:
            write_atomic(target, lambda tmp, src=source: shutil.copyfile(src, tmp), durable=False)
        except OSError as err:
            raise UserError(f"cannot copy the original {source!r} into {folder}: {err.strerror or err}; "
                            "evaluate again on a folder that is readable and unchanged") from None
        if n <= sheet:
            image = normalize_mode(open_image(target))
            image.thumbnail(ORIGINAL_MAX)
            opened.append(image)
    return opened


def enlarged(image: Image.Image, scale: int = SCALE) -> Image.Image:
    """`image` `scale` times larger, each pixel a block, so that what the model saw is what one sees."""
    return image.resize((image.width * scale, image.height * scale), Image.NEAREST)
