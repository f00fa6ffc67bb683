import numpy as np
import pytest
from conftest import SMOKE, needs_bfloat16

from captcha_ocr.core.choices import ACTIVATIONS, LOSSES
from captcha_ocr.core.config import load_config
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.build import block_output_shapes, build_model, conv_output_size, same_padding
from captcha_ocr.model.transfer import load_matching_weights


def test_conv_output_size_formula():
    assert conv_output_size(160, 3, 1, 1) == 160
    assert conv_output_size(160, 3, 0, 1) == 158
    assert conv_output_size(60, 5, 0, 2) == 28
    assert conv_output_size(7, 3, 0, 2) == 3
    assert conv_output_size(15, 2, 0, 2) == 7  # 2x2 pooling floors
    assert same_padding(160, 3, 1) == 1


@pytest.mark.parametrize("overrides", [
    [],
    ["model.padding=valid"],
    ["model.strides=2", "model.pool=none", "model.filters=[8,16,16]"],
    ["model.kernel_size=5", "model.padding=valid", "image.width=100", "image.height=40"],
    ["model.kernel_size=4", "model.strides=2", "model.pool=avg", "model.pool_size=3", "model.filters=[8]"],
    ["model.strides=3", "model.padding=same", "model.pool=none", "image.width=61", "image.height=31"],
])
def test_block_shapes_match_keras(overrides):
    config = load_config(SMOKE, overrides)
    model = build_model(config)
    predicted = block_output_shapes(config)
    for i, shape in enumerate(predicted, start=1):
        assert tuple(model.get_layer(f"conv{i}").output.shape[1:]) == shape.conv
        last = f"pool{i}" if config.model.pool != "none" else f"act{i}"
        assert tuple(model.get_layer(last).output.shape[1:]) == shape.pooled


def test_too_many_blocks_is_a_clear_error():
    with pytest.raises(UserError, match="shrinks"):
        build_model(load_config(SMOKE, ["model.filters=[4,4,4,4,4,4]"]))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_output_shape_for_each_loss_and_activation(loss, activation):
    config = load_config(SMOKE, [f"loss.name={loss}", f"model.activation={activation}"])
    model = build_model(config)
    x = np.random.default_rng(0).random((2, config.image.height, config.image.width, 1), np.float32)
    y = model(x, training=False)
    # ctc: one row per column of the last 5x20 feature map (80 px wide, pooled twice)
    assert tuple(y.shape) == ((2, 20, 63) if loss == "ctc" else (2, 4, 63))
    assert y.dtype == "float32"
    assert np.isfinite(np.asarray(y)).all()


def test_width_pools_keep_the_columns_a_ctc_head_reads():
    config = load_config(SMOKE, ["loss.name=ctc", "model.filters=[8,16,16]", "model.width_pools=1"])
    shapes = block_output_shapes(config)
    assert [s.pooled[:2] for s in shapes] == [(15, 40), (7, 40), (3, 40)]
    model = build_model(config)
    assert tuple(model.get_layer("pool3").output.shape[1:]) == shapes[-1].pooled
    assert tuple(model.output.shape[1:]) == (40, 63)
    assert model.get_layer("frames").output.shape[-1] == 3 * 16  # a frame: the column's height x channels


def test_a_ctc_head_with_too_few_frames_is_a_clear_error():
    # 80 px pooled 4 times: 5 frames, but 4 characters can need 7 ("aabb" = a _ a b _ b)
    with pytest.raises(UserError, match="5 frames.*7.*model.width_pools"):
        build_model(load_config(SMOKE, ["loss.name=ctc", "model.filters=[4,4,4,4]"]))


def test_ctc_with_a_recurrent_layer():
    model = build_model(load_config(SMOKE, ["loss.name=ctc", "model.rnn_units=8"]))
    assert model.get_layer("rnn").output.shape[1:] == (20, 16)  # both directions
    with pytest.raises(UserError, match="needs loss.name: ctc"):
        load_config(SMOKE, ["model.rnn_units=8"])


