"""Write a labeled folder of synthetic captchas: `python -m captcha_ocr.generate --config C --out DIR --count N`.

Files are named `<label>_<index>.png` (the index keeps names unique, also on
case-insensitive file systems). The same config, seed and split give the same
files. All cores render in parallel.

`--preview sheet.png` instead writes one contact sheet of samples with their
labels, to compare the generator's style with real captchas by eye.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from captcha_ocr.core.cli import output_dir
from captcha_ocr.core.spec import InputShape
from captcha_ocr.core.workers import process_pool, worker_count
from captcha_ocr.synth.imagecaptcha import Chunk, GeneratorSpec, chunks_for, sample_images


@dataclass(frozen=True)
class _WriteJob:
    chunk: Chunk
    out: str
    digits: int


def _write_chunk(job: _WriteJob) -> int:
    c = job.chunk
    pairs = sample_images(c.spec, c.seed, c.split, range(c.start, c.start + c.count))
    for offset, (text, img) in enumerate(pairs):
        img.save(Path(job.out) / f"{text}_{c.start + offset:0{job.digits}d}.png")
    return c.count


def generate_folder(config, out: str | Path, count: int, seed: int, split: str = "train", workers: int = 0) -> int:
    """Render `count` captchas of (seed, split) as PNG files into `out`; returns the count written."""
    spec = GeneratorSpec.from_config(config)
    out = output_dir(out)
    digits = max(5, len(str(count - 1)))
    shape = InputShape(spec.height, spec.width, 3)
    jobs = [_WriteJob(c, str(out), digits) for c in chunks_for(spec, seed, split, count, shape, chunk_size=100)]
    workers = min(worker_count(workers), max(1, len(jobs)))
    done, shown = 0, 0
    live = sys.stderr.isatty()
    with process_pool(workers) as pool:
        for n in pool.map(_write_chunk, jobs):
            done += n
            if live:
                print(f"\rgenerated {done}/{count}", end="", file=sys.stderr, flush=True)
            elif done * 10 // count > shown or done == count:  # a log file gets ~10 lines, not one per chunk
                shown = done * 10 // count
                print(f"generated {done}/{count}", file=sys.stderr, flush=True)
    if live:
        print(file=sys.stderr)
    return done


def contact_sheet(config, seed: int, count: int = 40, columns: int = 5, split: str = "files") -> Image.Image:
    """A grid of `count` samples, each captioned with its label."""
    spec = GeneratorSpec.from_config(config)
    return labeled_grid(sample_images(spec, seed, split, range(count)), columns)


def caption_font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans Mono from matplotlib's package: a caption font that tells I from l and 0 from O."""
    import matplotlib

    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"), size)


def labeled_grid(pairs, columns: int = 5) -> Image.Image:
    """Images in a grid, each at its own size in a cell of the largest one's, captioned with its text.

    Args:
        pairs: (caption, PIL image) pairs.
        columns: cells per row.
    """
    pairs = list(pairs)
    font = caption_font(12)
    caption = 15
    cell_w = max(img.width for _, img in pairs)
    cell_h = max(img.height for _, img in pairs)
    rows = -(-len(pairs) // columns)
    sheet = Image.new("RGB", (columns * (cell_w + 8) + 8, rows * (cell_h + caption + 8) + 8), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (text, img) in enumerate(pairs):
        x = 8 + (i % columns) * (cell_w + 8)
        y = 8 + (i // columns) * (cell_h + caption + 8)
        sheet.paste(img.convert("RGB"), (x, y))
        draw.text((x, y + img.height + 1), text, fill="black", font=font)
    return sheet
