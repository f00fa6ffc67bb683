"""Measure where the time goes, in one run on one machine: `python scripts/benchmark.py --config configs/X.yaml`.

    python scripts/benchmark.py --config configs/quickstart.yaml --out reports/benchmark
    python scripts/benchmark.py --config configs/smoke.yaml --quick            # under 2 minutes on 2 cores
    python scripts/benchmark.py --config configs/quickstart.yaml --model runs/quickstart

Measures, at the config's input size and with its model:

- the captcha generator: images/s in this process, and with a warm pool of
  one `spawn`ed worker per core (plus how long that pool takes to start);
- the folder pipeline: PNGs written by `captcha_ocr.synth.folders.generate_folder`,
  decoded in parallel by `captcha_ocr.data.folder.load_folder`, then batches drawn
  from the tf.data pipeline built on them (`captcha_ocr.data.pipeline.from_arrays`);
- training images/s through the real pipeline (`build_datasets(config)`:
  synthetic pool, stream or folder, as configured) and through the same
  batches held in memory, same model and same number of steps after warm-up;
  and, on those in-memory batches, the model with Keras's own (unfused)
  BatchNormalization, with XLA (`train.jit_compile`) and in the other
  `train.precision` (float32 / mixed_bfloat16), for comparison;
- achieved training GFLOP/s (FLOPs counted from the layers, see
  `count_flops`) against the GFLOP/s of a large float32 matmul run on the same
  threads;
- inference through `Recognizer.predict_arrays`: single-image latency (median
  and p99) and batch throughput, and the model file size;
- peak resident memory of this process and of the largest generator worker;
- a per-layer profile of the training step: each layer timed alone, forward
  and backward, at its real input shape, against the measured step time;
- both kinds of CPU in the same run: training and batch-inference images/s of
  the model on this CPU as it is and capped to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`,
  an AVX2-only CPU without native bfloat16; oneDNN's own `isa:` line shows the
  cap took effect), each with `train.precision` float32 and auto, each in its
  own child process (`--no-isas` skips them).

The first run on a config renders its synthetic sets into `data.cache_dir`
(minutes for a large pool; `--quick` caps their sizes); later runs read them.

Writes `benchmark.json` and `benchmark.md` (metric, value, unit, how it was
measured) to --out and prints the table. Timings are wall-clock
(`time.perf_counter`) on whatever else the machine is doing: run it on an
otherwise idle machine.

The module imports no TensorFlow at the top: the generator workers are
`spawn`ed and re-import this file, and must stay light.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import numpy as np

from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.cli import add_config_args, config_from_args, output_dir, parser, run_cli
from captcha_ocr.core.config import Config, config_from_dict
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.machine import machine_info, peak_rss_mib
from captcha_ocr.core.spec import InputShape
from captcha_ocr.core.tables import markdown_table
from captcha_ocr.core.workers import worker_count
from captcha_ocr.synth.imagecaptcha import GeneratorSpec, chunks_for, render, render_chunk

# Seed and split names of the benchmark's own captchas: never the training, validation or test sets.
SEED = 12345

# Training FLOPs per image as a multiple of the forward pass: the backward pass
# computes a gradient with respect to the inputs and one with respect to the
# weights, each costing about one forward pass.
TRAIN_FLOPS_FACTOR = 3
FLOPS_CONVENTION = (
    "One multiply-accumulate = 2 FLOPs. Conv2D: 2*H_out*W_out*K_h*K_w*(C_in/groups)*C_out; Dense: 2*in*out "
    "per position it is applied at. BatchNorm, activations, pooling, bias adds and reshapes are not counted "
    "(elementwise, memory-bound, a few percent of the arithmetic). Training FLOPs per image = "
    f"{TRAIN_FLOPS_FACTOR} x forward (backward = gradient w.r.t. inputs + w.r.t. weights, about one forward each)."
)


@dataclass(frozen=True)
class Sizes:
    """How much work each measurement does (`--quick` shrinks it)."""

    generator_images: int  # per generator measurement
    folder_images: int  # PNGs written and loaded
    folder_batches: int  # batches drawn from the folder's tf.data pipeline
    warmup_steps: int  # training steps run before the clock starts
    train_steps: int  # training steps timed, per pipeline
    memory_batches: int  # distinct batches held in memory (repeated)
    matmul_size: int  # n of the n x n float32 matmul
    matmul_repeats: int
    latency_calls: int  # single-image predictions timed
    predict_images: int  # images predicted in batches of PREDICT_BATCH
    profile_steps: int  # timed calls per layer in the per-layer profile


FULL = Sizes(generator_images=2048, folder_images=2048, folder_batches=200, warmup_steps=10, train_steps=100,
             memory_batches=20, matmul_size=2048, matmul_repeats=10, latency_calls=200, predict_images=4096,
             profile_steps=30)
QUICK = Sizes(generator_images=1024, folder_images=512, folder_batches=40, warmup_steps=5, train_steps=40,
              memory_batches=5, matmul_size=2048, matmul_repeats=5, latency_calls=100, predict_images=1024,
              profile_steps=10)
PREDICT_BATCH = 256

# --quick caps the synthetic sets so that building the real pipeline takes seconds whatever the config.
QUICK_DATA_CAPS = {"train_size": 2048, "val_size": 256, "test_size": 256}


@dataclass
class Metric:
    """One measured number and how it was obtained."""

    name: str
    value: float
    unit: str
    how: str


def _now() -> float:
    return time.perf_counter()


def quick_config(config: Config) -> tuple[Config, dict]:
    """Cap the synthetic set sizes for --quick; returns (config, the changed data keys)."""
    data = config.to_dict()
    changed = {}
    for key, cap in QUICK_DATA_CAPS.items():
        value = data["data"][key]
        # train_size 0 is the endless stream: keep it, it is a different pipeline, not a size.
        if value > cap:
            changed[key] = cap
    data["data"].update(changed)
    return config_from_dict(data, "quick config"), {f"data.{k}": v for k, v in changed.items()}


# ---------------------------------------------------------------- generator


def _warm_worker(spec: GeneratorSpec, barrier) -> None:
    """Pool initializer: load the fonts by drawing one captcha, then wait for every other worker."""
    render_chunk(chunks_for(spec, 0, "bench-warmup", 1, InputShape(spec.height, spec.width, 1))[0])
    # Waiting here makes every worker take part: a fast worker cannot start the
    # timed work while another is still importing.
    barrier.wait(timeout=300)


def _noop() -> None:
    return None


def _render_counted(chunk) -> tuple[int, int, float]:
    """render_chunk in a worker; returns (images, worker pid, worker peak RSS MiB)."""
    images, _ = render_chunk(chunk)
    return len(images), os.getpid(), peak_rss_mib()


def measure_generator(config: Config, sizes: Sizes) -> list[Metric]:
    """Generator images/s in one process and in a warm pool of one process per core.

    Args:
        config: its generator and charset sections say what to draw, its image section the output size.
        sizes: `generator_images` captchas are drawn per measurement.

    Returns:
        The generator metrics.
    """
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    spec = GeneratorSpec.from_config(config)
    size = config.image.shape
    n = sizes.generator_images
    start = _now()
    render(spec, SEED, "bench-generator", n, size, workers=1)
    single = n / (_now() - start)

    workers = worker_count(0)
    context = get_context("spawn")  # as captcha_ocr.core.workers.process_pool: TensorFlow is not fork-safe
    start = _now()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_warm_worker,
                               initargs=(spec, context.Barrier(workers)))
    try:
        # One task per worker makes the executor spawn them all; none returns before all are warm.
        for future in [pool.submit(_noop) for _ in range(workers)]:
            future.result()
        startup = _now() - start
        # Small chunks, so that every worker has several and none waits at the end.
        chunks = chunks_for(spec, SEED, "bench-generator-pool", n, size, chunk_size=max(16, n // (8 * workers)))
        start = _now()
        results = list(pool.map(_render_counted, chunks))
        parallel = sum(r[0] for r in results) / (_now() - start)
        worker_rss = {pid: rss for _, pid, rss in results}
    finally:
        pool.shutdown()
    w, h, _ = size
    return [
        Metric("generator_1proc_images_per_s", single, "images/s",
               f"captcha_ocr.synth.imagecaptcha.render(workers=1) of {n} captchas drawn {spec.width}x{spec.height}, "
               f"resized to {w}x{h}, in this process"),
        Metric("generator_pool_images_per_s", parallel, "images/s",
               f"render_chunk over {n} captchas in chunks of {chunks[0].count} on a warm pool of {workers} spawned "
               "processes (one per core), start-up excluded"),
        Metric("generator_pool_speedup", parallel / single, "x", "pool images/s / one-process images/s"),
        Metric("generator_pool_startup_s", startup, "s",
               f"spawn {workers} workers until each has imported and drawn its first captcha"),
        Metric("peak_rss_generator_worker_mib", max(worker_rss.values()), "MiB",
               f"largest VmHWM (/proc/self/status) of the {len(worker_rss)} pool workers that rendered, "
               "read in the worker after its chunk"),
    ]


# ---------------------------------------------------------------- folder


def measure_folder(config: Config, sizes: Sizes) -> list[Metric]:
    """Write a labeled PNG folder, load it in parallel and iterate its tf.data pipeline.

    Args:
        config: the generator, charset, image and train.batch_size settings are used.
        sizes: `folder_images` PNGs; `folder_batches` batches drawn from the pipeline.

    Returns:
        The folder metrics.
    """
    from captcha_ocr.data.folder import load_folder
    from captcha_ocr.synth.folders import generate_folder

    n = sizes.folder_images
    batch = config.train.batch_size
    with tempfile.TemporaryDirectory(prefix="captcha-bench-") as tmp:
        start = _now()
        generate_folder(config, tmp, n, SEED, split="bench-folder", workers=0)
        write = n / (_now() - start)
        start = _now()
        folder = load_folder(tmp, config.charset.build(), config.image.shape, workers=0)
        load = len(folder.paths) / (_now() - start)
    from captcha_ocr.data.pipeline import from_arrays  # TensorFlow: loaded only now, after the worker pools

    ds = from_arrays(folder.images, folder.labels, batch, shuffle=True, seed=SEED, repeat=True)
    batches = iter(ds)
    next(batches)  # builds the pipeline and fills the shuffle buffer: a once-per-run cost
    start = _now()
    for _ in range(sizes.folder_batches):
        next(batches)
    pipeline = sizes.folder_batches * batch / (_now() - start)
    return [
        Metric("folder_write_images_per_s", write, "images/s",
               f"captcha_ocr.synth.folders.generate_folder: {n} PNGs rendered and written by {worker_count(0)} "
               "processes, pool start-up included"),
        Metric("folder_load_images_per_s", load, "images/s",
               f"captcha_ocr.data.folder.load_folder(workers=0) of those {n} PNGs: list, decode, resize "
               "in parallel processes, pool start-up included"),
        Metric("folder_pipeline_images_per_s", pipeline, "images/s",
               f"{sizes.folder_batches} batches of {batch} from captcha_ocr.data.pipeline.from_arrays(shuffle, repeat) "
               "on the loaded folder, after the first batch (shuffle buffer filled)"),
    ]


# ---------------------------------------------------------------- FLOPs


def _layers(model) -> list:
    """Every layer of a model, nested models flattened."""
    out = []
    for layer in model.layers:
        out += _layers(layer) if hasattr(layer, "layers") else [layer]
    return out


def count_flops(model) -> dict[str, int]:
    """Forward-pass FLOPs per image of each Conv2D and Dense layer of a built model.

    The convention is `FLOPS_CONVENTION`: one multiply-accumulate is 2 FLOPs,
    only Conv2D and Dense layers are counted.

    Args:
        model: a built Keras model (functional, so each layer has an output shape).

    Returns:
        {layer name: FLOPs per image}, in layer order.
    """
    import keras

    flops = {}
    for layer in _layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin_per_group, cout = layer.kernel.shape
            shape = layer.output.shape
            h, w = (shape[1], shape[2]) if layer.data_format == "channels_last" else (shape[2], shape[3])
            flops[layer.name] = 2 * h * w * kh * kw * cin_per_group * cout
        elif isinstance(layer, keras.layers.Dense):
            fan_in, fan_out = layer.kernel.shape
            positions = int(np.prod(layer.output.shape[1:-1], dtype=np.int64))  # 1 for a flat input
            flops[layer.name] = 2 * fan_in * fan_out * positions
    return {name: int(v) for name, v in flops.items()}


def measure_matmul(sizes: Sizes) -> float:
    """GFLOP/s of an n x n float32 `tf.linalg.matmul` on TensorFlow's default threads (2 n^3 FLOPs each)."""
    import tensorflow as tf

    n = sizes.matmul_size
    rng = tf.random.Generator.from_seed(SEED)
    a = rng.uniform((n, n), dtype=tf.float32)
    b = rng.uniform((n, n), dtype=tf.float32)
    tf.linalg.matmul(a, b).numpy()  # warm-up: thread pool and kernel selection
    start = _now()
    for _ in range(sizes.matmul_repeats):
        c = tf.linalg.matmul(a, b)
        c[0, 0].numpy()  # wait for the result
    return 2 * n ** 3 * sizes.matmul_repeats / (_now() - start) / 1e9