@needs_bfloat16
def test_mixed_bfloat16_computes_in_bfloat16_and_saves_float32(tmp_path):
    import keras

    from captcha_ocr.model.build import float32_copy

    config = load_config(SMOKE, ["train.precision=mixed_bfloat16"])
    model = build_model(config)
    assert model.get_layer("conv1").compute_dtype == "bfloat16"
    assert model.get_layer("conv1").kernel.dtype == "float32"
    assert model.get_layer("logits").compute_dtype == "float32"
    x = np.random.default_rng(0).random((4, 30, 80, 1), np.float32)
    y = np.asarray(model(x, training=False))
    assert y.dtype == np.float32
    copy = float32_copy(model, config)
    assert all(layer.compute_dtype == "float32" for layer in copy.layers if layer.weights)
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    copy.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", compile=False)
    assert all(layer.compute_dtype == "float32" for layer in loaded.layers if layer.weights)
    z = np.asarray(loaded(x, training=False))
    # the same weights: bfloat16 arithmetic differs from float32 in the 3rd significant digit
    np.testing.assert_allclose(z, y, atol=0.1 * np.abs(y).max())
    assert not np.array_equal(z, y)


def test_ctc_head_keeps_the_rows_of_shared_characters():
    base = build_model(load_config(SMOKE, ["loss.name=ctc"]))
    config = load_config(SMOKE, ["loss.name=ctc", "charset.chars=0123456789xyz#", "charset.max_length=6"])
    model = build_model(config)
    kept, fresh = load_matching_weights(model, base)
    assert kept[-1] == ("logits (partly: rows of 13 shared characters and the blank, for every frame; "
                        "1 new characters start fresh)")
    kernel, bias = model.get_layer("logits").get_weights()
    src_kernel, src_bias = base.get_layer("logits").get_weights()
    cs = config.charset.build()
    np.testing.assert_array_equal(kernel[:, cs.chars.index("x")], src_kernel[:, 59])  # x in 0-9A-Za-z
    np.testing.assert_array_equal(kernel[:, cs.pad_index], src_kernel[:, 62])
    assert not np.allclose(kernel[:, cs.chars.index("#")], src_kernel[:, 13])


def test_head_follows_charset_and_length():
    config = load_config(SMOKE, ["charset.chars=0123456789", "charset.max_length=5", "charset.min_length=5"])
    assert tuple(build_model(config).output.shape[1:]) == (5, 11)


def test_block_order_is_conv_bn_activation_pool():
    model = build_model(load_config(SMOKE))
    names = [layer.name for layer in model.layers]
    i = names.index("conv1")
    assert names[i:i + 4] == ["conv1", "bn1", "act1", "pool1"]
    assert model.get_layer("conv1").use_bias is False
    assert model.get_layer("bn1").scale is True  # the design's "scale" step


def test_fused_batch_norm_matches_keras_batch_norm():
    import keras
    import tensorflow as tf

    from captcha_ocr.model.build import FusedBatchNormalization

    x = tf.random.stateless_normal((8, 6, 10, 5), seed=(1, 2)) * 3.0 + 1.5
    fused, plain = FusedBatchNormalization(momentum=0.9), keras.layers.BatchNormalization(momentum=0.9)
    for layer in (fused, plain):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 5))
        layer.beta.assign(np.linspace(-1.0, 1.0, 5))
    results = []
    for layer in (fused, plain):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            total = tf.reduce_sum(y * tf.range(y.shape[-1], dtype=y.dtype) + y ** 2)
        grads = tape.gradient(total, [x, layer.gamma, layer.beta])
        results.append([y, *grads, layer.moving_mean, layer.moving_variance])
    for got, want in zip(*results):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-4, atol=1e-4)
    # The moving statistics moved (from 0 and 1) towards the batch's, as Keras's do.
    assert np.all(np.abs(np.asarray(fused.moving_mean) - 0.15) < 0.1)
    # Inference is the parent's: same output from the same weights.
    np.testing.assert_allclose(np.asarray(fused(x, training=False)), np.asarray(plain(x, training=False)),
                               rtol=1e-5, atol=1e-5)


