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

from captcha_ocr import schedules  # noqa: F401  (registers the schedule saved with optimizers)
from captcha_ocr.config import Config
from captcha_ocr.errors import UserError
from captcha_ocr.names import ACTIVATIONS, is_frame_loss
from captcha_ocr.spec import ModelSpec


@keras.saving.register_keras_serializable(package="captcha_ocr")
class CaptchaSpec(layers.Layer):
    """Identity layer carrying what a saved model needs to decode its output."""

    def __init__(self, chars: str, max_length: int, min_length: int, pad: str, width: int, height: int,
                 channels: int, loss: str, resize: str = "stretch", **kwargs):
        super().__init__(**kwargs)
        self.spec = ModelSpec(chars, max_length, min_length, pad, width, height, channels, loss, resize)

    def call(self, inputs):
        return inputs

    def get_config(self):
        return {**super().get_config(), **self.spec.to_dict()}


@keras.saving.register_keras_serializable(package="captcha_ocr")
class FusedBatchNormalization(layers.BatchNormalization):
    """Keras's BatchNormalization, trained with TensorFlow's fused kernel.

    Keras 3 computes a training-mode batch norm from separate ops (moments,
    then normalize), forward and backward: on 2 CPU cores that took 43% of a
    training step of the benchmark model, more than the convolutions
    (`python scripts/benchmark.py`, "Where a training step's time goes").
    TensorFlow's `FusedBatchNormV3` does the same arithmetic in one kernel each
    way. The weights, the moving-average update and inference (plain Keras,
    so exports are unchanged) are those of the parent class; only the
    training-mode forward pass differs, by float rounding.
    """

    def call(self, inputs, training=None, mask=None):
        import tensorflow as tf

        fusable = (training and self.trainable and mask is None and len(inputs.shape) == 4
                   and self.axis in (-1, 3) and self.scale and self.center and not self.renorm
                   and inputs.dtype in (tf.float32, tf.bfloat16))
        if not fusable:
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, data_format="NHWC", is_training=True)
        # The kernel returns the unbiased (n / (n - 1)) batch variance; Keras keeps the biased one.
        n = tf.cast(tf.reduce_prod(tf.shape(inputs)[:3]), variance.dtype)
        variance = variance * (n - 1) / n
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


# One factory per name of `captcha_ocr.names.ACTIVATIONS` (a test checks that they agree).
ACTIVATION_LAYERS = {
    "relu": lambda **kw: layers.ReLU(**kw),
    "leaky_relu": lambda **kw: layers.LeakyReLU(negative_slope=0.1, **kw),
    "prelu": lambda **kw: layers.PReLU(shared_axes=[1, 2], **kw),  # one slope per channel
    "elu": lambda **kw: layers.ELU(**kw),
    "tanh": lambda **kw: layers.Activation("tanh", **kw),
    "sigmoid": lambda **kw: layers.Activation("sigmoid", **kw),
}


def activation_layer(name: str, layer_name: str | None = None, dtype=None) -> layers.Layer:
    """A fresh activation layer by config name (one of `captcha_ocr.names.ACTIVATIONS`)."""
    if name not in ACTIVATIONS or name not in ACTIVATION_LAYERS:
        raise UserError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATION_LAYERS[name](name=layer_name, dtype=dtype)


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