# ---------------------------------------------------------------- training


def _timed_fit(model, dataset, batch_size: int, warmup: int, steps: int) -> float:
    """Train `warmup + steps` steps in one `fit`; images/s over the last `steps` (timed batch end to batch end)."""
    import keras

    class BatchClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(_now())

    clock = BatchClock()
    model.fit(dataset, epochs=1, steps_per_epoch=warmup + steps, callbacks=[clock], verbose=0,
              shuffle=False)  # the pipelines shuffle (or, in memory, need not)
    return steps * batch_size / (clock.times[-1] - clock.times[warmup - 1])


def measure_training(config: Config, sizes: Sizes) -> tuple[list[Metric], float, object, object]:
    """Training images/s through the real pipeline and through the same batches in memory.

    Args:
        config: the run's config (data, model, loss and train sections).
        sizes: warm-up steps, timed steps and batches held in memory.

    Returns:
        (metrics, forward FLOPs per image, the compiled model, the in-memory dataset).
    """
    import keras
    import tensorflow as tf

    from captcha_ocr.data.pipeline import build_datasets
    from captcha_ocr.model.build import build_model
    from captcha_ocr.training.compile import compile_model

    keras.utils.set_random_seed(config.train.seed)
    batch = config.train.batch_size
    start = _now()
    data = build_datasets(config)
    build_s = _now() - start
    model = build_model(config)
    compile_model(model, config, data.steps_per_epoch)
    forward = sum(count_flops(model).values())

    # The in-memory batches come from the real pipeline itself: same shapes, same values.
    # Taken first, so that a stream's worker pool is gone before anything is timed.
    taken = list(data.train.take(sizes.memory_batches))
    memory = tf.data.Dataset.from_tensor_slices(
        (tf.stack([x for x, _ in taken]), tf.stack([y for _, y in taken]))
    ).repeat()
    # The same model object for both, so the second fit reuses the traced train step;
    # the warm-up steps keep tracing, pool start and shuffle-buffer filling off the clock.
    in_memory = _timed_fit(model, memory, batch, sizes.warmup_steps, sizes.train_steps)
    real = _timed_fit(model, data.train, batch, sizes.warmup_steps, sizes.train_steps)
    d = config.data
    if d.source == "folder":
        what = f"labeled folder {d.folder}, in memory"
    elif d.train_size:
        what = f"synthetic pool of {d.train_size} captchas, in memory"
    else:
        what = f"endless synthetic stream rendered by {worker_count(d.workers)} processes while training"
    timed = f"{sizes.train_steps} steps of batch {batch} after {sizes.warmup_steps} warm-up steps, one model.fit"
    metrics = [
        Metric("data_build_s", build_s, "s",
               "captcha_ocr.data.pipeline.build_datasets(config): train/val/test sets rendered or read from data.cache_dir"),
        Metric("train_images_per_s_pipeline", real, "images/s", f"real pipeline ({what}); {timed}"),
        Metric("train_images_per_s_memory", in_memory, "images/s",
               f"{sizes.memory_batches} batches of that pipeline held as tensors, "
               f"Dataset.from_tensor_slices(...).repeat(); same model, {timed}"),
        Metric("train_pipeline_to_memory_ratio", real / in_memory, "x",
               "pipeline images/s / in-memory images/s (1 = the input pipeline costs nothing)"),
        Metric("model_params", model.count_params(), "parameters", "model.count_params()"),
        Metric("model_forward_mflop_per_image", forward / 1e6, "MFLOP",
               "sum over Conv2D (2*H_out*W_out*K*K*C_in*C_out) and Dense (2*in*out) layers; "
               "BN, activations, pooling left out"),
    ]
    return metrics, forward, model, memory