@needs_bfloat16
def test_fused_batch_norm_runs_the_fused_kernel_in_bfloat16(monkeypatch):
    import keras
    import tensorflow as tf

    from captcha_ocr.model.build import FusedBatchNormalization

    calls = []
    kernel = tf.compat.v1.nn.fused_batch_norm
    monkeypatch.setattr(tf.compat.v1.nn, "fused_batch_norm", lambda *a, **k: calls.append(a[0].dtype) or kernel(*a, **k))
    x = tf.random.stateless_normal((8, 6, 10, 5), seed=(1, 2)) * 3.0 + 1.5
    fused = FusedBatchNormalization(momentum=0.9, dtype="mixed_bfloat16")
    plain = keras.layers.BatchNormalization(momentum=0.9, dtype="mixed_bfloat16")
    ys = [layer(x, training=True) for layer in (fused, plain)]
    assert calls == [tf.bfloat16]
    assert ys[0].dtype == ys[1].dtype == "bfloat16"
    assert fused.moving_mean.dtype == "float32"
    np.testing.assert_allclose(np.asarray(tf.cast(ys[0], tf.float32)), np.asarray(tf.cast(ys[1], tf.float32)),
                               atol=0.05)
    np.testing.assert_allclose(np.asarray(fused.moving_mean), np.asarray(plain.moving_mean), atol=0.01)


def test_blocks_use_the_fused_batch_norm():
    from captcha_ocr.model.build import FusedBatchNormalization

    model = build_model(load_config(SMOKE))
    assert all(isinstance(model.get_layer(f"bn{i}"), FusedBatchNormalization) for i in (1, 2))


def test_fused_batch_norm_round_trips_through_save_and_load(tmp_path):
    import keras

    from captcha_ocr.model.build import FusedBatchNormalization

    model = build_model(load_config(SMOKE))
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    model(x, training=True)  # moves the moving statistics away from their initial values
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.get_layer("bn1"), FusedBatchNormalization)
    assert loaded.get_layer("bn1").momentum == model.get_layer("bn1").momentum
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_matching_weights_keep_convolutions_and_the_head_rows_of_shared_characters():
    source = build_model(load_config(SMOKE))  # 0-9A-Za-z, 4 positions
    src_kernel, src_bias = source.get_layer("logits").get_weights()
    source.get_layer("logits").set_weights([src_kernel, np.random.default_rng(0).normal(size=src_bias.shape)])
    target = build_model(load_config(SMOKE, ["charset.chars=05aZ!", "charset.max_length=5"]))
    fresh_kernel, fresh_bias = [w.copy() for w in target.get_layer("logits").get_weights()]
    kept, fresh = load_matching_weights(target, source)
    assert kept[:4] == ["conv1", "bn1", "conv2", "bn2"] and fresh == []
    assert kept[4].startswith("logits (partly: rows of 4 shared characters and the pad at 4 of 5 positions")
    for name in ("conv1", "bn2"):
        for a, b in zip(target.get_layer(name).get_weights(), source.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    src_kernel, src_bias = source.get_layer("logits").get_weights()
    kernel, bias = target.get_layer("logits").get_weights()
    old = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
    new = "05aZ!_"
    for p in range(5):
        for j, c in enumerate(new):
            col, want = p * 6 + j, None
            if p < 4 and c in old:  # a shared character (or the pad) at a position both models have
                want = (src_kernel[:, p * 63 + old.index(c)], src_bias[p * 63 + old.index(c)])
            else:  # a new character ('!') or a new position: its fresh initialisation, untouched
                want = (fresh_kernel[:, col], fresh_bias[col])
            np.testing.assert_array_equal(kernel[:, col], want[0])
            assert bias[col] == want[1]


def test_a_changed_input_size_keeps_the_convolutions_and_reinitializes_the_head():
    source = build_model(load_config(SMOKE))
    target = build_model(load_config(SMOKE, ["image.width=96"]))
    kept, fresh = load_matching_weights(target, source)
    assert kept == ["conv1", "bn1", "conv2", "bn2"]
    assert [f.split()[0] for f in fresh] == ["logits"]


def test_two_convolutions_per_block_come_before_the_pooling():
    model = build_model(load_config(SMOKE, ["model.convs_per_block=2"]))
    names = [layer.name for layer in model.layers]
    assert names[1:8] == ["conv1", "bn1", "act1_1", "conv1_2", "bn1_2", "act1", "pool1"]
    assert model.get_layer("conv1_2").kernel.shape == (3, 3, 8, 8)
    assert model.get_layer("pool1").output.shape[1:] == build_model(load_config(SMOKE)).get_layer("pool1").output.shape[1:]


def test_a_residual_block_adds_its_input_back():
    import keras

    # filters 8 then 8: block 1 changes the channels (1 -> 8, a 1x1 projection), block 2 keeps them (identity)
    model = build_model(load_config(SMOKE, ["model.residual=true", "model.convs_per_block=2", "model.filters=[8, 8]"]))
    names = {layer.name for layer in model.layers}
    assert {"skip1", "skip_bn1", "add1", "add2"} <= names and "skip2" not in names
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("pool1", "act2")])
    pool1, act2 = (np.asarray(t) for t in probe(x, training=False))
    path = pool1
    for name in ("conv2", "bn2", "act2_1", "conv2_2", "bn2_2"):
        path = np.asarray(model.get_layer(name)(path, training=False))
    np.testing.assert_allclose(act2, np.maximum(path + pool1, 0), rtol=1e-5, atol=1e-5)
    assert not np.allclose(act2, np.maximum(path, 0), atol=1e-3), "without the input added back the block differs"