@keras.saving.register_keras_serializable(package="captcha_ocr")
class PositionAttention(layers.Layer):
    """Ordered positions that read the feature map by attention (`model.head: attention`).

    Each of the `positions` has a learned query; each location of the (H, W, C)
    feature map is a key/value with a learned location embedding added (so the
    queries can tell left from right). Multi-head attention gives every position
    a C-vector from the locations it attends to; one shared class layer then
    scores each. Unlike flatten+dense, the head's size does not grow with the
    feature map, and a position's character may sit anywhere in the image.

    Input (batch, H, W, C); output (batch, positions, C).
    """

    def __init__(self, positions: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.positions, self.heads = positions, heads

    def build(self, input_shape):
        _, h, w, c = input_shape
        self.locations, self.channels = h * w, c
        # On the scale of the batch-normalised features, so that from the first step the queries differ and
        # the locations are told apart (at ViT's 0.02 the 4 positions start out almost identical).
        init = keras.initializers.RandomNormal(stddev=1.0)
        self.location_embedding = self.add_weight(shape=(h * w, c), initializer=init, name="locations")
        self.queries = self.add_weight(shape=(self.positions, c), initializer=init, name="queries")
        self.attention = layers.MultiHeadAttention(self.heads, key_dim=max(c // self.heads, 1), name="mha",
                                                   dtype=self.dtype_policy)
        self.attention.build((None, self.positions, c), (None, h * w, c))

    def call(self, inputs):
        batch = keras.ops.shape(inputs)[0]
        tokens = keras.ops.reshape(inputs, (batch, self.locations, self.channels))
        tokens = tokens + keras.ops.cast(self.location_embedding, tokens.dtype)
        queries = keras.ops.cast(self.queries, tokens.dtype)[None]
        queries = keras.ops.broadcast_to(queries, (batch, self.positions, self.channels))
        return self.attention(queries, tokens)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.positions, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "positions": self.positions, "heads": self.heads}


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


def model_spec(model: keras.Model) -> ModelSpec:
    """The charset, input shape and loss stored in a model built by `build_model`.

    Raises:
        UserError: the model has no `spec` layer (it was not made by captcha_ocr).
    """
    try:
        layer = model.get_layer("spec")
    except ValueError:
        layer = None
    if not isinstance(layer, CaptchaSpec):
        raise UserError("this model was not made by captcha_ocr (it has no 'spec' layer with its charset and input size)")
    return layer.spec


def load_matching_weights(model: keras.Model, source: keras.Model) -> tuple[list[str], list[str]]:
    """Copy weights from `source` into `model` layer by layer, keeping all that still means the same.

    Used for fine-tuning. Layers whose names and shapes agree are copied whole:
    the convolutions and BatchNorms always are, whatever the input size, since
    their shapes do not depend on it. When the charset or the length changed,
    the output layer keeps, at every position both models have, the rows
    (kernel columns and bias) of the characters both charsets share, and of
    the pad; only new characters and new positions start fresh. A head whose
    input size changed (another input geometry) starts fresh.

    Returns:
        (names of layers kept, with "(partly: ...)" for a partly copied head;
        "name (reason)" for the layers re-initialized).
    """
    kept, fresh = [], []
    for layer in model.layers:
        weights = layer.get_weights()
        if not weights:
            continue
        try:
            src = source.get_layer(layer.name)
        except ValueError:
            fresh.append(f"{layer.name} (not in the source model)")
            continue
        src_weights = src.get_weights()
        shapes, src_shapes = [w.shape for w in weights], [w.shape for w in src_weights]
        if shapes == src_shapes and (layer.name != "logits" or _same_classes(model, source)):
            layer.set_weights(src_weights)
            kept.append(layer.name)
        elif layer.name == "logits" and shapes[0][0] == src_shapes[0][0]:
            copied = copy_head_rows(layer, src, model_spec(source), model_spec(model))
            kept.append(f"logits (partly: {copied})")
        else:
            fresh.append(f"{layer.name} (shape {_shapes(src_shapes)} -> {_shapes(shapes)})")
    return kept, fresh


def _same_classes(model: keras.Model, source: keras.Model) -> bool:
    a, b = model_spec(model), model_spec(source)
    return (a.chars, a.pad, a.max_length) == (b.chars, b.pad, b.max_length)


def copy_head_rows(layer, source_layer, old: ModelSpec, new: ModelSpec) -> str:
    """Copy the output rows of the characters (and the pad) that two charsets share, position by position.

    The logits layer's kernel has one column per (position, class), in the
    order of the `positions` reshape: column p * num_classes + class (a ctc
    head has one "position", shared by every frame). A class keeps its column
    where its character is in both charsets; the pad class (ctc's blank) maps
    to the pad class. Everything else keeps `layer`'s fresh initialisation.

    Returns:
        What was copied, for the log ("rows of 36 shared characters and the pad at 4 of 5 positions").
    """
    old_cs, new_cs = old.charset, new.charset
    kernel, bias = layer.get_weights()
    src_kernel, src_bias = source_layer.get_weights()
    old_index = {c: i for i, c in enumerate(old_cs.chars)}
    pairs = [(j, old_index[c]) for j, c in enumerate(new_cs.chars) if c in old_index]
    pairs.append((new_cs.pad_index, old_cs.pad_index))
    new_positions = kernel.shape[1] // new_cs.num_classes
    positions = min(src_kernel.shape[1] // old_cs.num_classes, new_positions)
    new_cols = [p * new_cs.num_classes + j for p in range(positions) for j, _ in pairs]
    old_cols = [p * old_cs.num_classes + i for p in range(positions) for _, i in pairs]
    kernel[:, new_cols] = src_kernel[:, old_cols]
    bias[new_cols] = src_bias[old_cols]
    layer.set_weights([kernel, bias])
    where = "the blank, for every frame" if is_frame_loss(new.loss) else f"the pad at {positions} of {new_positions} positions"
    return (f"rows of {len(pairs) - 1} shared characters and {where}; "
            f"{len(new_cs.chars) - len(pairs) + 1} new characters start fresh")


def _shapes(shapes) -> str:
    return ", ".join("x".join(map(str, s)) for s in shapes[:1])
