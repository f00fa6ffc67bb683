"""The exported computation: a model wrapped with its in-graph pixel preparation and decoding.

`ServingModule` builds the tf.functions that become an export's signatures:
`serve_bytes` (encoded image files), `serve_array` (uint8 RGB arrays of any
size, with the decoded text) and the numeric `serve_array` of TFLite and
ONNX (no string ops). Preparation and decoding run under the name scopes
`preprocess` and `decode`, so that int8 quantization can keep them in float.
"""

from __future__ import annotations

import tensorflow as tf

from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.export.pil_ops import RESIZE_IN_GRAPH, decode_image, gray_like_pil
from captcha_ocr.model.layers import model_spec
from captcha_ocr.model.losses import ctc_decode

PREPROCESS_SCOPE, DECODE_SCOPE = "preprocess", "decode"


class ServingModule:
    """The exported computation: a tf.Module holding the model's variables, and the
    tf.functions (preprocessing, model, decoding) that become its signatures."""

    def __init__(self, model):
        spec = model_spec(model)
        self.spec = spec
        self.charset = spec.charset
        model = _unrolled(model)
        self.model = model
        self.module = tf.Module()
        # The module tracks the model's variables, not the Keras model itself: with the model
        # attached, the TFLite converter keeps them as mutable resources instead of constants.
        self.module.model_variables = [v.value for v in model.variables]
        # The pad's class maps to "" so that joining the characters drops it.
        self.module.alphabet = tf.constant(list(spec.chars) + [""])

    # --- pieces

    def prepare(self, rgb, dtype):
        """uint8-valued (N, h, w, 3) RGB of any size -> float32 model input in [0, 1]."""
        s = self.spec
        x = tf.cast(rgb, tf.float32)
        if s.channels == 1:
            x = gray_like_pil(x)  # before the resize, as `to_array` converts before resizing
        x = RESIZE_IN_GRAPH[s.resize](tf.cast(x, dtype), s.height, s.width, dtype)
        x.set_shape([None, s.height, s.width, s.channels])  # fit_height's padding leaves the width unknown to the graph
        # Scaled as every other input is (in float32), for bit-identical inputs.
        return scale_pixels(x)

    def decode(self, logits):
        """Logits -> (indices int32, confidence float32) as in captcha_ocr.model.decode (empty readings included:
        the probability of the all-blank path for ctc, of the pad at every position otherwise)."""
        if is_frame_loss(self.spec.loss):
            indices, chosen = ctc_decode(logits, self.spec.min_length, self.spec.max_length)
            return indices, tf.reduce_prod(chosen, axis=-1)
        indices = tf.argmax(logits, axis=-1, output_type=tf.int32)
        probs = tf.sigmoid(logits) if self.spec.probabilities == "sigmoid" else tf.nn.softmax(logits, axis=-1)
        # The chosen class has the largest logit, and softmax and sigmoid are monotonic,
        # so its probability is the largest one: no gather needed.
        confidence = tf.reduce_prod(tf.reduce_max(probs, axis=-1), axis=-1)
        return indices, confidence

    def predict_rgb(self, rgb, dtype):
        """uint8-valued RGB (N, h, w, 3) -> (indices, confidence)."""
        # The scopes name the ops around the model, so int8 quantization can leave them in float.
        with tf.name_scope(PREPROCESS_SCOPE):
            x = self.prepare(rgb, dtype)
        logits = self.model(x, training=False)
        with tf.name_scope(DECODE_SCOPE):
            return self.decode(tf.cast(logits, tf.float32))

    def with_text(self, indices, confidence):
        """The SavedModel outputs: the texts joined from the alphabet, pads dropped."""
        text = tf.strings.reduce_join(tf.gather(self.module.alphabet, indices), axis=-1)
        return {"text": text, "confidence": confidence, "indices": indices}

    # --- exported functions

    def serve_array_fn(self, dtype):
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        def serve_array(images):
            return self.with_text(*self.predict_rgb(images, dtype))

        return serve_array

    def serve_bytes_fn(self, dtype):
        s = self.spec

        def one(data):
            x = self.prepare(decode_image(data)[None], dtype)
            return x[0]

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="images")])
        def serve_bytes(images):
            # Images of different sizes cannot share a tensor until resized, hence one at a time.
            x = tf.map_fn(one, images, fn_output_signature=tf.TensorSpec(s.input_shape, tf.float32))
            logits = self.model(x, training=False)
            return self.with_text(*self.decode(tf.cast(logits, tf.float32)))

        return serve_bytes

    def serve_numeric_fn(self, dtype):
        """Array in, `indices` and `confidence` out: no string ops, for TFLite and ONNX."""
        @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
        def serve_array(images):
            indices, confidence = self.predict_rgb(images, dtype)
            return {"indices": indices, "confidence": confidence}

        return serve_array


def _unrolled(model):
    """The model with its recurrent layers unrolled over the frames, with the same weights.

    TFLite's builtin ops cannot run the while loop a GRU is otherwise traced to; the
    CTC head has a fixed number of frames, so the unrolled graph computes the same.
    """
    import keras

    def unroll(config: dict) -> dict:
        return {**config, "config": {**config["config"], "unroll": True}}

    def clone(layer):
        if isinstance(layer, keras.Model):  # an ensemble's members (captcha_ocr.model.ensemble)
            return _unrolled(layer)
        config = layer.get_config()
        if isinstance(layer, keras.layers.Bidirectional):
            config["layer"] = unroll(config["layer"])
            if config.get("backward_layer"):
                config["backward_layer"] = unroll(config["backward_layer"])
        elif isinstance(layer, keras.layers.RNN):
            config["unroll"] = True
        return layer.__class__.from_config(config)

    def recurrent(model) -> bool:
        return any(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
                   or (isinstance(layer, keras.Model) and recurrent(layer)) for layer in model.layers)

    if not recurrent(model):
        return model
    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy
