"""Fine-tuning's start: copy another model's weights into a new one, keeping all that still means the same."""

from __future__ import annotations

import keras
import numpy as np

from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.spec import ModelSpec
from captcha_ocr.model.layers import model_spec
from captcha_ocr.model.widen import input_rows, is_widening, widen_layer


def load_matching_weights(model: keras.Model, source: keras.Model) -> tuple[list[str], list[str]]:
    """Copy weights from `source` into `model` layer by layer, keeping all that still means the same.

    Used for fine-tuning. Layers whose names and shapes agree are copied whole:
    the convolutions and BatchNorms always are, whatever the input size, since
    their shapes do not depend on it. When the charset or the length changed,
    the output layer keeps, at every position both models have, the rows
    (kernel columns and bias) of the characters both charsets share, and of
    the pad; only new characters and new positions start fresh. A head whose
    input size changed (another input geometry) starts fresh. A first
    convolution that reads colour where the source read gray (or the reverse)
    is converted so that it computes what the source computed on the gray image
    (`convert_channels`): a gray base model fine-tunes into a colour one. Layers
    with more filters or GRU units than the source's are widened so that the
    model still computes what the source did (`captcha_ocr.model.widen`).

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
        note = ""
        if _channels_differ(shapes, src_shapes):  # the first convolution, gray <-> RGB (and perhaps wider too)
            src_weights = [convert_channels(src_weights[0], shapes[0][2]), *src_weights[1:]]
            note = f"from {_colour(src_shapes[0][2])} to {_colour(shapes[0][2])} input"
            src_shapes = [w.shape for w in src_weights]
        if shapes == src_shapes and (layer.name != "logits" or _same_classes(model, source)):
            layer.set_weights(src_weights)
            kept.append(f"{layer.name} ({note})" if note else layer.name)
        elif layer.name == "logits" and (rows := _head_rows(model, source, shapes, src_shapes)) is not None:
            wider = np.zeros((shapes[0][0], src_shapes[0][1]), np.float32)
            wider[rows] = src_weights[0]
            copied = copy_head_rows(layer, [wider, src_weights[1]], model_spec(source), model_spec(model))
            widened = f"widened: {src_shapes[0][0]} -> {shapes[0][0]} inputs; " if len(rows) < shapes[0][0] else ""
            kept.append(f"logits ({widened}partly: {copied})")
        elif is_widening(shapes, src_shapes) and (grown := widen_layer(layer, src_weights,
                                                                       input_rows(model, source, layer.name))):
            kept.append(f"{layer.name} (widened: {grown}{'; ' + note if note else ''})")
        else:
            fresh.append(f"{layer.name} (shape {_shapes(src_shapes)} -> {_shapes(shapes)})")
    return kept, fresh


# PIL's conversion to gray ("L"), which the gray models were trained on: L = R*299/1000 + G*587/1000 + B*114/1000.
GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], np.float32)


def _channels_differ(shapes, src_shapes) -> bool:
    """True for a convolution kernel that reads 1 input channel where its source read 3, or the reverse.

    It may have more filters than its source as well (`widen_layer` takes it from there).
    """
    (new, *rest), (old, *src_rest) = shapes, src_shapes
    return (len(new) == 4 and len(old) == 4 and new[:2] == old[:2] and new[3] >= old[3]
            and (rest == src_rest or new[3] > old[3]) and {new[2], old[2]} == {1, 3})


def _head_rows(model: keras.Model, source: keras.Model, shapes, src_shapes) -> np.ndarray | None:
    """Where each input row of the source's logits kernel goes in the model's: the same rows, or those of a
    wider model (`input_rows`); None when the inputs differ otherwise (another input size)."""
    if shapes[0][0] == src_shapes[0][0]:
        return np.arange(src_shapes[0][0])
    return input_rows(model, source, "logits") if shapes[0][0] > src_shapes[0][0] else None


def convert_channels(kernel: np.ndarray, channels: int) -> np.ndarray:
    """A first-convolution kernel of (kh, kw, 1 or 3, filters) converted to read `channels` input channels.

    Gray to RGB: each colour channel gets the gray kernel times its weight in
    the grayscale conversion, so the new convolution of an RGB image equals the
    old one of its gray version (up to the conversion's rounding to whole
    levels); training then learns from the colours. RGB to gray: the channels'
    kernels are summed, which equals the old one wherever the image is gray.
    """
    if channels == 3:
        return kernel * GRAY_WEIGHTS[None, None, :, None]
    return kernel.sum(axis=2, keepdims=True)


def _colour(channels: int) -> str:
    return "gray" if channels == 1 else "RGB"


def _same_classes(model: keras.Model, source: keras.Model) -> bool:
    a, b = model_spec(model), model_spec(source)
    return (a.chars, a.pad, a.max_length) == (b.chars, b.pad, b.max_length)


def copy_head_rows(layer, source_weights: list[np.ndarray], old: ModelSpec, new: ModelSpec) -> str:
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
    src_kernel, src_bias = source_weights
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
