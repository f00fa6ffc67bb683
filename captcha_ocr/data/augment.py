"""Training-time augmentation: small random shifts, rotations, scaling, contrast changes and blur, and
(when asked for) a width alone stretched or squeezed and a slant: the ways fonts differ.

Applied by `captcha_ocr.data.pipeline` to float batches in [0, 1] inside the tf.data
pipeline, to training batches only (`augment.enabled` in the config).

Every draw is stateless: batch k of a run is augmented from (seed, k) alone,
whatever ran before it, so a resumed run augments its batches exactly as an
uninterrupted one would. Shift, rotation, scale, stretch and shear are one affine
map applied in one bilinear resampling (edge pixels repeated beyond the border).
Stretch and shear draw from their own stream, so runs without them draw as before.
"""

from __future__ import annotations

import math

import tensorflow as tf

_DRAWS = 7  # per image: shift x, shift y, angle, scale, contrast, blur, spare


def make_augment(augment, seed: int = 0):
    """A function `(float batch in [0, 1], batch index k) -> augmented batch`, the same for the same (seed, k).

    Args:
        augment: the config's `augment` section: `shift` (a fraction of the width and height),
            `rotation` (degrees), `scale` (zoom by a factor within 1 ± scale), `contrast` (a factor
            within 1 ± contrast around each image's mean) and `blur` (the share of images blurred
            by a 3x3 binomial kernel); `stretch` (the width alone scaled within 1 ± stretch) and
            `shear` (a slant of up to that many degrees either way), both 0 unless set.
        seed: with the batch index, decides every draw.
    """
    kernel_1d = tf.constant([0.25, 0.5, 0.25])
    kernel_2d = kernel_1d[:, None] * kernel_1d[None, :]

    def apply(x, k):
        shape = tf.shape(x)
        n, height, width = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        key = tf.stack([tf.constant(seed, tf.int64), tf.cast(k, tf.int64)])
        u = tf.random.stateless_uniform([n, _DRAWS], key, minval=-1.0, maxval=1.0)
        stretch = slant = None
        if augment.stretch or augment.shear:
            v = tf.random.stateless_uniform([n, 2], tf.random.experimental.stateless_fold_in(key, 1),
                                            minval=-1.0, maxval=1.0)
            stretch = 1.0 + v[:, 0] * augment.stretch
            slant = tf.tan(v[:, 1] * augment.shear * math.pi / 180.0)
        if augment.shift or augment.rotation or augment.scale or stretch is not None:
            x = _affine(x, width, height,
                        shift_x=u[:, 0] * augment.shift * width, shift_y=u[:, 1] * augment.shift * height,
                        angle=u[:, 2] * augment.rotation * math.pi / 180.0, zoom=1.0 + u[:, 3] * augment.scale,
                        stretch=stretch, slant=slant)
        if augment.contrast:
            factor = (1.0 + u[:, 4] * augment.contrast)[:, None, None, None]
            mean = tf.reduce_mean(x, axis=[1, 2], keepdims=True)
            x = (x - mean) * factor + mean
        if augment.blur:
            kernel = tf.tile(kernel_2d[:, :, None, None], [1, 1, shape[3], 1])
            blurred = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
            pick = (u[:, 5] + 1.0) / 2.0 < augment.blur
            x = tf.where(pick[:, None, None, None], blurred, x)
        return tf.clip_by_value(x, 0.0, 1.0)

    return apply


def _affine(x, width, height, shift_x, shift_y, angle, zoom, stretch=None, slant=None):
    """Slant (x moved by `slant` × y) and stretch the width, then rotate by `angle` and zoom by `zoom`,
    all about the centre, then shift; one projective transform per image."""
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    cx, cy = (width - 1.0) / 2.0, (height - 1.0) / 2.0
    # Output pixel (x, y) samples input (a0 x + a1 y + a2, b0 x + b1 y + b2).
    a0, a1, b0, b1 = cos, -sin, sin, cos
    if stretch is not None:  # the inverse of the slant and the stretch, applied after the rotation's inverse
        a0, a1 = a0 / stretch - slant * b0, a1 / stretch - slant * b1
    a2 = cx - a0 * cx - a1 * cy - shift_x
    b2 = cy - b0 * cx - b1 * cy - shift_y
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x, transforms=transforms, output_shape=tf.shape(x)[1:3], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="NEAREST")
