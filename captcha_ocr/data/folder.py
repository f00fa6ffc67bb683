"""Labeled folders of captcha images: find the files and labels, load them in parallel.

A folder holds either images named `<label>.<ext>` or `<label>_<anything>.<ext>`,
or images listed in a `labels.csv` with the columns `file,label` (which then
takes precedence over the file names). Files that cannot be read, and labels
outside the charset, are skipped and reported: never fatal, never silent.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from captcha_ocr.core.atomic import write_text_atomic
from captcha_ocr.core.charset import Charset
from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import image_files, to_array
from captcha_ocr.core.spec import InputShape
from captcha_ocr.core.workers import process_pool, worker_count


@dataclass
class FolderData:
    """Images and labels loaded from a folder, with what was skipped and why."""

    folder: str
    images: np.ndarray
    labels: np.ndarray
    paths: list[str]
    problems: list[tuple[str, str]] = field(default_factory=list)

    def report(self) -> str:
        """One-paragraph summary: how many loaded, how many skipped and which."""
        line = f"{self.folder}: {len(self.paths)} images loaded"
        if self.problems:
            shown = "; ".join(f"{Path(p).name}: {why}" for p, why in self.problems[:5])
            more = f"; and {len(self.problems) - 5} more" if len(self.problems) > 5 else ""
            line += f", {len(self.problems)} skipped ({shown}{more})"
        return line


LABELS_CSV = "labels.csv"


# A cell starting with one of these runs as a formula when a spreadsheet opens the CSV (OWASP's list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_QUOTE = "'"


def formula_safe(cell: str) -> str:
    """A labels.csv cell that no spreadsheet runs: one that starts a formula (or a quote) gets a quote before it.

    `read_labels_csv` takes the quote off again (`unquoted`), so a label is read back as it was typed.
    """
    return _QUOTE + cell if cell.startswith(FORMULA_STARTS + (_QUOTE,)) else cell


def unquoted(cell: str) -> str:
    """The inverse of `formula_safe`: a quote before a formula start (or another quote) is dropped."""
    return cell[1:] if cell.startswith(_QUOTE) and cell[1:2] and cell[1:2] in FORMULA_STARTS + (_QUOTE,) else cell


def read_labels_csv(path: str | Path) -> list[tuple[str, str]]:
    """The (file, label) rows of a labels.csv, labels stripped, cells as `write_labels_csv` was given them.

    Raises:
        UserError: the header lacks the columns file,label.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"file", "label"} <= set(reader.fieldnames):
            raise UserError(f"{path}: needs a header with the columns 'file,label', got {reader.fieldnames}")
        return [(unquoted(row["file"] or ""), unquoted((row["label"] or "").strip())) for row in reader]


def write_labels_csv(path: str | Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write (file, label) rows as a labels.csv, atomically: a kill leaves the old file or the new one.

    Cells that a spreadsheet would run as a formula (`=1+1`, `+SUM(1)`, `-x`, `@x`) are written with a
    quote before them (`formula_safe`), which `read_labels_csv` drops.

    Raises:
        OSError: the folder is not writable.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "label"])
    writer.writerows((formula_safe(file), formula_safe(label)) for file, label in rows)
    write_text_atomic(path, buffer.getvalue())


def label_from_name(path: Path) -> str:
    """`abcd.png` and `abcd_0042.png` -> 'abcd'."""
    return path.stem.split("_", 1)[0]


