"""tf.data pipelines: fixed synthetic sets, an endless synthetic stream, labeled folders.

Every element is `(image float32 (H, W, C) in [0, 1], label int32 (max_length,))`.

- Validation and test sets are always fixed: synthetic ones are rendered from (seed, split) and cached on disk,
  so every run and every loss variant of a seed sees the same pixels.
- Training data is a fixed synthetic pool (`data.train_size > 0`), an endless
  stream rendered by worker processes (`data.train_size: 0`), or a labeled folder.
- Folders are decoded once, in parallel processes, by the same function that
  prepares images for prediction, and kept in memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from captcha_ocr.core.atomic import write_atomic
from captcha_ocr.core.config import Config
from captcha_ocr.core.errors import UserError
from captcha_ocr.core.images import scale_pixels
from captcha_ocr.core.workers import process_pool, worker_count
from captcha_ocr.data.augment import make_augment
from captcha_ocr.data.folder import FolderData, check_min_length, list_folder, load_folder, load_items, load_unlabeled
from captcha_ocr.synth.imagecaptcha import Chunk, GeneratorSpec, render, render_chunk

STREAM_CHUNK = 128
log = logging.getLogger(__name__)


def _progress(label: str):
    def report(done: int, total: int):
        if sys.stderr.isatty():
            end = "\n" if done >= total else ""
            print(f"\r{label}: {done}/{total}", end=end, file=sys.stderr, flush=True)

    return report


def cache_path(config: Config, split: str, seed: int, count: int) -> Path:
    """The file a synthetic set is cached in: named by everything that changes its pixels or labels.

    A changed config never reads a stale cache, and the same config (say, a run's saved
    config.yaml read back by evaluate or export) always finds the set training rendered.
    """
    spec = GeneratorSpec.from_config(config)
    shape = config.image.shape
    # The size is keyed as (width, height, channels), the order of the caches written before InputShape;
    # the default resize is left out, so those caches keep their names.
    size = (shape.width, shape.height, shape.channels)
    resize = config.image.resize
    key = json.dumps([spec.cache_key(), size, split, seed, count] + ([resize] if resize != "stretch" else []),
                     sort_keys=True, default=list)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return Path(config.data.cache_dir) / f"{split}-{seed}-{count}-{digest}.npz"


def synthetic_set(config: Config, split: str, seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed synthetic set, rendered in parallel once and cached under `data.cache_dir` (see `cache_path`)."""
    spec = GeneratorSpec.from_config(config)
    shape = config.image.shape
    resize = config.image.resize
    path = cache_path(config, split, seed, count)
    if path.is_file():
        cached = _read_cache(path, count)
        if cached is not None:
            return cached
    start = time.perf_counter()
    images, labels = render(spec, seed, split, count, shape, config.data.workers,
                            progress=_progress(f"rendering {split} set"), resize=resize)
    seconds = time.perf_counter() - start
    log.info(f"rendered {count} {split} captchas in {seconds:.1f} s ({count / seconds:.0f}/s), cached in {path}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, lambda tmp: np.savez(tmp, images=images, labels=labels))
    except OSError as err:
        log.warning(f"could not cache {split} set in {path.parent} ({err}); it will be rendered again next time")
    return images, labels


def _read_cache(path: Path, count: int) -> tuple[np.ndarray, np.ndarray] | None:
    """A cached set, or None (with a warning) when the file is truncated or corrupt: it is rendered again.

    Caches are written atomically now, but a kill could truncate one written by an older version.
    """
    try:
        with np.load(path) as cached:
            images, labels = cached["images"], cached["labels"]
        if len(images) == len(labels) == count:
            return images, labels
        problem = f"{len(images)} images and {len(labels)} labels instead of {count}"
    except Exception as err:  # zipfile, numpy and OS errors all mean the same: do not trust it
        problem = f"{type(err).__name__}: {err}"
    log.warning(f"cache {path} is unreadable ({problem}); rendering it again")
    return None


def _scale(images, labels):
    return scale_pixels(images), labels


ORDER_CHUNK = 256  # in-memory elements are gathered this many at a time (one NumPy gather, not one per element)


def _order(n: int, seed: int, shuffle: bool, repeat: bool, start: int):
    """Indices of the elements to visit, from element `start` on.

    Pass p (0, 1, ...) visits all n in an order drawn from (seed, p) alone, so element k of the
    sequence depends only on the seed and k: a resumed run continues exactly where it stopped.
    """
    passes, offset = divmod(start, n)
    while True:
        order = np.random.default_rng([seed, passes]).permutation(n) if shuffle else np.arange(n)
        yield from (order[i:i + ORDER_CHUNK] for i in range(offset, n, ORDER_CHUNK))
        if not repeat:
            return
        passes, offset = passes + 1, 0


def _elements(images: np.ndarray, labels: np.ndarray, *, shuffle: bool = False, seed: int = 0,
              repeat: bool = False, start: int = 0) -> tf.data.Dataset:
    """Unbatched uint8 (image, label) elements of in-memory arrays (see `_order`), from element `start` on."""
    if not (shuffle or repeat or start):
        return tf.data.Dataset.from_tensor_slices((images, labels))

    def chunks():
        for index in _order(len(images), seed, shuffle, repeat, start):
            yield images[index], labels[index]

    return tf.data.Dataset.from_generator(chunks, output_signature=(
        tf.TensorSpec((None, *images.shape[1:]), images.dtype),
        tf.TensorSpec((None, *labels.shape[1:]), labels.dtype))).unbatch()


def _mix(build_first, build_second, share: float, seed: int, start: int) -> tf.data.Dataset:
    """Elements drawn from two sources, `share` of them from the second, by a choice sequence of (seed, position).

    Args:
        build_first, build_second: start -> that source's elements from its own element `start` on.
        start: the position of the mix to begin at; each source begins where the choices before it leave it.
    """
    block = 4096

    def picks(index: int) -> np.ndarray:
        """Block `index` of the choice sequence: True where the second source is drawn."""
        return np.random.default_rng([seed, 7919, index]).random(block) < share

    def choices(position: int):
        index, offset = divmod(position, block)
        while True:
            yield from picks(index)[offset:].astype(np.int64)
            index, offset = index + 1, 0

    index, rest = divmod(start, block)  # how many of the first `start` choices went to the second source:
    taken = sum(int(picks(i).sum()) for i in range(index)) + int(picks(index)[:rest].sum())
    choice = tf.data.Dataset.from_generator(lambda: choices(start), output_signature=tf.TensorSpec((), tf.int64))
    return tf.data.Dataset.choose_from_datasets([build_first(start - taken), build_second(taken)], choice)


def _batched(ds: tf.data.Dataset, batch_size: int, augment=None, seed: int = 0, start: int = 0) -> tf.data.Dataset:
    """Batch, scale to [0, 1], augment (training only) and prefetch.

    Batch k (counting from the first batch of the run, so `start` elements in) is augmented with
    draws from (seed, k) alone, whatever was drawn before it.
    """
    ds = ds.batch(batch_size).map(_scale, num_parallel_calls=tf.data.AUTOTUNE)
    if augment is not None and augment.enabled:
        fn = make_augment(augment, seed)
        ds = ds.enumerate(start // batch_size).map(lambda k, xy: (fn(xy[0], k), xy[1]),
                                                   num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def from_arrays(images: np.ndarray, labels: np.ndarray, batch_size: int, *, shuffle: bool = False,
                seed: int = 0, repeat: bool = False, augment=None, start: int = 0) -> tf.data.Dataset:
    """Batches of in-memory uint8 images: shuffled each pass if `shuffle`, scaled to [0, 1], from element `start`."""
    return _batched(_elements(images, labels, shuffle=shuffle, seed=seed, repeat=repeat, start=start), batch_size,
                    augment, seed, start)


def _stream_chunks(spec: GeneratorSpec, seed: int, shape, resize: str, workers: int, start: int):
    """Endless (images, labels) chunks from worker processes, in index order."""
    height, width, channels = shape
    pool = process_pool(workers)
    pending: deque = deque()
    index = start
    try:
        while True:
            while len(pending) < 2 * workers:
                pending.append(pool.submit(render_chunk, Chunk(spec, seed, "train", index, STREAM_CHUNK,
                                                               width, height, channels, resize)))
                index += STREAM_CHUNK
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _stream_elements(config: Config, seed: int, start: int = 0) -> tf.data.Dataset:
    """Unbatched uint8 elements of the endless stream rendered by `data.workers` processes (or `data.service`)."""
    if config.data.service:
        from captcha_ocr.data.service import service_elements

        return service_elements(config, seed, start)
    spec = GeneratorSpec.from_config(config)
    shape = config.image.shape
    height, width, channels = shape
    workers = worker_count(config.data.workers)
    ds = tf.data.Dataset.from_generator(
        lambda: _stream_chunks(spec, seed, shape, config.image.resize, workers, start),
        output_signature=(
            tf.TensorSpec((None, height, width, channels), tf.uint8),
            tf.TensorSpec((None, spec.max_length), tf.int32),
        ),
    )
    return ds.unbatch()


def synthetic_stream(config: Config, seed: int, batch_size: int, start: int = 0) -> tf.data.Dataset:
    """An endless stream of fresh captchas rendered by `data.workers` processes.

    Args:
        start: index of the first captcha; a resumed run starts where it stopped.
    """
    return _batched(_stream_elements(config, seed, start), batch_size, config.augment, seed, start)


def _split_items(items: list, fractions: list[float], seed: int) -> list[list]:
    order = np.random.default_rng(seed).permutation(len(items))
    n_train = int(round(fractions[0] * len(items)))
    n_val = int(round(fractions[1] * len(items)))
    parts = [order[:n_train], order[n_train:n_train + n_val], order[n_train + n_val:]]
    return [[items[i] for i in sorted(part)] for part in parts]


def folder_splits(config: Config, seed: int) -> dict[str, FolderData]:
    """Train/val/test `FolderData` from `data.folder` (and `val_folder`/`test_folder` if given).

    Without a separate folder for a split, `data.folder` is split by `data.split`
    fractions, shuffled by the seed. A run that keeps its last epoch (`train.keep:
    last`) needs no validation: a val fraction of 0 then gives no "val" entry.
    """
    d = config.data
    if not d.folder:
        raise UserError("data.source is 'folder' but data.folder is not set; set data.folder: path/to/labeled/images")
    charset = config.charset.build()
    shape = config.image.shape
    items = list_folder(d.folder)
    for folder in (d.folder, d.val_folder, d.test_folder):  # validation picks epochs by reads held to the lengths
        check_min_length(folder, charset, config.loss.name, items if folder == d.folder else None)
    fractions = list(d.split)
    if d.val_folder:
        fractions[1] = 0.0
    if d.test_folder:
        fractions[2] = 0.0
    total = sum(fractions)
    parts = _split_items(items, [f / total for f in fractions], seed)
    out = {}
    for split, part, other in zip(("train", "val", "test"), parts, (None, d.val_folder, d.test_folder)):
        if other:
            out[split] = load_folder(other, charset, shape, d.workers, config.image.resize)
        elif part:
            out[split] = load_items(part, charset, shape, f"{d.folder} ({split} split)", d.workers,
                                    config.image.resize)
        elif split == "val" and not fractions[1] and config.train.keep == "last":
            continue
        else:
            raise UserError(f"data.split gives the {split} split no images of {d.folder}; raise its fraction "
                            f"or set data.{split}_folder")
    return out


def test_set(config: Config, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The fixed test set of a config: (uint8 images, int32 labels)."""
    seed = config.train.seed if seed is None else seed
    if config.data.source == "folder":
        test = folder_splits(config, seed)["test"]
        return test.images, test.labels
    return synthetic_set(config, "test", seed, config.data.test_size)


@dataclass
class Datasets:
    """The three pipelines of a run and what they hold."""

    train: tf.data.Dataset
    val: tf.data.Dataset | None  # None: a folder run that keeps its last epoch without validating
    test_images: np.ndarray
    test_labels: np.ndarray
    steps_per_epoch: int
    description: str
    pseudo: object = None  # a captcha_ocr.data.self_training.PseudoPool when self-training on an unlabeled folder
    val_size: int = 0  # validation captchas


def build_datasets(config: Config, seed: int | None = None, initial_epoch: int = 0) -> Datasets:
    """Build the training, validation and test data of a run.

    Args:
        config: the run's config.
        seed: overrides `train.seed` (the data and shuffling seed).
        initial_epoch: a resumed run's first epoch: every source continues exactly where the
            epochs before it left off (element k of a run depends on the seed and k alone).
    """
    seed = config.train.seed if seed is None else seed
    d = config.data
    if d.service and not (d.train_size == 0 and (d.source == "synthetic" or d.synthetic_ratio > 0)):
        raise UserError("data.service renders the endless synthetic stream only: set data.train_size=0 "
                        "(and train.steps_per_epoch), or leave data.service out")
    build = _folder_datasets if config.data.source == "folder" else _synthetic_datasets
    data = build(config, seed, initial_epoch)
    if d.service:
        data.description += f"; rendered by the tf.data service at {d.service}"
    if config.augment.enabled:
        data.description += "; augmented"
    return data


def _folder_datasets(config: Config, seed: int, initial_epoch: int) -> Datasets:
    """A labeled folder's splits, its training part optionally mixed with synthetic captchas."""
    d, t = config.data, config.train
    splits = folder_splits(config, seed)
    notes = []
    for part in splits.values():
        notes.append(part.report())
        if part.problems:
            log.warning(part.report())
    train_x, train_y = splits["train"].images, splits["train"].labels
    steps = t.steps_per_epoch or max(1, int(len(train_x) / (1.0 - d.synthetic_ratio)) // t.batch_size)
    start = initial_epoch * steps * t.batch_size  # elements that the epochs before initial_epoch drew
    labeled = lambda at: _elements(train_x, train_y, shuffle=True, seed=seed, repeat=True, start=at)  # noqa: E731
    first = labeled
    pool = None
    if d.unlabeled_folder:
        from captcha_ocr.data.self_training import PseudoPool

        unlabeled, problems = load_unlabeled(d.unlabeled_folder, config.image.shape, d.workers, config.image.resize)
        if problems:
            log.warning(f"{d.unlabeled_folder}: {len(problems)} unreadable images skipped "
                        f"({'; '.join(f'{Path(p).name}: {why}' for p, why in problems[:3])})")
        pool = PseudoPool(unlabeled, config.charset.max_length, seed, soft=d.pseudo_soft)
        if d.pseudo_share == "auto":  # every labeled image and every kept read equally likely
            first = lambda _: pool.dataset(train_x, train_y, union=True)  # noqa: E731
            share = "each batch drawn from the labeled images and the kept reads alike"
        else:
            first = lambda at: _mix(labeled, lambda _: pool.dataset(train_x, train_y), d.pseudo_share,  # noqa: E731
                                    seed + 1, at)
            share = f"{d.pseudo_share:.0%} of each batch"
        teacher = f", the first reads by {d.pseudo_teacher}" if d.pseudo_teacher else ""
        teacher += ", its probabilities learned on each augmented batch" if d.pseudo_soft else ""
        notes.append(f"self-training on {len(unlabeled)} unlabeled images of {d.unlabeled_folder} "
                     f"({d.pseudo_rounds} rounds{teacher}, confidence >= {d.pseudo_min_confidence:g}, {share})")
    elements = first(start)
    if d.synthetic_ratio:
        # Mix in synthetic captchas at the configured share, drawn per element.
        if d.train_size:
            sx, sy = synthetic_set(config, "train", seed, d.train_size)
            synth = lambda at: _elements(sx, sy, shuffle=True, seed=seed, repeat=True, start=at)  # noqa: E731
            notes.append(f"mixed with a synthetic pool of {d.train_size} at {d.synthetic_ratio:.0%}")
        else:
            synth = lambda at: _stream_elements(config, seed, at)  # noqa: E731
            notes.append(f"mixed with an endless synthetic stream at {d.synthetic_ratio:.0%}")
        elements = _mix(first, synth, d.synthetic_ratio, seed, start)
    train = _batched(elements, t.batch_size, config.augment, seed, start)
    val, val_size = None, 0
    if "val" in splits:
        val, val_size = from_arrays(splits["val"].images, splits["val"].labels, t.batch_size), len(splits["val"].images)
    else:
        notes.append("no validation (train.keep: last)")
    test = splits["test"]
    return Datasets(train, val, test.images, test.labels, steps, "; ".join(notes), pool, val_size=val_size)


def _synthetic_datasets(config: Config, seed: int, initial_epoch: int) -> Datasets:
    """Fixed synthetic validation and test sets, and a training pool or an endless stream."""
    d, t = config.data, config.train
    val_x, val_y = synthetic_set(config, "val", seed, d.val_size)
    test_x, test_y = synthetic_set(config, "test", seed, d.test_size)
    if d.train_size:
        train_x, train_y = synthetic_set(config, "train", seed, d.train_size)
        note = f"synthetic: train pool {d.train_size}, val {d.val_size}, test {d.test_size} (seed {seed})"
        steps = t.steps_per_epoch or max(1, len(train_x) // t.batch_size)
        train = from_arrays(train_x, train_y, t.batch_size, shuffle=True, seed=seed, repeat=True,
                            augment=config.augment, start=initial_epoch * steps * t.batch_size)
    else:
        if not t.steps_per_epoch:
            raise UserError("data.train_size is 0 (endless stream): set train.steps_per_epoch, "
                            "e.g. --set train.steps_per_epoch=200")
        note = f"synthetic: endless train stream, val {d.val_size}, test {d.test_size} (seed {seed})"
        steps = t.steps_per_epoch
        train = synthetic_stream(config, seed, t.batch_size, start=initial_epoch * steps * t.batch_size)
    return Datasets(train, from_arrays(val_x, val_y, t.batch_size), test_x, test_y, steps, note, val_size=len(val_x))
