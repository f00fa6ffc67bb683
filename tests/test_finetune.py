"""Real captchas: fine-tuning with a changed head, folder training mixed with synthetic data, augmentation, styles."""

import json
import random

import numpy as np
import tensorflow as tf

from captcha_ocr.config import load_config
from captcha_ocr.data import build_datasets, make_augment
from captcha_ocr.generator import CaptchaGenerator, GeneratorSpec, seeded_captcha
from captcha_ocr.model import build_model, load_matching_weights
from conftest import SMOKE, assert_user_error, run_module


def test_matching_weights_keep_convolutions_and_reinit_a_changed_head():
    source = build_model(load_config(SMOKE))
    target = build_model(load_config(SMOKE, ["charset.chars=0123456789", "charset.max_length=5"]))
    kept, fresh = load_matching_weights(target, source)
    assert kept == ["conv1", "bn1", "conv2", "bn2"]
    assert [f.split()[0] for f in fresh] == ["logits"]
    for name in ("conv1", "bn2"):
        for a, b in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


def test_finetune_cli_logs_kept_and_reinitialized_layers(smoke_run, generated_folder, workdir):
    run_dir = workdir / "runs" / "finetune"
    proc = run_module(
        "train", "--config", SMOKE, "--init-from", smoke_run, "--run-dir", run_dir,
        "--set", "data.source=folder", "--set", f"data.folder={generated_folder}",
        "--set", "data.split=[0.5, 0.25, 0.25]", "--set", "charset.max_length=5",
        "--set", "data.synthetic_ratio=0.5", "--set", "augment.enabled=true", "--set", "train.batch_size=4",
        cwd=workdir, check=True)
    assert "kept 4 layers (conv1, bn1, conv2, bn2)" in proc.stdout
    assert "re-initialized 1 layers (logits (shape" in proc.stdout
    assert "mixed with a synthetic pool" in proc.stdout and "augmented" in proc.stdout
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["init_from"] == str(smoke_run) and metrics["test"]["count"] == 6


def test_init_from_a_missing_run_fails_fast(workdir, tmp_path):
    proc = run_module("train", "--config", SMOKE, "--init-from", tmp_path / "nothing", "--run-dir", tmp_path / "r",
                      cwd=workdir)
    assert_user_error(proc, "not found")
    assert not (tmp_path / "r").exists()


def test_folder_mixed_with_synthetic_at_the_configured_ratio(generated_folder, tmp_path):
    config = load_config(SMOKE, ["data.source=folder", f"data.folder={generated_folder}", "data.synthetic_ratio=0.75",
                                 f"data.cache_dir={tmp_path}", "data.split=[0.5, 0.25, 0.25]", "train.batch_size=50"])
    data = build_datasets(config)
    assert data.steps_per_epoch == 1  # 12 folder images are 25% of 48 a pass: less than one batch of 50
    folder_labels = {tuple(row) for row in build_datasets(load_config(
        SMOKE, ["data.source=folder", f"data.folder={generated_folder}", "data.split=[0.5, 0.25, 0.25]",
                "train.batch_size=12"])).train.take(1).as_numpy_iterator().next()[1]}
    labels = np.concatenate([y for _, y in data.train.take(8).as_numpy_iterator()])
    from_folder = np.mean([tuple(row) in folder_labels for row in labels])
    assert 0.15 < from_folder < 0.35, from_folder  # 25% folder, 75% synthetic


def test_augmentation_eagerly_and_inside_tf_data():
    from captcha_ocr.config import AugmentConfig

    aug = make_augment(AugmentConfig(enabled=True, blur=1.0), seed=3)
    x = np.ones((4, 30, 80, 1), np.float32)
    x[:, 10:20, 20:60] = 0.0
    eager = aug(tf.constant(x)).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(x).map(aug))).numpy()
    for out in (eager, mapped):
        assert out.shape == x.shape and out.min() >= 0 and out.max() <= 1
        assert not np.allclose(out, x)
        assert out.mean() > 0.5  # still mostly background
    assert make_augment(AugmentConfig(enabled=True, shift=0, rotation=0, scale=0, contrast=0, blur=0))(
        tf.constant(x)).numpy().tolist() == x.tolist()


def test_default_style_is_imagecaptcha_and_styles_change_images(tmp_path):
    from captcha.image import ImageCaptcha

    spec = GeneratorSpec.from_config(load_config(SMOKE))
    text, ours = CaptchaGenerator(spec).sample(0, "s", 3)
    rng = random.Random("captcha_ocr:0:s:3")
    rng.randint(4, 4)  # the draws CaptchaGenerator.sample makes for the text, before the image
    for _ in range(4):
        rng.choice(spec.chars)
    with seeded_captcha(rng):
        stock = ImageCaptcha().generate_image(text)
    assert np.array_equal(np.asarray(ours), np.asarray(stock))
    styled = GeneratorSpec.from_config(load_config(SMOKE, [
        "generator.background=[0, 30]", "generator.text_color=[220, 255]", "generator.noise_dots=0",
        "generator.noise_curves=3", "generator.rotation=[0, 0]"]))
    _, dark = CaptchaGenerator(styled).sample(0, "s", 3)
    assert np.asarray(dark.convert("L")).mean() < 100 < np.asarray(ours.convert("L")).mean()


def test_preview_contact_sheet(workdir, tmp_path):
    out = tmp_path / "sheet.png"
    run_module("generate", "--config", SMOKE, "--preview", out, "--count", 10, cwd=workdir, check=True)
    from PIL import Image

    sheet = Image.open(out)
    assert sheet.size[0] > 5 * 160 and sheet.size[1] > 2 * 60