def measure_variants(config: Config, sizes: Sizes, memory, rate: float) -> list[Metric]:
    """In-memory training images/s of the same model built or compiled another way, against `rate`.

    The variants: Keras's own (unfused) BatchNormalization layers, XLA
    (`train.jit_compile: true`) unless the config already uses it or trains
    ctc (which XLA cannot compile, see `Config`), and the
    other `train.precision` (mixed_bfloat16 for a float32 config, float32 for a
    mixed one; no mixed_bfloat16 where it cannot run, see `bfloat16_aborts`). Same batches,
    same steps as `measure_training`, in the same run.
    """
    import keras

    from captcha_ocr.core.machine import bfloat16_aborts
    from captcha_ocr.model.build import build_model
    from captcha_ocr.training.compile import compile_model

    variants = [("keras_batchnorm", "Keras's own BatchNormalization layers instead of the fused kernel",
                 config, False)]
    if not config.train.jit_compile and not is_frame_loss(config.loss.name):
        xla = config.to_dict()
        xla["train"]["jit_compile"] = True
        variants.append(("xla", "train.jit_compile: true (XLA)", config_from_dict(xla, "xla variant"), True))
    other = config.to_dict()
    other["train"]["precision"] = "mixed_bfloat16" if config.train.precision == "float32" else "float32"
    if other["train"]["precision"] == "float32" or not bfloat16_aborts():
        variants.append((other["train"]["precision"], f"train.precision: {other['train']['precision']}",
                         config_from_dict(other, "precision variant"), True))
    metrics = []
    for name, what, variant, fused in variants:
        keras.utils.set_random_seed(config.train.seed)
        model = build_model(variant, fused_batch_norm=fused)
        compile_model(model, variant, 1000)
        images_s = _timed_fit(model, memory, config.train.batch_size, sizes.warmup_steps, sizes.train_steps)
        metrics += [
            Metric(f"train_images_per_s_memory_{name}", images_s, "images/s",
                   f"{what}; otherwise as train_images_per_s_memory (same batches and steps)"),
            Metric(f"train_{name}_speed_ratio", images_s / rate, "x",
                   f"train_images_per_s_memory_{name} / train_images_per_s_memory (below 1: slower than the default)"),
        ]
    return metrics


