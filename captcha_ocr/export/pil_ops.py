"""TensorFlow copies of the image operations PIL applies in `captcha_ocr.core.images.to_array`.

An export prepares its own pixels in the graph, so they must be PIL's to the
bit: PIL's grayscale formula and alpha compositing in integer arithmetic, JPEG
decoded with libjpeg's accurate DCT as PIL does, and PIL's antialiased bilinear
resize as two matrix products with 8-bit rounding in between
(`resize_like_pil`; in float32, for TFLite and ONNX, from weights computed in
integers and products split so that every sum stays exact), and the
"fit_height" padding (`fit_height_like_pil`). The pixels are then bit-identical to the Keras path's
when no resize is needed, when only one axis changes, and for the generator's
160x60 captchas resized to 80x30; for other sizes Pillow sometimes runs its
two passes in the other order, which moves some pixels by one grey level.
`tf.image.resize` would not do: it does not antialias (or, with
antialias=True, rounds differently), and TFLite's RESIZE_BILINEAR cannot
antialias at all. Only builtin ops are used, so all of it runs in TFLite too.
"""

from __future__ import annotations

import tensorflow as tf

# PIL keeps resampling weights as integers with 22 fractional bits and rounds
# every pass to 8 bits (Resample.c: PRECISION_BITS = 32 - 8 - 2).
_PIL_WEIGHT_SCALE = float(1 << 22)


def pil_bilinear_matrix(in_size, out_size: int, dtype):
    """The (out_size, in_size) matrix of PIL's bilinear resize along one axis.

    PIL widens the triangle filter by the scale factor when shrinking (which is
    why it antialiases and `tf.image.resize(..., antialias=False)` does not),
    samples it at pixel centres, normalizes each row to sum to one, and rounds
    the weights to 22 fractional bits. Building that matrix from the (dynamic)
    input size keeps the resize to builtin ops (RANGE, MUL, BATCH_MATMUL), so it
    also runs in TensorFlow Lite, whose RESIZE_BILINEAR cannot antialias.

    Args:
        in_size: the input length, a Python int or a scalar int32 tensor.
        out_size: the output length.
        dtype: tf.float64 reproduces PIL's double-precision weights exactly;
            tf.float32 for runtimes without float64 (the weights are then
            computed in integers, `_integer_weights`).

    Returns:
        A tensor of shape (out_size, in_size) whose rows sum to ~1.
    """
    if dtype != tf.float64:
        return tf.cast(_integer_weights(in_size, out_size), dtype) / _PIL_WEIGHT_SCALE
    in_f = tf.cast(in_size, dtype)
    scale = in_f / tf.cast(out_size, dtype)
    filterscale = tf.maximum(scale, tf.cast(1.0, dtype))
    centers = (tf.range(out_size, dtype=dtype) + 0.5) * scale
    sources = tf.cast(tf.range(in_size), dtype)
    # Same operation order as PIL's `(x + xmin - center + 0.5) * ss`, so float64 weights are bit-identical.
    distance = ((sources[None, :] - centers[:, None]) + 0.5) * (1.0 / filterscale)
    weights = tf.maximum(1.0 - tf.abs(distance), 0.0)
    weights = weights / tf.reduce_sum(weights, axis=1, keepdims=True)
    return tf.floor(weights * _PIL_WEIGHT_SCALE + 0.5) / _PIL_WEIGHT_SCALE


def _integer_weights(in_size, out_size):
    """`pil_bilinear_matrix` times 2**22, computed exactly in int32 (float32 rounds its weights differently).

    Each weight is a ratio of integers: the filter at source j for output i is
    max(D - |N|, 0) / D with N = (2j + 1) * out - (2i + 1) * in and D = 2 * max(in, out),
    so the normalized weight is P / Q with P = max(D - |N|, 0) and Q the row's sum of P.
    PIL's `(int)(0.5 + w * 2**22)` is then a long division in three steps (8, 8 and 6 bits),
    which keeps every intermediate below 2**31 while Q < 2**23: sides up to about 14,000
    pixels for a 48-pixel output. It differs from PIL's doubles only at an exact tie.
    """
    n_in, n_out = tf.cast(in_size, tf.int32), tf.cast(out_size, tf.int32)
    numerator = (2 * tf.range(n_in)[None, :] + 1) * n_out - (2 * tf.range(n_out)[:, None] + 1) * n_in
    p = tf.maximum(2 * tf.maximum(n_in, n_out) - tf.abs(numerator), 0)
    q = tf.reduce_sum(p, axis=1, keepdims=True)
    k, rest = tf.zeros_like(p), p
    for bits in (8, 8, 6):
        shifted = rest * (1 << bits)
        digit = shifted // q
        k = k * (1 << bits) + digit
        rest = shifted - digit * q
    return k + tf.cast(2 * rest >= q, tf.int32)


