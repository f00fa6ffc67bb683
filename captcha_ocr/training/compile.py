"""The optimizer, the precision and the compile step: what turns a built model into one that trains."""

from __future__ import annotations

from captcha_ocr.core.cli import logger
from captcha_ocr.core.config import Config


def make_optimizer(config: Config, steps_per_epoch: int):
    """The configured optimizer with its learning-rate schedule."""
    import keras

    from captcha_ocr.model.schedules import FittedSchedule, make_schedule

    t = config.train
    total = t.epochs * steps_per_epoch
    lr = make_schedule(t.schedule, t.learning_rate, total, int(round(t.warmup_epochs * steps_per_epoch)))
    if t.time_budget_fit and not isinstance(lr, float):
        lr = FittedSchedule(lr, total)  # training.budget plans how fast it is walked
    average = {"use_ema": True, "ema_momentum": t.ema} if t.ema else {}  # training.averaging
    if t.optimizer == "adam":
        return keras.optimizers.Adam(lr, **average)
    if t.optimizer == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=t.weight_decay, **average)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True, **average)


def with_chosen_precision(config: Config, log=logger.info) -> Config:
    """`config` with `train.precision` settled for this machine (`auto` resolved), saying which and why.

    TensorFlow is imported (to see GPUs): call after `distribute.strategy_scope`.
    """
    from captcha_ocr.core.machine import choose_precision, gpu_capabilities

    choice = choose_precision(config.train.precision, gpu_capabilities=gpu_capabilities())
    (logger.warning if choice.warning else log)(choice.reason)
    return config.model_copy(update={"train": config.train.model_copy(update={"precision": choice.precision})})


def compile_model(model, config: Config, steps_per_epoch: int) -> None:
    """Compile with the configured loss, optimizer and the two accuracies."""
    from captcha_ocr.model.losses import get_loss, get_metrics, on_labels, with_soft_targets

    loss, metrics = get_loss(config.loss.name, config.loss.label_smoothing), get_metrics(config.loss.name)
    if config.data.pseudo_soft:  # targets carry the teacher's probabilities after the labels
        length = config.charset.max_length
        loss, metrics = with_soft_targets(loss, length), [on_labels(m, length) for m in metrics]
    model.compile(
        optimizer=make_optimizer(config, steps_per_epoch),
        loss=loss,
        metrics=metrics,
        jit_compile=config.train.jit_compile,
    )