def flop_metrics(forward: float, training: list[Metric], matmul_gflops: float, sizes: Sizes) -> list[Metric]:
    """Achieved training GFLOP/s (training = 3x forward) against the matmul rate."""
    rates = {m.name: m.value for m in training}
    per_image = TRAIN_FLOPS_FACTOR * forward
    achieved = per_image * rates["train_images_per_s_memory"] / 1e9
    achieved_real = per_image * rates["train_images_per_s_pipeline"] / 1e9
    n = sizes.matmul_size
    return [
        Metric("train_gflops_per_s", achieved, "GFLOP/s",
               f"{TRAIN_FLOPS_FACTOR} x forward FLOPs per image x in-memory training images/s"),
        Metric("train_gflops_per_s_pipeline", achieved_real, "GFLOP/s",
               f"{TRAIN_FLOPS_FACTOR} x forward FLOPs per image x real-pipeline training images/s"),
        Metric("matmul_gflops_per_s", matmul_gflops, "GFLOP/s",
               f"tf.linalg.matmul of two {n}x{n} float32 matrices, {sizes.matmul_repeats} times after a warm-up, "
               f"2*{n}^3 FLOPs each, TensorFlow's default threads"),
        Metric("train_to_matmul_ratio", achieved / matmul_gflops, "x",
               "in-memory training GFLOP/s / matmul GFLOP/s"),
    ]


# ---------------------------------------------------------------- profile


def _time_layer(layer, shape: tuple, input_grad: bool, steps: int) -> float:
    """Median ms of one forward + backward pass of `layer` alone on a random batch of `shape`.

    The backward pass computes the gradients of the layer's trainable weights and,
    unless the layer reads the model's input (`input_grad` False), of its input,
    as a training step does.
    """
    import tensorflow as tf

    x = tf.random.stateless_uniform(shape, seed=(SEED, 0))
    weights = layer.trainable_variables

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            if input_grad:
                tape.watch(x)
            y = layer(x, training=True)
            total = tf.reduce_sum(y)
        grads = tape.gradient(total, ([x] if input_grad else []) + weights)
        return tf.add_n([tf.reduce_sum(g) for g in grads]) if grads else total

    for _ in range(3):  # trace and warm up
        step(x).numpy()
    times = []
    for _ in range(steps):
        start = _now()
        step(x).numpy()
        times.append((_now() - start) * 1000)
    return statistics.median(times)


