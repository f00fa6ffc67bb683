"""The layers of our own that a saved model holds (registered with Keras, so `.keras` files load):
`CaptchaSpec`, which carries the model's `ModelSpec`, the fused BatchNorm, the per-position attention
head, the activation layers chosen by name, and `MeanProbabilities` and `Shift`, which an ensemble of
models and views (`captcha_ocr.model.ensemble`) reads with.

`CaptchaSpec` passes the logits through unchanged and stores the model's `ModelSpec` (charset, input
size and loss name) in the saved model, so a `.keras` file alone is enough to predict; `model_spec`
reads it back.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops

from captcha_ocr.core.choices import ACTIVATIONS
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.spec import ModelSpec


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


# One factory per name of `captcha_ocr.core.choices.ACTIVATIONS` (a test checks that they agree).
ACTIVATION_LAYERS = {
    "relu": lambda **kw: layers.ReLU(**kw),
    "leaky_relu": lambda **kw: layers.LeakyReLU(negative_slope=0.1, **kw),
    "prelu": lambda **kw: layers.PReLU(shared_axes=[1, 2], **kw),  # one slope per channel
    "elu": lambda **kw: layers.ELU(**kw),
    "tanh": lambda **kw: layers.Activation("tanh", **kw),
    "sigmoid": lambda **kw: layers.Activation("sigmoid", **kw),
}


def activation_layer(name: str, layer_name: str | None = None, dtype=None) -> layers.Layer:
    """A fresh activation layer by config name (one of `captcha_ocr.core.choices.ACTIVATIONS`)."""
    if name not in ACTIVATIONS or name not in ACTIVATION_LAYERS:
        raise UserError(f"unknown activation {name!r}; known: {', '.join(ACTIVATIONS)}")
    return ACTIVATION_LAYERS[name](name=layer_name, dtype=dtype)


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


@keras.saving.register_keras_serializable(package="captcha_ocr")
class MeanProbabilities(layers.Layer):
    """Logits whose probabilities are the mean of the probabilities of a list of logits.

    kind "softmax": log of the mean softmax (a log-probability, so a softmax of it gives the mean back);
    kind "sigmoid": log-odds of the mean sigmoid. Computed in log space (logsumexp), in float32.
    """

    def __init__(self, kind: str, **kwargs):
        super().__init__(**kwargs)
        if kind not in ("softmax", "sigmoid"):
            raise ValueError(f"kind must be 'softmax' or 'sigmoid', got {kind!r}")
        self.kind = kind

    def call(self, inputs):
        stacked = ops.stack([ops.cast(x, "float32") for x in inputs], axis=0)
        log_n = math.log(len(inputs))
        if self.kind == "sigmoid":
            log_p = ops.logsumexp(ops.log_sigmoid(stacked), axis=0) - log_n
            log_not_p = ops.logsumexp(ops.log_sigmoid(-stacked), axis=0) - log_n
            return log_p - log_not_p
        return ops.logsumexp(ops.log_softmax(stacked, axis=-1), axis=0) - log_n

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@keras.saving.register_keras_serializable(package="captcha_ocr")
class Shift(layers.Layer):
    """The image moved by (`dy`, `dx`) pixels (down and right when positive), its edge rows and columns repeated
    into the pixels it leaves: one view of a reading in several views.

    Padding is TensorFlow's symmetric mode, which repeats the edge pixel for a shift of one; a larger shift
    mirrors the border.
    """

    def __init__(self, dy: int, dx: int, **kwargs):
        super().__init__(**kwargs)
        self.dy, self.dx = int(dy), int(dx)

    def call(self, inputs):
        dy, dx = self.dy, self.dx
        py, px = abs(dy), abs(dx)
        padded = ops.pad(inputs, [[0, 0], [py, py], [px, px], [0, 0]], mode="symmetric")
        height, width = inputs.shape[1], inputs.shape[2]
        return padded[:, py - dy:py - dy + height, px - dx:px - dx + width, :]

    def get_config(self):
        return {**super().get_config(), "dy": self.dy, "dx": self.dx}


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


def hold_lengths(model: keras.Model, lengths: tuple[int, int]) -> None:
    """Have a ctc model read `lengths` (low, high) characters: its spec's min_length and max_length, which decoding
    holds the reads to (`captcha_ocr.model.decode.ctc_decode`), for `predict` and `evaluate --length`.

    Raises:
        UserError: a model that reads one class per position, or more characters than the model's max_length.
    """
    from dataclasses import replace

    layer = model.get_layer("spec")
    check_lengths(layer.spec, lengths)
    layer.spec = replace(layer.spec, min_length=lengths[0], max_length=lengths[1])


def check_lengths(spec, lengths: tuple[int, int], flag: str = "--length") -> None:
    """Raise a UserError, naming `flag` (`--length`, or a service request's `length`), unless a ctc model of `spec`
    can be held to `lengths` (low, high): one that reads at most `high` characters."""
    from captcha_ocr.core.choices import is_frame_loss

    low, high = lengths
    if not is_frame_loss(spec.loss):
        raise UserError(f"{flag} holds the reads of a ctc model, and this one is a {spec.loss} model, which "
                        f"reads {spec.max_length} positions; leave {flag} out")
    if high > spec.max_length:
        raise UserError(f"{flag} {low}-{high}: the model reads at most {spec.max_length} characters; "
                        f"give lengths up to {spec.max_length}")
