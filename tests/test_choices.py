"""captcha_ocr.core.choices: the name tables agree with what losses, model, decode and the serving graph build."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import SMOKE

from captcha_ocr.core.choices import ACTIVATIONS, HEADS, LOSS_PROBABILITIES, LOSSES, probability_kind
from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.build import activation_layer, build_model
from captcha_ocr.model.decode import probabilities
from captcha_ocr.model.layers import ACTIVATION_LAYERS
from captcha_ocr.model.losses import LOSS_FUNCTIONS

LOGITS = np.random.default_rng(1).normal(0, 2, (2, 4, 11)).astype(np.float32)


def test_every_loss_name_has_a_function_and_a_probability_kind():
    assert set(LOSS_FUNCTIONS) == set(LOSSES) == set(LOSS_PROBABILITIES)
    assert set(LOSS_PROBABILITIES.values()) <= {"sigmoid", "softmax"}


def test_every_activation_name_has_a_layer():
    assert set(ACTIVATION_LAYERS) == set(ACTIVATIONS)
    for name in ACTIVATIONS:
        assert activation_layer(name, f"act_{name}").name == f"act_{name}"


@pytest.mark.parametrize("loss", LOSSES)
def test_decode_uses_the_probabilities_the_table_names(loss):
    expected = tf.sigmoid(LOGITS) if LOSS_PROBABILITIES[loss] == "sigmoid" else tf.nn.softmax(LOGITS, axis=-1)
    np.testing.assert_allclose(probabilities(LOGITS, loss), expected.numpy(), rtol=1e-5)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_serving_graph_decodes_as_decode_does(loss):
    from captcha_ocr.export.serving import ServingModule
    from captcha_ocr.model.build import build_model
    from captcha_ocr.model.decode import decode

    config = load_config(SMOKE, [f"loss.name={loss}", "charset.chars=0123456789"])
    serving = ServingModule(build_model(config))
    indices, confidence = serving.decode(tf.constant(LOGITS))
    _, expected, expected_indices = decode(LOGITS, config.charset.build(), loss)
    np.testing.assert_array_equal(indices.numpy(), expected_indices)
    np.testing.assert_allclose(confidence.numpy(), expected, rtol=1e-5)
    if loss != "ctc":  # the product over positions of each one's largest probability
        np.testing.assert_allclose(expected, probabilities(LOGITS, loss).max(axis=-1).prod(axis=-1), rtol=1e-6)


def test_config_accepts_exactly_the_table_names():
    for loss in LOSSES:
        assert load_config(SMOKE, [f"loss.name={loss}"]).loss.name == loss
    for activation in ACTIVATIONS:
        assert load_config(SMOKE, [f"model.activation={activation}"]).model.activation == activation
    with pytest.raises(UserError, match="loss.name"):
        load_config(SMOKE, ["loss.name=hinge"])


@pytest.mark.parametrize("head", HEADS)
def test_every_head_name_builds_a_different_head(head):
    model = build_model(load_config(SMOKE, ["loss.name=softmax", f"model.head={head}"]))
    assert model.output_shape[1:] == (4, 63)
    names = {layer.name for layer in model.layers}
    assert ("attention" in names) == (head == "attention") and ("flatten" in names) == (head == "dense")


def test_unknown_names_list_the_known_ones():
    with pytest.raises(UserError, match="sigmoid, softmax, sparse_softmax"):
        probability_kind("hinge")
    with pytest.raises(UserError, match="relu, leaky_relu"):
        activation_layer("swish")