def profile_layers(model, batch: int, train_rate: float, matmul_gflops: float, steps: int) -> dict:
    """Where a training step's time goes: each layer timed alone, forward + backward.

    Every layer of the model with work in it runs on a batch of its real input
    shape (one tf.function per layer, median of `steps` calls). The sum is set
    against the measured training step (`batch / train_rate`); the rest is the
    loss, the optimizer update and the framework's per-step overhead, plus
    whatever the fused whole-graph step does differently.

    Args:
        model: the built benchmark model.
        batch: the training batch size.
        train_rate: in-memory training images/s of the same model.
        matmul_gflops: the matmul rate the layers' GFLOP/s are set against.
        steps: timed calls per layer.

    Returns:
        {"step_ms", "layers_ms", "rest_ms", "rows": [{layer, kind, ms, share, mflop, gflops, matmul_ratio}]}.
    """
    import keras

    flops = count_flops(model)
    step_ms = batch / train_rate * 1000
    rows = []
    for layer in _layers(model):
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.Reshape, keras.layers.Flatten)) \
                or layer.name == "spec":
            continue  # no arithmetic: views of their input, or the identity
        reads_input = any(layer.input is t for t in model.inputs)
        shape = (batch, *layer.input.shape[1:])
        ms = _time_layer(layer, shape, input_grad=not reads_input, steps=steps)
        # Training FLOPs: forward, weight gradient, and input gradient unless the layer reads the image.
        train_flops = flops.get(layer.name, 0) * (TRAIN_FLOPS_FACTOR - (1 if reads_input else 0)) * batch
        gflops = train_flops / ms / 1e6 if train_flops else 0.0
        rows.append({"layer": layer.name, "kind": type(layer).__name__, "ms": ms, "share": ms / step_ms,
                     "mflop": train_flops / 1e6, "gflops": gflops, "matmul_ratio": gflops / matmul_gflops})
    layers_ms = sum(r["ms"] for r in rows)
    return {"step_ms": step_ms, "layers_ms": layers_ms, "rest_ms": step_ms - layers_ms, "batch": batch,
            "steps": steps, "rows": rows}


def profile_markdown(profile: dict) -> str:
    """The profile as a markdown table, grouped summary line first."""
    kinds: dict[str, float] = {}
    for r in profile["rows"]:
        kinds[r["kind"]] = kinds.get(r["kind"], 0.0) + r["ms"]
    step = profile["step_ms"]
    summary = ", ".join(f"{k} {v:.1f} ms ({v / step:.0%})" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1]))
    lines = [
        f"Training step of batch {profile['batch']}: {step:.1f} ms measured (in-memory rate). Each layer timed "
        f"alone, forward + backward, median of {profile['steps']} calls: {profile['layers_ms']:.1f} ms in all; "
        f"the other {profile['rest_ms']:.1f} ms ({profile['rest_ms'] / step:.0%}) are loss, optimizer update and "
        "per-step overhead.",
        "",
        f"By kind: {summary}.",
        "",
    ]
    rows = [[r["layer"], r["kind"], f"{r['ms']:.2f}", f"{r['share']:.1%}",
             *((f"{r['mflop']:,.0f}", f"{r['gflops']:.0f}", f"{r['matmul_ratio']:.2f}") if r["mflop"] else ("-", "-", "-"))]
            for r in profile["rows"]]
    lines.append(markdown_table(["layer", "kind", "ms per step", "share of step", "training MFLOP per step",
                                 "GFLOP/s", "of matmul rate"], rows, align="llrrrrr"))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- inference


def measure_inference(config: Config, sizes: Sizes, model_path: str | None, trained_model) -> list[Metric]:
    """Single-image latency, batch throughput and file size of a saved model.

    Args:
        config: draws the images (at the model's input size).
        sizes: `latency_calls` single-image calls, `predict_images` images in batches.
        model_path: a run directory or .keras file; None to save `trained_model` to a temporary file.
        trained_model: the compiled benchmark model (saved with its optimizer state, as a run's
            model.keras is).

    Returns:
        The inference metrics.
    """
    from captcha_ocr.inference.recognizer import Recognizer

    with tempfile.TemporaryDirectory(prefix="captcha-bench-") as tmp:
        if model_path:
            path = Path(model_path)
            file = path / "model.keras" if path.is_dir() else path
            rec = Recognizer.load(path)
            source = f"{file}"
        else:
            file = Path(tmp) / "model.keras"
            trained_model.save(file)
            rec = Recognizer.load(file)
            source = "the benchmark's model from the config (a few hundred steps trained), saved with its optimizer"
        file_mb = file.stat().st_size / 1e6

    spec = GeneratorSpec.from_config(config)
    # The content does not change the speed: a few distinct captchas, repeated.
    distinct, _ = render(spec, SEED, "bench-predict", min(PREDICT_BATCH, sizes.predict_images), rec.spec.input_shape, workers=1)
    images = np.resize(distinct, (sizes.predict_images, *distinct.shape[1:]))
    one = images[:1]
    for _ in range(5):  # traces the forward function for batch 1
        rec.predict_arrays(one)
    latencies = []
    for _ in range(sizes.latency_calls):
        start = _now()
        rec.predict_arrays(one)
        latencies.append((_now() - start) * 1000)
    rec.predict_arrays(images[:PREDICT_BATCH])  # traces for full batches
    start = _now()
    rec.predict_arrays(images, batch_size=PREDICT_BATCH)
    throughput = len(images) / (_now() - start)
    h, w, _ = rec.spec.input_shape
    return [
        Metric("predict_latency_median_ms", statistics.median(latencies), "ms",
               f"Recognizer.predict_arrays on one prepared {w}x{h} image, model loaded and warm, "
               f"{sizes.latency_calls} calls (decode included)"),
        Metric("predict_latency_p99_ms", float(np.percentile(latencies, 99)), "ms", "99th percentile of those calls"),
        Metric("predict_batch_images_per_s", throughput, "images/s",
               f"Recognizer.predict_arrays on {len(images)} images in batches of {PREDICT_BATCH}, after a warm-up batch"),
        Metric("model_file_mb", file_mb, "MB (10^6 bytes)", source),
    ]


