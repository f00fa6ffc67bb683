"""scripts/foreign_styles.py as a user runs it: deterministic folders that load, in every style.

The folders are written by real processes (`python scripts/foreign_styles.py`);
the style table is imported from the script to know what each folder must hold.
No TensorFlow: the whole file runs in a few seconds.
"""

import csv
import importlib.util
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, assert_user_error
from PIL import Image

from captcha_ocr.core.charset import Charset
from captcha_ocr.core.spec import InputShape
from captcha_ocr.data.folder import load_folder

SCRIPT = ROOT / "scripts" / "foreign_styles.py"
COUNT = 6


def _load_script():
    """Import scripts/foreign_styles.py as a module (scripts/ is not a package)."""
    if "scripts_foreign_styles" not in sys.modules:
        spec = importlib.util.spec_from_file_location("scripts_foreign_styles", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules["scripts_foreign_styles"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["scripts_foreign_styles"]


STYLES = _load_script().STYLES


def run(*args, cwd: Path) -> subprocess.CompletedProcess:
    """Run `python scripts/foreign_styles.py args...` as a real process in `cwd`."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return proc


def _labels(folder: Path) -> list[tuple[str, str]]:
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        assert next(reader) == ["file", "label"]
        return [tuple(row) for row in reader]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """`--style all` written by three processes: a and b with seed 1, c with seed 2 (relative --out paths)."""
    base = tmp_path_factory.mktemp("styles")
    for out, seed in (("a", 1), ("b", 1), ("c", 2)):
        _ok(run("--style", "all", "--out", out, "--count", COUNT, "--seed", seed, cwd=base))
    return base


def test_all_writes_one_complete_folder_per_style(written):
    assert sorted(p.name for p in (written / "a").iterdir()) == sorted(STYLES)
    for name in STYLES:
        files = sorted(p.name for p in (written / "a" / name).iterdir())
        # Every image, the labels, and no temporary file left behind by the atomic writes.
        assert files == [f"{i:05d}.png" for i in range(COUNT)] + ["labels.csv"], (name, files)


def test_same_seed_same_bytes_other_seed_different(written):
    for name in STYLES:
        for file in [f"{i:05d}.png" for i in range(COUNT)] + ["labels.csv"]:
            a, b, c = ((written / run_ / name / file).read_bytes() for run_ in "abc")
            assert a == b, (name, file)
            assert a != c, (name, file)


def test_labels_cover_every_file_within_charset_and_lengths(written):
    for name, style in STYLES.items():
        rows = _labels(written / "a" / name)
        assert [f for f, _ in rows] == [f"{i:05d}.png" for i in range(COUNT)]
        low, high = style.lengths
        for file, label in rows:
            assert low <= len(label) <= high, (name, file, label)
            assert set(label) <= set(style.chars), (name, file, label)
        assert len({label for _, label in rows}) > 1, (name, rows)  # texts are drawn, not fixed


def test_image_sizes_match_the_table(written):
    for name, style in STYLES.items():
        for i in range(COUNT):
            with Image.open(written / "a" / name / f"{i:05d}.png") as img:
                assert img.size == style.size, (name, i, img.size)


def test_folders_load_with_no_skipped_files(written):
    for name, style in STYLES.items():
        width, height = style.size
        low, high = style.lengths
        data = load_folder(written / "a" / name, Charset(style.chars, high, low), InputShape(height, width, 3),
                           workers=1)
        assert data.problems == [], data.report()
        assert data.images.shape == (COUNT, height, width, 3)
        charset = Charset(style.chars, high, low)
        assert charset.decode_batch(data.labels) == [label for _, label in _labels(written / "a" / name)]


def test_one_style_writes_into_out_itself(tmp_path):
    out = tmp_path / "stamps"
    proc = _ok(run("--style", "stamp", "--out", out, "--count", 2, cwd=tmp_path))
    assert "stamp: wrote 2 captchas" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["00000.png", "00001.png", "labels.csv"]


def test_unlabeled_keeps_the_answers_aside(tmp_path):
    _ok(run("--style", "stamp", "--out", tmp_path / "s", "--count", 3, "--seed", 2, "--unlabeled", cwd=tmp_path))
    names = sorted(p.name for p in (tmp_path / "s").iterdir())
    assert names == ["00000.png", "00001.png", "00002.png", "answers.csv"]
    assert (tmp_path / "s" / "answers.csv").read_text().startswith("file,label\n00000.png,")


def test_styles_differ_and_draw_their_text():
    sizes = [s.size for s in STYLES.values()]
    assert len(STYLES) >= 5
    assert sum(size != (160, 60) for size in sizes) >= len(STYLES) - 1
    assert any(s.lengths[1] >= 5 for s in STYLES.values())
    for name, style in STYLES.items():
        assert style.draw.__name__ == f"draw_{name}"
        length = style.lengths[0]
        first = np.asarray(style.draw(style.chars[:length], random.Random(7)).convert("L"), np.float32)
        other = np.asarray(style.draw(style.chars[-length:], random.Random(7)).convert("L"), np.float32)
        assert first.std() > 10, name  # something drawn, not a blank
        # Same random choices, other text: the glyphs are what changes, so the pictures must differ.
        assert np.abs(first - other).mean() > 1, name


def test_list_and_preview(tmp_path):
    proc = _ok(run("--list", "--preview", "sheet.png", cwd=tmp_path))
    for name, style in STYLES.items():
        assert f"{style.size[0]}x{style.size[1]}" in proc.stdout and style.chars in proc.stdout and name in proc.stdout
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.width >= 8 * max(s.size[0] for s in STYLES.values())
        assert sheet.height >= sum(s.size[1] for s in STYLES.values())


@pytest.mark.parametrize("args, fragments", [
    (("--style", "ledgr", "--out", "x", "--count", 3), ("unknown style 'ledgr'", "ledger", "hatch")),
    (("--style", "stamp", "--out", "x", "--count", 0), ("--count", "at least 1")),
    (("--style", "stamp", "--out", "x", "--count", "many"), ("--count",)),
    (("--style", "stamp", "--out", "afile", "--count", 2), ("--out", "is a file")),
    (("--style", "stamp", "--out", "afile/sub", "--count", 2), ("--out", "afile/sub")),
    (("--style", "stamp", "--out", "x"), ("--count N",)),
    (("--preview", "no/such/dir/sheet.png", "--style", "stamp"), ("--preview",)),
    ((), ("nothing to do",)),
])
def test_bad_inputs_are_one_line_errors(tmp_path, args, fragments):
    (tmp_path / "afile").write_text("not a folder")
    proc = run(*args, cwd=tmp_path)
    assert_user_error(proc, *fragments)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "x").exists()  # refused before anything was written