def test_the_attention_head_gives_each_position_its_own_row_and_round_trips(tmp_path):
    import keras

    from captcha_ocr.model.build import PositionAttention, float32_copy

    config = load_config(SMOKE, ["loss.name=softmax", "model.head=attention", "train.precision=mixed_bfloat16"])
    model = build_model(config)
    assert isinstance(model.get_layer("attention"), PositionAttention)
    assert model.get_layer("attention").output.shape[1:] == (4, 16)
    assert model.get_layer("logits").kernel.shape == (16, 63), "one class layer shared by the positions"
    assert model.output_shape[1:] == (4, 63)
    x = np.random.default_rng(0).random((2, *model.input_shape[1:]), dtype=np.float32)
    copy = float32_copy(model, config)
    y = copy.predict(x, verbose=0)
    assert not np.allclose(y[:, 0], y[:, 1], atol=1e-4), "the learned queries tell the positions apart"
    copy.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("overrides, fragment", [
    (["loss.name=ctc", "model.head=attention"], "model.head: attention is a head for the per-position losses"),
    (["model.head=attention", "model.head_units=32"], "model.head_units is the dense head's hidden layer"),
    (["model.residual=true", "model.padding=valid"], "model.residual needs model.padding: same"),
    (["model.convs_per_block=2", "model.padding=valid"], "model.convs_per_block needs model.padding: same"),
    (["model.head=attnetion"], "model.head"),
    (["model.convs_per_block=0"], "model.convs_per_block"),
])
def test_block_and_head_options_refuse_what_does_not_fit(overrides, fragment):
    with pytest.raises(UserError, match=fragment.replace(".", r"\.")):
        load_config(SMOKE, overrides)


def test_xla_with_ctc_is_refused_in_one_line():
    # tf2xla cannot compile tf.nn.ctc_loss: training would fail with a traceback at the first step
    with pytest.raises(UserError, match="train.jit_compile: XLA cannot compile tf.nn.ctc_loss"):
        load_config(SMOKE, ["loss.name=ctc", "train.jit_compile=true"])