EXPORT_FORMATS = (("savedmodel", None), ("tflite", None), ("tflite", "int8"), ("onnx", None))


def measure_exports(config: Config, sizes: Sizes, model_path: str | None, trained_model) -> list[Metric]:
    """Latency, batch throughput and file size of each export format (captcha_ocr.export).

    Exported models take the raw 160x60 RGB captcha and resize it themselves, so
    their latency includes the preprocessing that `Recognizer` does in PIL.
    ONNX is skipped (and said so) when tf2onnx/onnxruntime are not installed.
    """
    from captcha_ocr.export.readers import load_exported
    from captcha_ocr.export.writers import export_model, export_size

    metrics = []
    spec = GeneratorSpec.from_config(config)
    raw, _ = render(spec, SEED, "bench-export", 64, InputShape(spec.height, spec.width, 3), workers=1)
    batch = np.resize(raw, (min(sizes.predict_images, 1024), *raw.shape[1:]))
    with tempfile.TemporaryDirectory(prefix="captcha-export-") as tmp:
        source = model_path
        if source is None:
            source = Path(tmp) / "model.keras"
            trained_model.save(source)
        for fmt, quantize in EXPORT_FORMATS:
            name = fmt + (f"_{quantize}" if quantize else "")
            try:
                out = export_model(source, fmt, Path(tmp) / name, quantize=quantize, calibration_count=64,
                                   log=lambda *a: None)
            except UserError as err:
                print(f"skipped {name}: {err}", file=sys.stderr)
                continue
            reader = load_exported(out)
            for _ in range(5):
                reader.predict([raw[0]])
            latencies = []
            for _ in range(sizes.latency_calls):
                start = _now()
                reader.predict([raw[0]])
                latencies.append((_now() - start) * 1000)
            reader.predict(list(batch[:PREDICT_BATCH]))
            start = _now()
            reader.predict(list(batch))
            throughput = len(batch) / (_now() - start)
            how = f"load_exported({name}).predict on raw {spec.width}x{spec.height} RGB arrays"
            metrics += [
                Metric(f"export_{name}_latency_median_ms", statistics.median(latencies), "ms",
                       f"{how}, one image, {sizes.latency_calls} calls"),
                Metric(f"export_{name}_latency_p99_ms", float(np.percentile(latencies, 99)), "ms",
                       "99th percentile of those calls"),
                Metric(f"export_{name}_batch_images_per_s", throughput, "images/s", f"{how}, {len(batch)} images"),
                Metric(f"export_{name}_size_mb", export_size(out) / 1e6, "MB (10^6 bytes)", "model file(s) of the export"),
            ]
    return metrics


# ---------------------------------------------------------------- memory, machine, output


# ---------------------------------------------------------------- both kinds of CPU

# The oneDNN ISA caps the table measures: the CPU as it is, and as an AVX2-only CPU (no AVX-512, no
# native bfloat16), which ONEDNN_MAX_CPU_ISA makes any newer x86 CPU behave like.
ISAS = {"native": {}, "AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2"}}
PRECISIONS = ("float32", "auto")
_ISA_CHECK = ("import tensorflow as tf; x = tf.random.normal((1, 8, 8, 4)); "
              "print(float(tf.reduce_sum(tf.nn.conv2d(x, tf.ones((3, 3, 4, 4)), 1, 'SAME'))))")


def onednn_isa(env: dict) -> str:
    """The instruction set oneDNN says it runs on under `env` (`ONEDNN_VERBOSE` of a tiny convolution)."""
    import subprocess

    proc = subprocess.run([sys.executable, "-c", _ISA_CHECK], env={**os.environ, **env, "ONEDNN_VERBOSE": "1"},
                          capture_output=True, text=True, timeout=300)
    for line in proc.stdout.splitlines():
        if ",info,cpu,isa:" in line:
            return line.split(",info,cpu,isa:", 1)[1].strip()
    return "unknown (oneDNN printed no isa line)"


