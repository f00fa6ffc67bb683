"""python -m captcha_ocr.zoo: every style's labeled folder from the real command, reproducible, and its errors.

The generators are an optional extra (PyPI) and npm packages. Without them the
tests that draw are skipped, or fail when CAPTCHA_OCR_REQUIRE_ZOO=1 (CI).
"""

from __future__ import annotations

import csv
import json
import os
import re
from pathlib import Path

import pytest
from PIL import Image

from captcha_ocr.core.errors import UserError
from captcha_ocr.data.folder import read_labels_csv
from captcha_ocr.zoo import build, node, python_drawers
from captcha_ocr.zoo.styles import GENERATORS, NODE, STYLES, STYLES_BY_NAME, describe_charset
from conftest import assert_user_error, run_module

MANIFEST_FIELDS = {"style", "generator", "version", "licence", "runtime", "charset", "min_length", "max_length",
                   "width", "height", "format", "options", "fonts", "seeded", "seed", "count", "requested",
                   "skipped", "labels", "text", "environment"}
COUNT = 3


def _not_installed() -> str | None:
    try:
        build.check_installed(list(STYLES), node.modules_dir())
    except UserError as err:
        return str(err)
    return None


@pytest.fixture(scope="module")
def drawable():
    """Skip (or fail, with CAPTCHA_OCR_REQUIRE_ZOO=1) when a generator is not installed."""
    missing = _not_installed()
    if missing:
        message = f"zoo generators not installed: {missing}"
        if os.environ.get("CAPTCHA_OCR_REQUIRE_ZOO") == "1":
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="module")
def zoos(drawable, tmp_path_factory) -> dict[str, Path]:
    """Every style, 3 images each, drawn by the real command: twice with seed 5, once with seed 6."""
    root = tmp_path_factory.mktemp("zoo")
    out = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        out[name] = root / name
        run_module("zoo", "--out", out[name], "--count", COUNT, "--seed", seed, cwd=root, check=True, timeout=240)
    return out


def _rows(folder: Path) -> list[dict]:
    """The labels as training reads them (a label that starts a spreadsheet formula is stored quoted)."""
    with open(folder / "labels.csv", newline="", encoding="utf-8") as fh:
        assert csv.DictReader(fh).fieldnames == ["file", "label"]
    return [{"file": file, "label": label} for file, label in read_labels_csv(folder / "labels.csv")]


def test_every_style_writes_a_labeled_folder_with_its_manifest(zoos):
    assert len({s.generator for s in STYLES}) >= 10
    for style in STYLES:
        folder = zoos["a"] / style.name
        manifest = json.loads((folder / "zoo.json").read_text(encoding="utf-8"))
        assert MANIFEST_FIELDS <= set(manifest), (style.name, MANIFEST_FIELDS - set(manifest))
        assert manifest["style"] == style.name and manifest["generator"] == GENERATORS[style.generator].name
        assert manifest["version"] and manifest["licence"] and manifest["fonts"], manifest
        assert (manifest["seed"], manifest["requested"]) == (5, COUNT)
        rows = _rows(folder)
        # A generator may fail on an image (skipped and reported), but not on all of them.
        assert 1 <= len(rows) == manifest["count"] == COUNT - len(manifest["skipped"]), (style.name, manifest)
        for row in rows:
            label = row["label"]
            assert manifest["min_length"] <= len(label) <= manifest["max_length"], (style.name, label)
            assert set(label) <= set(manifest["charset"]), (style.name, label)
            with Image.open(folder / row["file"]) as img:
                img.load()
                assert img.format.lower() == {"jpg": "jpeg"}.get(style.ext, style.ext)
                assert img.height == manifest["height"], (style.name, img.size)
                assert manifest["width"] in (None, img.width), (style.name, img.size)


def test_a_seed_draws_the_same_bytes_and_another_seed_other_ones(zoos):
    for style in STYLES:
        a, b, c = (zoos[k] / style.name for k in "abc")
        files = sorted(p.name for p in a.iterdir())
        assert files == sorted(p.name for p in b.iterdir()), style.name
        if not GENERATORS[style.generator].seeded:
            continue
        for name in files:
            assert (a / name).read_bytes() == (b / name).read_bytes(), (style.name, name)
        images = [r["file"] for r in _rows(a)]
        other = {r["file"] for r in _rows(c)}
        assert any(f not in other or (a / f).read_bytes() != (c / f).read_bytes() for f in images), style.name