def _round_to_8bit(x):
    return tf.clip_by_value(tf.floor(x + 0.5), 0.0, 255.0)


def _resample(pixels, weights):
    """One pass of the resize: (rows, in) 8-bit pixels times the (out, in) weights, rounded as PIL does.

    In float64 every product and sum is exact. In float32 a pixel times a 22-bit weight is not
    (measured: 1% of the pixels of 160x60 -> 128x48 one level off), so the weights are split into
    three integer parts of at most 8 bits, k = a * 2**16 + b * 2**8 + c, each product summed exactly
    (integers below 2**24 for up to 256 taps: shrinking by up to 128 times), and PIL's `(sum(pixel * k) + 2**21) >> 22` is
    assembled from the three sums without leaving the integers float32 holds exactly.
    """
    if weights.dtype == tf.float64:
        return _round_to_8bit(tf.matmul(pixels, weights, transpose_b=True))
    k = weights * _PIL_WEIGHT_SCALE
    a = tf.floor(k / 65536.0)
    b = tf.floor((k - a * 65536.0) / 256.0)
    c = k - a * 65536.0 - b * 256.0
    sum_a, sum_b, sum_c = (tf.matmul(pixels, part, transpose_b=True) for part in (a, b, c))
    carry = tf.floor((sum_b + tf.floor(sum_c / 256.0)) / 256.0)
    return tf.clip_by_value(tf.floor((sum_a + carry + 32.0) / 64.0), 0.0, 255.0)


def resize_like_pil(images, height: int, width: int, dtype):
    """Resize like `PIL.Image.resize(..., Image.BILINEAR)` on 8-bit images.

    Args:
        images: (N, h, w, C) pixel values 0..255 in `dtype`.
        height, width: the output size.
        dtype: tf.float64 (exact weights and sums) or tf.float32.

    Returns:
        (N, height, width, C) integer pixel values 0..255 in `dtype`.
    """
    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    rows = pil_bilinear_matrix(h, height, dtype)  # (height, h)
    cols = pil_bilinear_matrix(w, width, dtype)  # (width, w)
    # Plain 2-D products on reshaped pixels: TF 2.21's oneDNN kernel for a batched float32
    # matmul that broadcasts a 2-D operand crashes the process (segfault) from a batch of 8.
    x = tf.reshape(tf.transpose(images, [0, 3, 1, 2]), [-1, w])  # rows of (N, C, h) pixels
    x = _resample(x, cols)  # horizontal pass first, as in PIL's Resample.c
    x = tf.transpose(tf.reshape(x, [n, c, h, width]), [0, 1, 3, 2])
    x = _resample(tf.reshape(x, [-1, h]), rows)
    return tf.transpose(tf.reshape(x, [n, c, width, height]), [0, 3, 2, 1])


