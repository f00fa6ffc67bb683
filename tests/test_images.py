
import numpy as np
import pytest
from PIL import Image

from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import to_array


def make_image(tmp_path, mode, fmt, name):
    rgb = np.zeros((30, 80, 3), np.uint8) + 255
    rgb[10:20, 10:70] = (20, 40, 200)
    img = Image.fromarray(rgb)
    if mode == "RGBA":
        arr = np.zeros((30, 80, 4), np.uint8)  # transparent background, opaque text
        arr[10:20, 10:70] = (20, 40, 200, 255)
        img = Image.fromarray(arr, "RGBA")
    elif mode == "P":
        img = img.convert("P", palette=Image.ADAPTIVE, colors=8)
    elif mode == "I;16":
        arr16 = (np.asarray(img.convert("L"), np.uint16) * 257)
        img = Image.fromarray(arr16)
    elif mode != "RGB":
        img = img.convert(mode)
    path = tmp_path / name
    img.save(path, format=fmt)
    return path


@pytest.mark.parametrize("mode, fmt, ext", [
    ("RGB", "PNG", "png"), ("RGBA", "PNG", "png"), ("P", "PNG", "png"), ("I;16", "PNG", "png"),
    ("L", "JPEG", "jpg"), ("RGB", "JPEG", "jpg"), ("P", "GIF", "gif"), ("RGB", "BMP", "bmp"), ("1", "PNG", "png"),
])
def test_any_mode_and_format_becomes_the_model_input(tmp_path, mode, fmt, ext):
    path = make_image(tmp_path, mode, fmt, f"x.{ext}")
    for channels in (1, 3):
        arr = to_array(path, 160, 60, channels)
        assert arr.shape == (60, 160, channels) and arr.dtype == np.uint8
        # background is light, the text band is dark, whatever the mode
        assert arr[2, 2].mean() > 200
        assert arr[30, 80].mean() < 150


def test_paths_bytes_pil_and_arrays_agree(tmp_path):
    path = make_image(tmp_path, "RGB", "PNG", "x.png")
    ref = to_array(path, 80, 30, 1)
    img = Image.open(path)
    assert np.array_equal(to_array(path.read_bytes(), 80, 30, 1), ref)
    assert np.array_equal(to_array(img, 80, 30, 1), ref)
    assert np.array_equal(to_array(np.asarray(img.convert("RGB")), 80, 30, 1), ref)
    assert np.array_equal(to_array(np.asarray(img.convert("RGB")) / 255.0, 80, 30, 1), ref)


def test_corrupt_missing_and_non_images_are_user_errors(tmp_path):
    good = make_image(tmp_path, "RGB", "PNG", "good.png").read_bytes()
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(good[: len(good) // 2])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    for path, fragment in [(truncated, "corrupt"), (text, "not a readable image"), (tmp_path / "nope.png", "no such file")]:
        with pytest.raises(UserError, match=fragment):
            to_array(path, 80, 30, 1)
    with pytest.raises(UserError, match="shape"):
        to_array(np.zeros((2, 3, 4, 5)), 80, 30, 1)


def _two_to_one() -> Image.Image:
    """A 100x50 image: a blue (10, 20, 200) frame around content that is not blue."""
    a = np.zeros((50, 100, 3), np.uint8)
    a[:] = (10, 20, 200)
    a[10:40, 10:90] = np.linspace(0, 255, 80, dtype=np.uint8)[None, :, None]
    return Image.fromarray(a)


def test_fit_height_keeps_the_aspect_ratio_and_pads_with_the_border_colour():
    img = _two_to_one()
    out = to_array(img, 128, 32, 3, "fit_height")
    assert out.shape == (32, 128, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[:, :64], to_array(img, 64, 32, 3))
    assert (out[:, 64:] == (10, 20, 200)).all()
    grey = to_array(img, 128, 32, 1, "fit_height")
    assert grey.shape == (32, 128, 1)
    np.testing.assert_array_equal(grey[:, :64], to_array(img, 64, 32, 1))
    blue_as_grey = Image.new("RGB", (1, 1), (10, 20, 200)).convert("L").getpixel((0, 0))
    assert (grey[:, 64:] == blue_as_grey).all()


def test_fit_height_squeezes_images_still_too_wide():
    wide = _two_to_one().resize((400, 50))
    np.testing.assert_array_equal(to_array(wide, 128, 32, 3, "fit_height"), to_array(wide, 128, 32, 3))


def test_an_image_that_pil_refuses_as_a_bomb_gets_our_message(tmp_path, monkeypatch):
    """PIL refuses the largest images inside Image.open, before open_image's own check sees them."""
    from PIL import Image

    from captcha_ocr.core.images import ImageTooLarge, open_image

    path = tmp_path / "wide.png"
    Image.new("L", (300, 100)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # refused from 20,000 pixels on
    with pytest.raises(ImageTooLarge, match=r"wide.png: 30,000 pixels is more than the limit of 25,000; send a smaller"):
        open_image(path, max_pixels=25_000)