def test_a_generator_failing_on_one_image_skips_it_and_goes_on(drawable, tmp_path, monkeypatch):
    style = STYLES_BY_NAME["gvcode"]
    draw = python_drawers.DRAWERS["gvcode"]

    def flaky(style, text, length, rng):
        if text == build.plan(style, 0, 1)["text"]:
            raise ValueError("bad luck")
        return draw(style, text, length, rng)

    monkeypatch.setitem(python_drawers.DRAWERS, "gvcode", flaky)
    record = build.write_style(style, tmp_path / "gvcode", 3, 0, None)
    assert [r["file"] for r in _rows(tmp_path / "gvcode")] == ["00000.png", "00002.png"]
    assert not (tmp_path / "gvcode" / "00001.png").exists()
    assert record["count"] == 2 and record["skipped"] == [{"index": 1, "error": "ValueError: bad luck"}]


def test_a_style_of_which_no_image_is_drawn_fails_the_command(drawable, tmp_path, monkeypatch, capsys):
    from captcha_ocr.zoo.__main__ import main

    def broken(style, text, length, rng):
        raise OSError("broken install")

    monkeypatch.setitem(python_drawers.DRAWERS, "gvcode", broken)
    assert main(["--out", str(tmp_path / "zoo"), "--count", "2", "--styles", "gvcode,captchapng"]) == 1
    assert "not one image drawn for gvcode;" in capsys.readouterr().err
    assert len(_rows(tmp_path / "zoo" / "captchapng")) == 2  # the other style was still drawn


def test_list_shows_every_style_with_its_generator(tmp_path):
    proc = run_module("zoo", "--list", cwd=tmp_path, check=True)
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:4] == ["style", "generator", "version", "licence"]
    for style in STYLES:
        line = next(ln for ln in lines if ln.split()[0] == style.name)
        assert line.split()[1] == style.generator
        assert describe_charset(style.chars)[:19] in line


@pytest.mark.parametrize("args, fragments", [
    (["--styles", "svg-capcha"], ["unknown style 'svg-capcha'", "did you mean 'svg-captcha'", "trek-captcha"]),
    (["--styles", "kaptcha,nope"], ["unknown style 'nope'", "known styles:"]),
    (["--count", "0"], ["--count", "at least 1"]),
    (["--count", "many"], ["--count", "whole number"]),
    (["--seed", "-1"], ["--seed"]),
    ([], ["--out is required"]),
])
def test_bad_arguments_are_one_line_and_exit_2(tmp_path, args, fragments):
    out = ["--out", tmp_path / "zoo"] if args and args[0] != "--out" else []
    proc = run_module("zoo", *out, *args, cwd=tmp_path)
    assert_user_error(proc, *fragments)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "zoo").exists()


def test_out_that_is_a_file_is_a_user_error(tmp_path):
    (tmp_path / "zoo").write_text("not a folder")
    assert_user_error(run_module("zoo", "--out", tmp_path / "zoo", cwd=tmp_path), "is a file")


def test_missing_npm_packages_say_how_to_install_them(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = run_module("zoo", "--out", tmp_path / "zoo", "--styles", "svg-captcha,trek-captcha",
                      "--js-dir", tmp_path / "empty", cwd=tmp_path)
    assert_user_error(proc, "svg-captcha, trek-captcha need", "npm ci --prefix")
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_missing_python_package_names_the_extra(monkeypatch):
    monkeypatch.setattr(python_drawers, "missing", lambda g: "the Python package claptcha" if g == "claptcha" else None)
    with pytest.raises(UserError) as err:
        build.check_installed([STYLES_BY_NAME["claptcha"], STYLES_BY_NAME["gvcode"]], None)
    message = str(err.value)
    assert "\n" not in message and "claptcha needs the Python package claptcha" in message
    assert "pip install -e '.[zoo]'" in message and "gvcode" not in message


def test_npm_packages_are_pinned_and_cover_every_node_generator():
    package = json.loads((node.JS_DIR / "package.json").read_text(encoding="utf-8"))
    deps = package["dependencies"]
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in deps.values()), deps  # exact versions only
    needed = {p for g, spec in GENERATORS.items() if spec.runtime == NODE for p in node.PACKAGES[g]}
    assert needed <= set(deps), needed - set(deps)
    lock = json.loads((node.JS_DIR / "package-lock.json").read_text(encoding="utf-8"))
    for name, version in deps.items():
        assert lock["packages"][f"node_modules/{name}"]["version"] == version, name
