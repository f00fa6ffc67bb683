"""Where a training runs: one device, or data-parallel on several (`train.distribute`).

`mirrored` is TensorFlow's `tf.distribute.MirroredStrategy`: one replica of the
model per GPU of this machine, each global batch (`train.batch_size`) split
between them and the gradients summed, so the learning rate and schedule are
those of one device. Without GPUs it runs on the CPU, as one replica, or as
`train.cpu_replicas` replicas on logical CPU devices: no faster (they share the
same cores) but the same code path, which is how the tests check it here.
`auto` is `mirrored` when more than one GPU is visible, else `none`.
"""

from __future__ import annotations

import contextlib

from captcha_ocr.config import Config
from captcha_ocr.errors import UserError


def strategy_scope(config: Config, log=print):
    """A context in which to build and compile the model, for `config.train.distribute`.

    Must be called before TensorFlow runs its first op when `train.cpu_replicas` is set
    (logical devices can only be made before the runtime starts).

    Raises:
        UserError: `cpu_replicas` set after TensorFlow started.
    """
    import tensorflow as tf

    t = config.train
    gpus = tf.config.list_physical_devices("GPU")
    mode = t.distribute if t.distribute != "auto" else ("mirrored" if len(gpus) > 1 else "none")
    if mode == "none":
        return contextlib.nullcontext()
    if gpus:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    else:
        if t.cpu_replicas > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            try:
                tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * t.cpu_replicas)
            except RuntimeError:
                raise UserError("train.cpu_replicas: TensorFlow had already started in this process; set it "
                                "in a process that trains once (the train command)") from None
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    strategy = tf.distribute.MirroredStrategy(devices)
    log(f"distribute: mirrored over {strategy.num_replicas_in_sync} devices ({', '.join(devices)}); "
        f"each batch of {t.batch_size} is split between them")
    return strategy.scope()
