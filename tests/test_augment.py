"""captcha_ocr.data.augment: random shifts, rotations, scaling, contrast and blur, eagerly and in tf.data; stateless."""

import numpy as np
import tensorflow as tf

from captcha_ocr.core.config import AugmentConfig
from captcha_ocr.data.augment import _affine, make_augment


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
