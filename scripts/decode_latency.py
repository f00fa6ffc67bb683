"""How long the exports' in-graph ctc decoding takes: greedy, held to the charset's lengths (what the exports
run, `captcha_ocr.model.losses.ctc_decode`), and the length search run on every read as 2026-12-06's first
version did, on one machine in one run; and the whole exported computation (pixels to text) with each.

    python scripts/decode_latency.py [--model base_ctc2] [--repeats 50]

Prints a Markdown table: median milliseconds per call for batches of 1 and 64, the decoders on the model's
logits for 64 ImageCaptcha captchas of 4 characters (mostly read at an allowed length: little to hold), and on random
logits whose reads are mostly held.
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from typing import Sequence

import numpy as np
import tensorflow as tf
from captcha.image import ImageCaptcha

from captcha_ocr.core.choices import is_frame_loss
from captcha_ocr.core.cli import run_cli
from captcha_ocr.core.errors import UserError
from captcha_ocr.export.serving import ServingModule
from captcha_ocr.model.losses import ctc_decode, ctc_greedy, held_paths, to_hold
from captcha_ocr.training.rundir import load_run


def search_all(logits, min_length: int, max_length: int):
    """The first version: every read's held path computed, the greedy one kept where its length is allowed."""
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    outside = to_hold(greedy, logits.shape[-1] - 1, min_length, max_length)
    held = held_paths(tf.nn.log_softmax(logits, axis=-1), min_length, max_length)
    return ctc_greedy(logits, max_length, paths=tf.where(outside[:, None], held, greedy))


def median_ms(fn, x, repeats: int) -> float:
    fn(x)  # traced and warmed
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        tf.nest.map_structure(lambda t: t.numpy(), fn(x))
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="base_ctc2", help="a ctc run, model.keras or shipped name")
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args(argv)
    model = load_run(args.model)[0]
    serving = ServingModule(model)
    spec = serving.spec
    if not is_frame_loss(spec.loss):
        raise UserError(f"{args.model} is a {spec.loss} model, which reads one class per position; "
                        "give a ctc model (e.g. --model base_ctc2)")
    low, high = spec.min_length, spec.max_length
    decoders = {"greedy": partial(ctc_greedy, max_length=high),
                "held (exports)": partial(ctc_decode, min_length=low, max_length=high),
                "search on every read": partial(search_all, min_length=low, max_length=high)}
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list(spec.chars), 4)) for _ in range(64)]
    rgb = np.stack([np.asarray(ImageCaptcha(160, 60).generate_image(t).convert("RGB")) for t in texts])
    logits = tf.cast(model(serving.prepare(tf.constant(rgb), tf.float32), training=False), tf.float32)
    noise = tf.random.stateless_normal(logits.shape, seed=(1, 2)) * 3.0
    for z in (logits, noise):  # the two held decoders read alike; the benchmark is of one computation
        if not all(np.array_equal(a, b) for a, b in zip(ctc_decode(z, low, high), search_all(z, low, high))):
            raise SystemExit("the held decoder and the search on every read differ: a bug, not a timing")
    print(f"model {args.model}: {logits.shape[1]} frames, {logits.shape[2]} classes, lengths {low}..{high}")
    print("| decoding | batch | model's logits (ms) | random logits (ms) | pixels to text (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, decoder in decoders.items():
        decode = tf.function(decoder, autograph=False)

        @partial(tf.function, autograph=False)
        def whole(images, decoder=decoder):
            x = serving.prepare(images, tf.float32)
            return decoder(tf.cast(serving.model(x, training=False), tf.float32))

        for batch in (1, 64):
            cells = [median_ms(decode, z[:batch], args.repeats) for z in (logits, noise)]
            cells.append(median_ms(whole, tf.constant(rgb[:batch]), args.repeats))
            print(f"| {name} | {batch} | " + " | ".join(f"{c:.2f}" for c in cells) + " |")


if __name__ == "__main__":
    run_cli(main)  # a missing or per-position model: one line, exit 2
