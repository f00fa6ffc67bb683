"""Start a wider model from a narrower one so that, at the start, it computes exactly what the narrower one did.

`--init-from base_ctc --set model.filters=[64,128,256,256,256] --set model.rnn_units=128` asks for a
model with more filters per convolution and more GRU units than the one it starts from. Each widened
layer gets the source's weights in its first channels (units), and every weight that would carry a new
channel into an old one is zero; the weights into the new channels keep their fresh initialisation.
The old channels therefore see only old channels, all the way to the logits, so the wider model reads
what the source read (tested to float rounding), and training grows the new channels from there. A
model trained long on broad captchas thus gains capacity without losing what it learned.

The layers handled are the ones `build_model` makes for the CTC and dense heads: Conv2D (and the
residual 1x1 skips), BatchNorm, the bidirectional GRU and the logits after it (or after the frames).
"""

from __future__ import annotations

import keras
import numpy as np

GATES = 3  # Keras's GRU stacks its update, reset and candidate weights side by side: [z | r | h]


def is_widening(shapes: list[tuple], src_shapes: list[tuple]) -> bool:
    """True when every weight has its source's rank and is at least as large on every axis, one of them larger."""
    if len(shapes) != len(src_shapes) or shapes == src_shapes:
        return False
    return all(len(a) == len(b) and all(x >= y for x, y in zip(a, b)) for a, b in zip(shapes, src_shapes))


def widen_layer(layer, old: list[np.ndarray], rows: np.ndarray | None = None) -> str | None:
    """Copy a narrower layer's weights into `layer` so that its old channels compute what they computed.

    Args:
        layer: a layer of the wider model.
        old: the same layer's weights in the source model.
        rows: for the GRU and the dense layers, where each of the source's input features sits in the
            wider input (`input_rows`; None where it cannot say, and then they are not widened).

    Returns:
        What was widened, for the log ("32 -> 64 filters"), or None for a layer it cannot widen.
    """
    weights = layer.get_weights()
    if isinstance(layer, keras.layers.Conv2D) and weights[0].shape[:2] == old[0].shape[:2]:
        layer.set_weights([_embed(weights[0], old[0]), *_prefix(weights[1:], old[1:])])
        return f"{old[0].shape[3]} -> {weights[0].shape[3]} filters"
    if isinstance(layer, keras.layers.BatchNormalization):
        layer.set_weights(_prefix(weights, old))
        return f"{old[0].shape[0]} -> {weights[0].shape[0]} channels"
    if isinstance(layer, keras.layers.Bidirectional) and len(weights) == len(old) == 6 and rows is not None:
        new_units, units = weights[1].shape[0], old[1].shape[0]
        grown = []
        for d in (0, 3):  # forward, then backward: kernel, recurrent kernel, bias
            kernel, recurrent, bias = weights[d:d + 3]
            cols = _gate_columns(units, new_units)
            grown += [_embed_rows_cols(kernel, old[d], rows, cols),
                      _embed_rows_cols(recurrent, old[d + 1], np.arange(units), cols),
                      _set_cols(bias, old[d + 2], cols)]
        layer.set_weights(grown)
        return f"{units} -> {new_units} units each way"
    if isinstance(layer, keras.layers.Dense) and weights[0].shape[1] == old[0].shape[1] and rows is not None:
        kernel = np.zeros_like(weights[0])
        kernel[rows] = old[0]
        layer.set_weights([kernel, *old[1:]])
        return f"{old[0].shape[0]} -> {weights[0].shape[0]} inputs"
    return None


def input_rows(model: keras.Model, source: keras.Model, name: str) -> np.ndarray | None:
    """Where each input feature of the source's layer `name` (a GRU or a dense layer) sits among the wider model's.

    `build_model` chains the feature map (as frames or flattened), then `head_hidden`,
    `rnn` and `logits`, each optional but the last. After the bidirectional GRU the
    features are [forward units | backward units], so the backward half moves up by the
    units added each way. From the feature map, a frame's feature (row h, channel c)
    sits at h * channels + c, and a flattened one (row h, column w, channel c) at
    (h * width + w) * channels + c, so every row's block moves up by the channels added.

    Returns:
        The row of the wider layer's kernel for each row of the source's, or None where the
        two differ in more than width (another input size, say), or `name` is not such a layer.
    """
    chain = ["head_hidden", "rnn", "logits"]
    if name not in chain:
        return None
    before = [n for n in chain[:chain.index(name)] if _has(model, n) and _has(source, n)]
    if before and before[-1] == "rnn":
        units, new_units = source.get_layer("rnn").forward_layer.units, model.get_layer("rnn").forward_layer.units
        return np.concatenate([np.arange(units), new_units + np.arange(units)])
    if before:  # head_hidden, whose width does not change
        return np.arange(source.get_layer("head_hidden").units)
    for feature in ("columns", "flatten"):
        if _has(source, feature) and _has(model, feature):
            (height, width, channels), new = source.get_layer(feature).input.shape[1:], model.get_layer(feature).input.shape[1:]
            if (height, width) != tuple(new[:2]):
                return None
            places = height if feature == "columns" else height * width
            return (np.arange(places)[:, None] * new[2] + np.arange(channels)[None, :]).ravel()
    return None


def _has(model: keras.Model, name: str) -> bool:
    return any(layer.name == name for layer in model.layers)


def _embed(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """A kernel (..., inputs, outputs): `old` in the leading corner of `new`, zero from every new input into
    every old output, the rest (every input into the new outputs) as `new` was initialised."""
    out = new.copy()
    out[..., :old.shape[-1]] = 0
    out[tuple(slice(0, n) for n in old.shape)] = old
    return out


def _prefix(new: list[np.ndarray], old: list[np.ndarray]) -> list[np.ndarray]:
    out = [w.copy() for w in new]
    for w, o in zip(out, old):
        w[tuple(slice(0, n) for n in o.shape)] = o
    return out


def _gate_columns(units: int, new_units: int) -> np.ndarray:
    """Columns of the wider GRU's stacked gates that hold the source's units, in the source's order."""
    return np.concatenate([g * new_units + np.arange(units) for g in range(GATES)])


def _embed_rows_cols(new: np.ndarray, old: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = new.copy()
    out[:, cols] = 0
    out[np.ix_(rows, cols)] = old
    return out


def _set_cols(new: np.ndarray, old: np.ndarray, cols: np.ndarray) -> np.ndarray:
    out = new.copy()
    out[..., cols] = old
    return out
