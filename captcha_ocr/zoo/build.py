"""Write the zoo: per style a labeled folder of images, `labels.csv` (file,label) and a `zoo.json` manifest.

Image i of a style and seed is planned from its own NumPy RNG, seeded with
(seed, style, i): its text (for styles whose text is ours), its length, and the
seed of the generator's own randomness. So image i is the same whatever
`--count` is, and a seeded style gives the same bytes on every run with the
same package versions. Files are written atomically (labels.csv and zoo.json
last), so a killed run leaves no half image and no label without its image.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import random
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from captcha_ocr.core.atomic import write_atomic, write_text_atomic
from captcha_ocr.core.errors import UserError
from captcha_ocr.data.folder import LABELS_CSV, write_labels_csv
from captcha_ocr.zoo import node, python_drawers
from captcha_ocr.zoo.styles import GENERATORS, NODE, PIP_HINT, PYTHON, STYLES, Style, describe_charset, select_styles

logger = logging.getLogger("captcha_ocr.zoo")

MANIFEST = "zoo.json"


def plan(style: Style, seed: int, index: int) -> dict:
    """What image `index` of a style is asked to be: {index, text (None if the generator picks it), length, seed}."""
    rng = np.random.default_rng([seed, zlib.crc32(style.name.encode()), index])
    length = int(rng.integers(style.min_length, style.max_length + 1))
    text = "".join(rng.choice(list(style.chars), size=length)) if style.text == "ours" else None
    words = [int(w) for w in rng.integers(0, 2**32, size=4, dtype=np.uint64)]
    return {"index": index, "text": text, "length": length, "seed": words}


def package_info(generator: str, modules: Path | None = None) -> dict | None:
    """{"version", "licence"} of an installed generator package, read from its metadata; None if not installed."""
    if GENERATORS[generator].runtime == NODE:
        meta = node.package_json(modules, generator) if modules else None
        return {"version": meta.get("version", ""), "licence": meta.get("license", "")} if meta else None
    try:
        meta = importlib.metadata.metadata(generator)
    except importlib.metadata.PackageNotFoundError:
        return None
    licence = meta.get("License-Expression") or meta.get("License") or ""
    if not licence or licence == "UNKNOWN":
        classifiers = [c.split(" :: ")[-1] for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
        licence = classifiers[0] if classifiers else ""
    return {"version": meta["Version"], "licence": licence}


def _missing(style: Style, modules: Path) -> str | None:
    if GENERATORS[style.generator].runtime == PYTHON:
        return python_drawers.missing(style.generator)
    return node.missing(style.generator, modules)


def check_installed(styles: list[Style], modules: Path) -> None:
    """Fail in one line, before drawing anything, if a chosen style's generator is not installed.

    Raises:
        UserError: naming the styles, what they lack and the install command.
    """
    lacking: dict[str, list[Style]] = {}
    for style in styles:
        what = _missing(style, modules)
        if what:
            lacking.setdefault(what, []).append(style)
    if not lacking:
        return
    runtimes = {GENERATORS[s.generator].runtime for group in lacking.values() for s in group}
    hints = ([f"install the zoo extra: {PIP_HINT}"] if PYTHON in runtimes else []) + \
        ([f"install the npm generators: {node.install_hint()} (or give their folder with --js-dir)"]
         if NODE in runtimes else [])
    said = "; ".join(f"{', '.join(s.name for s in group)} need{'s' if len(group) == 1 else ''} {what}"
                     for what, group in lacking.items())
    raise UserError(f"{said}. To draw them, {' and '.join(hints)}")


def _draw_python(style: Style, items: list[dict]) -> Iterator[dict]:
    draw = python_drawers.DRAWERS[style.generator]
    for item in items:
        w = item["seed"]
        rng = random.Random((w[0] << 96) | (w[1] << 64) | (w[2] << 32) | w[3])
        try:
            text, data = draw(style, item["text"], item["length"], rng)
        except Exception as err:  # the generator's failure on one image: skipped and reported, never fatal
            yield {"index": item["index"], "error": f"{type(err).__name__}: {err}".splitlines()[0]}
            continue
        yield {"index": item["index"], "text": text, "data": data}


def label_problem(style: Style, text) -> str | None:
    """Why a drawn text cannot be a label of this style (None if it can)."""
    if not isinstance(text, str):
        return f"the generator returned no text ({text!r})"
    if not style.min_length <= len(text) <= style.max_length:
        return f"text {text!r} is not {style.min_length}-{style.max_length} characters long"
    outside = sorted(set(text) - set(style.chars))
    return f"text {text!r} has characters outside the charset: {''.join(outside)!r}" if outside else None


def font_files(style: Style) -> list[str]:
    if GENERATORS[style.generator].runtime == PYTHON:
        return python_drawers.font_files(style)
    return node.font_files(style.generator)


def _environment(style: Style, modules: Path) -> dict:
    env = {"python": platform.python_version()}
    if GENERATORS[style.generator].runtime == PYTHON:
        env["pillow"] = importlib.metadata.version("pillow")
        if style.generator == "trdg":
            import cv2

            env["opencv"] = cv2.__version__
    else:
        env["node"] = node.node_version()
        for package in node.PACKAGES[style.generator][1:]:
            env[package] = (node.package_json(modules, package) or {}).get("version", "")
    return env


def manifest(style: Style, info: dict, seed: int, requested: int, rows: list, skipped: list, fonts: list[str],
             environment: dict) -> dict:
    """The zoo.json record of one style's folder."""
    g = GENERATORS[style.generator]
    return {
        "style": style.name, "generator": g.name, "version": info["version"], "licence": info["licence"],
        "runtime": g.runtime, "charset": style.chars, "charset_from": style.charset_from,
        "min_length": style.min_length, "max_length": style.max_length,
        "width": style.width or None, "height": style.height, "format": style.ext,
        "options": style.options, "text": style.text, "note": style.note,
        "fonts": fonts, "fonts_note": g.fonts, "seeded": g.seeded, "seeding": g.seeding,
        "seed": seed, "requested": requested, "count": len(rows), "skipped": skipped,
        "labels": LABELS_CSV, "environment": environment,
    }


