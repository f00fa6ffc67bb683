"""Render the synthetic training stream on other machines, through TensorFlow's tf.data service.

    python -m captcha_ocr.data_service dispatcher --port 5050
    python -m captcha_ocr.data_service worker --dispatcher HOST:5050 --port 5051 [--processes N]
    python -m captcha_ocr.train --config configs/X.yaml --set data.service=grpc://HOST:5050

The trainer sends the service a dataset graph of chunk indices (`Dataset.range`) mapped by one op
that renders a chunk. That op is a `PyFunc` with a fixed token (`TOKEN`) and the generator's
settings as JSON in its input, so it needs no pickled Python from the trainer: every worker process
registers `render` under that token before it starts, and renders with `--processes` processes of
its own. The dispatcher hands each chunk index to one worker (`distributed_epoch`), so:

- the captchas are those of the local stream: captcha k of a seed is the same image on any machine
  (workers must run the same captcha_ocr and package versions, fonts included);
- their order is the order in which the workers finish chunks, so it changes from run to run, and a
  resumed run restarts the stream at the chunk where its captcha count falls: it is not exact.

(`Dataset.from_generator`, which the local stream uses, cannot run on a service worker: its
generator lives in the trainer's process.)
"""

from __future__ import annotations

import json
import socket
import weakref

import numpy as np

from captcha_ocr.core.errors import UserError

TOKEN = "captcha_ocr.data.service.render"
CHUNK = 128  # captchas a worker renders per request
_state: dict = {}  # the worker's process pool


def _tuples(value):
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def chunk_job(config, seed: int) -> str:
    """The JSON that tells a worker what to render for this config and seed (the op's first input)."""
    from dataclasses import asdict

    from captcha_ocr.synth.imagecaptcha import GeneratorSpec

    spec = GeneratorSpec.from_config(config)
    height, width, channels = config.image.shape
    return json.dumps({"spec": asdict(spec), "seed": seed, "width": width, "height": height,
                       "channels": channels, "resize": config.image.resize})


def render(job, index) -> tuple[np.ndarray, np.ndarray]:
    """Chunk `index` of the job's stream: uint8 images (CHUNK, H, W, C) and int32 labels (CHUNK, max_length)."""
    from captcha_ocr.synth.imagecaptcha import Chunk, GeneratorSpec, render_chunk

    job = json.loads(job.item() if isinstance(job, np.ndarray) else job)
    spec = GeneratorSpec(**{k: _tuples(v) for k, v in job["spec"].items()})
    chunk = Chunk(spec, job["seed"], "train", int(index) * CHUNK, CHUNK, job["width"], job["height"],
                  job["channels"], job["resize"])
    pool = _state.get("pool")
    return pool.submit(render_chunk, chunk).result() if pool else render_chunk(chunk)


def register(processes: int = 0) -> None:
    """Make `render` the function that `TOKEN` runs in this process, on `processes` processes (0: inline)."""
    from tensorflow.python.ops import script_ops

    if not isinstance(getattr(getattr(script_ops, "_py_funcs", None), "_funcs", None), weakref.WeakValueDictionary):
        import tensorflow as tf

        raise UserError(f"data_service worker: TensorFlow {tf.__version__} keeps its Python ops in another way than "
                        f"the 2.16-2.21 it was written for; install tensorflow==2.21.*")
    if processes and "pool" not in _state:
        from captcha_ocr.core.workers import process_pool

        _state["pool"] = process_pool(processes)
    script_ops._py_funcs._funcs[TOKEN] = render  # a weak-value registry: this module holds the reference


def service_address(url: str) -> str:
    """`grpc://HOST:PORT` checked and returned as given.

    Raises:
        UserError: not that form, or nothing answers there.
    """
    host, _, port = url.removeprefix("grpc://").rpartition(":")
    if not url.startswith("grpc://") or not host or not port.isdigit():
        raise UserError(f"data.service: {url!r} is not grpc://HOST:PORT, e.g. grpc://localhost:5050")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise UserError(f"data.service: no tf.data dispatcher answers at {host}:{port} ({e.strerror or e}); start "
                        f"one with `python -m captcha_ocr.data_service dispatcher --port {port}`") from None
    return url


def service_elements(config, seed: int, start: int = 0):
    """Unbatched uint8 (image, label) elements of the training stream, rendered by the service's workers.

    Args:
        start: captchas to skip (a resumed run): the stream begins at chunk start // CHUNK.
    """
    import tensorflow as tf
    from tensorflow.python.ops import gen_script_ops

    address = service_address(config.data.service)
    height, width, channels = config.image.shape
    length = config.charset.max_length
    job = tf.constant(chunk_job(config, seed))

    first, skip = divmod(start, CHUNK)

    def chunk(index):
        images, labels = gen_script_ops.py_func(input=[job, index], token=TOKEN, Tout=[tf.uint8, tf.int32])
        images = tf.ensure_shape(images, (CHUNK, height, width, channels))
        labels = tf.ensure_shape(labels, (CHUNK, length))
        drop = tf.where(index == first, skip, 0)  # chunks arrive in any order: only the first one is cut
        return images[drop:], labels[drop:]

    ds = tf.data.Dataset.range(first, 2**62).map(chunk, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.apply(tf.data.experimental.service.distribute("distributed_epoch", address))
    return ds.unbatch()
