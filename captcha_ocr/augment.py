"""Training-time augmentation: small random shifts, rotations, scaling, contrast changes and blur.

Applied by `captcha_ocr.data` to float batches in [0, 1] inside the tf.data
pipeline, to training batches only (`augment.enabled` in the config).
"""

from __future__ import annotations

import tensorflow as tf


def make_augment(augment, seed: int = 0):
    """A function that randomly shifts, rotates, scales, changes contrast and blurs a float batch in [0, 1].

    Built from Keras preprocessing layers (which run inside tf.data) and a
    depthwise Gaussian blur applied to a random `augment.blur` share of images.
    """
    import keras

    layers = []
    fill = dict(fill_mode="nearest", seed=seed)
    if augment.shift:
        layers.append(keras.layers.RandomTranslation(augment.shift, augment.shift, **fill))
    if augment.rotation:
        layers.append(keras.layers.RandomRotation(augment.rotation / 360.0, **fill))
    if augment.scale:
        layers.append(keras.layers.RandomZoom(augment.scale, augment.scale, **fill))
    if augment.contrast:
        layers.append(keras.layers.RandomContrast(augment.contrast, value_range=(0, 1), seed=seed))
    kernel_1d = tf.constant([0.25, 0.5, 0.25])
    kernel_2d = kernel_1d[:, None] * kernel_1d[None, :]
    generator = tf.random.Generator.from_seed(seed)

    def apply(x):
        for layer in layers:
            x = layer(x, training=True)
        if augment.blur:
            channels = tf.shape(x)[-1]
            kernel = tf.tile(kernel_2d[:, :, None, None], [1, 1, channels, 1])
            blurred = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
            pick = generator.uniform([tf.shape(x)[0], 1, 1, 1]) < augment.blur
            x = tf.where(pick, blurred, x)
        return tf.clip_by_value(x, 0.0, 1.0)

    return apply