def list_folder(folder: str | Path) -> list[tuple[str, str]]:
    """List (path, label) pairs of a labeled folder.

    Raises:
        UserError: the folder does not exist, has no images, or a malformed labels.csv.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"data folder {str(root)!r} not found; give a folder of labeled images")
    csv_path = root / LABELS_CSV
    if csv_path.is_file():
        items = [(str(root / name), label) for name, label in read_labels_csv(csv_path)]
    else:
        items = [(str(p), label_from_name(p)) for p in image_files(root)]
    if not items:
        raise UserError(
            f"{root}: no labeled images found; name files <label>.png or <label>_<n>.png, "
            "or add a labels.csv with the columns file,label"
        )
    return items


def _load_one(args) -> tuple[str, np.ndarray | None, np.ndarray | None, str | None]:
    path, label, charset, shape, resize = args
    try:
        encoded = charset.encode(label)
        return path, to_array(path, shape.width, shape.height, shape.channels, resize), encoded, None
    except UserError as err:
        message = str(err)
        prefix = f"{path}: "
        return path, None, None, message[len(prefix):] if message.startswith(prefix) else message


def _map_files(load, jobs: list, workers: int) -> list:
    """`load` over the jobs, in order: in worker processes (chunks of 64 files) when there are enough files."""
    workers = min(worker_count(workers), max(1, len(jobs) // 64))
    if workers == 1:
        return [load(job) for job in jobs]
    with process_pool(workers) as pool:
        return list(pool.map(load, jobs, chunksize=64))


def _load_image(args) -> tuple[str, np.ndarray | None, str | None]:
    path, shape, resize = args
    try:
        return path, to_array(path, shape.width, shape.height, shape.channels, resize), None
    except UserError as err:
        return path, None, str(err)


def image_paths(folder: str | Path) -> list[str]:
    """The images of a folder, labels ignored: the files of its labels.csv if it has one, else every image."""
    root = Path(folder)
    return [p for p, _ in list_folder(root)] if (root / LABELS_CSV).is_file() else [str(p) for p in image_files(root)]


def aspect_hint(folder: str | Path, height: int, width: int, sample: int = 200) -> str | None:
    """A line for the training log when a folder's captchas are far from the input's shape (`fit_height`).

    Fit to the input's height, a captcha wider than the input is squeezed to its width, and one much
    narrower fills only part of it, its text spread over fewer of the model's frames. The widest shape
    of nine in ten of the first `sample` images (their headers only) decides: wider than the input by
    more than a quarter gives the width that reads them at their own shape (rounded up to a multiple of
    8); filling at most 60% of its width points to `image.resize=stretch`. Both read more on some
    generators and less on others (README, "Wide captchas" and "Narrower than the input"), so the line
    asks to compare. None otherwise, or when no image could be opened (the folder's loading reports those).
    """
    from PIL import Image

    aspects = []
    for path in image_paths(folder)[:sample]:
        try:
            with Image.open(path) as img:
                aspects.append(img.width / max(img.height, 1))
        except (OSError, ValueError):
            continue
    if not aspects:
        return None
    aspect = float(np.percentile(aspects, 90))
    shapes = (f"9 in 10 of its captchas are up to {aspect:.1f}:1 and the input ({width}x{height}) is "
              f"{width / height:.1f}:1")
    need = math.ceil(aspect * height / 8) * 8
    if need > 1.25 * width:
        return (f"{folder}: {shapes}, so fit to {height} px high they are squeezed to as little as "
                f"{width / (aspect * height):.0%} of their width; --set image.width={need} reads them at their own "
                "shape, which read more where the characters keep theirs and spread apart, less where they are "
                "stretched to fill the width: compare both (README, \"Wide captchas\")")
    fill = aspect * height / width
    if fill <= 0.6:
        return (f"{folder}: {shapes}, so fit to {height} px high they fill at most {fill:.0%} of its width and "
                "their text gets as few of the model's frames; --set image.resize=stretch fills the width, which "
                "read more where the text is stretched to the canvas, less where the characters keep their shape: "
                "compare both (README, \"Narrower than the input\")")
    return None


def load_unlabeled(folder: str | Path, shape: InputShape, workers: int = 0,
                   resize: str = "stretch") -> tuple[np.ndarray, list[tuple[str, str]]]:
    """The images of a folder, labels ignored (the files of its labels.csv if it has one, else every image).

    Returns:
        (uint8 images (n, H, W, C), [(path, why)] of the files that could not be read).

    Raises:
        UserError: the folder does not exist or holds no readable image.
    """
    root = Path(folder)
    if not root.is_dir():
        raise UserError(f"unlabeled folder {str(root)!r} not found; give a folder of captcha images")
    paths = image_paths(root)
    results = _map_files(_load_image, [(p, shape, resize) for p in paths], workers)
    good = [r[1] for r in results if r[2] is None]
    if not good:
        raise UserError(f"{root}: no readable images to self-train on")
    return np.stack(good), [(r[0], r[2]) for r in results if r[2] is not None]


def load_items(
    items: list[tuple[str, str]], charset: Charset, shape: InputShape, folder: str = "", workers: int = 0,
    resize: str = "stretch",
) -> FolderData:
    """Load (path, label) pairs into arrays at `shape` in parallel processes, skipping and recording bad ones."""
    if not isinstance(shape, InputShape):  # a bare tuple could be in the (width, height, channels) order of old
        raise TypeError(f"shape must be an InputShape(height, width, channels), got {shape!r}")
    results = _map_files(_load_one, [(p, lbl, charset, shape, resize) for p, lbl in items], workers)
    good = [r for r in results if r[3] is None]
    problems = [(r[0], r[3]) for r in results if r[3] is not None]
    images = np.stack([r[1] for r in good]) if good else np.empty((0, *shape), np.uint8)
    labels = np.stack([r[2] for r in good]) if good else np.empty((0, charset.max_length), np.int32)
    data = FolderData(folder, images, labels, [r[0] for r in good], problems)
    if not good:
        raise UserError(f"no usable images: {data.report()}")
    return data


def check_min_length(folder: str | None, charset: Charset, loss: str,
                     items: list[tuple[str, str]] | None = None) -> None:
    """Refuse labels shorter than charset.min_length for a ctc model: its reads are held to min_length..max_length
    characters (`captcha_ocr.model.decode.ctc_decode`), so it would never read them. `items` are the folder's,
    listed already (else it is listed); no folder, nothing to check."""
    if not folder or not is_frame_loss(loss):
        return
    items = list_folder(folder) if items is None else items
    short = [label for _, label in items if label and len(label) < charset.min_length]
    if short:
        shortest = min(short, key=len)
        raise UserError(f"{folder}: {len(short)} labels are shorter than charset.min_length={charset.min_length} "
                        f"(the shortest: {shortest!r}); ctc reads are held to min_length..max_length characters, "
                        f"so set --set charset.min_length={len(shortest)}")


def load_folder(folder: str | Path, charset: Charset, shape: InputShape, workers: int = 0,
                resize: str = "stretch") -> FolderData:
    """List and load a labeled folder (see the module docstring for the layout).

    Args:
        folder: the folder.
        charset: labels outside it are skipped and reported.
        shape: (height, width, channels) to load images at.
        workers: processes (0 = one per core).
        resize: how images become the input shape (see `images.to_array`).
    """
    return load_items(list_folder(folder), charset, shape, str(folder), workers, resize)