def write_style(style: Style, folder: Path, count: int, seed: int, modules: Path | None) -> dict:
    """Draw `count` images of a style into `folder`; returns its manifest (also written as zoo.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    items = [plan(style, seed, i) for i in range(count)]
    if GENERATORS[style.generator].runtime == PYTHON:
        results: Iterable[dict] = _draw_python(style, items)
    else:
        node_items = [{k: it[k] for k in ("index", "text", "seed")} for it in items]
        results = node.draw(modules, style.generator, style.options, node_items)
    rows, skipped = [], []
    for r in results:
        problem = r.get("error") or label_problem(style, r.get("text"))
        if problem:
            skipped.append({"index": r["index"], "error": problem})
            continue
        name = f"{r['index']:05d}.{style.ext}"
        write_atomic(folder / name, lambda tmp, data=r["data"]: tmp.write_bytes(data), durable=False)
        rows.append((name, r["text"]))
    write_labels_csv(folder / LABELS_CSV, rows)
    record = manifest(style, package_info(style.generator, modules), seed, count, rows, skipped,
                      font_files(style), _environment(style, modules))
    write_text_atomic(folder / MANIFEST, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return record


def make_zoo(out: str | Path, count: int, seed: int = 0, styles: str | None = None,
             js_dir: str | Path | None = None) -> list[dict]:
    """Write `<out>/<style>/` for each chosen style: images, labels.csv and zoo.json.

    Args:
        out: the zoo's folder (created if missing).
        count: images per style (a few may be skipped: see each manifest's "skipped").
        seed: the same seed gives the same images for seeded styles.
        styles: comma-separated style names, or None for all.
        js_dir: the npm generators' node_modules (or its parent); default CAPTCHA_OCR_ZOO_JS or captcha_ocr/zoo/js.

    Returns:
        The manifests written, one per style.

    Raises:
        UserError: an unknown style, a generator not installed, or an --out that cannot be a folder.
    """
    chosen = select_styles(styles)
    root = Path(out)
    if root.exists() and not root.is_dir():
        raise UserError(f"--out {str(root)!r} is a file; give a folder")
    modules = node.modules_dir(js_dir)
    check_installed(chosen, modules)
    for generator in dict.fromkeys(s.generator for s in chosen if GENERATORS[s.generator].runtime == NODE):
        node.check_modules(modules, generator)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create --out folder {str(root)!r}: {err.strerror}") from None
    records = []
    for style in chosen:
        record = write_style(style, root / style.name, count, seed, modules)
        line = f"{style.name}: {record['count']} images in {root / style.name}"
        logger.info(line)
        if record["skipped"]:
            first = record["skipped"][0]
            logger.warning(f"{style.name}: skipped {len(record['skipped'])} image(s) the generator failed on "
                           f"(first: image {first['index']}: {first['error']}); see its {MANIFEST}")
        records.append(record)
    return records


def failed_styles(records: list[dict]) -> list[str]:
    """The styles of which not one image was drawn: a broken install or a bug, not a generator's bad luck."""
    return [r["style"] for r in records if r["count"] == 0]


def list_styles(js_dir: str | Path | None = None) -> str:
    """The `--list` table: style, generator, version, licence, charset, lengths, size, seeded, installed."""
    modules = node.modules_dir(js_dir)
    head = ("style", "generator", "version", "licence", "charset", "len", "size", "seeded", "installed")
    rows = [head]
    for style in STYLES:
        info = package_info(style.generator, modules) or {}
        what = _missing(style, modules)
        lengths = f"{style.min_length}" + (f"-{style.max_length}" if style.max_length != style.min_length else "")
        size = f"{style.width or 'var'}x{style.height}"
        charset = describe_charset(style.chars)
        rows.append((style.name, style.generator, info.get("version", "-"), info.get("licence", "-")[:12],
                     charset if len(charset) <= 20 else charset[:19] + "…", lengths, size,
                     "yes" if GENERATORS[style.generator].seeded else "no", "yes" if not what else "no"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
