"""captcha_ocr.augment: random shifts, rotations, scaling, contrast and blur, eagerly and in tf.data."""

import numpy as np
import tensorflow as tf

from captcha_ocr.augment import make_augment


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
