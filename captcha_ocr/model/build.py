"""The CNN: blocks of Conv2D -> BatchNorm -> activation -> pooling, and a head.

A block may hold several convolutions (`model.convs_per_block`) and add its
input to its output (`model.residual`); see `conv_block`. For the per-position
losses the head is dense: `max_length x num_classes` logits, reshaped to
`(max_length, num_classes)`, one row of class logits per ordered position; or,
with `model.head: attention`, one learned query per position attends over the
feature map (`PositionAttention`) and a shared layer scores each position.
For `ctc` it reads the feature map column by column: each column (a frame)
becomes one row of class logits (the pad class is CTC's blank), optionally
through a bidirectional GRU over the frames, so the output is
`(frames, num_classes)`; `model.width_pools` keeps enough columns.
BatchNormalization keeps its learned scale (gamma) and offset, which is the
seed design's `conv -> bn -> scale -> relu`; the convolution has no bias
because BN's offset replaces it.

The last layer, `CaptchaSpec`, passes the logits through unchanged and stores
the model's `ModelSpec` (charset, input size and loss name) in the saved model, so a `.keras` file
alone is enough to predict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import keras
from keras import layers

from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.config import Config
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.spec import ModelSpec
from captcha_ocr.model import schedules  # noqa: F401  (registers the schedule saved with optimizers)
from captcha_ocr.model.layers import CaptchaSpec, FusedBatchNormalization, PositionAttention, activation_layer


def conv_output_size(size: int, kernel: int, padding: int, stride: int) -> int:
    """Output length of a convolution or pooling along one axis: (W - F + 2P) / S + 1 (floored)."""
    return (size - kernel + 2 * padding) // stride + 1


def same_padding(size: int, kernel: int, stride: int) -> float:
    """The P of `(W - F + 2P)/S + 1` that Keras's padding='same' uses (total padding / 2)."""
    out = math.ceil(size / stride)
    return max((out - 1) * stride + kernel - size, 0) / 2


@dataclass(frozen=True)
class BlockShape:
    conv: tuple[int, int, int]
    pooled: tuple[int, int, int]


def block_output_shapes(config: Config) -> list[BlockShape]:
    """(height, width, filters) after each block's convolution and after its pooling.

    Raises:
        UserError: a block would shrink the feature map to nothing.
    """
    m = config.model
    h, w = config.image.height, config.image.width
    shapes = []
    for i, filters in enumerate(m.filters):
        dims = []
        for size in (h, w):
            pad = same_padding(size, m.kernel_size, m.strides) if m.padding == "same" else 0
            dims.append(conv_output_size(size, m.kernel_size, int(2 * pad) / 2, m.strides))
        dims = [int(d) for d in dims]
        conv = (dims[0], dims[1], filters)
        if m.pool != "none":
            dims = [conv_output_size(d, p, 0, p) for d, p in zip(dims, pool_size(config, i))]
        if min(dims) < 1:
            raise UserError(
                f"model.filters: block {i + 1} of {len(m.filters)} shrinks the {config.image.height}x"
                f"{config.image.width} input to nothing; use fewer blocks, smaller strides or pool_size, or a larger image"
            )
        h, w = dims
        shapes.append(BlockShape(conv, (h, w, filters)))
    return shapes


def pool_size(config: Config, block: int) -> tuple[int, int]:
    """(height, width) pooling of block `block` (0-based): the width is pooled by the first `width_pools` only."""
    m = config.model
    pools_width = m.width_pools is None or block < m.width_pools
    return m.pool_size, (m.pool_size if pools_width else 1)


def frames(config: Config) -> int:
    """How many frames (feature-map columns) a CTC head reads: the last block's output width.

    Raises:
        UserError: too few for every text of max_length characters (a repeated
            character needs a blank frame between its two copies: 2 * max_length - 1).
    """
    h, w, _ = block_output_shapes(config)[-1].pooled
    need = 2 * config.charset.max_length - 1
    if w < need:
        raise UserError(
            f"model: the ctc head would read {w} frames (columns of the last feature map), fewer than the "
            f"{need} that {config.charset.max_length} characters can need; set model.width_pools to fewer "
            "blocks (they pool the width), or a wider image.width")
    return w


