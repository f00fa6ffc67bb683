"""Draw captchas with the npm generators: one `node js/draw.js` process per batch of images.

The npm packages live in a node_modules folder that `npm ci --prefix
captcha_ocr/zoo/js` fills from js/package.json and its lock (exact versions).
`--js-dir` or the environment variable CAPTCHA_OCR_ZOO_JS point elsewhere: at
a node_modules folder or at the folder holding one.

draw.js reads a JSON job on stdin and answers one JSON line per image (see its
header); it seeds Math.random and crypto.randomBytes per image, so a batch of
any size gives the same image i.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator

from captcha_ocr.core.errors import UserError

JS_DIR = Path(__file__).resolve().parent / "js"
SCRIPT = JS_DIR / "draw.js"
ENV_VAR = "CAPTCHA_OCR_ZOO_JS"

# What each generator's drawing requires, beyond node itself.
PACKAGES = {
    "svg-captcha": ("svg-captcha", "@resvg/resvg-js"),
    "trek-captcha": ("trek-captcha",),
    "captchapng": ("captchapng",),
    "captcha-canvas": ("captcha-canvas", "canvas"),
}

BATCH = 250  # images per node process: a failure costs at most one batch, and memory stays small


def install_hint() -> str:
    return f"npm_config_nodedir=/usr npm ci --prefix {JS_DIR}"


def modules_dir(js_dir: str | Path | None = None) -> Path:
    """The node_modules folder named by --js-dir, CAPTCHA_OCR_ZOO_JS or the default (it may not exist)."""
    given = js_dir or os.environ.get(ENV_VAR)
    base = Path(given).expanduser().resolve() if given else JS_DIR
    if base.name == "node_modules" or (base / ".package-lock.json").is_file():  # npm writes one in node_modules
        return base
    return base / "node_modules"


def package_json(modules: Path, package: str) -> dict | None:
    path = modules / package / "package.json"
    return json.loads(path.read_text(encoding="utf-8-sig")) if path.is_file() else None


def missing(generator: str, modules: Path) -> str | None:
    """What is missing to draw with an npm generator, or None when it can draw."""
    if shutil.which("node") is None:
        return "node (Node.js; version 20 is tested) on the PATH"
    if not modules.is_dir():
        return f"the npm packages (there is no {modules})"
    absent = [p for p in PACKAGES[generator] if package_json(modules, p) is None]
    return f"the npm package(s) {', '.join(absent)} in {modules}" if absent else None


def check_modules(modules: Path, generator: str) -> None:
    """Load the generator in node once, so that a broken native build is one clear line, not a failure per image.

    Raises:
        UserError: node cannot load it.
    """
    lines, _ = _run(modules, generator, {}, [])
    if lines and "fatal" in lines[0]:
        raise UserError(f"node cannot load {generator} from {modules}: {lines[0]['fatal']}; "
                        f"reinstall the npm packages: {install_hint()}")


def draw(modules: Path, generator: str, options: dict, items: list[dict]) -> Iterator[dict]:
    """Draw items [{index, text, seed}] with one npm generator; yields {index, text, data: bytes} or {index, error}.

    A node process that dies reports each image it did not answer as failed, with its last words.
    """
    for start in range(0, len(items), BATCH):
        batch = items[start:start + BATCH]
        lines, stderr = _run(modules, generator, options, batch)
        answered = set()
        for line in lines:
            if "fatal" in line:
                raise UserError(f"node cannot load {generator}: {line['fatal']}; reinstall: {install_hint()}")
            answered.add(line["index"])
            yield dict(line, data=base64.b64decode(line["data"])) if "data" in line else line
        why = (stderr.strip().splitlines() or ["no message"])[-1]
        for item in batch:
            if item["index"] not in answered:
                yield {"index": item["index"], "error": f"node stopped before drawing it: {why}"}


def _run(modules: Path, generator: str, options: dict, items: list[dict]) -> tuple[list[dict], str]:
    """The JSON lines draw.js answers for a job, and its stderr."""
    job = json.dumps({"modules": str(modules), "generator": generator, "options": options, "items": items})
    try:
        proc = subprocess.run(["node", str(SCRIPT)], input=job.encode(), capture_output=True, timeout=600)
    except subprocess.TimeoutExpired as err:
        return [], f"no answer after {err.timeout:.0f} s"
    lines = []
    for raw in proc.stdout.decode("utf-8", "replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except json.JSONDecodeError:
            continue  # a generator's own console output; draw.js answers on lines of JSON only
    return lines, proc.stderr.decode("utf-8", "replace")


def font_files(generator: str) -> list[str]:
    """The fonts an npm generator draws with: its bundled files, or the system font fontconfig gives it."""
    if generator == "svg-captcha":
        return ["svg-captcha/fonts/Comismsh.ttf"]
    if generator == "trek-captcha":
        return ["trek-captcha/lib/font.js (bitmap glyphs)"]
    if generator == "captchapng":
        return ["captchapng/lib/captchapng.js (bitmap digits)"]
    family = "Sans"  # captcha-canvas's default font, which node-canvas asks fontconfig for
    found = ""
    if shutil.which("fc-match"):
        found = subprocess.run(["fc-match", family, "--format=%{file}"], capture_output=True, text=True,
                               timeout=30).stdout
    return [f"fontconfig '{family}': {found or 'unknown'}"]


def node_version() -> str:
    try:
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""
