"""Several trained models read as one: `ensemble_model([a, b, c])` is a Keras model whose probabilities are
the mean of theirs. `ensemble_model([a], views=9)` reads one model's way in several views instead (the image
and its copies moved by a pixel, `captcha_ocr.core.choices.VIEWS`), and `ensemble_model([a, b, c], views=9)` both.

Every member reads the same input; at each position (each frame, for ctc) the
ensemble's probability of a class is the mean of the members' probabilities of
it. It emits logits again (log-probabilities for the softmax losses and ctc,
log-odds for the sigmoid loss), so that decoding, confidences, `evaluate`,
`predict`, the service and the exports treat it as any other model: it ends in
the same `spec` layer, and saves to one `.keras` file.

Averaging is position by position, so the members must agree on everything
their outputs mean: charset, lengths, input size and resize, how probabilities
are made (softmax or sigmoid), and the output shape (for ctc, the number of
frames). For ctc the lengths only bound what decoding keeps, so members may
differ in them, and the ensemble decodes with the first member's. Models
fine-tuned from one base with different seeds agree; two widths of one
architecture do too. For ctc, frame averaging also assumes the members
put a character on about the same frames, which models of one architecture
trained alike do (README, "Start here: captchas drawn by other people's code").
A view moved by one pixel keeps each character on its frames: the width is
pooled 8 to a frame or more.
"""

from __future__ import annotations

from typing import Sequence

import keras

from captcha_ocr.core.choices import VIEWS, is_frame_loss, probability_kind
from captcha_ocr.core.errors import UserError
from captcha_ocr.model.layers import CaptchaSpec, MeanProbabilities, Shift, model_spec


def check_members(models: Sequence[keras.Model], views: int = 1) -> None:
    """Raise UserError naming the first thing two members disagree on (what averaging needs them to share),
    or too little to average: one model in one view, or a number of views not in `VIEWS`."""
    if views not in VIEWS:
        raise UserError(f"views {views}: known counts are {', '.join(map(str, VIEWS))}")
    if len(models) < 2 and views == 1:
        raise UserError(f"an ensemble needs two or more models, or one in several views, got {len(models)} model "
                        "in 1 view")
    first = model_spec(models[0])
    for i, model in enumerate(models[1:], start=2):
        spec = model_spec(model)
        lengths = ("min_length", "max_length") if is_frame_loss(first.loss) and is_frame_loss(spec.loss) else ()
        field = first.first_difference(spec, ignore=("loss", *lengths))
        if field:
            raise UserError(f"model {i} has {field} {getattr(spec, field)!r}, model 1 {getattr(first, field)!r}; an "
                            "ensemble averages position by position, so its models must share charset, lengths "
                            "and input size (fine-tune them alike)")
        if (probability_kind(spec.loss), is_frame_loss(spec.loss)) != (probability_kind(first.loss),
                                                                       is_frame_loss(first.loss)):
            raise UserError(f"model {i} was trained with loss {spec.loss}, model 1 with {first.loss}; their "
                            "outputs mean different things and cannot be averaged")
        if tuple(model.output_shape) != tuple(models[0].output_shape):
            raise UserError(f"model {i} has output shape {tuple(model.output_shape)[1:]}, model 1 "
                            f"{tuple(models[0].output_shape)[1:]} (for ctc: another number of frames, "
                            "model.width_pools); an ensemble averages frame by frame, so they must be equal")


def ensemble_model(models: Sequence[keras.Model], views: int = 1) -> keras.Model:
    """One model that reads with the mean probabilities of `models` (renamed member_1, member_2, ...), each
    reading the image in `views` views (`VIEWS`): len(models) * views readings averaged.

    Raises:
        UserError: one model in one view, an unknown number of views, or models whose outputs cannot be
            averaged (`check_members`).
    """
    check_members(models, views)
    spec = model_spec(models[0])
    inputs = keras.Input(models[0].input_shape[1:], name="image")
    seen = [inputs if (dy, dx) == (0, 0) else Shift(dy, dx, name=f"view_{dy + 1}_{dx + 1}")(inputs)
            for dy, dx in VIEWS[views]]
    outputs = []
    for i, model in enumerate(models, start=1):
        model.name = f"member_{i}"  # nested models need names of their own
        outputs.extend(model(view) for view in seen)
    mean = MeanProbabilities(probability_kind(spec.loss), name="mean_probabilities", dtype="float32")(outputs)
    result = CaptchaSpec(**spec.to_dict(), name="spec", dtype="float32")(mean)
    return keras.Model(inputs, result, name="captcha_ensemble")


def in_views(model: keras.Model, views: int) -> keras.Model:
    """`model` reading in `views` views (`ensemble_model([model], views)`); `model` itself for one view."""
    return model if views == 1 else ensemble_model([model], views=views)


def ensemble_views(model: keras.Model) -> int:
    """How many views each member of `model` reads in if `ensemble_model` made it, else 0."""
    return sum(isinstance(layer, Shift) for layer in model.layers) + 1 if ensemble_members(model) else 0


def ensemble_members(model: keras.Model) -> int:
    """How many models `model` averages if `ensemble_model` made it, else 0."""
    return sum(isinstance(layer, keras.Model) for layer in model.layers) if any(
        isinstance(layer, MeanProbabilities) for layer in model.layers) else 0
