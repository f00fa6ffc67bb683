"""captcha_ocr.data.augment: random shifts, rotations, scaling, contrast and blur, eagerly and in tf.data; stateless."""

import numpy as np
import tensorflow as tf

from captcha_ocr.core.config import AugmentConfig
from captcha_ocr.data.augment import _affine, _warp, make_augment


def batch() -> np.ndarray:
    x = np.ones((4, 30, 80, 1), np.float32)
    x[:, 10:20, 20:60] = 0.0
    return x


def test_augmentation_eagerly_and_inside_tf_data():
    aug = make_augment(AugmentConfig(enabled=True, blur=1.0), seed=3)
    x = batch()
    eager = aug(tf.constant(x), 5).numpy()
    mapped = next(iter(tf.data.Dataset.from_tensors(x).enumerate(5).map(lambda k, b: aug(b, k)))).numpy()
    np.testing.assert_allclose(eager, mapped, atol=1e-6)
    assert eager.shape == x.shape and eager.min() >= 0 and eager.max() <= 1
    assert not np.allclose(eager, x)
    assert eager.mean() > 0.5  # still mostly background
    off = make_augment(AugmentConfig(enabled=True, shift=0, rotation=0, scale=0, contrast=0, blur=0))
    assert off(tf.constant(x), 0).numpy().tolist() == x.tolist()


def test_batch_k_depends_on_seed_and_k_only():
    aug = make_augment(AugmentConfig(enabled=True, blur=0.5), seed=11)
    x = tf.constant(batch())
    first = aug(x, 7).numpy()
    aug(x, 3)  # whatever ran before, batch 7 is augmented the same way
    np.testing.assert_array_equal(aug(x, 7).numpy(), first)
    np.testing.assert_array_equal(make_augment(AugmentConfig(enabled=True, blur=0.5), seed=11)(x, 7).numpy(), first)
    assert not np.array_equal(aug(x, 8).numpy(), first)
    assert not np.array_equal(make_augment(AugmentConfig(enabled=True, blur=0.5), seed=12)(x, 7).numpy(), first)


def test_affine_shift_and_rotation_against_numpy():
    rng = np.random.default_rng(0)
    x = rng.random((1, 12, 16, 1)).astype(np.float32)
    w, h = tf.constant(16.0), tf.constant(12.0)
    one = lambda v: tf.constant([v], tf.float32)  # noqa: E731
    shifted = _affine(tf.constant(x), w, h, one(3.0), one(-2.0), one(0.0), one(1.0)).numpy()
    # A whole-pixel shift of (3, -2): output (y, x) samples input (y + 2, x - 3), edges repeated.
    ys = np.clip(np.arange(12) + 2, 0, 11)
    xs = np.clip(np.arange(16) - 3, 0, 15)
    np.testing.assert_allclose(shifted[0, :, :, 0], x[0][np.ix_(ys, xs)][:, :, 0], atol=1e-5)
    turned = _affine(tf.constant(x[:, :12, :12]), tf.constant(12.0), h, one(0.0), one(0.0), one(np.pi / 2), one(1.0))
    np.testing.assert_allclose(turned[0, :, :, 0], np.rot90(x[0, :12, :12, 0], k=1), atol=1e-5)


def dark_columns(image: np.ndarray, row: int) -> np.ndarray:
    return np.flatnonzero(image[row, :, 0] < 0.5)


def test_affine_stretch_scales_the_width_alone_and_slant_moves_rows_by_their_height():
    x = np.ones((1, 30, 80, 1), np.float32)
    x[:, 10:20, 20:60] = 0.0  # a bar 40 wide and 10 high
    w, h, zero, one = tf.constant(80.0), tf.constant(30.0), tf.constant([0.0]), tf.constant([1.0])
    half = _affine(tf.constant(x), w, h, zero, zero, zero, one, stretch=tf.constant([0.5]), slant=zero).numpy()[0]
    assert len(dark_columns(half, 15)) in (19, 20, 21)  # half as wide, about the same centre
    assert abs(dark_columns(half, 15).mean() - 39.5) <= 1
    assert [r for r in range(30) if dark_columns(half, r).size] == list(range(10, 20))  # as high as before
    bar = np.ones((1, 30, 80, 1), np.float32)
    bar[:, :, 38:42] = 0.0  # an upright stroke
    slanted = _affine(tf.constant(bar), w, h, zero, zero, zero, one, stretch=one,
                      slant=tf.constant([0.5])).numpy()[0]
    centre = [dark_columns(slanted, r).mean() for r in (2, 27)]
    assert abs((centre[1] - centre[0]) - 0.5 * 25) <= 1  # half a pixel to the side for each pixel down
    assert abs(np.mean(centre) - 39.5) <= 1