def probe(config: Config, precision: str, sizes: Sizes) -> dict:
    """In this process: training images/s and batch inference images/s of the config's model at `precision`.

    The batches are random pixels and labels of the config's shapes, held in memory, so the input
    pipeline and rendering are not measured, only the model's arithmetic on this CPU.
    """
    import keras
    import tensorflow as tf

    from captcha_ocr.inference.recognizer import Recognizer
    from captcha_ocr.model.build import build_model, float32_copy
    from captcha_ocr.training.compile import compile_model, with_chosen_precision

    data = config.to_dict()
    data["train"]["precision"] = precision
    config = with_chosen_precision(config_from_dict(data, "probe"), log=lambda *a: None)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    batch, (h, w, c) = config.train.batch_size, config.image.shape
    charset = config.charset.build()
    labels = np.stack([charset.encode("".join(rng.choice(list(charset.chars), config.charset.max_length)))
                       for _ in range(batch * 4)])
    images = rng.random((batch * 4, h, w, c), dtype=np.float32)
    memory = tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch, drop_remainder=True).repeat()
    model = build_model(config)
    compile_model(model, config, sizes.train_steps)
    train_rate = _timed_fit(model, memory, batch, sizes.warmup_steps, sizes.train_steps)
    rec = Recognizer(float32_copy(model, config))
    pixels = (images[:PREDICT_BATCH] * 255).astype(np.uint8)
    rec.predict_arrays(pixels)  # traced
    rounds = max(1, sizes.predict_images // PREDICT_BATCH)
    start = _now()
    for _ in range(rounds):
        rec.predict_arrays(pixels, batch_size=PREDICT_BATCH)
    infer_rate = rounds * len(pixels) / (_now() - start)
    return {"precision": config.train.precision, "train_images_per_s": train_rate,
            "predict_batch_images_per_s": infer_rate}


def measure_isas(args_for_child: list[str], log=print) -> list[dict]:
    """Each of `ISAS` x `PRECISIONS` in a child process of this script (`--probe`), in one run."""
    import subprocess

    rows = []
    for isa, env in ISAS.items():
        said = onednn_isa(env)
        for precision in PRECISIONS:
            log(f"  {isa} ISA, train.precision: {precision} ...")
            proc = subprocess.run([sys.executable, __file__, *args_for_child, "--probe", precision],
                                  env={**os.environ, **env}, capture_output=True, text=True, timeout=3600)
            found = [line for line in proc.stdout.splitlines() if line.startswith("PROBE ")]
            if proc.returncode != 0 or not found:
                raise RuntimeError(f"probe {isa}/{precision} failed:\n{proc.stderr[-2000:]}")
            rows.append({"isa": isa, "onednn_isa": said, "asked": precision, **json.loads(found[-1][6:])})
    base = rows[0]
    for row in rows:
        row["train_vs_native_float32"] = row["train_images_per_s"] / base["train_images_per_s"]
    return rows


def _short_isa(said: str) -> str:
    """'Intel AVX-512 with float16, ... bfloat16 ... Intel AMX ...' -> 'Intel AVX-512 + bfloat16, AMX'."""
    extras = [name for name, word in (("bfloat16", "bfloat16"), ("AMX", "AMX")) if word in said]
    return said.split(" with ")[0] + (f" + {', '.join(extras)}" if extras else "")


def isa_markdown(rows: list[dict]) -> str:
    """The native/AVX2 x float32/auto table."""
    return markdown_table(
        ["ISA (ONEDNN_MAX_CPU_ISA)", "oneDNN runs on", "train.precision", "chosen", "training images/s",
         "vs native float32", "batch inference images/s"],
        [[r["isa"], _short_isa(r["onednn_isa"]), r["asked"], r["precision"], f"{r['train_images_per_s']:.0f}",
          f"{r['train_vs_native_float32']:.2f}x", f"{r['predict_batch_images_per_s']:.0f}"] for r in rows],
        align="lllrrrr")


def memory_metrics() -> list[Metric]:
    """Peak resident set of this process over the whole run."""
    # Not RUSAGE_CHILDREN: on Linux a spawned child keeps the high-water mark of
    # the parent it was forked from (ru_maxrss survives exec), so it would report
    # this process's size; the generator workers measure themselves instead.
    return [Metric("peak_rss_mib", peak_rss_mib(), "MiB", "VmHWM of this process at the end of the run "
                   "(TensorFlow, the model, the data sets)")]


def machine() -> dict:
    """CPU, platform and library versions of the machine the numbers come from."""
    import keras
    import tensorflow as tf

    info = machine_info()
    info.update(usable_cores=worker_count(0), tensorflow=tf.__version__,
                keras=keras.__version__,
                intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads() or "default (one per core)",
                inter_op_threads=tf.config.threading.get_inter_op_parallelism_threads() or "default")
    return info


def _fmt(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def markdown(report: dict) -> str:
    """benchmark.md: command, machine and the metric table."""
    mach = report["machine"]
    lines = [
        "# captcha_ocr benchmark",
        "",
        f"`{report['command']}` ({report['started']}, {report['duration_s']:.0f} s"
        f"{', quick' if report['quick'] else ''})",
        "",
        f"Machine: {mach['cpu']}, {mach['usable_cores']} usable cores (os.cpu_count {mach['cpu_count']}), "
        f"{mach['platform']}, Python {mach['python']}, TensorFlow {mach['tensorflow']}, Keras {mach['keras']}, "
        f"TensorFlow intra-op threads: {mach['intra_op_threads']}.",
        f"Config: {report['config']}" + (f" with {report['config_overrides']}" if report["config_overrides"] else ""),
        "",
        f"FLOPs: {report['flops_convention']}",
        "",
        markdown_table(["metric", "value", "unit", "how measured"],
                       [[name, _fmt(m["value"]), m["unit"], m["how"]] for name, m in report["metrics"].items()],
                       align="lrll"),
    ]
    if report.get("isas"):
        lines += ["", "## Both kinds of CPU", "",
                  "The same model on random in-memory batches (no input pipeline), each in its own process: the "
                  "CPU as it is, and capped to AVX2 by `ONEDNN_MAX_CPU_ISA=AVX2` (an AVX2-only CPU: no AVX-512, "
                  "bfloat16 emulated); `auto` is the precision `train.precision: auto` chose. Batch inference "
                  "reads with the float32 model that a run saves.", "", isa_markdown(report["isas"])]
    lines += ["", "## Where a training step's time goes", "", profile_markdown(report["profile"])]
    return "\n".join(lines)


def run_benchmark(config: Config, *, quick: bool = False, model_path: str | None = None, log=print,
                  child_args: Sequence[str] | None = None) -> dict:
    """Run every measurement in order; returns the report (without command, config path or output)."""
    sizes = QUICK if quick else FULL
    overrides = {}
    if quick:
        config, overrides = quick_config(config)
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = _now()
    metrics: list[Metric] = []
    # The generator goes first, before TensorFlow is loaded: its workers are spawned from a light process.
    log("generator ...")
    metrics += measure_generator(config, sizes)
    log("folder pipeline ...")
    metrics += measure_folder(config, sizes)
    from captcha_ocr.training.compile import with_chosen_precision

    config = with_chosen_precision(config, log)  # `auto` settled for this machine, as training settles it
    log("training ...")
    training, forward, model, memory = measure_training(config, sizes)
    metrics += training
    rates = {m.name: m.value for m in training}
    log("training variants (unfused BatchNorm, XLA, the other precision) ...")
    metrics += measure_variants(config, sizes, memory, rates["train_images_per_s_memory"])
    log("matmul ...")
    matmul = measure_matmul(sizes)
    metrics += flop_metrics(forward, training, matmul, sizes)
    log("profile: each layer alone ...")
    profile = profile_layers(model, config.train.batch_size, rates["train_images_per_s_memory"], matmul,
                             sizes.profile_steps)
    # Inference and exports read what a run saves: the float32 copy of a mixed-precision model.
    from captcha_ocr.model.build import float32_copy

    saved = float32_copy(model, config)
    log("inference ...")
    metrics += measure_inference(config, sizes, model_path, saved)
    log("export formats ...")
    metrics += measure_exports(config, sizes, model_path, saved)
    metrics += memory_metrics()
    isas = []
    if child_args is not None:
        log("both kinds of CPU: native and AVX2-only, float32 and auto, each in its own process ...")
        isas = measure_isas(list(child_args), log)
    return {
        "started": started,
        "duration_s": _now() - t0,
        "quick": quick,
        "config_overrides": overrides,
        "sizes": asdict(sizes),
        "machine": machine(),
        "flops_convention": FLOPS_CONVENTION,
        "metrics": {m.name: {"value": float(m.value), "unit": m.unit, "how": m.how} for m in metrics},
        "profile": profile,
        "isas": isas,
    }


def build_parser():
    p = parser("python scripts/benchmark.py", __doc__)
    add_config_args(p, "YAML config (default: the defaults of configs/base.yaml)")
    p.add_argument("--quick", action="store_true",
                   help=f"fewer images and steps, synthetic sets capped at {QUICK_DATA_CAPS} (under 2 minutes)")
    p.add_argument("--model", help="time and size this run directory or .keras file (default: the config's model)")
    p.add_argument("--out", default="reports/my-benchmark",
                   help="folder for benchmark.json and benchmark.md (default: reports/my-benchmark; reports/benchmark is the committed record)")
    p.add_argument("--no-isas", action="store_true",
                   help="skip the native/AVX2 x float32/auto table (four child processes)")
    p.add_argument("--probe", choices=PRECISIONS, help=argparse.SUPPRESS)  # a child of the table: one cell
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    sizes = QUICK if args.quick else FULL
    if args.probe:
        if args.quick:
            config = quick_config(config)[0]
        print("PROBE " + json.dumps(probe(config, args.probe, sizes)), flush=True)
        return 0
    if args.model:
        # Checked now rather than after minutes of measurements.
        path = Path(args.model)
        if not (path / "model.keras" if path.is_dir() else path).is_file():
            raise UserError(f"--model {args.model!r} not found (or has no model.keras); "
                            "give a run directory (runs/NAME) or a .keras file")
    out = output_dir(args.out)
    child = None if args.no_isas else [
        *(["--config", args.config] if args.config else []), *(a for o in args.overrides for a in ("--set", o)),
        *(["--quick"] if args.quick else [])]
    report = run_benchmark(config, quick=args.quick, model_path=args.model,
                           log=lambda msg: print(msg, file=sys.stderr, flush=True), child_args=child)
    command = "python scripts/benchmark.py " + " ".join(sys.argv[1:] if argv is None else argv)
    report = {"command": command.strip(), "config": args.config or "(defaults)", **report}
    (out / "benchmark.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (out / "benchmark.md").write_text(text)
    print(text)
    print(f"written: {out / 'benchmark.json'}, {out / 'benchmark.md'}")
    return 0


if __name__ == "__main__":
    run_cli(main)