def fit_height_like_pil(images, height: int, width: int, dtype):
    """`images.to_array`'s "fit_height" in the graph: scale to `height` keeping the aspect
    ratio (`resize_like_pil`), then pad the right up to `width` with the median of the
    border pixels, or squeeze to `width` when still wider.

    The fitted width is Python's `round(w * height / h)` (halves to even), clipped to
    1..width. The median is taken per image and channel over the four edges, as
    NumPy's: the mean of the two middle values (the count is always even), rounded
    halves to even.

    Args:
        images: (N, h, w, C) pixel values 0..255 in `dtype`, one size per batch.
        height, width: the model's input size.
        dtype: as `resize_like_pil`.

    Returns:
        (N, height, width, C) integer pixel values 0..255 in `dtype`.
    """
    shape = tf.shape(images)
    n, h, w, c = shape[0], shape[1], shape[2], shape[3]
    # round(w * height / h) in integers (TFLite has no float64 division): the quotient, plus one
    # past the half, or at the half when the quotient is odd. A float64 quotient of such small
    # integers is never near enough .5 to round otherwise.
    quotient, twice_rest = (w * height) // h, 2 * ((w * height) % h)
    up = tf.logical_or(twice_rest > h, tf.logical_and(twice_rest == h, quotient % 2 == 1))
    fitted = tf.clip_by_value(quotient + tf.cast(up, tf.int32), 1, width)
    x = resize_like_pil(images, height, fitted, dtype)
    edges = tf.concat([x[:, 0], x[:, -1], x[:, :, 0], x[:, :, -1]], axis=1)  # (N, 2 * fitted + 2 * height, C)
    middle = tf.shape(edges)[1] // 2
    ordered = tf.sort(edges, axis=1)
    fill = tf.round((ordered[:, middle - 1] + ordered[:, middle]) / 2.0)  # (N, C)
    pad = tf.broadcast_to(fill[:, None, None, :], tf.stack([n, height, width - fitted, c]))
    return tf.concat([x, pad], axis=2)


# `image.resize` mode (captcha_ocr.core.choices.RESIZE_MODES) -> its in-graph copy, each
# (images, height, width, dtype) -> (N, height, width, C), as `images.to_array` does it.
RESIZE_IN_GRAPH = {"stretch": resize_like_pil, "fit_height": fit_height_like_pil}


def gray_like_pil(rgb):
    """RGB -> L with PIL's integer formula (R*19595 + G*38470 + B*7471 + 0x8000) >> 16.

    Every product and partial sum is an integer below 2**24, so float32 computes
    it exactly in any order; one (pixels x 3) @ (3 x 1) product is the fastest
    form in TensorFlow, TFLite and onnxruntime alike.
    """
    weights = tf.constant([[19595.0], [38470.0], [7471.0]], rgb.dtype)
    shape = tf.shape(rgb)
    weighted = tf.reshape(tf.matmul(tf.reshape(rgb, [-1, 3]), weights), tf.concat([shape[:-1], [1]], axis=0))
    return tf.floor((weighted + 32768.0) / 65536.0)


def composite_over_white(rgb, alpha):
    """PIL's `alpha_composite` of an RGBA image over opaque white, in integer arithmetic.

    With a white opaque background PIL's weights are `alpha * 128` and
    `(255 - alpha) * 128` (7 fractional bits) and it divides by 255 with two
    shifts; this reproduces that exactly (all values stay below 2**24). An
    opaque pixel comes out unchanged.

    Args:
        rgb: (..., 3) float32 values 0..255.
        alpha: (..., 1) float32 values 0..255.
    """
    t = 128.0 * (rgb * alpha + 255.0 * (255.0 - alpha)) + 128.0 * 128.0
    t = tf.floor((tf.floor(t / 256.0) + t) / 256.0)
    return tf.floor(t / 128.0)


def decode_image(data):
    """One encoded image -> (h, w, 3) float32 RGB with transparency composited over white.

    The in-graph counterpart of `images.to_array`'s mode handling: gray is
    repeated to RGB (PIL's L -> RGB), and an alpha channel (LA, RGBA, or a
    palette PNG with a transparent entry) is composited like `composite_over_white`.
    """
    # decode_image's JPEG path uses the fast integer DCT; PIL (libjpeg's default) the accurate one,
    # which makes the pixels bit-identical (measured: 60% of pixels off by up to 7 levels otherwise).
    img = tf.cond(tf.io.is_jpeg(data),
                  lambda: tf.io.decode_jpeg(data, channels=0, dct_method="INTEGER_ACCURATE"),
                  lambda: tf.io.decode_image(data, channels=0, dtype=tf.uint8, expand_animations=False))
    img = tf.cast(img, tf.float32)
    channels = tf.shape(img)[-1]
    # 1 = L, 2 = LA, 3 = RGB, 4 = RGBA; palette PNGs arrive as RGB(A).
    rgb = tf.cond(channels < 3, lambda: tf.repeat(img[..., :1], 3, axis=-1), lambda: img[..., :3])
    alpha = tf.cond(channels % 2 == 0, lambda: img[..., -1:], lambda: tf.fill(tf.shape(img[..., :1]), 255.0))
    return composite_over_white(rgb, alpha)