def test_stretch_and_shear_vary_each_captchas_glyphs_within_their_bounds():
    x = np.ones((64, 30, 80, 1), np.float32)
    x[:, 10:20, 20:60] = 0.0
    plain = dict(enabled=True, shift=0, rotation=0, scale=0, contrast=0, blur=0)
    stretched = make_augment(AugmentConfig(**plain, stretch=0.3), seed=1)(tf.constant(x), 0).numpy()
    widths = np.array([len(dark_columns(image, 15)) for image in stretched])
    assert widths.min() >= 40 * 0.7 - 1 and widths.max() <= 40 * 1.3 + 1
    assert widths.max() - widths.min() >= 12  # drawn across the range, one factor per captcha
    assert all([r for r in range(30) if dark_columns(image, r).size] == list(range(10, 20)) for image in stretched)
    sheared = make_augment(AugmentConfig(**plain, shear=20), seed=1)(tf.constant(x), 0).numpy()
    drift = np.array([dark_columns(image, 19).mean() - dark_columns(image, 10).mean() for image in sheared])
    assert np.abs(drift).max() <= np.tan(np.radians(20)) * 9 + 1
    assert drift.min() < -1 and drift.max() > 1  # slanted both ways
    assert np.array_equal(make_augment(AugmentConfig(**plain, shear=20), seed=1)(tf.constant(x), 0).numpy(), sheared)


def test_warp_samples_each_pixel_at_its_offset_against_numpy():
    rng = np.random.default_rng(1)
    x = rng.random((2, 12, 16, 3)).astype(np.float32)
    field = np.zeros((2, 12, 16, 2), np.float32)
    field[0, ..., 0], field[0, ..., 1] = 2.0, -1.0  # output (y, x) samples input (y - 1, x + 2), edges repeated
    field[1, ..., 0], field[1, ..., 1] = 0.5, 0.25  # between a pixel and its neighbours right and below
    out = _warp(tf.constant(x), tf.constant(field)).numpy()
    ys, xs = np.clip(np.arange(12) - 1, 0, 11), np.clip(np.arange(16) + 2, 0, 15)
    np.testing.assert_allclose(out[0], x[0][np.ix_(ys, xs)], atol=1e-5)
    a = x[1]
    mixed = 0.75 * (a[:-1, :-1] + a[:-1, 1:]) / 2 + 0.25 * (a[1:, :-1] + a[1:, 1:]) / 2
    np.testing.assert_allclose(out[1, :11, :15], mixed, atol=1e-5)


def test_warp_bends_each_captcha_smoothly_within_its_bound():
    x = np.ones((32, 48, 192, 1), np.float32)
    x[:, 20:28, 8:184] = 0.0  # a long bar 8 high
    plain = dict(enabled=True, shift=0, rotation=0, scale=0, contrast=0, blur=0)
    warped = make_augment(AugmentConfig(**plain, warp=0.05), seed=4)(tf.constant(x), 0).numpy()
    bound = 0.05 * 48  # 2.4 pixels
    tops = np.array([[np.flatnonzero(image[:, col, 0] < 0.5).min() for col in range(16, 176)] for image in warped])
    assert tops.min() >= 20 - bound - 1 and tops.max() <= 20 + bound + 1
    assert (tops.max(axis=1) - tops.min(axis=1)).mean() >= 2  # bent along its length, not moved as one
    assert np.abs(np.diff(tops, axis=1)).max() <= 1  # neighbouring columns move together
    again = make_augment(AugmentConfig(**plain, warp=0.05), seed=4)(tf.constant(x), 0).numpy()
    np.testing.assert_array_equal(again, warped)


def test_lines_cross_the_captchas_they_are_drawn_on_thin_and_as_often_as_asked():
    x = np.ones((64, 48, 192, 3), np.float32)
    plain = dict(enabled=True, shift=0, rotation=0, scale=0, contrast=0, blur=0)
    every = make_augment(AugmentConfig(**plain, lines=1.0), seed=5)(tf.constant(x), 0).numpy()
    changed = np.abs(every - 1.0).max(axis=3) > 0.02  # (64, 48, 192)
    assert changed[:, :, 2:-2].any(axis=1).all()  # every image crossed from side to side
    assert changed.sum(axis=1).max() <= 12  # two lines of at most 3 pixels, steep at most 0.6
    half = make_augment(AugmentConfig(**plain, lines=0.5), seed=5)(tf.constant(x), 0).numpy()
    untouched = (np.abs(half - 1.0).max(axis=(1, 2, 3)) == 0).sum()
    assert 6 <= untouched <= 30  # a quarter of 64 drawn no line