@pytest.mark.parametrize("loss", ["ctc", "sigmoid"])
def test_a_gray_model_fine_tunes_into_a_colour_one_that_reads_what_it_read(loss):
    gray = build_model(load_config(SMOKE, [f"loss.name={loss}"]))
    colour = build_model(load_config(SMOKE, [f"loss.name={loss}", "image.channels=3"]))
    kept, fresh = load_matching_weights(colour, gray)
    assert "conv1 (from gray to RGB input)" in kept and not fresh
    rgb = np.random.default_rng(0).random((2, *colour.input.shape[1:]), dtype=np.float32)
    luma = (rgb * np.array([0.299, 0.587, 0.114], np.float32)).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(colour(rgb, training=False), gray(luma, training=False), rtol=1e-4, atol=1e-4)
    # and back: the colour model's first convolution summed reads a gray image as it read the same image in RGB
    back = build_model(load_config(SMOKE, [f"loss.name={loss}"]))
    load_matching_weights(back, colour)
    np.testing.assert_allclose(back(luma, training=False), colour(np.repeat(luma, 3, axis=-1), training=False),
                               rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("overrides", [
    ["loss.name=ctc", "model.rnn_units=4"],  # frames -> GRU -> logits
    ["loss.name=ctc"],  # frames -> logits
    ["loss.name=sigmoid"],  # flattened -> logits
    ["loss.name=ctc", "model.rnn_units=4", "model.convs_per_block=2", "model.residual=true"],
])
def test_a_wider_model_started_from_a_narrower_one_reads_what_it_read(overrides):
    narrow = build_model(load_config(SMOKE, overrides))
    rng = np.random.default_rng(0)
    for layer in narrow.layers:  # trained-looking weights: BN statistics and offsets far from their defaults
        layer.set_weights([np.abs(r) + 0.5 if "variance" in v.path else r for v in layer.weights
                           for r in [rng.normal(size=v.shape).astype(np.float32) * 0.5]])
    grown = [f"model.filters=[{2 * f}" if i == 0 else str(2 * f) for i, f in
             enumerate(load_config(SMOKE, overrides).model.filters)]
    wide_overrides = [*overrides, ",".join(grown) + "]"]
    if "model.rnn_units=4" in overrides:
        wide_overrides.append("model.rnn_units=7")
    wide = build_model(load_config(SMOKE, wide_overrides))
    kept, fresh = load_matching_weights(wide, narrow)
    assert not fresh, fresh
    assert any("widened: " in k for k in kept) and any(k.startswith("logits (widened:") for k in kept)
    x = rng.random((3, *narrow.input.shape[1:]), dtype=np.float32)
    np.testing.assert_allclose(wide(x, training=False), narrow(x, training=False), rtol=1e-4, atol=1e-4)
    assert wide.count_params() > 2 * narrow.count_params()


def test_a_gray_base_widens_into_a_colour_model_with_another_charset_that_reads_what_it_read():
    # what fine-tuning a wider model from base_ctc on another generator's captchas does
    gray = build_model(load_config(SMOKE, ["loss.name=ctc", "model.rnn_units=4"]))
    rng = np.random.default_rng(1)
    for layer in gray.layers:
        layer.set_weights([np.abs(r) + 0.5 if "variance" in v.path else r for v in layer.weights
                           for r in [rng.normal(size=v.shape).astype(np.float32) * 0.5]])
    wide = build_model(load_config(SMOKE, ["loss.name=ctc", "model.rnn_units=6", "model.filters=[12,24]",
                                           "image.channels=3", "charset.chars=0123456789abcdef"]))
    kept, fresh = load_matching_weights(wide, gray)
    assert not fresh, fresh
    assert kept[0] == "conv1 (widened: 8 -> 12 filters; from gray to RGB input)"
    assert kept[-1].startswith("logits (widened: 8 -> 12 inputs; partly: rows of 16 shared characters")
    rgb = rng.random((2, *wide.input.shape[1:]), dtype=np.float32)
    luma = (rgb * np.array([0.299, 0.587, 0.114], np.float32)).sum(axis=-1, keepdims=True)
    old = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
    columns = [old.index(c) for c in "0123456789abcdef_"]
    np.testing.assert_allclose(wide(rgb, training=False), np.asarray(gray(luma, training=False))[..., columns],
                               rtol=1e-4, atol=1e-4)