def conv_block(x, i: int, filters: int, m, norm, dt):
    """Block `i`'s convolutions before its pooling: `model.convs_per_block` times Conv2D -> BN -> activation.

    Only the first convolution strides. With `model.residual` the block adds its
    input (through a 1x1 convolution and BN when the shape changes) to the last
    BN's output before the last activation, a ResNet basic block. The first
    convolution keeps the names conv{i}/bn{i} and the last activation act{i} of
    the one-convolution block, so weights carry over by name between the two.
    """
    shortcut = x
    for j in range(m.convs_per_block):
        suffix = "" if j == 0 else f"_{j + 1}"
        last = j == m.convs_per_block - 1
        x = layers.Conv2D(filters, m.kernel_size, strides=m.strides if j == 0 else 1, padding=m.padding,
                          use_bias=False, name=f"conv{i}{suffix}", dtype=dt)(x)
        x = norm(momentum=m.bn_momentum, name=f"bn{i}{suffix}", dtype=dt)(x)
        if last and m.residual:
            if shortcut.shape[-1] != filters or m.strides != 1:
                shortcut = layers.Conv2D(filters, 1, strides=m.strides, use_bias=False, name=f"skip{i}",
                                         dtype=dt)(shortcut)
                shortcut = norm(momentum=m.bn_momentum, name=f"skip_bn{i}", dtype=dt)(shortcut)
            x = layers.Add(name=f"add{i}", dtype=dt)([x, shortcut])
        x = activation_layer(m.activation, f"act{i}" if last else f"act{i}_{j + 1}", dt)(x)
    return x


def build_model(config: Config, *, fused_batch_norm: bool = True) -> keras.Model:
    """Build the (uncompiled) captcha CNN described by `config`.

    Args:
        config: uses the charset, image and model sections and the loss name.
        fused_batch_norm: False builds Keras's own BatchNormalization layers (the
            benchmark measures what the fused kernel saves).

    Returns:
        A Keras model mapping float32 images in [0, 1] of shape (H, W, C) to
        float32 logits of shape (max_length, num_classes), or (frames, num_classes) for ctc.
        Under `train.precision: mixed_bfloat16` every layer but the logits computes
        in bfloat16 on float32 weights (`float32_copy` makes the model that is saved).
    """
    m = config.model
    charset = config.charset.build()
    shapes = block_output_shapes(config)  # clear error before Keras's own
    ctc = is_frame_loss(config.loss.name)
    if ctc:
        frames(config)
    # Mixed precision: every layer but the logits computes in bfloat16 on float32 weights.
    dt = "mixed_bfloat16" if config.train.precision == "mixed_bfloat16" else None
    inputs = keras.Input((config.image.height, config.image.width, config.image.channels), name="image")
    x = inputs
    norm = FusedBatchNormalization if fused_batch_norm else layers.BatchNormalization
    for i, filters in enumerate(m.filters, start=1):
        x = conv_block(x, i, filters, m, norm, dt)
        if m.pool == "max":
            x = layers.MaxPooling2D(pool_size(config, i - 1), name=f"pool{i}", dtype=dt)(x)
        elif m.pool == "avg":
            x = layers.AveragePooling2D(pool_size(config, i - 1), name=f"pool{i}", dtype=dt)(x)
        if m.dropout:
            x = layers.Dropout(m.dropout, name=f"drop{i}", dtype=dt)(x)
    if ctc:
        h, w, c = shapes[-1].pooled
        x = layers.Permute((2, 1, 3), name="columns", dtype=dt)(x)  # (width, height, channels): a frame per column
        x = layers.Reshape((w, h * c), name="frames", dtype=dt)(x)
    elif m.head == "attention":
        x = PositionAttention(charset.max_length, m.attention_heads, name="attention", dtype=dt)(x)
    else:
        x = layers.Flatten(name="flatten", dtype=dt)(x)
    if m.head_units:
        x = layers.Dense(m.head_units, name="head_hidden", dtype=dt)(x)
        x = activation_layer(m.activation, "head_act", dt)(x)
    if m.rnn_units:
        x = layers.Bidirectional(layers.GRU(m.rnn_units, return_sequences=True, dtype=dt), name="rnn", dtype=dt)(x)
    if m.head_dropout:
        x = layers.Dropout(m.head_dropout, name="head_dropout", dtype=dt)(x)
    if ctc or m.head == "attention":  # one row of class logits per frame, or per attending position
        x = layers.Dense(charset.num_classes, name="logits", dtype="float32")(x)
    else:
        x = layers.Dense(charset.max_length * charset.num_classes, name="logits", dtype="float32")(x)
        x = layers.Reshape((charset.max_length, charset.num_classes), name="positions", dtype="float32")(x)
    outputs = CaptchaSpec(**ModelSpec.from_config(config).to_dict(), name="spec", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="captcha_cnn")


def float32_copy(model: keras.Model, config: Config) -> keras.Model:
    """The same weights in a model that computes in float32: what a mixed-precision run saves.

    Mixed-precision layers keep float32 weights, so the copy is exact; only the
    arithmetic of the copy differs (float32 throughout, as every reader expects).
    """
    if config.train.precision == "float32":
        return model
    copy = build_model(config.model_copy(update={"train": config.train.model_copy(update={"precision": "float32"})}))
    copy.set_weights(model.get_weights())
    return copy


