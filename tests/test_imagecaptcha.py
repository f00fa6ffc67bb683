import hashlib
import random
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SMOKE

from captcha_ocr.core.config import load_config
from captcha_ocr.core.spec import InputShape
from captcha_ocr.synth.imagecaptcha import CaptchaGenerator, GeneratorSpec, render, sample_images, seeded_captcha

SPEC = GeneratorSpec.from_config(load_config(SMOKE))
SIZE = InputShape(SPEC.height, SPEC.width, 3)


def digest(images, labels) -> str:
    return hashlib.sha256(images.tobytes() + labels.tobytes()).hexdigest()


def test_same_seed_same_bytes_in_another_process():
    images, labels = render(SPEC, 3, "train", 20, SIZE, workers=1)
    code = (
        "from captcha_ocr.core.config import load_config;"
        "from captcha_ocr.synth.imagecaptcha import GeneratorSpec, render;"
        "from captcha_ocr.core.spec import InputShape;"
        "import hashlib;"
        f"s = GeneratorSpec.from_config(load_config({str(SMOKE)!r}));"
        f"x, y = render(s, 3, 'train', 20, {SIZE!r}, workers=1);"
        "print(hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == digest(images, labels)


def test_worker_count_does_not_change_the_data():
    one = render(SPEC, 5, "val", 300, SIZE, workers=1)
    two = render(SPEC, 5, "val", 300, SIZE, workers=2)
    assert digest(*one) == digest(*two)


def test_seeds_and_splits_differ():
    a = render(SPEC, 1, "train", 8, SIZE, workers=1)
    b = render(SPEC, 2, "train", 8, SIZE, workers=1)
    c = render(SPEC, 1, "test", 8, SIZE, workers=1)
    assert len({digest(*a), digest(*b), digest(*c)}) == 3


def test_images_are_drawn_text_and_labels_follow_charset():
    images, labels = render(SPEC, 0, "train", 50, SIZE, workers=1)
    assert images.dtype == np.uint8 and images.shape == (50, SPEC.height, SPEC.width, 3)
    assert images.std() > 10, "a captcha has text and noise, not a flat colour"
    assert labels.min() >= 0 and labels.max() < len(SPEC.chars)  # length 4: no pad
    texts = [t for t, _ in sample_images(SPEC, 0, "train", range(200))]
    assert len(set(texts)) == 200
    assert set("".join(texts)) <= set(SPEC.chars)


def test_variable_length_draws_every_length():
    spec = GeneratorSpec.from_config(load_config(SMOKE, ["charset.min_length=2", "charset.max_length=5"]))
    texts = [t for t, _ in sample_images(spec, 0, "train", range(200))]
    assert {len(t) for t in texts} == {2, 3, 4, 5}


def test_missing_font_is_a_clear_error():
    from captcha_ocr.core.errors import UserError

    with pytest.raises(UserError, match="font file"):
        GeneratorSpec.from_config(load_config(SMOKE, ["generator.fonts=[/no/such.ttf]"]))


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


def test_broad_kind_renders_through_the_same_pipeline_with_fit_height():
    from captcha_ocr.core.images import to_array
    from captcha_ocr.synth.broad import BroadGenerator

    config = load_config(SMOKE, ["generator.kind=broad", "image.resize=fit_height", "charset.min_length=1",
                                 "charset.max_length=6", "image.width=120", "image.height=32"])
    spec = GeneratorSpec.from_config(config)
    images, labels = render(spec, 4, "val", 12, config.image.shape, workers=1, resize="fit_height")
    again, _ = render(spec, 4, "val", 12, config.image.shape, workers=2, resize="fit_height")
    assert images.shape == (12, 32, 120, 1) and np.array_equal(images, again)
    broad = BroadGenerator(spec.chars, 1, 6)
    for i in range(12):
        text, img = broad.sample(4, "val", i)
        assert spec.charset.decode(labels[i]) == text
        np.testing.assert_array_equal(images[i], to_array(img, 120, 32, 1, "fit_height"))
    assert len({spec.charset.decode(row) for row in labels}) == 12
