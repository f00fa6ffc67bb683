"""Learning, not only shapes: each loss variant must learn a tiny fixed set perfectly."""

import pytest
from conftest import SMOKE

from captcha_ocr.core.config import LOSSES, load_config
from captcha_ocr.data.pipeline import from_arrays
from captcha_ocr.model.build import build_model
from captcha_ocr.model.scoring import evaluate_arrays
from captcha_ocr.synth.imagecaptcha import GeneratorSpec, render
from captcha_ocr.training.compile import compile_model


@pytest.mark.parametrize("loss, head", [*((loss, "dense") for loss in LOSSES), ("softmax", "attention")])
def test_each_loss_learns_a_tiny_fixed_set_to_100_percent(loss, head):
    import keras

    config = load_config(SMOKE, [f"loss.name={loss}", f"model.head={head}", "model.filters=[16, 32]",
                                 "train.learning_rate=0.003"])
    keras.utils.set_random_seed(1)
    images, labels = render(GeneratorSpec.from_config(config), 11, "overfit", 16,
                            config.image.shape, workers=1)
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=1)
    before = evaluate_arrays(model, images, labels)["captcha_acc"]
    model.fit(from_arrays(images, labels, 16, shuffle=True, repeat=True), steps_per_epoch=25, epochs=30, verbose=0, shuffle=False)
    report = evaluate_arrays(model, images, labels)  # inference mode: BatchNorm uses its moving statistics
    assert before == 0.0
    assert report["captcha_acc"] == 1.0, report
    assert report["char_acc"] == 1.0


def test_mixed_lengths_decode_to_their_own_length():
    """After training on lengths 2..4, a 3-character captcha reads as 3 characters, not 3 plus garbage."""
    import keras

    config = load_config(SMOKE, ["loss.name=softmax", "charset.min_length=2", "model.filters=[16, 32]",
                                 "train.learning_rate=0.003"])
    keras.utils.set_random_seed(2)
    images, labels = render(GeneratorSpec.from_config(config), 12, "lengths", 16,
                            config.image.shape, workers=1)
    lengths = (labels != config.charset.build().pad_index).sum(axis=1)
    assert {2, 3, 4} <= set(lengths.tolist())
    model = build_model(config)
    compile_model(model, config, steps_per_epoch=1)
    model.fit(from_arrays(images, labels, 16, shuffle=True, repeat=True), steps_per_epoch=25, epochs=30, verbose=0,
              shuffle=False)
    from captcha_ocr.model.decode import decode

    texts, _, _ = decode(model.predict(images / 255.0, verbose=0), config.charset.build(), "softmax")
    assert [len(t) for t in texts] == lengths.tolist()
    assert texts == config.charset.build().decode_batch(labels)
