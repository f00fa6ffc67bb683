"""Training-time augmentation: small random shifts, rotations, scaling, contrast changes and blur, and
(when asked for) a width alone stretched or squeezed and a slant: the ways fonts differ; a smooth local
warp: the ripples many captcha generators draw their text with; and lines drawn across: their
interference curves.

Applied by `captcha_ocr.data.pipeline` to float batches in [0, 1] inside the tf.data
pipeline, to training batches only (`augment.enabled` in the config).

Every draw is stateless: batch k of a run is augmented from (seed, k) alone,
whatever ran before it, so a resumed run augments its batches exactly as an
uninterrupted one would. Shift, rotation, scale, stretch and shear are one affine
map applied in one bilinear resampling (edge pixels repeated beyond the border).
Stretch and shear draw from their own stream, and so do warp and lines, so runs without them
draw as before.
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
            `shear` (a slant of up to that many degrees either way), `warp` (each pixel moved by a
            smooth random field, at most that fraction of the height along each axis) and `lines`
            (the chance, twice per image, that a curve is drawn across it), all 0 unless set.
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
        if augment.warp:
            x = _warp(x, _warp_field(n, height, width, augment.warp, tf.random.experimental.stateless_fold_in(key, 2)))
        if augment.lines:
            x = _lines(x, height, width, augment.lines, tf.random.experimental.stateless_fold_in(key, 3))
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


_WARP_CELL = 0.25  # the warp field's control points lie this fraction of the height apart: within a glyph


def _warp_field(n, height, width, amount, key):
    """(n, H, W, 2) pixel offsets (x, y), each within ± amount × height: random at control points a quarter
    of the height apart, bilinear between them, so neighbouring pixels move together."""
    cell = height * _WARP_CELL
    rows = tf.cast(tf.math.ceil(height / cell), tf.int32) + 1
    cols = tf.cast(tf.math.ceil(width / cell), tf.int32) + 1
    coarse = tf.random.stateless_uniform(tf.stack([n, rows, cols, 2]), key, minval=-1.0, maxval=1.0)
    size = tf.cast(tf.stack([height, width]), tf.int32)
    return tf.image.resize(coarse * amount * height, size, method="bilinear")


def _warp(x, field):
    """Output pixel (y, x) samples input (y + field[..., 1], x + field[..., 0]) bilinearly, edges repeated."""
    shape = tf.shape(x)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    ys = tf.cast(tf.range(h), tf.float32)[None, :, None] + field[..., 1]
    xs = tf.cast(tf.range(w), tf.float32)[None, None, :] + field[..., 0]
    ys = tf.clip_by_value(ys, 0.0, tf.cast(h - 1, tf.float32))
    xs = tf.clip_by_value(xs, 0.0, tf.cast(w - 1, tf.float32))
    y0, x0 = tf.floor(ys), tf.floor(xs)
    wy, wx = (ys - y0)[..., None], (xs - x0)[..., None]
    y0, x0 = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    y1, x1 = tf.minimum(y0 + 1, h - 1), tf.minimum(x0 + 1, w - 1)
    flat = tf.reshape(x, tf.stack([-1, c]))
    base = (tf.range(n) * h * w)[:, None, None]

    def at(yy, xx):
        return tf.gather(flat, base + yy * w + xx)

    top = at(y0, x0) * (1.0 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1.0 - wx) + at(y1, x1) * wx
    return top * (1.0 - wy) + bottom * wy


def _lines(x, height, width, chance, key):
    """Up to two curves across each image (each drawn with probability `chance`): a slope and a sine wave
    about a height within the middle half, 1–3 pixels thick per 48 of height, in a random colour."""
    shape = tf.shape(x)
    n = shape[0]
    u = tf.random.stateless_uniform([n, 2, 8], key, minval=0.0, maxval=1.0)
    centre = height * (0.25 + 0.5 * u[..., 0])
    slope = (u[..., 1] - 0.5) * 0.6 * height / width
    amplitude = 0.15 * height * u[..., 2]
    period = width * (0.5 + 1.5 * u[..., 3])
    phase = 2.0 * math.pi * u[..., 4]
    thickness = (1.0 + 2.0 * u[..., 5]) * height / 48.0
    drawn = u[..., 6] < chance
    xs = tf.cast(tf.range(shape[2]), tf.float32)[None, None, :]
    ys = tf.cast(tf.range(shape[1]), tf.float32)
    curve = (centre[..., None] + slope[..., None] * (xs - width / 2.0)
             + amplitude[..., None] * tf.sin(2.0 * math.pi * xs / period[..., None] + phase[..., None]))
    # (n, 2, H, W): how much of each pixel the line covers, its edges antialiased
    cover = tf.clip_by_value(thickness[..., None, None] / 2.0 + 0.5
                             - tf.abs(ys[None, None, :, None] - curve[:, :, None, :]), 0.0, 1.0)
    cover = cover * tf.cast(drawn, tf.float32)[..., None, None]
    colour = tf.random.stateless_uniform(tf.stack([n, 2, shape[3]]), tf.random.experimental.stateless_fold_in(key, 1))
    for i in range(2):
        alpha = cover[:, i, :, :, None]
        x = x * (1.0 - alpha) + colour[:, i, None, None, :] * alpha
    return x
