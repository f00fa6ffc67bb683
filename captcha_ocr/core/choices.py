"""The names that configs choose components by, in one TensorFlow-free table.

Config validation, decoding (`captcha_ocr.model.decode`) and the export's serving
graph read these tables; `captcha_ocr.model.losses` and `captcha_ocr.model.build` build
the components they name, and a test checks that both sides agree.
"""

from __future__ import annotations

from captcha_ocr.core.errors import UserError

# Each loss, and the function that turns its logits into the class probabilities
# it models: "sigmoid" (every class an independent yes/no) or "softmax" (one
# choice among the classes of a position, or of a frame for ctc).
LOSS_PROBABILITIES: dict[str, str] = {
    "sigmoid": "sigmoid",
    "softmax": "softmax",
    "sparse_softmax": "softmax",
    "ctc": "softmax",
}
LOSSES: tuple[str, ...] = tuple(LOSS_PROBABILITIES)
# The losses whose model emits one row of class scores per frame (a column of the
# feature map) instead of one per ordered position: the pad class is CTC's blank,
# and decoding collapses repeats and drops blanks (`captcha_ocr.model.decode`).
FRAME_LOSSES: tuple[str, ...] = ("ctc",)

ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "prelu", "elu", "tanh", "sigmoid")

# How the per-position losses' head turns the last feature map into ordered positions
# (`captcha_ocr.model.build`): "dense", flatten then one dense layer of every position's
# logits; "attention", one learned query per position that attends over the feature
# map's locations, then the same class layer for every position.
HEADS: tuple[str, ...] = ("dense", "attention")

# How an image of any size becomes the model input (`captcha_ocr.core.images.to_array`):
# "stretch" resizes it to the input size; "fit_height" scales it to the input
# height keeping its aspect ratio, then pads the right with its border colour
# (or squeezes it when it is still too wide).
RESIZE_MODES: tuple[str, ...] = ("stretch", "fit_height")

# What draws synthetic captchas (`captcha_ocr.synth.imagecaptcha`): "imagecaptcha", the
# `captcha` package's look with the generator section's style; "broad", many
# fonts, colours, sizes and distortions (`captcha_ocr.synth.broad`).
GENERATOR_KINDS: tuple[str, ...] = ("imagecaptcha", "broad")


def is_frame_loss(loss: str) -> bool:
    """True for a loss whose model emits frames (CTC), False for one row per position."""
    probability_kind(loss)  # the unknown-name error
    return loss in FRAME_LOSSES


def probability_kind(loss: str) -> str:
    """'sigmoid' or 'softmax': how a model trained with `loss` turns logits into probabilities.

    Raises:
        UserError: an unknown loss name (listing the known ones).
    """
    try:
        return LOSS_PROBABILITIES[loss]
    except KeyError:
        raise UserError(f"unknown loss {loss!r}; known: {', '.join(LOSSES)}") from None

# The views an ensemble reads in (`captcha_ocr.model.ensemble`), by count: (dy, dx) pixel shifts of the model's
# input. One pixel, chosen on training-side styles against two and three (docs/external-styles.md, round 7 on the
# training side; scripts/view_shifts.py).
VIEWS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((0, 0),),
    5: ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)),
    9: tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)),
}
