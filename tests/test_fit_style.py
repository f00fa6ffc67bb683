"""captcha_ocr.fit_style: the statistics against hand-computed values, the label rules, and the real command
recovering known parameters of folders drawn by the generator itself."""

from __future__ import annotations

import pytest
import yaml
from conftest import assert_user_error, run_module
from PIL import Image

from captcha_ocr.core.config import Config, load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.data import style_fit as fit_style
from captcha_ocr.synth import style_stats
from captcha_ocr.synth.folders import generate_folder

TRIALS = 8  # random styles per fit here: seconds, not the default's ~20 s

DARK = ["generator.width=200", "generator.height=70", "generator.background=[20, 50]",
        "generator.text_color=[180, 250]", "charset.min_length=5", "charset.max_length=6"]
LIGHT = ["generator.width=150", "generator.height=50", "generator.background=[235, 255]",
         "generator.text_color=[0, 90]", "charset.min_length=3", "charset.max_length=4",
         "generator.noise_dots=0", "generator.noise_curves=0"]


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """Two labeled folders of 40 captchas each, of known styles: dark and light."""
    root = tmp_path_factory.mktemp("styles")
    out = {}
    for name, overrides in (("dark", DARK), ("light", LIGHT)):
        out[name] = root / name
        assert generate_folder(load_config(None, overrides), out[name], 40, seed=3, workers=1) == 40
    return out


@pytest.fixture(scope="module")
def fitted(folders, tmp_path_factory):
    """The real command run once on each folder: {name: (process, yaml path, sheet path)}."""
    work = tmp_path_factory.mktemp("fits")
    out = {}
    for name, folder in folders.items():
        yaml_path = work / "configs" / f"{name}.yaml"  # configs/ does not exist yet: the command makes it
        proc = run_module("fit_style", "--data", folder, "--out", yaml_path, "--trials", TRIALS, "--seed", 1,
                          cwd=work, check=True)
        out[name] = (proc, yaml_path, yaml_path.with_suffix(".png"))
    return out


def _mid(pair):
    return (pair[0] + pair[1]) / 2


def test_recovers_size_lengths_and_a_dark_background(fitted):
    proc, path, _ = fitted["dark"]
    config = load_config(path)
    assert (config.generator.width, config.generator.height) == (200, 70)
    assert (config.charset.min_length, config.charset.max_length) == (5, 6)
    assert _mid(config.generator.background) < 100, config.generator.background
    assert "distance" in proc.stdout and "wrote" in proc.stdout


def test_recovers_a_light_background(fitted):
    config = load_config(fitted["light"][1])
    assert (config.generator.width, config.generator.height) == (150, 50)
    assert (config.charset.min_length, config.charset.max_length) == (3, 4)
    assert _mid(config.generator.background) > 180, config.generator.background


def test_yaml_holds_only_differences_with_a_header_and_generates(fitted, tmp_path):
    _, path, _ = fitted["dark"]
    text = path.read_text()
    header = [line for line in text.splitlines() if line.startswith("#")]
    assert text.startswith("# ") and any("python -m captcha_ocr.fit_style" in h for h in header)
    assert any("distance" in h for h in header) and any("captcha_ocr.generate --config" in h for h in header)
    data = yaml.safe_load(text)
    defaults = Config().to_dict()
    assert set(data) <= set(defaults) and data["generator"]
    for section, values in data.items():
        for key, value in values.items():
            assert value != defaults[section][key], f"{section}.{key} equals its default"
    assert not list(path.parent.glob(".*.tmp")), "the temporary file was left behind"
    preview = tmp_path / "preview.png"
    run_module("generate", "--config", path, "--preview", preview, "--count", 5, cwd=tmp_path, check=True)
    assert Image.open(preview).size[1] > 70


def test_sheet_shows_real_and_synthetic_rows(fitted):
    _, _, sheet_path = fitted["dark"]
    sheet = Image.open(sheet_path)
    assert sheet.height > 2 * 70 * 2  # two rows of real captchas and two of synthetic ones, 70 px each
    assert sheet.width > 5 * 200


def test_fitted_style_is_closer_than_the_default(folders, fitted):
    real = fit_style.read_folder(folders["dark"])
    stats = style_stats.StyleStats.of(real.images, style_stats.analysis_size(*real.size))
    fitted_distance = fit_style.style_distance(load_config(fitted["dark"][1]), stats)
    default_here = load_config(None, ["generator.width=200", "generator.height=70"])
    assert fitted_distance < fit_style.style_distance(default_here, stats)
    assert fitted_distance < fit_style.style_distance(Config(), stats)


def test_numbered_file_names_are_not_labels():
    assert fit_style.names_are_labels(["aB3x", "x7Kp", "1234"])
    assert fit_style.names_are_labels(["483920", "102934", "999111"])  # digit captchas, far from consecutive
    assert not fit_style.names_are_labels(["00000", "00001", "00002"])
    assert not fit_style.names_are_labels(["img0001", "img0002"])
    assert not fit_style.names_are_labels(["img"] * 5)  # img_0001.png, img_0002.png, ...
    assert not fit_style.names_are_labels(["IMG-1", "IMG-2"])


def test_unlabeled_folder_keeps_the_charset(folders, tmp_path):
    for i, src in enumerate(sorted(folders["light"].glob("*.png"))[:6]):
        (tmp_path / f"{i:05d}.png").write_bytes(src.read_bytes())
    real = fit_style.read_folder(tmp_path)
    assert real.labels is None and real.size == (150, 50) and real.captions[0] == "00000"
    updates, notes = fit_style.charset_updates(real.labels, Config())
    assert updates == {} and "keeping the charset" in notes[0]


def test_charset_grows_only_for_characters_outside_it():
    base = Config()
    updates, notes = fit_style.charset_updates(["ab+c", "xyz"], base)
    assert updates["chars"] == base.charset.chars + "+"
    assert (updates["min_length"], updates["max_length"]) == (3, 4)
    assert any("outside the charset" in n for n in notes)
    updates, _ = fit_style.charset_updates(["abc", "xyz1"], base)
    assert "chars" not in updates
    with pytest.raises(UserError, match="pad character"):
        fit_style.charset_updates(["ab_c"], base)


def test_same_seed_same_fit(folders):
    base = Config()
    a = fit_style.fit_style(folders["light"], base, trials=2, seed=5, samples=8, log=lambda _: None)
    b = fit_style.fit_style(folders["light"], base, trials=2, seed=5, samples=8, log=lambda _: None)
    assert a.config == b.config and a.distance == b.distance


@pytest.mark.parametrize("case, fragment", [
    ("missing", "not found"),
    ("empty", "no labeled images"),
    ("unwritable", "--out"),
    ("trials", "--trials"),
])
def test_bad_input_is_one_error_line(case, fragment, folders, tmp_path):
    data, out, extra = folders["light"], tmp_path / "out.yaml", []
    if case == "missing":
        data = tmp_path / "nowhere"
    elif case == "empty":
        data = tmp_path / "empty"
        data.mkdir()
    elif case == "unwritable":
        (tmp_path / "a-file").write_text("x")
        out = tmp_path / "a-file" / "out.yaml"  # its folder is a file
    else:
        extra = ["--trials", "0"]
    proc = run_module("fit_style", "--data", data, "--out", out, *extra, cwd=tmp_path, timeout=120)
    assert_user_error(proc, fragment)
    assert len([line for line in proc.stderr.splitlines() if line.startswith("error:")]) == 1
    assert not out.exists()
