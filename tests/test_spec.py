"""captcha_ocr.core.spec: the typed model spec and the (height, width, channels) input shape."""

import dataclasses

import pytest
from conftest import SMOKE

from captcha_ocr.core.config import load_config
from captcha_ocr.core.spec import InputShape, ModelSpec
from captcha_ocr.model.build import build_model
from captcha_ocr.model.layers import model_spec


def test_input_shape_is_in_keras_order():
    config = load_config(SMOKE, ["image.width=96", "image.height=40", "image.channels=3"])
    assert config.image.shape == InputShape(height=40, width=96, channels=3)
    model = build_model(config)
    assert tuple(model.input_shape[1:]) == tuple(config.image.shape)
    assert model_spec(model).input_shape == config.image.shape


def test_spec_of_a_built_model_round_trips_through_save_and_load(tmp_path):
    import keras

    config = load_config(SMOKE, ["charset.chars=abc", "charset.min_length=2", "loss.name=softmax"])
    model = build_model(config)
    model.save(tmp_path / "m.keras")
    loaded = model_spec(keras.saving.load_model(tmp_path / "m.keras", compile=False))
    assert loaded == ModelSpec.from_config(config) == model_spec(model)
    assert (loaded.chars, loaded.min_length, loaded.loss, loaded.probabilities) == ("abc", 2, "softmax", "softmax")
    assert loaded.charset.num_classes == 4


def test_from_dict_ignores_other_keys_and_needs_every_field():
    spec = ModelSpec("0123", 4, 4, "_", 80, 30, 1, "sigmoid")
    assert ModelSpec.from_dict({**spec.to_dict(), "format": "tflite", "file": "model.tflite"}) == spec
    with pytest.raises(KeyError):
        ModelSpec.from_dict({"chars": "0123"})


def test_first_difference_names_the_first_field_that_differs_in_declaration_order():
    spec = ModelSpec("0123", 4, 4, "_", 80, 30, 1, "sigmoid")
    assert spec.first_difference(spec) is None
    other = dataclasses.replace(spec, height=40, width=96, loss="ctc")
    assert spec.first_difference(other) == "width"  # declared before height and loss
    assert spec.first_difference(other, ignore=("width",)) == "height"
    assert spec.first_difference(other, ignore=("width", "height")) == "loss"
    assert spec.first_difference(other, ignore=("width", "height", "loss")) is None
