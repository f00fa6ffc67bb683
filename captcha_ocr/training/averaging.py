"""The moving average of the weights (`train.ema`): what a run validates, keeps and reads its own captchas with.

With `train.ema` above 0 the optimizer keeps, beside each trainable weight, its exponential moving
average over the steps (Keras's `use_ema`; `ema_momentum` is `train.ema`). The weights that train
stay the raw ones; the average is swapped in, exactly (a copy, not a sum and a difference), while
validation reads, while model.keras and last.keras are written and while self-training reads the
unlabeled captchas, then swapped out. The resume backup holds the raw weights and the optimizer's
state, averages included, so a resumed run goes on as if never stopped. BatchNormalization's moving
statistics are not trainable and are not averaged: they follow the raw weights.
"""

from __future__ import annotations

from contextlib import contextmanager


def _pairs(model) -> list:
    """(weight, its moving average) of `model`'s optimizer; empty without an average or before the first step."""
    optimizer = getattr(model, "optimizer", None)
    optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer wraps the one that averages
    if not getattr(optimizer, "use_ema", False) or not getattr(optimizer, "built", False):
        return []
    return [(w, a) for w, a in zip(optimizer._trainable_variables, optimizer._model_variables_moving_average)
            if a is not None]


def _swap(pairs: list) -> None:
    import tensorflow as tf

    for weight, average in pairs:
        value = tf.identity(weight.value)
        weight.assign(average.value)
        average.assign(value)


@contextmanager
def averaged_weights(model):
    """`model` holds the moving averages of its weights inside the block (unchanged without `train.ema`)."""
    pairs = _pairs(model)
    _swap(pairs)
    try:
        yield
    finally:
        _swap(pairs)


def validate_averaged():
    """The callback that has validation (the evaluation inside `fit`) read the averaged weights."""
    import keras

    class ValidateAveraged(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            self.pairs = _pairs(self.model)
            _swap(self.pairs)

        def on_test_end(self, logs=None):
            _swap(self.pairs)

    return ValidateAveraged()
