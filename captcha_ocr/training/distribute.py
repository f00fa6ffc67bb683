"""Where a training runs: one device, or data-parallel on several (`train.distribute`).

`mirrored` is TensorFlow's `tf.distribute.MirroredStrategy`: one replica of the
model per GPU of this machine, each global batch (`train.batch_size`) split
between them and the gradients summed, so the learning rate and schedule are
those of one device. Without GPUs it runs on the CPU, as one replica, or as
`train.cpu_replicas` replicas on logical CPU devices: no faster (they share the
same cores) but the same code path, which is how the tests check it here.
`auto` is `mirrored` when more than one GPU is visible, else `none`.

`multi_worker` is `tf.distribute.MultiWorkerMirroredStrategy`: one process per
machine (each with its GPUs, or its CPU), the cluster and this process's place
in it read from the standard `TF_CONFIG` variable, gradients all-reduced between
them each step. Every worker runs the same command with the same run directory,
which must be on storage they all see (as Keras's BackupAndRestore requires):
every worker resumes from it, and only the chief writes it. The others train on
a private copy in the temporary directory, deleted when they finish. The time
budget is refused there (workers would stop at different epochs and wait for
each other forever); so is self-training on an unlabeled folder (untested).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from captcha_ocr.core.config import Config
from captcha_ocr.core.errors import UserError


def strategy_scope(config: Config, log=print):
    """A context in which to build and compile the model, for `config.train.distribute`.

    Must be called before TensorFlow runs its first op when `train.cpu_replicas` is set
    (logical devices can only be made before the runtime starts).

    Raises:
        UserError: `cpu_replicas` set after TensorFlow started.
    """
    import tensorflow as tf

    t = config.train
    if t.distribute == "multi_worker":
        role = worker_role(config)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        log(f"distribute: multi-worker over {role.workers} workers ({strategy.num_replicas_in_sync} replicas); "
            f"this is {role.name}{', the chief' if role.chief else ''}; each batch of {t.batch_size} is split "
            f"between the replicas")
        return strategy.scope()
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


@dataclass(frozen=True)
class Role:
    """This process's place in a multi-worker cluster."""

    name: str  # e.g. "worker 1"
    chief: bool  # writes the run directory
    workers: int  # processes in the cluster


def worker_role(config: Config) -> Role | None:
    """The role TF_CONFIG gives this process under `train.distribute: multi_worker`, else None.

    Raises:
        UserError: TF_CONFIG missing or malformed, or a setting multi-worker training refuses.
    """
    t = config.train
    if t.distribute != "multi_worker":
        return None
    how = "see the README, 'Several machines'"
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise UserError(f"train.distribute=multi_worker reads the cluster from the TF_CONFIG variable, which is not "
                        f"set; {how}")
    try:
        tf_config = json.loads(text)
        cluster, task = tf_config["cluster"], tf_config["task"]
        kind, index = task["type"], int(task["index"])
        cluster[kind][index]
    except (ValueError, KeyError, TypeError, IndexError):
        raise UserError(f"TF_CONFIG is not a cluster with this task in it (want {{\"cluster\": {{\"worker\": "
                        f"[\"host1:port\", ...]}}, \"task\": {{\"type\": \"worker\", \"index\": 0}}}}); {how}") from None
    if t.time_budget_min:
        raise UserError("train.time_budget_min: multi-worker training needs every worker to stop at the same "
                        "epoch; set train.epochs instead (and --set train.time_budget_min=0)")
    if config.data.unlabeled_folder:
        raise UserError("data.unlabeled_folder: self-training is not supported with train.distribute=multi_worker")
    chief = kind == "chief" or (kind == "worker" and index == 0 and "chief" not in cluster)
    return Role(f"{kind} {index}", chief, sum(len(v) for k, v in cluster.items() if k in ("chief", "worker")))


@contextlib.contextmanager
def own_run_dir(run_dir: Path, role: Role | None):
    """The run directory this process writes: `run_dir` itself, or, for a worker that is not the chief,
    a private copy of it (what the chief has written so far) that is deleted afterwards."""
    if role is None or role.chief:
        yield run_dir
        return
    scratch = Path(tempfile.mkdtemp(prefix=f"captcha_ocr-{run_dir.name}-{role.name.replace(' ', '')}-"))
    try:
        if run_dir.is_dir():
            shutil.copytree(run_dir, scratch / run_dir.name, ignore=shutil.ignore_patterns(".*"))
        yield scratch / run_dir.name
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def fit_multi_worker(model, config: Config) -> None:
    """Let Keras's `fit` and `evaluate` run under `multi_worker` (two workarounds, for Keras 3.15).

    Keras 3 does not run MultiWorkerMirroredStrategy as it is (keras-team/keras#20585):
    - before the first step it builds the metrics on one input batch that it reduces across the
      replicas with `strategy.reduce`, which fails on input batches (`Attempt to convert a value
      (PerReplica...)`); shapes are all it needs, so this model builds on its first local replica's batch;
    - it averages each step's logged metrics across workers with `strategy.reduce("MEAN", v, axis=0)`,
      which fails on scalars (`Invalid reduction dimension 0`); they are averaged with `axis=None` here.
    """
    if config.train.distribute != "multi_worker":
        return
    import types

    import keras
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer

    needed = (hasattr(trainer, "reduce_per_replica") and hasattr(trainer, "_collective_all_reduce_multi_worker")
              and hasattr(model, "_maybe_symbolic_build"))
    if not needed:
        raise UserError(f"train.distribute=multi_worker works around Keras internals of Keras 3.15, which Keras "
                        f"{keras.__version__} does not have; install keras==3.15.*")

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return model.distribute_strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tf.nest.map_structure(local, next(batches))
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = types.MethodType(maybe_symbolic_build, model)
    keras_reduce = trainer.reduce_per_replica
    if getattr(keras_reduce, "scalar_means", False):
        return

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):
            return tf.nest.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if v.shape.rank == 0 else 0), values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.scalar_means = True
    trainer.reduce_per_replica = reduce_per_replica
